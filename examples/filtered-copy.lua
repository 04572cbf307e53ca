-- examples/filtered-copy: copy the items of a table that match a filter
-- into another table (e.g. only status = "active").
--
-- The filter runs in DynamoDB (a Scan FilterExpression): every item is
-- still read (and paid for), only matching ones come back. The copy is a
-- put of the same item, so a second run changes nothing. For another
-- account or region, name the destination
-- NAME@profile=PROFILE,region=REGION (examples/README.md).
-- The scan options of the filter; a function so they can use parameters.
local function filter(p)
  return {filter = "#a = :v", names = {["#a"] = p.attr}, values = {[":v"] = {S = p.value}}}
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
    -- The runner's verification of a copy: every item the copy writes is in
    -- the destination, exactly (BatchGetItem, compared byte for byte).
    {name = "verify", verify = {copy = "copy"}, reads = {"source", "destination"}},
  },
}
