-- GET /Users?filter=userName eq "user<i>@example.com", i random below BENCH_USERS.
dofile("common.lua")
local users = tonumber(os.getenv("BENCH_USERS"))

function request()
  local name = "user" .. math.random(0, users - 1) .. "%40example.com"
  return wrk.format("GET", "/scim/v2/Users?filter=userName%20eq%20%22" .. name .. "%22")
end
