-- The phase kinds' test data. arg: MODE ...
--   seed TABLE N          a table of N items k1..kN (n, junk on every 3rd, pad)
--   log TABLE             an empty table for the each kind's calls
--   template TABLE N      items for the `mighost new --kind` templates
--   expect KIND N FILE    the items a finished KIND phase leaves in TABLE,
--                         one JSON item a line (computed here, not by the
--                         runner: the oracle the test compares against)
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
  return {pk = {S = "k" .. i}, n = {N = tostring(i)}, junk = i % 3 == 0 and {S = "x"} or nil,
          pad = {S = string.rep("p", 100)}}
end

if mode == "seed" then
  local t, n = arg[2], tonumber(arg[3])
  create(t)
  local w = ddb.writer{table = t}
  for i = 1, n do w:put(source_item(i)) end
  assert(w:flush().put == n)
elseif mode == "template" then
  -- For the `mighost new --kind` templates: tenant and type on most items,
  -- status expired on every 5th.
  local t, n = arg[2], tonumber(arg[3])
  create(t)
  local w = ddb.writer{table = t}
  for i = 1, n do
    w:put{pk = {S = "t" .. i}, tenant = i % 7 ~= 0 and {S = "acme"} or nil,
          type = {S = i % 2 == 0 and "order" or "invoice"},
          status = {S = i % 5 == 0 and "expired" or "active"}}
  end
  assert(w:flush().put == n)
elseif mode == "log" then
  create(arg[2])
elseif mode == "expect" then
  local kind, n, file = arg[2], tonumber(arg[3]), arg[4]
  local f = assert(io.open(file, "w"))
  for i = 1, n do
    local it = source_item(i)
    if kind == "update" then
      it.junk = nil
      it.doubled = {N = tostring(2 * i)}
      f:write(item.encode(it), "\n")
    elseif kind == "delete" then
      if i % 4 ~= 0 then f:write(item.encode(it), "\n") end
    elseif kind == "copy" then
      -- the copy's destination: stamped, every 10th left out
      if i % 10 ~= 0 then
        it.copied = {BOOL = true}
        f:write(item.encode(it), "\n")
      end
    elseif kind == "each" then
      -- the log table: one item per source item, its n (calls are checked apart)
      f:write(item.encode({pk = it.pk, n = it.n}), "\n")
    end
  end
  f:close()
else
  error("mode: seed, log or expect")
end
