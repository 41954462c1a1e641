-- The ids of the seeded users, one per line in the file named by BENCH_IDS.
ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do
  ids[#ids + 1] = line
end

function random_id()
  return ids[math.random(#ids)]
end
