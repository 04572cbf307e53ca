-- A sample copy migration for the runner's tests: copies `source` into
-- `destination`, stamping each item, skipping items marked "skip", and
-- checking afterwards that every copied key is there.
local ddb = require "mighost.dynamodb"

return {
  name = "tests/sample-copy",
  description = "Copy a table into another, adding a version stamp.",
  params = {
    {name = "source", type = "table", required = true, doc = "table to copy from",
     config = "sourceTableName", stack_output = "SourceTable",
     stack_resource = "SourceTable", key = {hash = "pk"}, access = "read"},
    {name = "destination", type = "table", required = true, doc = "table to copy into",
     config = "destinationTableName", stack_output = "Storage/DestinationTable",
     stack_resource = "Storage/DestinationTable", key = {hash = "pk"},
     access = "write"},
    {name = "stamp", type = "string", default = "v2", doc = "value of the `version` attribute"},
    {name = "fail_on_bad", type = "boolean", default = false, doc = "raise on a bad item (tests)"},
  },
  phases = {
    {name = "copy", copy = {
      source = "source", destination = "destination",
      transform = function(it, ctx)
        if it.skip then ctx:skip("marked skip", {pk = it.pk}); return nil end
        if it.bad and ctx.params.fail_on_bad then error("bad item " .. it.pk.S) end
        it.version = {S = ctx.params.stamp}
        return it
      end,
    }},
    {name = "verify", reads = {"source", "destination"}, verify = function(ctx)
      local missing, checked = 0, 0
      for it in ddb.scan{table = ctx.params.source, segments = 4} do
        if not it.skip then
          checked = checked + 1
          local got = ddb.get{table = ctx.params.destination, key = {pk = it.pk}}
          if not got or got.version.S ~= ctx.params.stamp then missing = missing + 1 end
        end
      end
      return missing == 0, {{name = "every copied item is present", checked = checked,
                             missing = missing}}
    end},
  },
}
