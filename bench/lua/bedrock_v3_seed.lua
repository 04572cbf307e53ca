-- bedrock_v3_seed.lua: a deterministic Bedrock Chat V2 data set for the
-- v2 -> v3 benchmark (item shapes as Bedrock Chat v2 writes them), and the empty V3
-- tables with their real indexes.
--   mighost run --endpoint-url URL bench/lua/bedrock_v3_seed.lua PREFIX USERS CONVERSATIONS [LARGE]
-- Tables PREFIX-v2, PREFIX-v3conv, PREFIX-v3bots. Per user 3 bots (every
-- other one public, every third pinned) and 2 aliases (to other users'
-- bots: mostly public, some private or deleted); CONVERSATIONS spread over
-- the users, message maps of 1-6 KB, LARGE of them (default 100) near
-- 400 KB; a related document for every third conversation. Prints the
-- counts and, last, "source_items N".
local ddb = require "mighost.dynamodb"
local P = assert(arg[1], "usage: PREFIX USERS CONVERSATIONS [LARGE]")
local n_users, n_convs = assert(tonumber(arg[2])), assert(tonumber(arg[3]))
local n_large = tonumber(arg[4] or "100")
math.randomseed(7)

local function keys(h, r)
  local k = {{AttributeName = h, KeyType = "HASH"}}
  if r then k[2] = {AttributeName = r, KeyType = "RANGE"} end
  return k
end
local function attrs(list)
  local d = {}
  for _, a in ipairs(list) do d[#d + 1] = {AttributeName = a[1], AttributeType = a[2]} end
  return d
end
local ALL = {ProjectionType = "ALL"}
assert(ddb.create_table{TableName = P .. "-v2", BillingMode = "PAY_PER_REQUEST",
  AttributeDefinitions = attrs{{"PK", "S"}, {"SK", "S"}, {"PublicBotId", "S"}}, KeySchema = keys("PK", "SK"),
  GlobalSecondaryIndexes = {{IndexName = "SKIndex", KeySchema = keys("SK"), Projection = ALL},
                            {IndexName = "PublicBotIdIndex", KeySchema = keys("PublicBotId"), Projection = ALL}}})
assert(ddb.create_table{TableName = P .. "-v3conv", BillingMode = "PAY_PER_REQUEST",
  AttributeDefinitions = attrs{{"PK", "S"}, {"SK", "S"}}, KeySchema = keys("PK", "SK"),
  GlobalSecondaryIndexes = {{IndexName = "SKIndex", KeySchema = keys("SK"), Projection = ALL}}})
assert(ddb.create_table{TableName = P .. "-v3bots", BillingMode = "PAY_PER_REQUEST",
  AttributeDefinitions = attrs{{"PK", "S"}, {"SK", "S"}, {"IsStarred", "S"}, {"LastUsedTime", "N"},
    {"BotId", "S"}, {"SharedScope", "S"}, {"SharedStatus", "S"}, {"ItemType", "S"}, {"SyncStatus", "S"}},
  KeySchema = keys("PK", "SK"),
  LocalSecondaryIndexes = {{IndexName = "StarredIndex", KeySchema = keys("PK", "IsStarred"), Projection = ALL},
                           {IndexName = "LastUsedTimeIndex", KeySchema = keys("PK", "LastUsedTime"), Projection = ALL}},
  GlobalSecondaryIndexes = {{IndexName = "BotIdIndex", KeySchema = keys("BotId"), Projection = ALL},
    {IndexName = "SharedScopeIndex", KeySchema = keys("SharedScope", "SharedStatus"), Projection = ALL},
    {IndexName = "ItemTypeIndex", KeySchema = keys("ItemType"), Projection = ALL},
    {IndexName = "SyncStatusIndex", KeySchema = keys("SyncStatus"), Projection = ALL}}})

local w = ddb.writer{table = P .. "-v2", window = 16}
local function S(v) return {S = v} end
local function N(v) return {N = tostring(v)} end
local models = {M = {claude_v3_sonnet = {BOOL = true}, claude_v3_haiku = {BOOL = true}}}
local filler = ("The quick brown fox jumps over the lazy dog. "):rep(200)

local function uid(i) return ("user-%05d"):format(i) end
local function bot_id(u, b) return ("01JBOT%05d%02d00000000000000"):format(u, b) end

local count = {bots = 0, aliases = 0, conversations = 0, related_documents = 0}
for u = 1, n_users do
  local id = uid(u)
  for b = 1, 3 do
    local bid = bot_id(u, b)
    local it = {PK = S(id), SK = S(id .. "#BOT#" .. bid), Title = S("Bot " .. bid),
      Description = S("A bot for benchmarks"), Instruction = S("You are a helpful assistant."),
      CreateTime = N(1730000000000 + u), LastBotUsed = N(1731000000000 + u), IsPinned = {BOOL = b == 3},
      GenerationParams = {M = {max_tokens = N(2000), temperature = N("0.6")}},
      AgentData = {M = {tools = {L = {}}}},
      Knowledge = {M = {source_urls = {L = {}}, sitemap_urls = {L = {}}, filenames = {L = {S("a.pdf")}},
                        s3_urls = {L = {}}}},
      SyncStatus = S("SUCCEEDED"), SyncStatusReason = S(""), LastExecId = S("exec-" .. u),
      ApiPublishmentStackName = {NULL = true}, ApiPublishedDatetime = {NULL = true},
      ApiPublishCodeBuildId = {NULL = true}, DisplayRetrievedChunks = {BOOL = true},
      ConversationQuickStarters = {L = {}}, ActiveModels = models}
    if b % 2 == 1 then it.PublicBotId = S(bid) end
    w:put(it)
    count.bots = count.bots + 1
  end
  for a = 1, 2 do
    -- Mostly another user's public bot (b = 1 or 3); every tenth a private
    -- one (b = 2), every twentieth a deleted one (b = 9).
    local other = (u + a * 37 - 1) % n_users + 1
    local b = (u + a) % 10 == 0 and 2 or (u + a) % 20 == 1 and 9 or (a == 1 and 1 or 3)
    local orig = bot_id(other, b)
    w:put({PK = S(id), SK = S(id .. "#BOT_ALIAS#" .. orig), Title = S("Bot " .. orig),
      Description = S("A bot for benchmarks"), OriginalBotId = S(orig), CreateTime = N(1730500000000),
      LastBotUsed = N(1731500000000), IsPinned = {BOOL = a == 1}, SyncStatus = S("SUCCEEDED"),
      HasKnowledge = {BOOL = true}, HasAgent = {BOOL = false}, ConversationQuickStarters = {L = {}},
      ActiveModels = models})
    count.aliases = count.aliases + 1
  end
end
local large_every = n_large > 0 and n_convs // n_large or 0
for c = 1, n_convs do
  local u = (c - 1) % n_users + 1
  local id, cid = uid(u), ("01JCONV%019d"):format(c)
  local size = (large_every > 0 and c % large_every == 0) and 390000 or math.random(1000, 6000)
  local text = filler:rep(size // #filler + 1):sub(1, size)
  w:put({PK = S(id), SK = S(id .. "#CONV#" .. cid), Title = S("Conversation " .. c),
    CreateTime = N(1731000000000 + c), TotalPrice = N("0.0123"), LastMessageId = S("msg-1"),
    ShouldContinue = {BOOL = false}, IsLargeMessage = {BOOL = false},
    MessageMap = S('{"msg-1":{"role":"user","content":[{"content_type":"text","body":"' .. text .. '"}]}}'),
    BotId = S(bot_id(u, 1))})
  count.conversations = count.conversations + 1
  if c % 3 == 0 then
    w:put({PK = S(id), SK = S(id .. "#RELATED_DOCUMENT#" .. cid .. "#tooluse_" .. c .. "@0"),
      SourceName = S("manual.pdf"), SourceLink = S("s3://docs/manual.pdf"),
      Content = {M = {text = S(filler:sub(1, 800))}}, PageNumber = N(c % 40)})
    count.related_documents = count.related_documents + 1
  end
end
local c = w:flush()
assert(c.failed == 0, "seed writes failed")
print(("users %d\nbots %d\naliases %d\nconversations %d (%d near 400 KB)\nrelated_documents %d"):format(
  n_users, count.bots, count.aliases, count.conversations, large_every > 0 and n_convs // large_every or 0,
  count.related_documents))
print(("source_items %d"):format(count.bots + count.aliases + count.conversations + count.related_documents))
