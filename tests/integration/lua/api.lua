-- The single-item, query, batch and transaction bindings against a real
-- server, and dry-run validation. Raises on the first wrong answer.
local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local mh = require "mighost"
local T = arg[1] or "api"

if not mh.dry_run then
  assert(ddb.create_table({TableName = T,
    AttributeDefinitions = {{AttributeName = "pk", AttributeType = "S"},
                            {AttributeName = "sk", AttributeType = "N"},
                            {AttributeName = "gsi", AttributeType = "S"}},
    KeySchema = {{AttributeName = "pk", KeyType = "HASH"}, {AttributeName = "sk", KeyType = "RANGE"}},
    GlobalSecondaryIndexes = {{IndexName = "byGsi", KeySchema = {{AttributeName = "gsi", KeyType = "HASH"}},
                               Projection = {ProjectionType = "ALL"}}},
    BillingMode = "PAY_PER_REQUEST"}))
  local s = ddb.schema(T)
  assert(s.hash == "pk" and s.range == "sk" and s.index_keys.gsi == "S")

  -- put with a condition: the second one fails as a value, not an error.
  for i = 1, 30 do
    assert(ddb.put{table = T, item = {pk = {S = "p" .. (i % 3)}, sk = {N = tostring(i)},
                                      gsi = {S = i % 2 == 0 and "even" or "odd"}}})
  end
  local ok, err = ddb.put{table = T, item = {pk = {S = "p1"}, sk = {N = "1"}},
                          condition = "attribute_not_exists(pk)"}
  assert(ok == false and err.code == "ConditionalCheckFailedException", tostring(err))
  assert(err.status == 400 and err.retryable == false and err.request_id ~= "")
  print("condition failed as a value")

  -- update with names, values and ReturnValues.
  local done, attrs = ddb.update{table = T, key = {pk = {S = "p1"}, sk = {N = "1"}},
    update = "SET #c = if_not_exists(#c, :zero) + :one", names = {["#c"] = "count"},
    values = {[":zero"] = {N = "0"}, [":one"] = {N = "1"}}, return_values = "ALL_NEW"}
  assert(done and attrs.count.N == "1")
  print("update returned", attrs.count.N)

  -- query: key condition, index, descending order, limit pages.
  local n, last = 0, math.huge
  for it in ddb.query{table = T, key_condition = "pk = :p", values = {[":p"] = {S = "p1"}},
                      forward = false, limit = 3} do
    local sk = tonumber(it.sk.N)
    assert(sk < last, "descending order")
    last, n = sk, n + 1
  end
  assert(n == 10, "query found " .. n)
  local evens = 0
  for _ in ddb.query{table = T, index = "byGsi", key_condition = "gsi = :g",
                     values = {[":g"] = {S = "even"}}} do evens = evens + 1 end
  assert(evens == 15)
  assert(ddb.count{table = T, key_condition = "pk = :p", values = {[":p"] = {S = "p2"}}} == 10)
  print("query ok")

  -- batch_get across more than 100 keys (two requests).
  local keys = {}
  for i = 1, 30 do keys[#keys + 1] = {pk = {S = "p" .. (i % 3)}, sk = {N = tostring(i)}} end
  for i = 31, 130 do keys[#keys + 1] = {pk = {S = "absent"}, sk = {N = tostring(i)}} end
  local got = assert(ddb.batch_get{table = T, keys = keys})
  assert(#got == 30, "batch_get found " .. #got)
  print("batch_get", #got)

  -- Lean items against the server: batch_get and get give the same items
  -- as tables do; through the writer, a lean item whose key does not
  -- decode fails alone, the others are written as they came.
  local item = require "mighost.item"
  local lean_got = assert(ddb.batch_get{table = T, keys = keys, lean = true})
  assert(#lean_got == 30 and item.is_lean(lean_got[1]))
  local by = {}
  for _, it in ipairs(got) do by[it.pk.S .. "/" .. it.sk.N] = it end
  for _, it in ipairs(lean_got) do assert(item.equal(it, by[it.pk.S .. "/" .. it.sk.N])) end
  local one = assert(ddb.get{table = T, key = keys[1], lean = true})
  assert(item.is_lean(one) and item.equal(one, by[keys[1].pk.S .. "/" .. keys[1].sk.N]))
  local lw = ddb.writer{table = T}
  local good = item.decode_lean('{"pk":{"S":"lean"},"sk":{"N":"1"},"v":{"S":"\\u00e9t\\u00e9"}}')
  local bad = item.decode_lean('{"pk":{"Q":"lean"},"sk":{"N":"2"}}')
  assert(item.is_lean(good) and item.is_lean(bad))
  lw:put(good)
  local put_ok, why = lw:put(bad)
  assert(put_ok == false and tostring(why):find("unknown type tag Q"), tostring(why))
  local lc = lw:flush()
  assert(lc.put == 1 and lc.failed == 1, ("put %d failed %d"):format(lc.put, lc.failed))
  local back = assert(ddb.get{table = T, key = {pk = {S = "lean"}, sk = {N = "1"}}, consistent = true})
  assert(back.v.S == "\u{e9}t\u{e9}", back.v.S)
  assert(ddb.delete{table = T, key = {pk = {S = "lean"}, sk = {N = "1"}}})
  print("lean items ok")

  -- Transactions: dynalite has no TransactWriteItems, so the request is
  -- checked here for what the server says: an unknown operation comes back
  -- as an error value, not an exception.
  local tok, terr = ddb.transact_write{
    {put = {table = T, item = {pk = {S = "tx"}, sk = {N = "1"}}}},
    {delete = {table = T, key = {pk = {S = "p0"}, sk = {N = "3"}}}}, token = "t-1"}
  assert(tok == nil and terr.code == "UnknownOperationException", tostring(terr))
  assert(ddb.put{table = T, item = {pk = {S = "tx"}, sk = {N = "1"}}})
  print("transactions: error value")

  -- delete with a condition and ReturnValues.
  local dok, old = ddb.delete{table = T, key = {pk = {S = "tx"}, sk = {N = "1"}},
                              return_values = "ALL_OLD"}
  assert(dok and old.pk.S == "tx")
  -- Errors are values with a code: a missing table.
  local nothing, e2 = ddb.get{table = "no-such-table", key = {pk = {S = "x"}}}
  assert(nothing == nil and e2.code == "ResourceNotFoundException")
  print("errors are values:", tostring(e2):match("^[^:]+"))
  local st = ddb.stats()[T]
  assert(st.calls > 0 and st.write_units > 0 and st.bytes_sent > 0)
  print("stats ok")
else
  -- Dry-run: writes are validated against the key schema and recorded.
  local ok, err = ddb.put{table = T, item = {pk = {S = "a"}}}
  assert(not ok and err.message:find("key attribute 'sk' is missing"), tostring(err))
  ok, err = ddb.put{table = T, item = {pk = {S = ""}, sk = {N = "1"}}}
  assert(not ok and err.message:find("empty string"), tostring(err))
  ok, err = ddb.put{table = T, item = {pk = {S = "a"}, sk = {S = "1"}}}
  assert(not ok and err.message:find("must be of type N"), tostring(err))
  ok, err = ddb.put{table = T, item = {pk = {S = "a"}, sk = {N = "1"}, gsi = {S = ""}}}
  assert(not ok and err.message:find("index key attribute 'gsi' is an empty string"), tostring(err))
  ok, err = ddb.put{table = T, item = {pk = {S = "a"}, sk = {N = "1"}, big = {S = string.rep("z", 409600)}}}
  assert(not ok and err.message:find("400 KB"), tostring(err))
  assert(ddb.put{table = T, item = {pk = {S = "new"}, sk = {N = "99"}}})
  assert(ddb.update{table = T, key = {pk = {S = "new"}, sk = {N = "99"}}, update = "SET a = :a",
                    values = {[":a"] = {S = "x"}}})
  assert(ddb.delete{table = T, key = {pk = {S = "p1"}, sk = {N = "1"}}})
  ok, err = ddb.transact_write{{put = {table = T, item = {pk = {S = "a"}}}}}
  assert(not ok and err.message:find("action 1: item: key attribute 'sk' is missing"), tostring(err))
  assert(ddb.transact_write{{put = {table = T, item = {pk = {S = "t"}, sk = {N = "5"}}}},
                            {delete = {table = T, key = {pk = {S = "p1"}, sk = {N = "2"}}}}})
  -- Nothing reached the table.
  assert(ddb.get{table = T, key = {pk = {S = "new"}, sk = {N = "99"}}} == nil)
  assert(ddb.get{table = T, key = {pk = {S = "p1"}, sk = {N = "1"}}} ~= nil)
  local counts, total = require("mighost.plan").counts()
  assert(total == 4 and counts[T].PutItem == 1 and counts[T].UpdateItem == 1 and
         counts[T].DeleteItem == 1 and counts[T].TransactWriteItems == 1)
  print("dry-run validated and recorded", total)
end
