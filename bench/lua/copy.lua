-- bench: copy a table with a small transform. arg: src dst segments window
local ddb = require "mighost.dynamodb"
local mh = require "mighost"
local common = require "common"
local src, dst, segments, window = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
common.create(dst)
local t0 = mh.clock()
local w = ddb.writer{table = dst, window = window}
local n = 0
for it in ddb.scan{table = src, segments = segments} do
  it.migrated = {BOOL = true}
  w:put(it)
  n = n + 1
end
local c = w:flush()
assert(c.put == n and c.failed == 0)
common.report(("copy, %d segments, %d in flight"):format(segments, window), n, t0)
