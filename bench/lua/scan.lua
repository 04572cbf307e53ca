-- bench: parallel scan. arg: table segments
local ddb = require "mighost.dynamodb"
local mh = require "mighost"
local common = require "common"
local T, segments = arg[1], tonumber(arg[2])
local t0 = mh.clock()
local n = 0
for _ in ddb.scan{table = T, segments = segments} do n = n + 1 end
common.report(("scan, %d segments"):format(segments), n, t0)
