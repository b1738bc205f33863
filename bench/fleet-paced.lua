-- wrk script of the fleet section (bench/fleet.sh): keep-alive requests at a fixed rate.
--
--   wrk -t1 -cC -dDs -s bench/fleet-paced.lua URL -- RATE
--
-- Open-loop pacing: request slots are spaced 1/RATE s apart on one clock (CLOCK_MONOTONIC,
-- through LuaJIT's ffi), and each connection that is free waits for the next slot (delay(),
-- whole milliseconds) before it sends. The rate is RATE whatever the response time, as long as
-- C connections suffice (C > RATE x latency); a connection that finds its slot already past
-- sends at once, and the schedule never runs more than 100 ms behind. wrk times each request
-- from its write to its response, so the waits are not part of the latency.
-- At the end one line for the script to parse (all times in µs):
--   FLEET requests=N duration_us=D p50_us=.. p99_us=.. max_us=.. non200=.. connect=.. read=..
--   write=.. timeout=..
-- non200 counts every response whose status is not 200 (wrk's own status error count only
-- counts those above 399).
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } fleet_timespec;
  int clock_gettime(int clock_id, fleet_timespec *tp);
]]
local ts = ffi.new("fleet_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  step = 1000 / (tonumber(args[1]) or 2000)
  slot = nil
  non200 = 0
end

function delay()
  local t = now_ms()
  if slot == nil or slot < t - 100 then
    slot = t
  else
    slot = slot + step
  end
  local d = slot - t
  if d <= 0 then
    return 0
  end
  return math.floor(d + 0.5)
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non200") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "FLEET requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d non200=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, bad, e.connect, e.read, e.write, e.timeout))
end
