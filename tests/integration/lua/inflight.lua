-- The learnt windows of requests in flight (mighost.inflight) on a real
-- server: N items through the batch writer, then read back with a window
-- of BatchGetItems (100 keys each); prints the windows each operation
-- chose and what was found. arg: table n
local ddb = require "mighost.dynamodb"
local sync = require "mighost.sync"
local inflight = require "mighost.inflight"
local json = require "mighost.json"
local tname, n = arg[1], tonumber(arg[2])

local ok, err = ddb.create_table({TableName = tname,
  AttributeDefinitions = {{AttributeName = "pk", AttributeType = "S"}},
  KeySchema = {{AttributeName = "pk", KeyType = "HASH"}}, BillingMode = "PAY_PER_REQUEST"})
assert(ok, tostring(err))

local function key(i) return {pk = {S = ("k%06d"):format(i)}} end

local w = ddb.writer{table = tname}
for i = 1, n do
  local it = key(i)
  it.v = {N = tostring(i)}
  w:put(it)
end
local c = w:flush()
print(("written\t%d\tfailed\t%d"):format(c.put, c.failed))

local found, right = 0, 0
local pool = sync.pool(inflight.cap())
for first = 1, n, ddb.BATCH_GET_MAX do
  local keys = {}
  for i = first, math.min(n, first + ddb.BATCH_GET_MAX - 1) do keys[#keys + 1] = key(i) end
  pool:go(function()
    local got = assert(ddb.batch_get{table = tname, keys = keys, consistent = true})
    for _, it in ipairs(got) do
      found = found + 1
      if tonumber(it.pk.S:sub(2)) == tonumber(it.v.N) then right = right + 1 end
    end
  end)
end
pool:wait()
print(("found\t%d\tright\t%d"):format(found, right))
print("levels\t" .. json.encode(inflight.levels()))
