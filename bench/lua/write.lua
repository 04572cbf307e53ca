-- bench: batch writes. arg: table items window
local ddb = require "mighost.dynamodb"
local mh = require "mighost"
local common = require "common"
local T, N, window = arg[1], tonumber(arg[2]), tonumber(arg[3])
common.create(T)
local t0 = mh.clock()
local w = ddb.writer{table = T, window = window}
for i = 1, N do w:put(common.item(i)) end
local c = w:flush()
assert(c.put == N and c.failed == 0)
common.report(("batch write, %d in flight"):format(window), N, t0)
