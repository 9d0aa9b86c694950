-- The burst of bench/peer/run.py, the same for every system: `wrk -t1 -c16 -s burst.lua URL`.
-- PEER_REQUESTS: pre-signed deliveries, one `Stripe-Signature<TAB>body` a line, each POSTed once,
-- in file order (one wrk thread: request() hands them out in turn to whichever connection is
-- free). PEER_CAP_S: no delivery is sent after that many seconds. PEER_RESULT: written as soon as
-- the last delivery is answered (or lost), after which this thread stops; wrk's main thread
-- would still sleep its whole -d, so the harness interrupts it (SIGINT) when the file appears,
-- and done() writes PEER_RESULT .. ".done" with wrk's own latency histogram. PEER_RESULT ..
-- ".sent" appears when the last delivery is sent: wrk never gives up on a request, so the
-- harness does, a request timeout after that.
-- Lua in wrk has no wall clock: LuaJIT's ffi reads CLOCK_MONOTONIC.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } peer_burst_timespec;
int clock_gettime(int clock, peer_burst_timespec *now);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("peer_burst_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local function encode(value)
  if type(value) == "table" then
    local parts = {}
    for k, v in pairs(value) do
      parts[#parts + 1] = string.format("%q:%s", tostring(k), encode(v))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(value) == "boolean" then
    return tostring(value)
  elseif value == nil then
    return "null"
  end
  return string.format("%.6f", value)
end

local function write(path, text)
  local tmp = path .. ".tmp"
  local out = assert(io.open(tmp, "w"))
  out:write(text)
  out:close()
  assert(os.rename(tmp, path))
end

-- main thread: the one wrk thread, kept to read its counters in done()
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

-- the wrk thread
requests = {}
sent, answered, lost = 0, 0, 0
statuses = {}
first, last, last_ok = nil, nil, nil
finished = false
local checked = false
local calls = 0
local connections, cap, result
local marked = false

local function mark_sent()
  if not marked then
    marked = true
    write(result .. ".sent", "")
  end
end

function init(args)
  connections = tonumber(os.getenv("PEER_CONNECTIONS"))
  cap = tonumber(os.getenv("PEER_CAP_S"))
  result = os.getenv("PEER_RESULT")
  for line in io.lines(os.getenv("PEER_REQUESTS")) do
    local signature, body = line:match("^([^\t]+)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", nil,
      { ["Content-Type"] = "application/json; charset=utf-8", ["Stripe-Signature"] = signature }, body)
  end
  total = #requests
end

local function counters()
  return { total = #requests, sent = sent, answered = answered, lost = lost, statuses = statuses,
           seconds = first and last and (last - first) or 0,
           lastAck = first and last_ok and (last_ok - first) or 0,
           complete = sent == #requests and answered + lost == sent }
end

local function finish()
  if finished then return end
  finished = true
  write(result, encode(counters()))
  wrk.thread:stop()
end

local function exhausted()
  return sent == #requests or (first ~= nil and now() - first > cap)
end

local function settled()
  return exhausted() and answered + lost == sent
end

function request()
  -- wrk calls request() once before the run to check the script: that call sends nothing
  if not checked then
    checked = true
    return requests[1]
  end
  calls = calls + 1
  if exhausted() then
    mark_sent()
    if settled() then finish() end
    return "" -- nothing written: this connection idles until the harness stops wrk
  end
  -- Until the last is sent every connection has a delivery out, and request() is called once as
  -- each connects, then after each answer or after a reconnect, which wrk makes when a
  -- connection closed before its answer: that delivery is lost.
  if calls - connections - answered > lost then
    lost = calls - connections - answered
    last = now()
  end
  sent = sent + 1
  if sent == 1 then first = now() end
  if exhausted() then mark_sent() end
  return requests[sent]
end

function response(status, headers, body)
  last = now()
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 then last_ok = last end
  if settled() then finish() end
end

function done(summary, latency, wrk_requests)
  local thread = threads[1]
  local out = { p50 = latency:percentile(50) / 1000, p99 = latency:percentile(99) / 1000,
                max = latency.max / 1000, mean = latency.mean / 1000, recorded = summary.requests,
                errors = summary.errors, finished = thread:get("finished") }
  for _, name in ipairs({ "total", "sent", "answered", "lost", "statuses", "first", "last", "last_ok" }) do
    out[name] = thread:get(name)
  end
  write(os.getenv("PEER_RESULT") .. ".done", encode(out))
end
