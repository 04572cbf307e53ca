-- Shared by the benchmark scripts: table creation and a timer.
local ddb = require "mighost.dynamodb"
local mh = require "mighost"
local M = {}

function M.create(name)
  local ok, err = ddb.create_table({TableName = name,
    AttributeDefinitions = {{AttributeName = "pk", AttributeType = "S"}},
    KeySchema = {{AttributeName = "pk", KeyType = "HASH"}}, BillingMode = "PAY_PER_REQUEST"})
  assert(ok or err.code == "ResourceInUseException", tostring(err))
end

-- A realistic ~250-byte item.
function M.item(i)
  return {pk = {S = ("item-%08d"):format(i)}, sk = {S = "meta"}, n = {N = tostring(i * 7)},
          name = {S = ("asset %d"):format(i)}, tags = {SS = {"a", "b", tostring(i % 13)}},
          body = {S = string.rep("x", 150)}, active = {BOOL = i % 2 == 0}}
end

function M.report(what, n, t0)
  local dt = mh.clock() - t0
  print(("%-36s %8d items %7.2f s %9.0f items/s"):format(what, n, dt, n / dt))
end

return M
