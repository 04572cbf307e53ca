-- Offline operations on a folder of exports: arg[1] = the folder. Prints
-- one line per check ("ok ..." or what went wrong); the test compares.
local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
ddb.set_offline(assert(require("mighost.offline").new(arg[1])))

-- Every item exactly once, whatever the number of segments and page size.
for _, t in ipairs{"plain", "wrapped", "folder"} do
  for _, n in ipairs{1, 3} do
    local seen, total, dup = {}, 0, 0
    for it in ddb.scan{table = t, segments = n, limit = 2} do
      local k = item.encode(it)
      if seen[k] then dup = dup + 1 end
      seen[k] = true
      total = total + 1
    end
    print(("scan %s segments=%d: %d items, %d twice"):format(t, n, total, dup))
  end
end
-- One segment alone, resumed from its positions page by page.
local got, start = 0, nil
repeat
  local page
  for p in ddb.scan_pages{table = "plain", segment = 1, total_segments = 3, limit = 1, start_key = start} do
    page = p; break
  end
  got = got + #page.items
  start = page.last_key
until not start
print("segment 1 of 3: " .. got .. " items")
print("count: " .. ddb.count{table = "plain", filter = "#v <> :x", names = {["#v"] = "v"}, values = {[":x"] = {S = "x3"}}})

local s = assert(ddb.schema("plain"))
print(("schema plain: %s %s %s %s"):format(s.hash, s.range, s.types.pk, s.types.sk))
local w = assert(ddb.schema("wrapped"))
print(("schema wrapped: %s %s %s"):format(w.hash, tostring(w.range), w.types.id))

print("get: " .. item.encode(ddb.get{table = "plain", key = {pk = {S = "p1"}, sk = {N = "4"}}}))
print("get missing: " .. tostring(ddb.get{table = "plain", key = {pk = {S = "p1"}, sk = {N = "5"}}}))
print("get projected: " .. item.encode(ddb.get{table = "plain", key = {pk = {S = "p2"}, sk = {N = "8"}},
  projection = "v"}))
local q = {}
for it in ddb.query{table = "plain", key_condition = "#h = :h AND sk >= :a", names = {["#h"] = "pk"},
                    values = {[":h"] = {S = "p0"}, [":a"] = {N = "3"}}, forward = false} do
  q[#q + 1] = it.sk.N
end
print("query: " .. table.concat(q, ","))
q = {}
for it in ddb.query{table = "plain", key_condition = "pk = :h AND begins_with(v, :p)",
                    values = {[":h"] = {S = "p1"}, [":p"] = {S = "x"}}, filter = "attribute_exists(odd)"} do
  q[#q + 1] = it.sk.N
end
print("query filtered: " .. table.concat(q, ","))
local b = assert(ddb.batch_get{table = "wrapped", keys = {{id = {S = "k1"}}, {id = {S = "k9"}}, {id = {S = "k6"}}}})
print("batch_get: " .. #b)
local t, err = ddb.describe_table("missing")
print("missing: " .. tostring(t) .. " " .. tostring(err.code))
local ok, e = pcall(function() for _ in ddb.scan{table = "plain", filter = "a.b = :x", values = {[":x"] = {S = "1"}}} do end end)
print("refused: " .. tostring(ok) .. " " .. tostring(e))
