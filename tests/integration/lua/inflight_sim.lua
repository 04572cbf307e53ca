-- mighost.inflight against a simulated server, on a simulated clock (no
-- network, no timing): a FIFO server answering `rate` requests a second,
-- each answer `latency` seconds after its request at the earliest. The
-- client keeps the window full. Prints, per case, the window after each
-- round trip's worth of answers and the throughput reached.
-- arg: latency_ms rate requests [throttle_from]
--   throttle_from: from this answer on, every third one is a throttle.
local mh = require "mighost"
local now = 0
mh.clock = function() return now end    -- inflight reads the clock through mh
local inflight = require "mighost.inflight"

local latency, rate, total = tonumber(arg[1]) / 1000, tonumber(arg[2]), tonumber(arg[3])
local throttle_from = tonumber(arg[4] or "")
local w = inflight.window("UpdateItem", "sim")

local pending = {}        -- {t0 =, done_at =}, in the order they end
local server_free = 0     -- when the server can answer the next one
local started, answered = 0, 0
local trace = {}
local next_trace = latency

local function start()
  local t0 = w:acquire()  -- never waits: called only while the window has room
  started = started + 1
  local served = math.max(now, server_free) + 1 / rate
  server_free = served
  pending[#pending + 1] = {t0 = t0, done_at = math.max(served, now + latency)}
end

while answered < total do
  while started < total and w.in_flight < math.floor(w.limit) do start() end
  local r = table.remove(pending, 1)
  now = r.done_at
  answered = answered + 1
  local throttled = throttle_from and answered >= throttle_from and answered % 3 == 0
  w:release(r.t0, {throttled = throttled})
  if now >= next_trace then
    trace[#trace + 1] = math.floor(w.limit)
    next_trace = next_trace + latency
  end
end
print(("windows\t%s"):format(table.concat(trace, " ")))
print(("final\t%d\tthroughput\t%.0f"):format(math.floor(w.limit), total / now))
-- Where the same operation's window on another table starts, and another
-- operation's.
print(("next_table\t%d\tother_op\t%d"):format(math.floor(inflight.window("UpdateItem", "sim2").limit),
  math.floor(inflight.window("PutItem", "sim").limit)))
