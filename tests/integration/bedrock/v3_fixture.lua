-- The dataset of specs/bedrock-chat-v2-to-v3.md §6.1 (v3_source.jsonl) on
-- the real key schemas and indexes of the V2 table and the two V3 tables.
-- arg: table-name prefix; variant: "shared" adds user-dave with aliases of
-- A1 and B1 (owners looked up once per original bot), "edge" adds
-- user-erin with malformed items, "many=N" adds N users with one bot and
-- one conversation each.
-- Tables: PREFIX-v2, PREFIX-v3conv, PREFIX-v3bots; arguments 3 and 4, when
-- given, name the V2 and the V3 conversation tables instead (the names
-- CloudFormation gives them, for the --stack test).
local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local P, variant = arg[1] or "v3", arg[2] or ""
local V2, V3CONV = arg[3] or P .. "-v2", arg[4] or P .. "-v3conv"

local function attrs(list)
  local defs = {}
  for _, a in ipairs(list) do defs[#defs + 1] = {AttributeName = a[1], AttributeType = a[2]} end
  return defs
end
local function keys(h, r)
  local k = {{AttributeName = h, KeyType = "HASH"}}
  if r then k[2] = {AttributeName = r, KeyType = "RANGE"} end
  return k
end
local ALL = {ProjectionType = "ALL"}

assert(ddb.create_table{TableName = V2, BillingMode = "PAY_PER_REQUEST",
  AttributeDefinitions = attrs{{"PK", "S"}, {"SK", "S"}, {"PublicBotId", "S"}, {"LastBotUsed", "N"}},
  KeySchema = keys("PK", "SK"),
  GlobalSecondaryIndexes = {{IndexName = "SKIndex", KeySchema = keys("SK"), Projection = ALL},
                            {IndexName = "PublicBotIdIndex", KeySchema = keys("PublicBotId"), Projection = ALL}},
  LocalSecondaryIndexes = {{IndexName = "LastBotUsedIndex", KeySchema = keys("PK", "LastBotUsed"),
                            Projection = ALL}}})
assert(ddb.create_table{TableName = V3CONV, BillingMode = "PAY_PER_REQUEST",
  AttributeDefinitions = attrs{{"PK", "S"}, {"SK", "S"}}, KeySchema = keys("PK", "SK"),
  GlobalSecondaryIndexes = {{IndexName = "SKIndex", KeySchema = keys("SK"), Projection = ALL}}})
assert(ddb.create_table{TableName = P .. "-v3bots", BillingMode = "PAY_PER_REQUEST",
  AttributeDefinitions = attrs{{"PK", "S"}, {"SK", "S"}, {"IsStarred", "S"}, {"LastUsedTime", "N"},
    {"BotId", "S"}, {"SharedScope", "S"}, {"SharedStatus", "S"}, {"ItemType", "S"}, {"SyncStatus", "S"}},
  KeySchema = keys("PK", "SK"),
  LocalSecondaryIndexes = {
    {IndexName = "StarredIndex", KeySchema = keys("PK", "IsStarred"), Projection = ALL},
    {IndexName = "LastUsedTimeIndex", KeySchema = keys("PK", "LastUsedTime"), Projection = ALL}},
  GlobalSecondaryIndexes = {
    {IndexName = "BotIdIndex", KeySchema = keys("BotId"), Projection = ALL},
    {IndexName = "SharedScopeIndex", KeySchema = keys("SharedScope", "SharedStatus"), Projection = ALL},
    {IndexName = "ItemTypeIndex", KeySchema = keys("ItemType"), Projection = ALL},
    {IndexName = "SyncStatusIndex", KeySchema = keys("SyncStatus"), Projection = ALL}}})

local w = ddb.writer{table = V2}
local by_sk = {}
for line in io.lines("tests/integration/bedrock/v3_source.jsonl") do
  local it = item.decode(line)
  by_sk[it.SK.S] = line
  w:put(it)
end
local function like(sk, from, to)
  -- A copy of a source item under another user (and key).
  local text = by_sk[sk]:gsub(from, to)
  w:put(item.decode(text))
end
if variant == "shared" then
  like("user-bob#BOT_ALIAS#01JALICEPUBKB00000000000001", "user%-bob", "user-dave")
  like("user-alice#BOT_ALIAS#01JBOBLEGACY00000000000001", "user%-alice", "user-dave")
end
if variant == "edge" then
  -- user-erin: a bot with an empty SyncStatus (an index key of the V3 bot
  -- table), a good bot, an alias without Title, a conversation.
  like("user-alice#BOT#01JALICEPRIV000000000000002", "user%-alice", "user-erin")
  local text = by_sk["user-alice#BOT#01JALICEPUBKB00000000000001"]:gsub("user%-alice", "user-erin")
    :gsub('"SyncStatus":{"S":"SUCCEEDED"}', '"SyncStatus":{"S":""}')
  w:put(item.decode(text))
  text = by_sk["user-bob#BOT_ALIAS#01JALICEPUBKB00000000000001"]:gsub("user%-bob", "user-erin")
    :gsub('"Title":{"S":"[^"]*"},', "")
  w:put(item.decode(text))
  like("user-bob#CONV#01JCONVB0000000000000000001", "user%-bob", "user-erin")
end
local many = tonumber(variant:match("^many=(%d+)$"))
for i = 1, many or 0 do
  local uid = ("user-m%03d"):format(i)
  like("user-alice#BOT#01JALICEPRIV000000000000002", "user%-alice", uid)
  like("user-bob#CONV#01JCONVB0000000000000000001", "user%-bob", uid)
end
local c = w:flush()
assert(c.failed == 0, "fixture writes failed")
print("seeded", P, c.put)
