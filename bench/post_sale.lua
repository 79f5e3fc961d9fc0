-- wrk script: POST /api/v1/sales with valid, varied bodies (agents AGT001..AGT010, products
-- 1..5 of `moon demo`, amounts 500.00..60,000.99, dates in 2025, no policy_number so no
-- conflicts). Bodies are built once per thread; requests cycle through them.
--   wrk -c 8 -d 10s --latency -s bench/post_sale.lua http://127.0.0.1:PORT

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "lib/status.lua")

local pool = {}
local next_i = 0

function init(args)
  math.randomseed(1000 + (thread_no or 0))
  local headers = { ["Content-Type"] = "application/json" }
  local token = os.getenv("MOON_BENCH_TOKEN")
  if token then headers["Authorization"] = "Bearer " .. token end
  for i = 1, 1024 do
    local body = string.format(
      '{"agent_code":"AGT%03d","product_id":%d,"amount":"%d.%02d","sale_date":"2025-%02d-%02d"}',
      math.random(1, 10), math.random(1, 5), math.random(500, 60000), math.random(0, 99),
      math.random(1, 12), math.random(1, 28))
    pool[i] = wrk.format("POST", "/api/v1/sales", headers, body)
  end
end

function request()
  next_i = next_i % #pool + 1
  return pool[next_i]
end
