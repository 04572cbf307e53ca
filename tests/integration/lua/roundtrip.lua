-- Tricky items survive a trip through DynamoDB exactly; invalid ones are
-- refused with a clear reason. Prints one line per check; exits non-zero
-- (by raising) on the first difference.
local ddb = require "mighost.dynamodb"
local item = require "mighost.item"

local T = arg[1] or "roundtrip"
assert(ddb.create_table({TableName = T,
  AttributeDefinitions = {{AttributeName = "pk", AttributeType = "S"}},
  KeySchema = {{AttributeName = "pk", KeyType = "HASH"}}, BillingMode = "PAY_PER_REQUEST"}))

local big = string.rep("x", 409600 - 200)
local corpus = {
  {pk = {S = "every-type"}, s = {S = "text"}, n = {N = "12345678901234567890123456789012345678"},
   neg = {N = "-0.000000000000000000000000000000000001"}, b = {B = "\0\1\2\255\0"},
   ss = {SS = {"a", "b", "c"}}, ns = {NS = {"1", "2.5", "-3"}}, bs = {BS = {"\0", "\1\2"}},
   t = {BOOL = true}, f = {BOOL = false}, null = {NULL = true},
   l = {L = {{S = "x"}, {N = "1"}, {L = {}}, {M = {}}}},
   m = {M = {z = {S = "last"}, a = {S = "first"}, nested = {M = {deep = {L = {{NULL = true}}}}}}}},
  {pk = {S = "empty-strings"}, e = {S = ""}, el = {L = {}}, em = {M = {}}, eb = {B = ""}},
  {pk = {S = "unicode-é日本🙂"}, ["é"] = {S = "ü"}, ["日本"] = {S = "語"}, ["🙂"] = {N = "1"},
   ["databaseId:assetId"] = {S = "db:asset"}, ["#hash"] = {S = "x"}, ["with space"] = {S = "y"}},
  {pk = {S = "escapes"}, s = {S = "quote\" backslash\\ slash/ nl\n tab\t ctl\1 ls\u{2028}"}},
  {pk = {S = "big"}, data = {S = big}},
}

for _, it in ipairs(corpus) do
  local ok, err = ddb.put{table = T, item = it}
  assert(ok, tostring(err))
  local back = assert(ddb.get{table = T, key = {pk = it.pk}, consistent = true})
  assert(item.equal(it, back), "differs after the round trip: " .. it.pk.S)
  -- What came back re-encodes to exactly what DynamoDB sent.
  local again = item.decode(item.encode(back))
  assert(item.encode(again) == item.encode(back))
  print("ok", it.pk.S == "big" and "big (" .. item.size(it) .. " bytes)" or it.pk.S)
end

-- 38 digits come back as the same text.
local n = assert(ddb.get{table = T, key = {pk = {S = "every-type"}}}).n.N
assert(n == "12345678901234567890123456789012345678", n)

-- Invalid items: a clear reason, nothing sent.
local function refused(it, want)
  local ok, err = pcall(ddb.put, {table = T, item = it})
  local msg = ok and "accepted" or tostring(err)
  assert(not ok and msg:find(want, 1, true), "expected '" .. want .. "', got: " .. msg)
  print("refused", want)
end
refused({pk = {S = "empty-set"}, tags = {SS = {}}}, "cannot be empty")
refused({pk = {S = "bad-n"}, n = {N = "12abc"}}, "attribute n")

local too_big = {pk = {S = "too-big"}, data = {S = string.rep("y", 409600)}}
local ok, err = ddb.put{table = T, item = too_big}
assert(not ok and err.code == "ValidationException", "an oversized item must fail")
print("refused", "oversized: " .. err.code)
