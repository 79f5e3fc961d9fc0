-- Shared by the wrk scripts that post sales: the headers that carry MOON_BENCH_TOKEN, and one
-- valid, varied sale body (agents AGT001..AGT010 and products 1..5 of `moon demo`, amounts
-- 500.00..60,000.99, dates in 2025, no policy_number so no conflicts). Callers seed math.random.

-- Headers with the bearer token when MOON_BENCH_TOKEN is set, plus `extra`.
function bench_headers(extra)
  local headers = {}
  for k, v in pairs(extra or {}) do headers[k] = v end
  local token = os.getenv("MOON_BENCH_TOKEN")
  if token then headers["Authorization"] = "Bearer " .. token end
  return headers
end

-- One POST /api/v1/sales request, formatted for wrk.
function sale_request()
  local body = string.format(
    '{"agent_code":"AGT%03d","product_id":%d,"amount":"%d.%02d","sale_date":"2025-%02d-%02d"}',
    math.random(1, 10), math.random(1, 5), math.random(500, 60000), math.random(0, 99),
    math.random(1, 12), math.random(1, 28))
  return wrk.format("POST", "/api/v1/sales", bench_headers({ ["Content-Type"] = "application/json" }), body)
end
