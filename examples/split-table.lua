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

-- A transform keeping only items whose `type` is `wanted`.
local function only(wanted)
  return function(it, ctx)
    local t = it[ctx.params.type_attr]
    if not t or t.S ~= wanted then ctx:skip("type is not " .. wanted); return nil end
    return it        -- change the item here if the new table needs another shape
  end
end

-- The verify phases below check that every item of a type is in its
-- table, byte for byte; this one that each table holds nothing else.
local function nothing_else(ctx)
  local p, checks = ctx.params, {}
  for _, d in ipairs{{"order", p.orders}, {"customer", p.customers}} do
    -- count returns nil, err when a read fails: raise, never compare nil to nil.
    local expected = assert(ddb.count{table = p.source, segments = 4, filter = "#t = :t",
      names = {["#t"] = p.type_attr}, values = {[":t"] = {S = d[1]}}})
    local total = assert(ddb.count{table = d[2], segments = 4})
    checks[#checks + 1] = {name = d[2] .. " holds only " .. d[1] .. " items",
                           expected = expected, in_table = total, ok = total == expected}
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
    {name = "verify_orders", verify = {copy = "orders"}},
    {name = "verify_customers", verify = {copy = "customers"}},
    {name = "nothing_else", verify = nothing_else, reads = {"source", "orders", "customers"}},
  },
}
