-- The batch writer through a faulty endpoint: every item lands exactly
-- once and the counts are exact. arg: table, items, endpoint-for-checking
local ddb = require "mighost.dynamodb"
local T, N = arg[1] or "writer", tonumber(arg[2] or "100000")
local w = ddb.writer{table = T, window = 16, max_attempts = 30}
local dup = 0
for i = 1, N do
  w:put{pk = {S = ("k%07d"):format(i)}, v = {N = tostring(i)}}
  -- Every 1000th key is written twice in a row: the later write wins.
  if i % 1000 == 0 then
    w:put{pk = {S = ("k%07d"):format(i)}, v = {N = tostring(-i)}}
    dup = dup + 1
  end
end
local c = w:flush()
print(("put=%d deleted=%d failed=%d superseded=%d requests=%d unprocessed_retries=%d")
  :format(c.put, c.deleted, c.failed, c.superseded, c.requests, c.unprocessed_retries))
assert(c.failed == 0, "failed: " .. c.failed)
assert(c.put + c.superseded == N + dup, "counts do not add up")
-- A second write lands in the same request as the first (superseded)
-- or, if the first was already sent, in a later one after it (put).
local s = ddb.stats()[T]
print(("stats: retries=%d throttles=%d unprocessed=%d write_units=%s")
  :format(s.retries, s.throttles, s.unprocessed, tostring(s.write_units)))
