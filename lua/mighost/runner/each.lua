-- mighost.runner.each: work per item or per group that is neither a put
-- nor an update of the scanned table: a RunTask per bot, one user's items
-- written together, a Lambda call.
--
--   {name = "start", each = {
--      scan = {table = "table", filter =, ...},  -- fn(item, ctx) per item, or
--      keys = function(ctx) return iterator end, -- fn(x, ctx) per group: a key
--                                                -- (a query per key), or a value
--                                                -- of a list (--users, bots found);
--                                                -- or return the list itself
--      key = function(x) return key end,         -- the group's key, when x is
--                                                -- not one (optional)
--      fn = function(x, ctx) ... end,            -- the unit's work (below)
--      earlier = function(x, result, ctx) end,   -- a unit done in an earlier run
--      start = function(ctx) end,                -- before the first unit (optional)
--      finish = function(ctx) end,               -- after the last, even when the
--                                                -- phase stops (report notes)
--      concurrency = 8,                          -- at once (or a parameter name)
--      rate = {rate = 10, burst = 20},           -- calls per second (numbers or
--                                                -- parameter names; optional)
--      count = false,                            -- fn counts its own reads and
--                                                -- writes (default: a unit is
--                                                -- scanned, then written)
--   }}
--
-- fn returns:
--   a value        the unit is done; a value other than true is kept with it
--                  (a task ARN, a user's totals) and given back to `earlier`
--                  in later runs, and by M.results
--   nil, err       (or raises) the unit fails, with its key and the reason,
--                  not the run; --resume runs it again
--   false          the unit stays open, neither done nor failed (fn stopped
--                  before doing it, or recorded its own failures with
--                  ctx:fail): --resume runs it again
-- An error raised as a table with an exit code, error{exit =, message =,
-- reason =}, fails the unit and stops the phase: no unit starts after it,
-- those in flight finish (ctx:interrupted() is true for them), finish runs,
-- and the run ends with that code.
--
-- The token bucket of `rate` is taken once before each call of fn; it is
-- ctx.bucket, for fn's own retries (take) and throttled answers (drain).
--
-- A unit is done once fn has returned; fn must have flushed any writer it
-- used, so that its writes have settled. A unit that finished is recorded
-- in the state before the run goes on, and a resumed run skips it: fn is
-- never called twice for a unit that finished, whatever the stop. (A stop
-- while fn runs may leave that one unit half done: fn must be safe to
-- repeat, e.g. with an idempotency token.) The finished units are a
-- journal beside the state (a line each), written to the file before the
-- unit's worker goes on (a killed process loses none) and fsync'ed at most once a
-- second and when the phase ends (a machine that loses power may forget
-- that second's units: they run again, as units in flight do). In memory,
-- per-item units over a scan keep only those of pages the checkpoint has
-- not passed.

local item = require "mighost.item"
local mh = require "mighost"
local json = require "mighost.json"
local sys = require "mighost.sys"
local sync = require "mighost.sync"
local aws = require "mighost.aws"
local units = require "mighost.runner.units"

local M = {}

function M.tables(spec, params)
  return spec.scan and units.resolve(spec.scan.table, params) or nil
end

local function key_text(k)
  if type(k) == "table" then return item.encode(k) end
  return tostring(k)
end

-- The journal of a phase's finished units: key text -> result (true when fn
-- kept none). A line is a key text, or [key text, result].
local function read_journal(path)
  local done = {}
  for line in (path and sys.read_file(path) or ""):gmatch("[^\n]+") do
    local ok, e = pcall(json.decode, line)
    if ok and type(e) == "string" then done[e] = true
    elseif ok and type(e) == "table" and type(e[1]) == "string" then done[e[1]] = e[2] end
  end
  return done
end

-- The units of `phase` recorded as finished (in this run or earlier ones,
-- as far as the store keeps them): key text -> result or true. For a later
-- phase (following what an each phase started) or confirmation notes.
function M.results(store, phase)
  if not store then return {} end
  if store.coordinated then return store:done_units(phase) end
  local p = store.data and store.data.phases and store.data.phases[phase]
  return read_journal(p and p.done_journal)
end

-- Calls fn(x, ctx) in a protected call: "done", result | "failed", why,
-- err | "open".
local function call(spec, ctx, x)
  local ok, res, err = pcall(spec.fn, x, ctx)
  if not ok then
    if type(res) == "table" and res.exit then return "failed", res.reason or res.message, res end
    return "failed", "error: " .. tostring(res)
  end
  if res == false then return "open" end
  if res == nil and err ~= nil then return "failed", tostring(err) end
  return "done", res
end

-- The journal file, open for appending. A unit's line is written before
-- its caller goes on; the lines of the units that finish at the same moment
-- share one write (the first waits one turn of the event loop for the
-- others). The data reach the disk at most a second later.
local function open_journal(path)
  local f, err = io.open(path, "a")
  if not f then error("cannot record finished units: " .. tostring(err), 0) end
  f:setvbuf("no")
  local j, pending, batch = {synced = mh.clock()}, {}, nil
  function j.sync()
    j.synced = mh.clock()
    local ok, e = sys.append_file(path, "")   -- fsync
    if not ok then error("cannot record finished units: " .. tostring(e), 0) end
  end
  local function write()
    local b, text = batch, table.concat(pending)
    pending, batch = {}, nil
    local ok, e = f:write(text)
    if not ok then b.err = e
    elseif mh.clock() - j.synced >= 1 then
      local synced, se = pcall(j.sync)
      if not synced then b.err = se end
    end
    b:done()
  end
  function j.add(line)
    pending[#pending + 1] = line
    if not batch then
      batch = sync.group()
      batch:add()
      mh.spawn(function() mh.sleep(0); write() end)
    end
    local b = batch
    b:wait()
    if b.err then error("cannot record a finished unit: " .. tostring(b.err), 0) end
  end
  function j.close()
    if batch then batch:wait() end
    f:close()
    j.sync()
  end
  return j
end

local function resolve_number(v, params)
  if type(v) == "string" then return params[v] end
  return v
end

function M.run(phase, ctx)
  local spec = phase.each
  if not spec.fn then error(("phase %s: each.fn is required"):format(phase.name), 0) end
  local limit = resolve_number(spec.concurrency or 8, ctx.params)
  local pool = sync.pool(limit)
  local bucket = spec.rate and sync.bucket{rate = resolve_number(spec.rate.rate, ctx.params),
                                           burst = resolve_number(spec.rate.burst, ctx.params)}
  ctx.bucket = bucket
  local counting = spec.count ~= false
  local store = ctx.store
  -- Finished units go to a journal beside the state, one line each,
  -- appended before the run goes on (writing the whole state per unit
  -- would not scale). The journal's name is kept in the state, so a fresh
  -- run of the same identity starts a new one.
  local st = store:phase(phase.name)
  local done_keys = {}
  local journal
  if store.coordinated then
    -- Several workers: the finished units are items of the coordination
    -- table (runner.lease), read again when a worker takes over a unit.
    done_keys = store:done_units(phase.name)
  elseif store.path then
    if not st.done_journal then
      st.done_journal = ("%s.%s-%d.done.jsonl"):format(store.path:gsub("%.json$", ""),
        phase.name:gsub("[^%w%-_.]", "_"), math.floor(sys.time()))
      store.dirty = true
      store:save()
    end
    done_keys = read_journal(st.done_journal)
    journal = open_journal(st.done_journal)
  end

  local function finished(k, result)
    if result == nil then result = true end
    done_keys[k] = result
    if counting then ctx.counts.written = ctx.counts.written + 1 end
    -- Before anything else: fn is never called twice for a finished unit.
    if store.coordinated then store:unit_done(phase.name, k, result)
    elseif journal then
      journal.add((result == true and json.encode(k) or json.encode({k, result})) .. "\n")
    end
  end

  -- The error that stops the phase (an exit code), raised once the units
  -- in flight have finished.
  local stop_err
  local function stopping() return stop_err ~= nil or ctx:interrupted() end

  -- One unit: its token, fn, and the outcome. Returns the outcome.
  local function unit(x, key, k)
    if bucket then bucket:take() end
    if stopping() then return "open" end
    local outcome, res, err = call(spec, ctx, x)
    if outcome == "done" then finished(k, res)
    elseif outcome == "failed" then
      if err then
        stop_err = stop_err or err
        ctx.halted = true
      end
      -- A failure while the run stops (Ctrl-C, endpoint gone) leaves the
      -- unit open: it is no fault of the unit's.
      if sys.interrupted() > 0 or aws.gave_up() then return "open" end
      if not ctx:fail(key, res) then return "open" end
    end
    return outcome
  end

  if spec.start then spec.start(ctx) end
  local ok, err = pcall(function()
    if spec.keys then
      -- Groups by key: the unit of checkpointing is the key. Keys that
      -- failed in earlier runs are among them: they run again, and leave
      -- the failed-keys file unless they fail again.
      local earlier_failed = store:failed_of(phase.name)
      local iter = spec.keys(ctx)
      if type(iter) == "table" then
        local list, i = iter, 0
        iter = function() i = i + 1; return list[i] end
      end
      local complete = true
      for x in iter do
        if stopping() then complete = false; break end
        local key = spec.key and spec.key(x) or x
        local k = key_text(key)
        if counting then ctx.counts.scanned = ctx.counts.scanned + 1 end
        if done_keys[k] then
          if counting then ctx:skip("done in an earlier run") end
          if spec.earlier then spec.earlier(x, done_keys[k], ctx) end
        else
          pool:go(function()
            if unit(x, key, k) == "open" then complete = false end
          end)
        end
      end
      pool:wait()
      if complete and not stopping() then store:settle_retried(phase.name, earlier_failed) end
      return
    end

    local tbl = units.resolve(spec.scan.table, ctx.params)
    local scan = {}
    for name, v in pairs(spec.scan) do if name ~= "table" then scan[name] = v end end
    units.run(ctx, {spec = spec, source = tbl, scan = scan,
      handle = function(it, ticket, how)
        local k = key_text(ticket.source)
        if done_keys[k] then
          if counting then ctx:skip("done in an earlier run") end
          if spec.earlier then spec.earlier(it, done_keys[k], ctx) end
          units.close(ticket)
          return
        end
        pool:go(function()
          local outcome = unit(it, ticket.source, k)
          if outcome == "done" then
            local page = how.page
            page.done_keys = page.done_keys or {}
            page.done_keys[#page.done_keys + 1] = k
          elseif outcome == "open" then ticket.open = true end
          units.close(ticket)
        end)
      end,
      -- Keys before the checkpoint are never read again: forget them (the
      -- journal keeps them; it is only read when a run resumes).
      passed = function(page)
        for _, k in ipairs(page.done_keys or {}) do done_keys[k] = nil end
      end,
      stopped = function() return stop_err ~= nil or aws.gave_up() end,
      finish = function() pool:wait() end})
  end)
  if journal then journal.close() end
  if spec.finish then spec.finish(ctx) end
  if not ok then error(err, 0) end
  if stop_err then error(stop_err, 0) end
end

return M
