-- mighost.runner.each: work per item or per group that is neither a put
-- nor an update of the scanned table: a RunTask per bot, one user's items
-- written together, a Lambda call.
--
--   {name = "start", each = {
--      scan = {table = "table", filter =, ...},  -- fn(item, ctx) per item, or
--      keys = function(ctx) return iterator end, -- fn(key, ctx) per group key
--      fn = function(x, ctx) ... end,            -- raise or return nil, err to fail
--      concurrency = 8,                          -- at once (or a parameter name)
--      rate = {rate = 10, burst = 20},           -- calls per second (optional)
--   }}
--
-- A unit (item or group) is done once fn has returned; fn must have
-- flushed any writer it used, so that its writes have settled. One unit's
-- failure (an error, or nil, err) fails that unit, with its key and the
-- reason, not the run; --resume runs it again. A unit that finished is
-- recorded in the state before the run goes on, and a resumed run skips
-- it: fn is never called twice for a unit that finished, whatever the
-- stop. (A stop while fn runs may leave that one unit half done: fn must
-- be safe to repeat, e.g. with an idempotency token.) The finished units
-- are a journal beside the state (a line each); in memory, per-item units
-- over a scan keep only those of pages the checkpoint has not passed.

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

-- Calls fn(x, ctx) in a protected call; true when it succeeded.
local function call(spec, ctx, x)
  local ok, res, err = pcall(spec.fn, x, ctx)
  if not ok then return false, "error: " .. tostring(res) end
  if res == nil and err ~= nil then return false, tostring(err) end
  return true
end

function M.run(phase, ctx)
  local spec = phase.each
  if not spec.fn then error(("phase %s: each.fn is required"):format(phase.name), 0) end
  local limit = spec.concurrency or 8
  if type(limit) == "string" then limit = ctx.params[limit] end
  local pool = sync.pool(limit)
  local bucket = spec.rate and sync.bucket(spec.rate)
  local store = ctx.store
  -- Finished units go to a journal beside the state, one line each,
  -- appended and fsync'ed before the run goes on (writing the whole state
  -- per unit would not scale). The journal's name is kept in the state, so
  -- a fresh run of the same identity starts a new one.
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
    journal = st.done_journal
    for line in (sys.read_file(journal) or ""):gmatch("[^\n]+") do
      local ok, k = pcall(json.decode, line)
      if ok and type(k) == "string" then done_keys[k] = true end
    end
  end

  local function finished(k)
    done_keys[k] = true
    ctx.counts.written = ctx.counts.written + 1
    -- Before anything else: fn is never called twice for a finished unit.
    if store.coordinated then store:unit_done(phase.name, k)
    elseif journal then
      local ok, err = sys.append_file(journal, json.encode(k) .. "\n")
      if not ok then error("cannot record a finished unit: " .. tostring(err), 0) end
    end
  end

  if spec.keys then
    -- Groups by key: the unit of checkpointing is the key.
    local iter = spec.keys(ctx)
    for key in iter do
      if ctx:interrupted() or aws.gave_up() then break end
      local k = key_text(key)
      ctx.counts.scanned = ctx.counts.scanned + 1
      if done_keys[k] then ctx:skip("done in an earlier run")
      else
        pool:go(function()
          if bucket then bucket:take() end
          local ok, why = call(spec, ctx, key)
          if ok then finished(k) else ctx:fail(key, why) end
        end)
      end
    end
    pool:wait()
    return
  end

  local tbl = units.resolve(spec.scan.table, ctx.params)
  local scan = {}
  for k, v in pairs(spec.scan) do if k ~= "table" then scan[k] = v end end
  units.run(ctx, {spec = spec, source = tbl, scan = scan,
    handle = function(it, ticket, how)
      local k = key_text(ticket.source)
      if done_keys[k] then
        ctx:skip("done in an earlier run")
        units.close(ticket)
        return
      end
      pool:go(function()
        if bucket then bucket:take() end
        local ok, why = call(spec, ctx, it)
        if ok then
          local page = how.page
          page.done_keys = page.done_keys or {}
          page.done_keys[#page.done_keys + 1] = k
          finished(k)
        else units.fail(ctx, ticket, why) end
        units.close(ticket)
      end)
    end,
    -- Keys before the checkpoint are never read again: forget them (the
    -- journal keeps them; it is only read when a run resumes).
    passed = function(page)
      for _, k in ipairs(page.done_keys or {}) do done_keys[k] = nil end
    end,
    stopped = function() return aws.gave_up() end,
    finish = function() pool:wait() end})
end

return M
