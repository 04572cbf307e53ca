-- Seeds and checks for tests/integration/test_examples.c.
--   mighost run fixtures.lua seed NAME     create and fill NAME's tables
--   mighost run fixtures.lua check NAME    assert the migrated state exactly
--   mighost run fixtures.lua digest T...   print "<items> <sha256>" per table
--   mighost run fixtures.lua tamper NAME   spoil the migrated state (for verify)
local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local sys = require "mighost.sys"

local function create(name)
  assert(ddb.create_table{TableName = name, BillingMode = "PAY_PER_REQUEST",
    AttributeDefinitions = {{AttributeName = "pk", AttributeType = "S"}},
    KeySchema = {{AttributeName = "pk", KeyType = "HASH"}}})
end

local function fill(name, items)
  local w = ddb.writer{table = name}
  for _, it in ipairs(items) do w:put(it) end
  assert(w:flush().put == #items)
end

local function S(v) return {S = v} end
local function N(v) return {N = tostring(v)} end

local function all(name)
  local out, n = {}, 0
  for it in ddb.scan{table = name, consistent = true} do out[it.pk.S] = it; n = n + 1 end
  return out, n
end

local function eq(got, want, what)
  if not item.equal(got, want) then
    error(("%s: got %s, want %s"):format(what, got and item.encode(got) or "nil", item.encode(want)), 2)
  end
end

local seed, check, tamper = {}, {}, {}

function seed.rename()
  create("ex_ren")
  local items = {
    {pk = S"r1", status = S"open", priority = S"3"},
    {pk = S"r2", status = S"closed", priority = N(5)},
    {pk = S"r3", state = S"done", priority = N(1)},                 -- already migrated
    {pk = S"r4", status = S"open", priority = S"high"},             -- not a number: skipped
    {pk = S"r5", priority = S" 12 "},
    {pk = S"r6", status = S"new", state = S"kept"},                 -- state wins
  }
  for i = 1, 200 do items[#items + 1] = {pk = S("b" .. i), status = S"open", priority = S(tostring(i))} end
  fill("ex_ren", items)
end

function check.rename()
  local t, n = all("ex_ren")
  assert(n == 206, n)
  eq(t.r1, {pk = S"r1", state = S"open", priority = N(3)}, "r1")
  eq(t.r2, {pk = S"r2", state = S"closed", priority = N(5)}, "r2")
  eq(t.r3, {pk = S"r3", state = S"done", priority = N(1)}, "r3")
  eq(t.r4, {pk = S"r4", status = S"open", priority = S"high"}, "r4")
  eq(t.r5, {pk = S"r5", priority = N(12)}, "r5")
  eq(t.r6, {pk = S"r6", state = S"kept"}, "r6")
  for i = 1, 200 do eq(t["b" .. i], {pk = S("b" .. i), state = S"open", priority = N(i)}, "b" .. i) end
end

function seed.backfill()
  create("ex_bf")
  local items = {{pk = S"nt", type = S"a"}}                         -- no tenant: skipped
  for i = 1, 300 do
    items[#items + 1] = {pk = S("b" .. i), tenant = S("t" .. i % 3), type = S(i % 2 == 0 and "a" or "b")}
  end
  items[2].gsi1pk = S"t1#b"                                          -- b1: already right
  fill("ex_bf", items)
end

function check.backfill()
  local t, n = all("ex_bf")
  assert(n == 301, n)
  eq(t.nt, {pk = S"nt", type = S"a"}, "nt")
  for i = 1, 300 do
    local ty = i % 2 == 0 and "a" or "b"
    eq(t["b" .. i], {pk = S("b" .. i), tenant = S("t" .. i % 3), type = S(ty),
                     gsi1pk = S(("t%d#%s"):format(i % 3, ty))}, "b" .. i)
  end
end

function seed.split()
  for _, n in ipairs{"ex_mixed", "ex_orders", "ex_customers"} do create(n) end
  local items = {}
  for i = 1, 100 do items[#items + 1] = {pk = S("o" .. i), type = S"order", total = N(i * 10)} end
  for i = 1, 50 do items[#items + 1] = {pk = S("c" .. i), type = S"customer", name = S("C" .. i)} end
  for i = 1, 5 do items[#items + 1] = {pk = S("n" .. i), type = S"note"} end
  fill("ex_mixed", items)
end

function check.split()
  local src, ns = all("ex_mixed")
  local o, no = all("ex_orders")
  local c, nc = all("ex_customers")
  assert(ns == 155 and no == 100 and nc == 50, ("%d %d %d"):format(ns, no, nc))
  for i = 1, 100 do eq(o["o" .. i], src["o" .. i], "o" .. i) end
  for i = 1, 50 do eq(c["c" .. i], src["c" .. i], "c" .. i) end
  eq(o.o7, {pk = S"o7", type = S"order", total = N(70)}, "o7")
end

-- A stray item in the orders table, a changed customer.
function tamper.split()
  fill("ex_orders", {{pk = S"x1", type = S"note"}})
  fill("ex_customers", {{pk = S"c3", type = S"customer", name = S"changed"}})
end

function seed.filtered()
  create("ex_fsrc"); create("ex_fdst")
  local items = {}
  for i = 1, 120 do
    items[#items + 1] = {pk = S("f" .. i), status = S(i % 3 == 0 and "active" or "archived"),
                         n = N(i), tags = {SS = {"x", "y"}}}
  end
  fill("ex_fsrc", items)
end

function check.filtered()
  local src = all("ex_fsrc")
  local d, n = all("ex_fdst")
  assert(n == 40, n)
  for i = 3, 120, 3 do eq(d["f" .. i], src["f" .. i], "f" .. i) end
  assert(d.f1 == nil)
end

-- Cross-account: "orders" with the run's profile, and the empty
-- destination "orders" reached through the profile "target".
function seed.cross()
  create("orders"); create("orders@profile=target")
  local items = {}
  for i = 1, 120 do
    items[#items + 1] = {pk = S("o" .. i), status = S(i % 3 == 0 and "active" or "archived"), n = N(i)}
  end
  fill("orders", items)
end

function check.cross()
  local src, n = all("orders")
  assert(n == 120, n)
  local d, m = all("orders@profile=target")
  assert(m == 40, m)
  for i = 3, 120, 3 do eq(d["o" .. i], src["o" .. i], "o" .. i) end
end

function seed.ttl()
  create("ex_ttl")
  local items = {
    {pk = S"t1", createdAt = S"2024-03-01T10:00:00Z"},
    {pk = S"t2", createdAt = S"2024-03-01"},
    {pk = S"t3", createdAt = S"2024-03-01T12:00:00.250+02:00"},
    {pk = S"t4", createdAt = S"last tuesday"},
    {pk = S"t5", other = S"no date"},
    {pk = S"t6", createdAt = S"1999-12-31T23:59:59Z"},
    {pk = S"t7", createdAt = S"2024-02-29T00:00:00Z", expiresAt = N(1711756800)},  -- already right
  }
  for i = 1, 100 do items[#items + 1] = {pk = S("b" .. i), createdAt = S"2024-01-01T00:00:00Z"} end
  fill("ex_ttl", items)
end

function check.ttl()
  local t, n = all("ex_ttl")
  assert(n == 107, n)
  local d = 30 * 86400
  eq(t.t1, {pk = S"t1", createdAt = S"2024-03-01T10:00:00Z", expiresAt = N(1709287200 + d)}, "t1")
  eq(t.t2, {pk = S"t2", createdAt = S"2024-03-01", expiresAt = N(1709251200 + d)}, "t2")
  eq(t.t3, {pk = S"t3", createdAt = S"2024-03-01T12:00:00.250+02:00", expiresAt = N(1709287200 + d)}, "t3")
  eq(t.t4, {pk = S"t4", createdAt = S"last tuesday"}, "t4")
  eq(t.t5, {pk = S"t5", other = S"no date"}, "t5")
  eq(t.t6, {pk = S"t6", createdAt = S"1999-12-31T23:59:59Z", expiresAt = N(946684799 + d)}, "t6")
  eq(t.t7, {pk = S"t7", createdAt = S"2024-02-29T00:00:00Z", expiresAt = N(1711756800)}, "t7")
  for i = 1, 100 do
    eq(t["b" .. i], {pk = S("b" .. i), createdAt = S"2024-01-01T00:00:00Z", expiresAt = N(1704067200 + d)}, "b" .. i)
  end
end

function seed.delete()
  create("ex_del")
  local items = {}
  for i = 1, 200 do
    local st, up = "active", "2023-01-01"
    if i % 4 == 0 then st, up = "deleted", "2023-06-01" end     -- 50: deleted
    if i % 4 == 1 then st, up = "deleted", "2024-06-01" end     -- 50: too recent, kept
    items[#items + 1] = {pk = S("d" .. i), status = S(st), updatedAt = S(up)}
  end
  fill("ex_del", items)
end

function check.delete()
  local t, n = all("ex_del")
  assert(n == 150, n)
  for i = 1, 200 do
    if i % 4 == 0 then assert(t["d" .. i] == nil, "d" .. i) else assert(t["d" .. i], "d" .. i) end
  end
end

local cmd = arg[1]
if cmd == "digest" then
  for i = 2, #arg do
    local lines = {}
    for it in ddb.scan{table = arg[i], consistent = true} do lines[#lines + 1] = item.encode(it) end
    table.sort(lines)
    print(#lines, sys.sha256(table.concat(lines, "\n")))
  end
else
  local fn = ({seed = seed, check = check, tamper = tamper})[cmd]
  fn = fn and fn[arg[2]]
  assert(fn, "usage: fixtures.lua seed|check|tamper|digest NAME")
  fn()
  print("ok")
end
