-- N DescribeTable requests started at once (ddb.request: no learnt
-- window), so as many are in flight as the engine lets through; each must
-- succeed. arg: table n
local ddb = require "mighost.dynamodb"
local sync = require "mighost.sync"
local tname, n = arg[1], tonumber(arg[2])
assert(ddb.create_table({TableName = tname,
  AttributeDefinitions = {{AttributeName = "pk", AttributeType = "S"}},
  KeySchema = {{AttributeName = "pk", KeyType = "HASH"}}, BillingMode = "PAY_PER_REQUEST"}))
local ok = 0
local pool = sync.pool(n)
for _ = 1, n do
  pool:go(function()
    assert(ddb.request("DescribeTable", {TableName = tname}, tname))
    ok = ok + 1
  end)
end
pool:wait()
print(("described\t%d"):format(ok))
