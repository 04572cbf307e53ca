-- bench: UpdateItems through a fixed window, as the metadata backfill of
-- vams/v2.4-to-v2.5 sends them (a SET, attribute_exists, ALL_NEW), to
-- read the server's own rate at a given number in flight. Run with
-- --concurrency at least WINDOW. arg: n window
local ddb = require "mighost.dynamodb"
local sync = require "mighost.sync"
local inflight = require "mighost.inflight"
local mh = require "mighost"
local common = require "common"
local n, window = tonumber(arg[1]), tonumber(arg[2])
inflight.set_cap(window)
local t = ("upd_%d_%d"):format(window, math.floor(mh.clock() * 1000))
common.create(t)
local function key(i) return {pk = {S = ("db%d:asset%d:v%d"):format(i % 7, i, i % 3)}} end
local w = ddb.writer{table = t}
for i = 1, n do
  local it = key(i)
  it.value, it.n = {S = ("x"):rep(200)}, {N = tostring(i)}
  w:put(it)
end
assert(w:flush().put == n)
local pool = sync.pool(window)
local t0 = mh.clock()
for i = 1, n do
  pool:go(function()
    assert(ddb.update{table = t, key = key(i), update = "SET #v = :v",
      condition = "attribute_exists(#pk)", names = {["#v"] = "databaseId:assetId", ["#pk"] = "pk"},
      values = {[":v"] = {S = "db:asset" .. i}}, return_values = "ALL_NEW"})
  end)
end
pool:wait()
common.report(("UpdateItem, window %d"):format(window), n, t0)
