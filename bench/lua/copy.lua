-- bench: copy a table with a small transform. arg: src dst segments window [lean]
-- (lean: the items are lean items, mighost.item)
local ddb = require "mighost.dynamodb"
local mh = require "mighost"
local common = require "common"
local src, dst, segments, window = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
local lean = arg[5] == "lean"
common.create(dst)
local t0 = mh.clock()
local w = ddb.writer{table = dst, window = window}
local n = 0
for it in ddb.scan{table = src, segments = segments, lean = lean} do
  it.migrated = {BOOL = true}
  w:put(it)
  n = n + 1
end
local c = w:flush()
assert(c.put == n and c.failed == 0)
common.report(("copy, %d segments, %d in flight%s"):format(segments, window, lean and ", lean" or ""), n, t0)
