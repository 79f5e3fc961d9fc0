-- wrk script: POST /api/v1/sales with valid, varied bodies (lib/sales.lua). Bodies are built
-- once per thread; requests cycle through them.
--   wrk -c 8 -d 10s --latency -s bench/post_sale.lua http://127.0.0.1:PORT

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "lib/status.lua")
dofile(here .. "lib/sales.lua")

local pool = {}
local next_i = 0

function init(args)
  math.randomseed(1000 + (thread_no or 0))
  for i = 1, 1024 do
    pool[i] = sale_request()
  end
end

function request()
  next_i = next_i % #pool + 1
  return pool[next_i]
end
