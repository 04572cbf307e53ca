-- mighost.inflight: how many requests of one kind (one operation on one
-- table) to keep in flight, learnt from the requests themselves.
--
--   local w = inflight.window("BatchWriteItem", "T")
--   local t0 = w:acquire()          -- waits while the window is full
--   ... the request ...
--   w:release(t0, {throttled = n > 0, units = consumed})
--
-- Grows while throughput grows, the way TCP probes a path, but judged by
-- what was delivered rather than by latency (latency on a shared machine
-- is too noisy to read a queue from). A round is one window's worth of
-- answers. After a round in which the window was full, throughput (answers
-- per second: by Little's law, window / latency) is compared with the best
-- seen: 10% more is a new best, and the window grows by a quarter. At
-- first it doubles instead (TCP's slow start): a phase at 30 ms a request
-- reaches a window of 64 in four round trips rather than twelve, which
-- matters for the short phases of a migration. The first round without a
-- gain, or a throttle, ends the doubling for good. Less,
-- and it still grows by a quarter (one round is noisy) until it is twice
-- the best round's window with nothing to show for it: then the server
-- (or the client) is the limit, and the window goes back to the best
-- round's plus a quarter, for headroom, and probes from there. The best is forgotten slowly (2%
-- a round), so the window probes upward again when the server gets
-- faster. A throttle (or a batch answered in part) halves the window,
-- the multiplicative decrease of AIMD, at most once a round trip.
--
-- A window for a table the operation has not been used on yet starts
-- from what another table's taught (start_for below).
--
-- Bounds: 1 to the cap (--concurrency: the requests the engine puts on
-- the wire at once, default 256) and, under --max-read-rate or
-- --max-write-rate, rate / (capacity units per request) x latency x 1.5
-- (Little's law again): more in flight would only wait for capacity.
-- Batch requests (BatchWriteItem, BatchGetItem) stop at 64 whatever the
-- cap: 64 batches of 25 writes at 30 ms a request carry 53,000 items a
-- second, past what a default on-demand table takes (40,000 write units),
-- and each batch in flight holds its items in memory.
local mh = require "mighost"

local M = {}

local START = 4            -- the first window: small, it grows within a few round trips
local GROWTH = 0.25        -- a quarter more a round while throughput grows
local GAIN = 1.10          -- what counts as growing
local GIVE_UP = 2.0        -- twice the best round's window without a gain: stop there
local FORGET = 0.98        -- the best throughput fades by this a round
local MIN_ROUND = 8        -- answers in a round, at least (fewer are noise)

local cap = 256
local BATCH_CAP = 64
local function cap_of(op)
  return op:sub(1, 5) == "Batch" and math.min(cap, BATCH_CAP) or cap
end
local windows = {}         -- "op table" -> window, for the report
local order = {}

local Window = {}
Window.__index = Window

-- The cap: --concurrency (the engine's own limit of requests on the wire).
function M.set_cap(n)
  n = math.tointeger(n)
  if n and n > 0 then cap = n end
  for _, w in pairs(windows) do w.limit = math.min(w.limit, cap_of(w.op)) end
end
function M.cap() return cap end

-- Where a new window starts: START, or half the best round's window this
-- operation reached on another table, when larger. The endpoint and its
-- latency are the same, so the next phase (file versions after asset
-- versions, the second table a verification reads) need not climb from 4
-- again; the table may be slower, so half, and slow start still doubles
-- from there. A throttled window's best is 1: no head start from it.
local function start_for(op)
  local most = 0
  for _, o in ipairs(order) do
    if o.op == op and o.best_limit > most then most = o.best_limit end
  end
  return math.min(math.max(START, math.floor(most / 2)), cap_of(op))
end

-- The window of an operation on a table (created on first use).
-- `rate` returns the --max-*-rate that applies, or nil.
function M.window(op, tname, rate)
  local k = op .. " " .. tname
  local w = windows[k]
  if w and rate then w.rate = rate end
  if not w then
    w = setmetatable({op = op, table = tname, rate = rate, limit = start_for(op),
                      in_flight = 0, waiters = {}, head = 1, tail = 0,
                      round_n = 0, round_sum = 0, round_start = nil, round_full = false,
                      best = 0, best_limit = 1, srtt = nil, units = nil, last_cut = -math.huge,
                      slow_start = true,
                      max = 0, throttles = 0, cuts = 0, requests = 0}, Window)
    windows[k] = w
    order[#order + 1] = w
  end
  return w
end

-- How many requests of this kind a producer should keep ready: the window
-- and two more, so the window can fill (and grow) without the producers
-- holding the cap's worth of work in memory.
function M.ready(op, tname)
  return math.floor(M.window(op, tname).limit) + 2
end

local function wake(w)
  while w.head <= w.tail and w.in_flight < math.floor(w.limit) do
    local t = w.waiters[w.head]
    w.waiters[w.head] = nil
    w.head = w.head + 1
    w.in_flight = w.in_flight + 1    -- the slot is taken on its behalf
    mh.unpark(t)
  end
end

-- Waits for a slot; returns the clock at the start of the request.
function Window:acquire()
  if self.in_flight < math.floor(self.limit) and self.head > self.tail then
    self.in_flight = self.in_flight + 1
  else
    self.tail = self.tail + 1
    self.waiters[self.tail] = mh.current()
    mh.park()                           -- woken with the slot taken (wake)
  end
  if self.in_flight > self.max then self.max = self.in_flight end
  if self.in_flight >= math.floor(self.limit) then self.round_full = true end
  if not self.round_start then self.round_start = mh.clock() end
  self.requests = self.requests + 1
  return mh.clock()
end

local function bound(w)
  local top = cap_of(w.op)
  local rate = w.rate and w.rate()
  if rate and w.units and w.units > 0 and w.srtt then
    top = math.min(top, math.max(1, rate / w.units * w.srtt * 1.5))
  end
  if w.limit > top then w.limit = top end
  if w.limit < 1 then w.limit = 1 end
end

local function new_round(w, now)
  w.round_n, w.round_sum, w.round_start, w.round_full = 0, 0, now, false
end

-- A window's worth of answers: compare its throughput with the best.
local function end_round(w, now)
  w.srtt = w.round_sum / w.round_n
  local x = w.round_n / math.max(now - w.round_start, 1e-6)
  w.best = w.best * FORGET
  if not w.round_full then
    -- Fewer requests than the window came: nothing learnt about the server.
  elseif x > w.best * GAIN then
    w.best, w.best_limit = x, w.limit
    w.limit = w.slow_start and w.limit * 2 or w.limit + math.max(1, w.limit * GROWTH)
  elseif w.slow_start then
    -- The first round that gained nothing: back to the best round's window
    -- plus a quarter, and grow by quarters from here.
    w.slow_start = false
    if x > w.best then w.best = x end
    w.limit = w.best_limit * (1 + GROWTH)
  elseif w.limit >= w.best_limit * GIVE_UP then
    w.limit = w.best_limit * (1 + GROWTH)
  else
    w.limit = w.limit + math.max(1, w.limit * GROWTH)
    if x > w.best then w.best = x end
  end
  new_round(w, now)
end

-- The request that started at t0 is over. how.throttled: the service
-- throttled it (or left part of a batch unprocessed); how.units: the
-- capacity it consumed.
function Window:release(t0, how)
  local now = mh.clock()
  local rtt = now - t0
  self.in_flight = self.in_flight - 1
  if how and how.units and how.units > 0 then
    self.units = self.units and self.units * 0.9 + how.units * 0.1 or how.units
  end
  if how and how.throttled then
    self.throttles = self.throttles + 1
    if now - self.last_cut >= (self.srtt or rtt) then
      self.limit = self.limit / 2
      self.slow_start = false
      self.last_cut = now
      self.cuts = self.cuts + 1
      self.best, self.best_limit = 0, 1
      new_round(self, now)
    end
  else
    self.round_n = self.round_n + 1
    self.round_sum = self.round_sum + rtt
    if self.round_n >= math.max(MIN_ROUND, math.floor(self.limit)) then end_round(self, now) end
  end
  bound(self)
  wake(self)
end

-- The windows used since the last mark (the current phase), for the report:
-- {op = {final =, max =, throttles =}} (the widest table's, per operation).
function M.mark()
  for _, w in ipairs(order) do w.max, w.throttles, w.requests = w.in_flight, 0, 0 end
end

function M.levels()
  local by_op = {}
  for _, w in ipairs(order) do
    if w.requests > 0 then
      local e = by_op[w.op]
      if not e or w.max > e.max then
        by_op[w.op] = {final = math.floor(w.limit), max = w.max, throttles = w.throttles}
      end
    end
  end
  return by_op
end

-- Requests in flight now and the sum of the windows in use (progress line).
function M.now()
  local n, limit = 0, 0
  for _, w in ipairs(order) do
    if w.requests > 0 then n, limit = n + w.in_flight, limit + math.floor(w.limit) end
  end
  return n, limit
end

return M
