-- mighost.sync: the concurrency a procedural phase needs, so that no
-- migration writes park/unpark by hand.
--
--   sync.each(iter, limit, fn)   fn(v) for every value of iter (an iterator
--                                or a list), at most `limit` at once
--   sync.pool(limit)             :go(fn, ...) to start work, :wait() for all
--   sync.group()                 a wait group: :add(n), :done(), :wait()
--   sync.once_per_key(fetch)     a single-flight cache: get(key) loads once
--   sync.bucket{rate=, burst=}   a token bucket: :take(n), :give(n), :drain()
--
-- Everything runs on the host's tasks (coroutines on the event loop): a
-- task that waits suspends alone, the rest go on. An error raised by a
-- worker does not leave the others hanging: no new work starts, the work in
-- flight finishes, and the first error is raised to whoever waits.
local mh = require "mighost"

local M = {}

-- Wait groups -------------------------------------------------------------

local Group = {}
Group.__index = Group

function M.group()
  return setmetatable({count = 0, waiters = {}}, Group)
end

function Group:add(n)
  self.count = self.count + (n or 1)
end

function Group:done()
  self.count = self.count - 1
  if self.count < 0 then error("sync.group: done() without add()", 2) end
  if self.count == 0 then
    local ws = self.waiters
    self.waiters = {}
    for _, w in ipairs(ws) do mh.unpark(w) end
  end
end

-- Waits until every add() has its done().
function Group:wait()
  while self.count > 0 do
    self.waiters[#self.waiters + 1] = mh.current()
    mh.park()
  end
end

-- Pools: bounded concurrency ----------------------------------------------
-- A bounded set of worker tasks, not a task per piece of work: go() queues
-- the work (at most `limit` pieces wait) and a worker takes it; a worker
-- that finds the queue empty ends, and go() starts one while fewer than
-- `limit` run. So a phase of millions of items makes a few tasks.

local Pool = {}
Pool.__index = Pool

function M.pool(limit)
  limit = math.tointeger(limit)
  if not limit or limit < 1 then error("sync.pool: the limit must be a positive integer", 2) end
  return setmetatable({limit = limit, running = 0, group = M.group(), slot_waiters = {},
                       jobs = {}, head = 1, tail = 0}, Pool)
end

local function wake_producers(pool)
  local ws = pool.slot_waiters
  pool.slot_waiters = {}
  for _, w in ipairs(ws) do mh.unpark(w) end
end

local function worker(pool)
  while pool.head <= pool.tail do
    local job = pool.jobs[pool.head]
    pool.jobs[pool.head] = nil
    pool.head = pool.head + 1
    -- A free place in the queue for whoever waits to add work.
    local w = table.remove(pool.slot_waiters, 1)
    if w then mh.unpark(w) end
    if pool.err == nil then
      local ok, err = pcall(job.fn, table.unpack(job, 1, job.n))
      if not ok and pool.err == nil then
        pool.err = err
        -- Whoever waits for a slot learns of the failure now.
        wake_producers(pool)
      end
    end
    pool.group:done()
  end
  pool.running = pool.running - 1
end

-- pool.queue (optional): at most this much work waiting for a worker (a
-- job that holds much memory, such as a batch to verify: the workers
-- take the next one as soon as they are free, so a short queue keeps
-- them busy).
-- pool.ready (optional): how much work to keep going now (what a learnt
-- window needs, mighost.inflight), at most the limit.
local function room(pool)
  return pool.ready and math.min(pool.limit, pool.ready()) or pool.limit
end

-- Queues fn(...) for a worker (the caller waits while `limit` pieces of
-- work already wait). Returns false, without queueing it, once a worker
-- has failed; work queued but not started by then is dropped.
function Pool:go(fn, ...)
  while self.tail - self.head + 1 >= math.min(room(self), self.queue or math.huge) and not self.err do
    self.slot_waiters[#self.slot_waiters + 1] = mh.current()
    mh.park()
  end
  if self.err then return false end
  self.group:add()
  local job = table.pack(...)
  job.fn = fn
  self.tail = self.tail + 1
  self.jobs[self.tail] = job
  if self.running < room(self) then
    self.running = self.running + 1
    mh.spawn(worker, self)
  end
  return true
end

-- Waits for everything started; raises the first worker's error, if any.
function Pool:wait()
  self.group:wait()
  if self.err ~= nil then error(self.err, 0) end
end

-- Whether a worker has failed (no more work is started once one has).
function Pool:failed()
  return self.err ~= nil
end

-- Over a list, `limit` tasks take the values in turn (a task per worker,
-- not per value); over an iterator, only the caller calls it (an iterator
-- that waits, such as a scan, must not be called by two tasks at once).
function M.each(iter, limit, fn)
  local pool = M.pool(limit)
  if type(iter) == "table" then
    local list, at = iter, 0
    local function worker()
      while at < #list and not pool.err do
        at = at + 1
        fn(list[at])
      end
    end
    for _ = 1, math.min(pool.limit, #list) do pool:go(worker) end
  else
    for v in iter do
      if not pool:go(fn, v) then break end
    end
  end
  pool:wait()
end

-- Single flight ------------------------------------------------------------

-- get(key) returns fetch(key)'s results; concurrent callers for one key
-- share one fetch. A fetch that raises or returns nil, err is not kept, so
-- the next caller tries again; its callers get nil, err.
function M.once_per_key(fetch)
  local entries = {}
  local cache = {}
  function cache.get(key)
    local e = entries[key]
    if e then
      while not e.done do
        e.waiters[#e.waiters + 1] = mh.current()
        mh.park()
      end
      return e.value, e.err
    end
    e = {done = false, waiters = {}}
    entries[key] = e
    local ok, value, err = pcall(fetch, key)
    if not ok then value, err = nil, value end
    e.value, e.err, e.done = value, err, true
    if value == nil then entries[key] = nil end
    for _, w in ipairs(e.waiters) do mh.unpark(w) end
    return value, err
  end
  -- How many keys hold a value.
  function cache.size()
    local n = 0
    for _, e in pairs(entries) do if e.done then n = n + 1 end end
    return n
  end
  return cache
end

-- Token buckets ------------------------------------------------------------

local Bucket = {}
Bucket.__index = Bucket

-- `rate` tokens per second, at most `burst` held (default: one second's).
function M.bucket(o)
  local rate = tonumber(o.rate)
  if not rate or rate <= 0 then error("sync.bucket: rate must be a positive number", 2) end
  local burst = tonumber(o.burst) or rate
  return setmetatable({rate = rate, burst = burst, tokens = burst, at = mh.clock()}, Bucket)
end

function Bucket:refill()
  local now = mh.clock()
  self.tokens = math.min(self.burst, self.tokens + (now - self.at) * self.rate)
  self.at = now
end

-- Waits until `n` tokens (default 1) are there and takes them. A request
-- larger than the burst waits for a full bucket and leaves it in debt, so
-- the long-run rate still holds.
function Bucket:take(n)
  n = n or 1
  local need = math.min(n, self.burst)
  self:refill()
  while self.tokens < need do
    mh.sleep((need - self.tokens) / self.rate)
    self:refill()
  end
  self.tokens = self.tokens - n
end

-- Gives back tokens taken on an estimate (or takes more: n < 0).
function Bucket:give(n)
  self:refill()
  self.tokens = math.min(self.burst, self.tokens + n)
end

-- Empties the bucket: the service said we are too fast.
function Bucket:drain()
  self:refill()
  self.tokens = math.min(self.tokens, 0)
end

return M
