-- wrk script for bench_https.sh: POSTs pre-generated gzipped TLS-RPT reports, a
-- different one per request (thread k cycles through <dir>/bodies.<k>.bin), and counts
-- what the server acknowledged. Benchmark only: it never decides anything about a report.
--
-- Usage: [BENCH_RESULT=<file>] wrk ... -s post_reports.lua <url> -- <bodies dir>
-- In done() it prints one "BENCH key=value ..." line (and writes it to $BENCH_RESULT):
-- sent     requests built (every request() call; includes those cut off when wrk stops)
-- acked    2xx responses seen, i.e. reports the server acknowledged
-- non2xx   other statuses
-- wrapped  requests that reused a body because a thread ran out (then acked reports
--          are no longer all distinct; bench_https.sh treats wrapped > 0 as a failure)

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local dir = args[1] or error("post_reports.lua: pass the bodies directory after --")
  local f = assert(io.open(dir .. "/bodies." .. id .. ".bin", "rb"))
  local data = f:read("*a")
  f:close()
  bodies = {}
  local pos = 1
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    bodies[#bodies + 1] = data:sub(nl + 1, nl + len)
    pos = nl + 1 + len
  end
  -- wrk.format uses either its own headers or ours: copy -H headers (Host, Connection) in.
  hdrs = {}
  for k, v in pairs(wrk.headers) do hdrs[k] = v end
  hdrs["Content-Type"] = "application/tlsrpt+gzip"
  next_body, sent, acked, non2xx, wrapped = 0, 0, 0, 0, 0
end

function request()
  next_body = next_body + 1
  if next_body > #bodies then
    next_body = 1
  end
  if sent >= #bodies then wrapped = wrapped + 1 end
  sent = sent + 1
  return wrk.format("POST", nil, hdrs, bodies[next_body])
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    acked = acked + 1
  else
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local t = { sent = 0, acked = 0, non2xx = 0, wrapped = 0 }
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do
      t[k] = t[k] + (thread:get(k) or 0)
    end
  end
  local e = summary.errors
  local line = string.format(
    "BENCH requests=%d duration_us=%d rps=%.1f sent=%d acked=%d non2xx=%d wrapped=%d "
      .. "err_connect=%d err_read=%d err_write=%d err_timeout=%d err_status=%d "
      .. "lat_p50_ms=%.2f lat_p99_ms=%.2f lat_max_ms=%.2f",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    t.sent, t.acked, t.non2xx, t.wrapped,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000)
  print(line)
  local out = os.getenv("BENCH_RESULT")
  if out and out ~= "" then
    local f = assert(io.open(out, "w"))
    f:write(line .. "\n")
    f:close()
  end
end
