-- A parallel scan returns every item exactly once, for 1, 4 and 16 segments.
local ddb = require "mighost.dynamodb"
local T, N = arg[1] or "segments", tonumber(arg[2] or "3000")
assert(ddb.create_table({TableName = T,
  AttributeDefinitions = {{AttributeName = "pk", AttributeType = "S"}},
  KeySchema = {{AttributeName = "pk", KeyType = "HASH"}}, BillingMode = "PAY_PER_REQUEST"}))
local w = ddb.writer{table = T}
for i = 1, N do w:put{pk = {S = ("item-%06d"):format(i)}, pad = {S = string.rep("p", 500)}} end
local c = w:flush()
assert(c.put == N and c.failed == 0, ("put %d failed %d"):format(c.put, c.failed))

for _, segments in ipairs{1, 4, 16} do
  local seen, total, pages = {}, 0, 0
  for page in ddb.scan_pages{table = T, segments = segments, limit = 100} do
    pages = pages + 1
    for _, it in ipairs(page.items) do
      local k = it.pk.S
      assert(not seen[k], "seen twice: " .. k)
      seen[k] = true
      total = total + 1
    end
  end
  assert(total == N, ("%d segments: %d items, want %d"):format(segments, total, N))
  print(("segments=%d items=%d pages=%d"):format(segments, total, pages))
end
-- The item iterator and an early break (the producers stop, no deadlock).
local n = 0
for _ in ddb.scan{table = T, segments = 4} do n = n + 1; if n == 10 then break end end
assert(n == 10)
print("count", ddb.count{table = T, segments = 4})
