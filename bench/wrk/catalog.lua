-- catalog-read for wrk, the bench's second, independent client: the query paths given as
-- arguments after `--` (the bench passes its own client's: one shape's path, or every shape's for
-- the mix; SHAPES in bench/src/scenarios/catalog/shapes.rs), picked at random, each followed by
-- up to two more of its pages (the answer's nextCursor). Anonymous reads. Works against the bare
-- baseline server too: it answers each of those paths, cursor pages included, with the bytes
-- the service answered. Run with one connection per thread (-t N -c N): a thread's connections
-- share its Lua state, so a cursor would otherwise be sent with another connection's query.

local queries = {}

local threads = 0

function setup(thread)
  thread:set("index", threads)
  threads = threads + 1
end

function init(args)
  for i, query in ipairs(args) do
    queries[i] = query
  end
  math.randomseed(7 + index)
  path = nil
  follow = 0
  query = nil
end

function request()
  if path == nil then
    query = queries[math.random(#queries)]
    path = query
    follow = 0
  end
  return wrk.format("GET", path)
end

function response(status, headers, body)
  local cursor = follow < 2 and status == 200 and string.match(body, '"nextCursor":"([^"]+)"')
  if cursor then
    local sep = string.find(query, "?", 1, true) and "&" or "?"
    path = query .. sep .. "after=" .. cursor
    follow = follow + 1
  else
    path = nil
  end
end
