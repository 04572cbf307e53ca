-- The scale-out tests' data. arg: MODE ...
--   seed TABLE N        N items k1..kN (n, n_mod_50, pad)
--   create TABLE        an empty table
--   expect N FILE       the destination a finished copy leaves, one JSON
--                       item a line (computed here: the oracle)
--   status TABLE PREFIX how many items of the coordination table have an
--                       sk starting with PREFIX, and how many of them are done
local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local mode = arg[1]

local function create(name)
  local ok, err = ddb.create_table({TableName = name,
    AttributeDefinitions = {{AttributeName = "pk", AttributeType = "S"}},
    KeySchema = {{AttributeName = "pk", KeyType = "HASH"}}, BillingMode = "PAY_PER_REQUEST"})
  assert(ok or err.code == "ResourceInUseException", tostring(err))
end

local function source_item(i)
  return {pk = {S = "k" .. i}, n = {N = tostring(i)}, n_mod_50 = {N = tostring(i % 50)},
          pad = {S = string.rep("p", 100)}}
end

if mode == "seed" then
  local t, n = arg[2], tonumber(arg[3])
  create(t)
  local w = ddb.writer{table = t, window = 32}
  for i = 1, n do w:put(source_item(i)) end
  assert(w:flush().put == n)
elseif mode == "create" then
  create(arg[2])
elseif mode == "expect" then
  local n, f = tonumber(arg[2]), assert(io.open(arg[3], "w"))
  for i = 1, n do
    if i % 10 ~= 0 then
      local it = source_item(i)
      it.copied = {BOOL = true}
      f:write(item.encode(it), "\n")
    end
  end
  f:close()
elseif mode == "status" then
  local total, done = 0, 0
  -- The first worker creates it; until it is ACTIVE it has nothing to count.
  local t = ddb.describe_table(arg[2])
  if t and t.TableStatus == "ACTIVE" then
    for it in ddb.scan{table = arg[2]} do
      if it.sk.S:sub(1, #arg[3]) == arg[3] then
        total = total + 1
        if it.done and it.done.BOOL then done = done + 1 end
      end
    end
  end
  print(total, done)
else
  error("mode: seed, create, expect or status")
end
