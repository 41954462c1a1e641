-- Loaded first by every scenario: bearer token, per-thread ids, status counting and a
-- one-line JSON summary ("BENCH {...}") that benchmarks/wrk.py reads.
--   BENCH_TOKEN   the SCIM bearer token
--   BENCH_EXPECT  optional: a substring every response body must contain
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
wrk.headers["Content-Type"] = "application/scim+json"

local expect = os.getenv("BENCH_EXPECT")
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

statuses = {}
unexpected = 0

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if expect and not string.find(body, expect, 1, true) then
    unexpected = unexpected + 1
  end
end

function done(summary, latency, requests)
  local totals, bad, counts = {}, 0, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + n
    end
    bad = bad + thread:get("unexpected")
  end
  for status, n in pairs(totals) do
    counts[#counts + 1] = string.format('"%d":%d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"unexpected":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d},"statuses":{%s}}\n',
    summary.requests, summary.duration, summary.bytes, bad,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, table.concat(counts, ",")))
end
