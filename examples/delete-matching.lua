-- examples/delete-matching: delete every item that matches a predicate, in
-- batches (a delete phase: BatchWriteItem through the batch writer, with
-- retries; scan segments checkpointed for --resume).
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

local function filter(p)
  return {filter = "#s = :s AND #u < :before",
          names = {["#s"] = p.status_attr, ["#u"] = "updatedAt"},
          values = {[":s"] = {S = p.status}, [":before"] = {S = p.before}}}
end

local function scan_options(p)
  local o = filter(p)
  o.table = p.table
  return o
end

-- The final word on an item (the filter is only an optimisation).
local function matches(it, p)
  local s, u = it[p.status_attr], it.updatedAt
  return s and s.S == p.status and u and u.S and u.S < p.before
end

local function select(it, ctx)
  if matches(it, ctx.params) then return true end
  ctx:skip("does not match")
  return false
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
    return {("DELETES %s items of table %s (%s = %s, updatedAt < %s); `mighost undo` puts them "
      .. "back from this run's journal (none with --no-undo): take a backup or an on-demand "
      .. "export as well"):format(tostring(n or "?"), p.table, p.status_attr, p.status, p.before)}
  end,
  phases = {
    {name = "delete", delete = {table = "table", scan = filter, select = select}},
    {name = "verify", verify = verify, reads = {"table"}},
  },
}
