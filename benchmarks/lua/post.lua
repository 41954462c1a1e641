-- POST /Users with a userName unique to this run (BENCH_RUN), thread and request.
dofile("common.lua")
local run = os.getenv("BENCH_RUN") or "run"
local sent = 0
local template = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",' ..
  '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],' ..
  '"userName":"%s@example.com","name":{"givenName":"Bench","familyName":"%s"},' ..
  '"displayName":"Bench %s","active":true,' ..
  '"emails":[{"value":"%s@example.com","type":"work","primary":true}],' ..
  '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"%s"}}'

function request()
  sent = sent + 1
  local name = string.format("bench-%s-%d-%d", run, thread_id, sent)
  local body = string.format(template, name, name, name, name, name)
  return wrk.format("POST", "/scim/v2/Users", nil, body)
end
