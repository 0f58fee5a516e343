-- Appended to every wrk script: prints one JSON line that bench/wrk.py parses.
-- Scenario scripts may define a global `counters` table of names (numbers per thread)
-- that are summed over threads and reported under "counters".

local bench_threads = {}

local bench_setup = setup
function setup(thread)
  table.insert(bench_threads, thread)
  thread:set("thread_id", #bench_threads)
  if bench_setup then bench_setup(thread) end
end

function done(summary, latency, requests)
  local totals = {}
  for _, name in ipairs(counters or {}) do
    local sum = 0
    for _, thread in ipairs(bench_threads) do
      sum = sum + (thread:get(name) or 0)
    end
    table.insert(totals, string.format('"%s":%d', name, sum))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"counters":{%s}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, table.concat(totals, ",")))
end
