-- mighost.runner.copy: the declarative copy/backfill phase.
--
--   {name = "copy", copy = {
--      source = "source_table",          -- a parameter name, or function(params)
--      destination = "dest_table",       -- likewise
--      scan = {filter =, projection =, names =, values =, consistent =},
--      transform = function(item, ctx) return item end,  -- nil, an item, or a list
--   }}
--
-- Scan segments are the units of work (runner.units): an item's ticket
-- closes once every write of its transform's outputs has settled, so a
-- segment's checkpoint never passes an item that was not written (writes
-- are idempotent puts: a resumed run may redo the pages in flight).

local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local mh = require "mighost"
local units = require "mighost.runner.units"

local M = {}

local resolve = units.resolve
M.resolve = resolve

local function outputs_of(result)
  if result == nil or result == false then return {} end
  if item.is_lean(result) then return {result} end
  if type(result) ~= "table" then error("transform must return nil, an item or a list of items", 0) end
  if result[1] ~= nil then return result end
  if next(result) == nil then return {} end
  return {result}
end

function M.tables(spec, params)
  return resolve(spec.source, params), resolve(spec.destination, params)
end

-- Transform one source item and hand its outputs to the writer.
local function copy_item(ctx, it, ticket, transform, sample)
  local me = mh.current()
  ctx.skip_marks[me] = nil
  -- Transforms may change the item in place: keep the source as read.
  local sampling = sample > 0 and (ctx.sampled or 0) < sample
  local before = sampling and item.decode(item.encode(it))
  local ok, result = pcall(transform, it, ctx)
  if not ok then
    units.fail(ctx, ticket, "transform error: " .. tostring(result))
  else
    local outs = outputs_of(result)
    if #outs == 0 and not ctx.skip_marks[me] then ctx:skip("transform returned nothing") end
    if sampling then ctx:show_sample(before, outs) end
    for _, out in ipairs(outs) do ctx.writer:put(out, ticket) end
  end
  units.close(ticket)
end

-- Runs the phase; ctx is the phase context from the lifecycle.
function M.run(phase, ctx)
  local spec = phase.copy
  local src, dst = M.tables(spec, ctx.params)
  local scan = type(spec.scan) == "function" and spec.scan(ctx.params) or spec.scan or {}
  local before_send
  if ctx.journal and not ctx.dry_run then
    before_send = ctx.journal:writer_hook(ctx.journal:phase(phase.name, "copy", dst,
      require("mighost.runner.journal").is_empty(dst)), dst)
  end
  local writer = ddb.writer{table = dst, window = spec.window, before_send = before_send,
    on_failure = function(f)
      local t = f.ticket
      if not ctx:fail(t and t.source or f.key, f.reason) and t then t.open = true end
    end}
  ctx.writer = writer
  local transform = spec.transform or function(it) return it end
  local sample = ctx.options.sample or 0
  local ok, err = pcall(units.run, ctx, {spec = spec, source = src, scan = scan,
    handle = function(it, ticket, how)
      copy_item(ctx, it, ticket, transform, how.retry and 0 or sample)
    end,
    stopped = function() return writer.outage end,
    push = function() writer:send_buffer() end,
    finish = function() writer:flush() end})
  local c = writer:flush()
  local counts = ctx.counts
  counts.written = counts.written + c.put
  counts.deleted = counts.deleted + c.deleted
  counts.superseded = (counts.superseded or 0) + c.superseded
  if not ok then error(err, 0) end
end

return M
