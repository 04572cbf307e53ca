-- examples/split-table: split one table into two by item type:
--   type = "order"    -> the orders table
--   type = "customer" -> the customers table
-- The source is only read. Each copy phase scans the source once; its
-- transform returns the item for its own type and nil for the rest (nil =
-- "write nothing"; ctx:skip names why in the report). Copies are puts of
-- the same items, so a second run changes nothing.
--
-- To split into more tables, add a table parameter and a copy phase each.
local ddb = require "mighost.dynamodb"
local item = require "mighost.item"

-- A transform keeping only items whose `type` is `wanted`.
local function only(wanted)
  return function(it, ctx)
    local t = it[ctx.params.type_attr]
    if not t or t.S ~= wanted then ctx:skip("type is not " .. wanted); return nil end
    return it        -- change the item here if the new table needs another shape
  end
end

-- Every source item of a type is in its table, attribute for attribute,
-- and the destination holds nothing else.
local function verify(ctx)
  local p = ctx.params
  local checks = {}
  for _, d in ipairs{{"order", p.orders}, {"customer", p.customers}} do
    local wanted, dest = d[1], d[2]
    local expected, missing = 0, 0
    local schema = ddb.schema(p.source)
    for it in ddb.scan{table = p.source, segments = 4, filter = "#t = :t",
                       names = {["#t"] = p.type_attr}, values = {[":t"] = {S = wanted}}} do
      expected = expected + 1
      local got = ddb.get{table = dest, key = ddb.key_of(schema, it), consistent = true}
      if not got or not item.equal(got, it) then missing = missing + 1 end
    end
    local total = ddb.count{table = dest, segments = 4}
    local good = missing == 0 and total == expected
    checks[#checks + 1] = {name = wanted .. " items in " .. dest, expected = expected,
                           missing_or_different = missing, in_table = total, ok = good}
  end
  return checks   -- ok when every check is
end

return {
  name = "examples/split-table",
  description = "Split a table into an orders table and a customers table by `type`.",
  params = {
    -- key = ...: pre-flight checks the tables have this key schema.
    {name = "source", type = "table", required = true, access = "read", key = {hash = "pk"},
     doc = "the mixed table (read only)"},
    {name = "orders", type = "table", required = true, access = "write", key = {hash = "pk"},
     doc = "gets the items of type order"},
    {name = "customers", type = "table", required = true, access = "write", key = {hash = "pk"},
     doc = "gets the items of type customer"},
    {name = "type_attr", type = "string", default = "type", doc = "the attribute holding the type"},
  },
  phases = {
    {name = "orders", copy = {source = "source", destination = "orders",
                              transform = only("order")}},
    {name = "customers", copy = {source = "source", destination = "customers",
                                 transform = only("customer")}},
    {name = "verify", verify = verify, reads = {"source", "orders", "customers"}},
  },
}
