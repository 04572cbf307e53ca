-- examples/delete-matching: delete every item that matches a predicate, in
-- batches (BatchWriteItem through the batch writer, with retries).
--
-- Default predicate: status = "deleted" AND updatedAt < --before (ISO dates
-- compare as strings). The scan filter narrows what comes back; `matches`
-- decides, so edit both together.
--
-- Before a real run the confirmation says how many items of which table
-- will go. A --dry-run reads and counts, records the deletes (--plan) and
-- deletes nothing. The deletes are unconditional: an item that stops
-- matching between the scan and its batch is deleted anyway. If that
-- matters, use ddb.delete{..., condition = ...} per item instead.
local ddb = require "mighost.dynamodb"

local function scan_options(p)
  return {table = p.table, filter = "#s = :s AND #u < :before",
          names = {["#s"] = p.status_attr, ["#u"] = "updatedAt"},
          values = {[":s"] = {S = p.status}, [":before"] = {S = p.before}}}
end

-- The final word on an item (the filter is only an optimisation).
local function matches(it, p)
  local s, u = it[p.status_attr], it.updatedAt
  return s and s.S == p.status and u and u.S and u.S < p.before
end

local function delete(ctx)
  local p = ctx.params
  local schema = ddb.schema(p.table)
  local w = ddb.writer{table = p.table, on_failure = function(f) ctx:fail(f.key, f.reason) end}
  local o = scan_options(p)
  o.segments = ctx.options.segments or 4
  for it in ddb.scan(o) do
    if ctx:interrupted() then break end
    ctx.counts.scanned = ctx.counts.scanned + 1
    if matches(it, p) then w:delete(ddb.key_of(schema, it))
    else ctx:skip("does not match") end
  end
  local c = w:flush()
  ctx.counts.deleted = ctx.counts.deleted + c.deleted
  -- In a dry-run nothing is sent: the report's note says what would go.
  ctx:note(ctx.dry_run and "would_delete" or "deleted", c.deleted)
end

local function verify(ctx)
  local o = scan_options(ctx.params)
  o.segments, o.consistent = 4, true
  local left = 0
  for it in ddb.scan(o) do if matches(it, ctx.params) then left = left + 1 end end
  return left == 0, {{name = "no matching item left", left = left, ok = left == 0}}
end

return {
  name = "examples/delete-matching",
  description = "Delete the items with status = STATUS updated before BEFORE, in batches.",
  params = {
    {name = "table", type = "table", required = true, access = "write", doc = "table to delete from"},
    {name = "status_attr", type = "string", default = "status", doc = "the status attribute"},
    {name = "status", type = "string", default = "deleted", doc = "status of the items to delete"},
    {name = "before", type = "string", required = true,
     doc = "only items with updatedAt before this ISO date (e.g. 2024-01-01)"},
  },
  -- Shown in the confirmation of a real run (not with --yes or --dry-run).
  confirm_notes = function(p)
    local o = scan_options(p)
    o.segments = 4
    local n = ddb.count(o)
    return {("DELETES %s items of table %s (%s = %s, updatedAt < %s); there is no undo: "
      .. "take a backup or an on-demand export first"):format(tostring(n or "?"), p.table,
      p.status_attr, p.status, p.before)}
  end,
  phases = {
    {name = "delete", run = delete, writes = {"table"}},
    {name = "verify", verify = verify, reads = {"table"}},
  },
}
