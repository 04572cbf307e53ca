-- test_backup's tables: PREFIX-src (50 items), PREFIX-dst and PREFIX-audit (empty).
local ddb = require "mighost.dynamodb"
local prefix = assert(arg[1], "usage: fixture.lua PREFIX")
for _, name in ipairs{"src", "dst", "audit"} do
  assert(ddb.create_table{TableName = prefix .. "-" .. name, BillingMode = "PAY_PER_REQUEST",
    AttributeDefinitions = {{AttributeName = "pk", AttributeType = "S"}},
    KeySchema = {{AttributeName = "pk", KeyType = "HASH"}}})
end
local w = ddb.writer{table = prefix .. "-src"}
for i = 1, 50 do w:put{pk = {S = ("k%02d"):format(i)}, n = {N = tostring(i)}} end
assert(w:flush().put == 50)
