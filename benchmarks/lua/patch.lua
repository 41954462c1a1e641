-- PATCH /Users/{id}: replace title with a new value each time, on random seeded users.
dofile("common.lua")
dofile("ids.lua")
local sent = 0
local template = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],' ..
  '"Operations":[{"op":"replace","path":"title","value":"Title %d-%d"}]}'

function request()
  sent = sent + 1
  local body = string.format(template, thread_id, sent)
  return wrk.format("PATCH", "/scim/v2/Users/" .. random_id(), nil, body)
end
