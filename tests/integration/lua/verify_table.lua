-- Scans a table and checks keys k0000001..kN are each there exactly once
-- with the expected value.
local ddb = require "mighost.dynamodb"
local T, N = arg[1], tonumber(arg[2])
local seen, total = {}, 0
for it in ddb.scan{table = T, segments = 8, consistent = true} do
  local i = tonumber(it.pk.S:sub(2))
  assert(not seen[i], "twice: " .. it.pk.S)
  seen[i] = true
  total = total + 1
  local want = i % 1000 == 0 and -i or i
  assert(tonumber(it.v.N) == want, ("%s has v=%s, want %d"):format(it.pk.S, it.v.N, want))
end
assert(total == N, ("%d items, want %d"):format(total, N))
print("verified", total)
