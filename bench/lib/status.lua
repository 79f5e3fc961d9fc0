-- Shared by the wrk scripts: counts response status codes in every wrk thread and prints the
-- totals when the run ends, so a run that "succeeds" with 4xx/5xx answers is visible, and a
-- POST that answers 200 instead of 201 is too.

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_no", #threads)
end

statuses = {}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do
      total[code] = (total[code] or 0) + n
    end
  end
  local codes = {}
  for code in pairs(total) do codes[#codes + 1] = code end
  table.sort(codes)
  for _, code in ipairs(codes) do
    io.write(string.format("status %d: %d\n", code, total[code]))
  end
  io.write(string.format("errors connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
