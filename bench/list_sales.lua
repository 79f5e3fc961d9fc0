-- wrk script: GET a sales listing. The first argument is the path; a "%d" in it is replaced by
-- a random id in 1..MAX_ID (the second argument), e.g. for deep keyset pages:
--   wrk ... -s bench/list_sales.lua URL -- '/api/v1/sales?limit=50&cursor=%d' 100000
--   wrk ... -s bench/list_sales.lua URL -- '/api/v1/sales?branch=Colombo&limit=50'

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "lib/status.lua")

local pool = {}
local next_i = 0

function init(args)
  local path = args[1] or "/api/v1/sales?limit=50"
  local max_id = tonumber(args[2] or "1")
  math.randomseed(2000 + (thread_no or 0))
  local n = path:find("%%d") and 4096 or 1
  local headers = {}
  local token = os.getenv("MOON_BENCH_TOKEN")
  if token then headers["Authorization"] = "Bearer " .. token end
  for i = 1, n do
    pool[i] = wrk.format("GET", (path:gsub("%%d", tostring(math.random(1, max_id)))), headers)
  end
end

function request()
  next_i = next_i % #pool + 1
  return pool[next_i]
end
