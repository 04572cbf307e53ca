-- examples/filtered-copy: copy the items of a table that match a filter
-- into another table (e.g. only status = "active").
--
-- The filter runs in DynamoDB (a Scan FilterExpression): every item is
-- still read (and paid for), only matching ones come back. The copy is a
-- put of the same item, so a second run changes nothing. For another
-- account or region, name the destination
-- NAME@profile=PROFILE,region=REGION (examples/README.md).
local ddb = require "mighost.dynamodb"
local item = require "mighost.item"

-- The scan options of the filter; a function so they can use parameters.
local function filter(p)
  return {filter = "#a = :v", names = {["#a"] = p.attr}, values = {[":v"] = {S = p.value}}}
end

local function verify(ctx)
  local p = ctx.params
  local schema = ddb.schema(p.source)
  local expected, missing = 0, 0
  local scan = filter(p)
  scan.table, scan.segments = p.source, 4
  for it in ddb.scan(scan) do
    expected = expected + 1
    local got = ddb.get{table = p.destination, key = ddb.key_of(schema, it), consistent = true}
    if not got or not item.equal(got, it) then missing = missing + 1 end
  end
  return missing == 0, {{name = "every matching item copied", expected = expected,
                         missing_or_different = missing, ok = missing == 0}}
end

return {
  name = "examples/filtered-copy",
  description = "Copy the items of SOURCE where ATTR = VALUE into DESTINATION.",
  params = {
    {name = "source", type = "table", required = true, access = "read", doc = "table to read"},
    {name = "destination", type = "table", required = true, access = "write",
     doc = "table to write (same key schema as the source)"},
    {name = "attr", type = "string", default = "status", doc = "attribute to filter on"},
    {name = "value", type = "string", default = "active", doc = "the string value to keep"},
  },
  -- Refuse a copy onto itself (the filter would make it a no-op anyway).
  check = function(p)
    if p.source == p.destination then return "--source and --destination are the same table" end
  end,
  phases = {
    {name = "copy", copy = {source = "source", destination = "destination", scan = filter,
      transform = function(it) return it end}},   -- edit here to change items on the way
    {name = "verify", verify = verify, reads = {"source", "destination"}},
  },
}
