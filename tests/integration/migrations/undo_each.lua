-- Each and run phases that write in place through mighost.dynamodb, for
-- the undo tests: per item of `table`, an UpdateItem (doubled = 2n) and a
-- second one (ADD calls 1: the same item written twice), every 7th item
-- deleted, every 5th replaced by a PutItem; then a run phase that puts a
-- log item per 10th source item into `log` through a batch writer, a
-- summary item, and an update of k1 asking for its old values. With --raw true the run phase
-- also sends a PutItem as a raw request, which the journal cannot see.
local ddb = require "mighost.dynamodb"

return {
  name = "tests/undo-each",
  description = "In-place writes from each and run phases.",
  params = {
    {name = "table", type = "table", required = true, access = "write", key = {hash = "pk"}},
    {name = "log", type = "table", required = true, access = "write", key = {hash = "pk"}},
    {name = "raw", type = "boolean", default = false},
  },
  phases = {
    {name = "touch", writes = {"table"}, each = {scan = {table = "table"}, concurrency = 8,
      fn = function(it, ctx)
        local t, n = ctx.params.table, tonumber(it.n.N)
        if n % 7 == 0 then return ddb.delete{table = t, key = {pk = it.pk}} end
        if n % 5 == 0 then
          return ddb.put{table = t, item = {pk = it.pk, n = it.n, replaced = {BOOL = true}}}
        end
        local ok, err = ddb.update{table = t, key = {pk = it.pk}, update = "SET doubled = :d",
          values = {[":d"] = {N = tostring(2 * n)}}}
        if not ok then return nil, err end
        return ddb.update{table = t, key = {pk = it.pk}, update = "ADD calls :one",
          values = {[":one"] = {N = "1"}}}
      end}},
    {name = "log", writes = {"log", "table"}, run = function(ctx)
      local w = ddb.writer{table = ctx.params.log}
      for it in ddb.scan{table = ctx.params.table} do
        if tonumber(it.n.N) % 10 == 1 then w:put{pk = it.pk, seen = it.n} end
      end
      w:flush()
      assert(ddb.put{table = ctx.params.log, item = {pk = {S = "summary"}, n = {N = "1"}}})
      local ok, err = ddb.update{table = ctx.params.table, key = {pk = {S = "k1"}},
        update = "SET summarised = :t", values = {[":t"] = {BOOL = true}}, return_values = "UPDATED_OLD"}
      if not ok then error("summary: " .. tostring(err)) end
      if ctx.params.raw then
        local _, rerr = ddb.request("PutItem", {TableName = ctx.params.table,
          Item = {pk = {S = "raw"}, n = {N = "0"}}}, ctx.params.table)
        if rerr then error("raw put: " .. tostring(rerr)) end
      end
    end},
  },
}
