-- share-toggle for wrk, the bench's second, independent client: each wrk thread has one
-- connection (run with -t N -c N) and owns one model, which it shares and unshares in turn, so
-- every answer should be 200. Arguments after `--`: the API key, the project id, and the model
-- ids separated by commas (at least as many as threads), and optionally `keyed`: every request
-- then carries an `Idempotency-Key` of its own (what the key costs a transition).

local threads = 0

function setup(thread)
  thread:set("index", threads)
  threads = threads + 1
end

function init(args)
  key = args[1]
  project = args[2]
  local ids = {}
  for id in string.gmatch(args[3], "[^,]+") do
    ids[#ids + 1] = id
  end
  model = ids[(index % #ids) + 1]
  shared = false
  keyed = args[4] == "keyed"
  sent = 0
  headers = { ["Authorization"] = "Bearer " .. key }
end

-- The action follows the model's state as the last answer left it: wrk may build a request it
-- then does not send, so the state changes on answers, never on requests.
function request()
  local action = shared and "unshare" or "share"
  if keyed then
    sent = sent + 1
    headers["Idempotency-Key"] = "wrk-" .. index .. "-" .. sent
  end
  return wrk.format("POST", "/" .. project .. "/v1/models/" .. model .. "/" .. action, headers)
end

function response(status, headers, body)
  if status == 200 then
    shared = not shared
  end
end
