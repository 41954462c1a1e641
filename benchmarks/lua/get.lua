-- GET /Users/{id}, rotating over the seeded users.
dofile("common.lua")
dofile("ids.lua")

function request()
  return wrk.format("GET", "/scim/v2/Users/" .. random_id())
end
