-- bench: copy (like copy.lua) printing the process's resident memory every
-- `every` items, to show it levels off. arg: src dst segments window every
local ddb = require "mighost.dynamodb"
local mh = require "mighost"
local common = require "common"
local src, dst = arg[1], arg[2]
local segments, window, every = tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5] or "50000")
local function rss_mb()
  for l in io.lines("/proc/self/status") do
    local kb = l:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) // 1024 end
  end
end
common.create(dst)
local t0 = mh.clock()
local w = ddb.writer{table = dst, window = window}
local n, samples = 0, {}
for it in ddb.scan{table = src, segments = segments} do
  it.migrated = {BOOL = true}
  w:put(it)
  n = n + 1
  if n % every == 0 then samples[#samples + 1] = ("%dk:%dMB"):format(n // 1000, rss_mb()) end
end
assert(w:flush().put == n)
common.report(("copy, %d segments, %d in flight"):format(segments, window), n, t0)
print("  resident memory during the copy: " .. table.concat(samples, " "))
