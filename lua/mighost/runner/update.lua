-- mighost.runner.update: the in-place update phase.
--
--   {name = "backfill", update = {
--      table = "table",                  -- a parameter name, or function(params)
--      scan = {filter =, projection =, names =, values =},
--      change = function(item, ctx, key) -- what to change, nil for nothing, or
--                                        -- nil, reason: the item fails (listed)
--        return {set = {gsi1pk = {S = "t#x"}}, remove = {"old"}, add = {n = {N = "1"}}}
--        -- or {item = new_item}: the whole item as it should be
--        -- or {update = "SET ...", condition =, names =, values =}: as written
--      end,
--      condition = "attribute_exists(#pk)",  -- the default (#pk: the hash key)
--      names =, values =,                -- for a condition of your own
--      concurrency = 64,                 -- at most this many UpdateItems in flight (or a
--                                        -- parameter name; default --concurrency): the
--                                        -- window below it is learnt (mighost.inflight)
--      condition_failed = "reason",      -- the skip reason when the condition fails
--   }}
--
-- One UpdateItem per item that needs one. The default condition means an
-- item deleted between the scan and its update is not recreated as a stub
-- holding only its key and the new attributes; a failed condition counts
-- as skipped, with the key listed. An item already as `change` wants it
-- (every SET value equal, every REMOVE absent, no ADD) is skipped, so a
-- re-run writes nothing. Scan segments are the units of work and of
-- checkpointing (runner.units): updates are idempotent, so redoing the
-- pages in flight at a stop changes nothing.

local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local mh = require "mighost"
local sync = require "mighost.sync"
local aws = require "mighost.aws"
local units = require "mighost.runner.units"
local journal = require "mighost.runner.journal"
local inflight = require "mighost.inflight"

local M = {}

local function same(a, b)
  if a == nil or b == nil then return a == b end
  return item.encode({v = a}) == item.encode({v = b})
end

-- {set=, remove=, add=} from a whole new item: what differs from `old`,
-- key attributes excepted (an update cannot change them).
local function diff(old, new, schema)
  local set, remove = {}, {}
  for k, v in pairs(new) do
    if k ~= schema.hash and k ~= schema.range and not same(old[k], v) then set[k] = v end
  end
  for k in pairs(old) do
    if new[k] == nil and k ~= schema.hash and k ~= schema.range then remove[#remove + 1] = k end
  end
  table.sort(remove)
  return {set = set, remove = remove}
end

-- Whether the change would leave the item as it is.
local function no_op(it, ch)
  if ch.add and next(ch.add) then return false end
  for k, v in pairs(ch.set or {}) do if not same(it[k], v) then return false end end
  for _, k in ipairs(ch.remove or {}) do if it[k] ~= nil then return false end end
  return true
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t or {}) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

-- The UpdateItem options for a change: SET/REMOVE/ADD with placeholders,
-- in attribute-name order so the same change is the same request.
function M.expression(ch, names, values)
  local clauses, n = {}, 0
  local function name_of(attr)
    n = n + 1
    local ph = "#u" .. n
    names[ph] = attr
    return ph
  end
  local set, add = {}, {}
  for _, k in ipairs(sorted_keys(ch.set)) do
    local ph = name_of(k)
    values[":u" .. n] = ch.set[k]
    set[#set + 1] = ph .. " = :u" .. n
  end
  for _, k in ipairs(sorted_keys(ch.add)) do
    local ph = name_of(k)
    values[":u" .. n] = ch.add[k]
    add[#add + 1] = ph .. " :u" .. n
  end
  local remove = {}
  for _, k in ipairs(ch.remove or {}) do remove[#remove + 1] = name_of(k) end
  if #set > 0 then clauses[#clauses + 1] = "SET " .. table.concat(set, ", ") end
  if #remove > 0 then clauses[#clauses + 1] = "REMOVE " .. table.concat(remove, ", ") end
  if #add > 0 then clauses[#clauses + 1] = "ADD " .. table.concat(add, ", ") end
  return table.concat(clauses, " ")
end

local function copy_table(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

function M.tables(spec, params)
  return units.resolve(spec.table, params)
end

function M.run(phase, ctx)
  local spec = phase.update
  local tbl = M.tables(spec, ctx.params)
  local schema = ddb.schema(tbl)
  local scan = type(spec.scan) == "function" and spec.scan(ctx.params) or spec.scan or {}
  -- Enough workers for the widest window; the window (mighost.inflight)
  -- decides how many UpdateItems are really in flight.
  local limit = spec.concurrency or inflight.cap()
  if type(limit) == "string" then limit = ctx.params[limit] end
  local pool = sync.pool(limit)
  pool.ready = function() return inflight.ready("UpdateItem", tbl) end
  local condition, cond_names, cond_values = spec.condition, spec.names, spec.values
  if condition == nil then
    condition, cond_names = "attribute_exists(#pk)", {["#pk"] = schema.hash}
  end
  local counts = ctx.counts
  local undo = ctx.journal and not ctx.dry_run and
    {journal = ctx.journal, phase = ctx.journal:phase(phase.name, "update", tbl)}

  local function update_one(it, ticket)
    local me = mh.current()
    ctx.skip_marks[me] = nil
    -- The item as read, before `change` can touch it (the undo journal's).
    local before_text = undo and item.encode(it)
    local ok, ch, why = pcall(spec.change, it, ctx, ticket.source)
    if not ok then units.fail(ctx, ticket, "change error: " .. tostring(ch)); return end
    if ch == nil and why ~= nil then units.fail(ctx, ticket, tostring(why)); return end
    if ch and ch.item then ch = diff(it, ch.item, schema) end
    if not ch or (not ch.update and no_op(it, ch)) then
      if not ctx.skip_marks[me] then ctx:skip("already as wanted", nil) end
      return
    end
    local o = {table = tbl, key = ticket.source}
    if ch.update then
      -- As the phase wrote it: its own condition, or the phase's.
      o.update, o.condition = ch.update, ch.condition
      o.names, o.values = copy_table(ch.names), copy_table(ch.values)
      if o.condition == nil then
        o.condition = condition ~= false and condition or nil
        for k, v in pairs(cond_names or {}) do o.names[k] = v end
        for k, v in pairs(cond_values or {}) do o.values[k] = v end
      end
    else
      o.names, o.values = copy_table(cond_names), copy_table(cond_values)
      o.update = M.expression(ch, o.names, o.values)
      o.condition = condition ~= false and condition or nil
    end
    if not next(o.names) then o.names = nil end
    if not next(o.values) then o.values = nil end
    local done, err, after
    if undo then
      -- The before-image on disk first; what the update left comes back
      -- with it (ALL_NEW) for undo's check that nobody changed it since.
      if scan.projection then
        -- A projected scan read part of the item: the whole of it.
        local got, gerr = ddb.get{table = tbl, key = ticket.source, consistent = true}
        if gerr then units.fail(ctx, ticket, "reading its before-image: " .. tostring(gerr)); return end
        if not got then ctx:skip("deleted meanwhile; not written", ticket.source); return end
        before_text = item.encode(got)
      end
      local key_text = item.encode(ticket.source)
      undo.journal:record(undo.phase, ticket.seg, {journal.pre_line(key_text, before_text)})
      o.return_values = "ALL_NEW"
      o.lean = true    -- the item after is only written to the journal as it came
      local r1, r2 = ddb.update(o)
      done = r1
      if done then after = r2 else err = r2 end
      if done then
        undo.journal:note(undo.phase, ticket.seg, journal.post_line(key_text, after and item.encode(after)))
      elseif done == false then
        -- The condition held it back: nothing of this run's to undo.
        undo.journal:note(undo.phase, ticket.seg, journal.none_line(key_text))
      end
    else
      done, err = ddb.update(o)
    end
    if done then counts.written = counts.written + 1
    elseif done == false then
      ctx:skip(spec.condition_failed or "condition failed (changed or deleted meanwhile; not written)",
               ticket.source)
    else units.fail(ctx, ticket, tostring(err)) end
  end

  units.run(ctx, {spec = spec, source = tbl, scan = scan,
    handle = function(it, ticket)
      pool:go(function()
        local ok, err = pcall(update_one, it, ticket)
        if not ok then units.fail(ctx, ticket, "update error: " .. tostring(err)) end
        units.close(ticket)
      end)
    end,
    stopped = function() return aws.gave_up() end,
    finish = function()
      pool:wait()
      if undo then undo.journal:flush() end
    end})
end

return M
