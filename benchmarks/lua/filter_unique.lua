-- GET /Users?filter=userName eq "<i>", the name of a random existing user with its letters
-- in random case: userName is case-insensitive, so it still matches exactly one user, but
-- almost every request sends a filter string never seen before. filter.lua's 1,000 names
-- all fit in scim2-models' parse cache (1,024 filters); IdPs rarely repeat a filter.
dofile("common.lua")
local users = tonumber(os.getenv("BENCH_USERS"))

local function scramble(text)
  return (text:gsub("%a", function(c)
    return math.random(2) == 1 and c:upper() or c
  end))
end

function request()
  local name = scramble("user" .. math.random(0, users - 1)) .. "%40" .. scramble("example.com")
  return wrk.format("GET", "/scim/v2/Users?filter=userName%20eq%20%22" .. name .. "%22")
end
