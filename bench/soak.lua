-- wrk script for bench/soak.sh: a steady mix per connection, paced by delay() so the rate stays
-- the same for the whole soak (the load does not grow with the server's speed):
--   5 in 10  GET  /api/v1/sales (listings: first page, by agent, by date range)
--   2 in 10  GET  KPIs (/api/v1/kpis/teams, /api/v1/kpis/branches)
--   1 in 10  GET  /api/v1/agents
--   2 in 10  POST /api/v1/sales (valid, varied bodies; no policy_number, so no conflicts)
-- MOON_BENCH_TOKEN is sent as a bearer token; SOAK_DELAY_MS (default 20) is the pause between
-- one connection's requests. Status counts are printed at the end (lib/status.lua).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "lib/status.lua")
dofile(here .. "lib/sales.lua")

local pool = {}
local next_i = 0
local pause = tonumber(os.getenv("SOAK_DELAY_MS") or "20")

function init(args)
  math.randomseed(2000 + (thread_no or 0))
  local auth = bench_headers()
  local gets = {
    "/api/v1/sales?limit=20",
    "/api/v1/sales?agent_code=AGT003&limit=20",
    "/api/v1/sales?from=2025-03-01&to=2025-06-30&limit=50",
    "/api/v1/sales?limit=20",
    "/api/v1/sales?agent_code=AGT007&limit=20",
    "/api/v1/kpis/teams",
    "/api/v1/kpis/branches",
    "/api/v1/agents?limit=20",
  }
  for i = 1, 1000 do
    local k = i % 10
    if k < 8 then
      pool[i] = wrk.format("GET", gets[k + 1], auth)
    else
      pool[i] = sale_request()
    end
  end
end

function request()
  next_i = next_i % #pool + 1
  return pool[next_i]
end

function delay()
  return pause
end
