-- mighost.runner.delete: the delete phase.
--
--   {name = "purge", delete = {
--      table = "table",                 -- a parameter name, or function(params)
--      scan = {filter =, names =, values =},  -- narrows what is read
--      select = function(item, ctx) return true end,  -- the final word
--   }}
--
-- The selected items are deleted in batches through the batch writer
-- (BatchWriteItem, retries, unprocessed items re-sent). Batch deletes are
-- unconditional: an item that stops matching between the scan and its
-- batch is deleted anyway (use an update phase, or ddb.delete with a
-- condition, where that matters). Items not selected count as skipped.
-- Scan segments are the units of work (runner.units); deleting again what
-- is gone changes nothing, so redoing the pages in flight is safe.

local ddb = require "mighost.dynamodb"
local mh = require "mighost"
local units = require "mighost.runner.units"

local M = {}

function M.tables(spec, params)
  return units.resolve(spec.table, params)
end

function M.run(phase, ctx)
  local spec = phase.delete
  local tbl = M.tables(spec, ctx.params)
  local scan = type(spec.scan) == "function" and spec.scan(ctx.params) or spec.scan or {}
  local select = spec.select or function() return true end
  local before_send
  if ctx.journal and not ctx.dry_run then
    before_send = ctx.journal:writer_hook(ctx.journal:phase(phase.name, "delete", tbl), tbl,
      scan.projection ~= nil)
  end
  local writer = ddb.writer{table = tbl, window = spec.window, before_send = before_send,
    on_failure = function(f)
      local t = f.ticket
      if not ctx:fail(t and t.source or f.key, f.reason) and t then t.open = true end
    end}
  ctx.writer = writer
  local ok, err = pcall(units.run, ctx, {spec = spec, source = tbl, scan = scan,
    handle = function(it, ticket)
      local me = mh.current()
      ctx.skip_marks[me] = nil
      local fine, chosen = pcall(select, it, ctx)
      if not fine then units.fail(ctx, ticket, "select error: " .. tostring(chosen))
      elseif chosen then writer:delete(ticket.source, ticket, it)
      elseif not ctx.skip_marks[me] then ctx:skip("not selected") end
      units.close(ticket)
    end,
    stopped = function() return writer.outage end,
    push = function() writer:send_buffer() end,
    finish = function() writer:flush() end})
  local c = writer:flush()
  ctx.counts.deleted = ctx.counts.deleted + c.deleted
  if not ok then error(err, 0) end
end

return M
