-- Datasets A and B of the reference on the
-- ConversationTable's real key schema and indexes.
-- arg: table name, then a variant: "A" (or none), "B" (A + 8 conversations
-- of ~290 KB for user-alice: the scan spans several 1 MB pages), "many N"
-- (A + N bots), "unicode" (A + a bot whose key needs JSON escaping).
local ddb = require "mighost.dynamodb"
local T, variant = arg[1] or "v1-conversations", arg[2]

local function s(v) return {S = v} end
local function n(v) return {N = v} end
local function l(t) local o = {} for i, v in ipairs(t) do o[i] = s(v) end return {L = o} end

assert(ddb.create_table{TableName = T, BillingMode = "PAY_PER_REQUEST",
  AttributeDefinitions = {{AttributeName = "PK", AttributeType = "S"}, {AttributeName = "SK", AttributeType = "S"},
    {AttributeName = "PublicBotId", AttributeType = "S"}, {AttributeName = "LastBotUsed", AttributeType = "N"}},
  KeySchema = {{AttributeName = "PK", KeyType = "HASH"}, {AttributeName = "SK", KeyType = "RANGE"}},
  GlobalSecondaryIndexes = {
    {IndexName = "SKIndex", KeySchema = {{AttributeName = "SK", KeyType = "HASH"}}, Projection = {ProjectionType = "ALL"}},
    {IndexName = "PublicBotIdIndex", KeySchema = {{AttributeName = "PublicBotId", KeyType = "HASH"}},
     Projection = {ProjectionType = "ALL"}}},
  LocalSecondaryIndexes = {
    {IndexName = "LastBotUsedIndex", KeySchema = {{AttributeName = "PK", KeyType = "HASH"},
      {AttributeName = "LastBotUsed", KeyType = "RANGE"}}, Projection = {ProjectionType = "ALL"}}}})

local function put(it) assert(ddb.put{table = T, item = it}) end

-- A V0 bot as v0.4.10's store_bot writes it.
local function bot(user, id, title, o)
  local it = {PK = s(user), SK = s(user .. "#BOT#" .. id), Title = s(title), Description = s(title .. " description"),
    Instruction = s("You are a helpful assistant."), CreateTime = n(o.created), LastBotUsed = n(o.used),
    IsPinned = {BOOL = o.pinned or false},
    EmbeddingParams = {M = {chunk_size = n("1000"), chunk_overlap = n("200"), enable_partition_pdf = {BOOL = false}}},
    GenerationParams = {M = {max_tokens = n("2000"), top_k = n("250"), top_p = n("0.999"), temperature = n("0.6"),
                             stop_sequences = l{"Human: ", "Assistant: "}}},
    SearchParams = {M = {max_results = n("20")}},
    Knowledge = {M = {source_urls = l(o.urls or {}), sitemap_urls = l{}, filenames = l(o.files or {})}},
    SyncStatus = s("SUCCEEDED"), SyncStatusReason = s(""), LastExecId = s("a1b2c3d4e5f6"),
    ApiPublishmentStackName = {NULL = true}, ApiPublishedDatetime = {NULL = true}, ApiPublishCodeBuildId = {NULL = true},
    DisplayRetrievedChunks = {BOOL = true}}
  if o.public then it.PublicBotId = s(id) end
  put(it)
end

local function conv(user, id, created, message_map)
  put({PK = s(user), SK = s(user .. "#CONV#" .. id), Title = s("conv " .. id), CreateTime = n(created),
       TotalPrice = n("0.0123"), LastMessageId = s("msg-1"), IsLargeMessage = {BOOL = false},
       MessageMap = s(message_map or '{"system": {"role": "system", "content": []}}')})
end

bot("user-alice", "01HALICEKB0000000000000001", "Alice KB bot",
    {created = "1714000000000", used = "1714500000000", files = {"manual.pdf"}, public = true})
bot("user-alice", "01HALICEPLAIN000000000001", "Alice plain bot",
    {created = "1714000001000", used = "1714500001000", pinned = true})
conv("user-alice", "01HCONVALICE0000000000001", "1714200001000")
bot("user-bob", "01HBOBURL000000000000000001", "Bob URL bot",
    {created = "1714000002000", used = "1714500002000", urls = {"https://example.com/docs"}})
put({PK = s("user-bob"), SK = s("user-bob#BOT_ALIAS#01HALICEKB0000000000000001"), Title = s("Alice KB bot"),
     Description = s("Alice KB bot description"), OriginalBotId = s("01HALICEKB0000000000000001"),
     CreateTime = n("1714100000000"), LastBotUsed = n("1714600000000"), IsPinned = {BOOL = false},
     SyncStatus = s("SUCCEEDED"), HasKnowledge = {BOOL = true}})
conv("user-bob", "01HCONVBOB00000000000000001", "1714200000000")

if variant == "B" then
  local filler = ("x"):rep(290 * 1024)
  for i = 1, 8 do
    conv("user-alice", ("01HCONVBIG%016d"):format(i), tostring(1714300000000 + i),
         '{"system": {"role": "system", "content": "' .. filler .. '"}}')
  end
end

-- "many N": N more bots with knowledge (user-many), for the kill and resume test.
if variant == "many" then
  for i = 1, tonumber(arg[3] or "50") do
    bot("user-many", ("01HMANY%019d"):format(i), "Many bot " .. i,
        {created = "1714000003000", used = "1714500003000", files = {"doc" .. i .. ".pdf"}})
  end
end

-- "unicode": a bot whose key needs escaping in the payload (Python's json.dumps, ensure_ascii).
if variant == "unicode" then
  bot("user-\u{e9}\u{4e2d}\u{1F600}", "01HUNICODE\"\\/", "Unicode bot",
      {created = "1714000004000", used = "1714500004000", files = {"f.pdf"}})
end
