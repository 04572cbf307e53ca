-- bedrock-chat/v2-to-v3: Bedrock Chat v3 moves bots and aliases out of the
-- single V2 conversation table into a bot table (new keys, sharing model)
-- and copies conversations and related documents, unchanged, into a new
-- conversation table. Field by field, and what mighost keeps from and fixes
-- in the original script: docs/migrations/bedrock-chat-v2-to-v3.md.
--
-- Kept from the reference: every destination item, field by field; aliases
-- whose original bot is private or deleted are not written (listed; the
-- option --keep-inaccessible-aliases writes private ones); the flags
-- --dry-run, --verify-only, --users; the report's user_stats, verification
-- and summary.
-- Fixed: users are streamed page by page, many at once, through the batch
-- writer (no sleeps, no per-user memory of items); the owner of an original
-- bot is looked up once per bot, and a failed lookup is a failure, not a
-- skip; counts are what DynamoDB accepted; a malformed item fails alone
-- with its reason (the user goes on; the dry-run never stops on one);
-- verification compares, per chosen user, the expected items with what is
-- there and expects skipped aliases to be absent; failures set the exit
-- code; finished users are checkpointed for --resume.

local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local json = require "mighost.json"
local mh = require "mighost"
local sync = require "mighost.sync"

local KINDS = {"bots", "aliases", "conversations", "related_documents"}
local REASONS_PER_USER = 20      -- reasons listed in a user's stats (all are counted)
local INACCESSIBLE_LISTED = 1000 -- inaccessible aliases listed in the report

local BOT_REQUIRED = {"Title", "Description", "Instruction", "CreateTime", "SyncStatus",
                      "SyncStatusReason", "LastExecId"}
local ALIAS_REQUIRED = {"Title", "Description", "CreateTime", "SyncStatus"}

-- Set by the always-running `users` phase: the user ids in scope, sorted.
local users = {}

local function str(v) return type(v) == "table" and type(v.S) == "string" and v.S or nil end

-- Python truthiness of a deserialised attribute (the reference tests IsPinned so).
local function truthy(v)
  if type(v) ~= "table" or v.NULL then return false end
  if v.BOOL ~= nil then return v.BOOL == true end
  if v.S then return v.S ~= "" end
  if v.N then return tonumber(v.N) ~= 0 end
  if v.B then return #v.B > 0 end
  if v.M then return next(v.M) ~= nil end
  for _, k in ipairs{"L", "SS", "NS", "BS"} do if v[k] then return #v[k] > 0 end end
  return false
end

local function first_missing(it, names)
  for _, n in ipairs(names) do if it[n] == nil then return n end end
end

local function empty_list() return {L = {}} end

-- Reads ---------------------------------------------------------------------

local NAMES = {["#pk"] = "PK", ["#sk"] = "SK"}

-- Items of one user whose SK starts with "{uid}#{tag}#", page by page.
local function user_items(p, uid, tag, extra)
  local o = {table = p.v2_conversation_table, key_condition = "#pk = :u AND begins_with(#sk, :p)",
             names = {["#pk"] = "PK", ["#sk"] = "SK"},
             values = {[":u"] = {S = uid}, [":p"] = {S = uid .. "#" .. tag .. "#"}}}
  if tag == "BOT" then
    -- As the reference: a bot item never carries an OriginalBotId.
    o.filter = "attribute_not_exists(#ob) OR #ob = :empty"
    o.names["#ob"] = "OriginalBotId"
    o.values[":empty"] = {S = ""}
  end
  for k, v in pairs(extra or {}) do o[k] = v end
  return ddb.query(o)
end

-- Owners of original bots ---------------------------------------------------

-- One lookup per original bot, however many aliases point at it and
-- however many users ask at once (single flight); an owner (uid or false)
-- is kept, an error is not (the next alias asks again).
local lookup_count, params = 0, nil

-- The owner of a shared (public) bot, from PublicBotIdIndex; false if none.
local public_owner = sync.once_per_key(function(bot_id)
  lookup_count = lookup_count + 1
  for it in ddb.query{table = params.v2_conversation_table, index = "PublicBotIdIndex",
                      key_condition = "#b = :b", names = {["#b"] = "PublicBotId", ["#pk"] = "PK"},
                      values = {[":b"] = {S = bot_id}}, projection = "#pk", max_items = 1,
                      limit = 1} do
    return str(it.PK) or false
  end
  return false
end).get

-- Only with --keep-inaccessible-aliases: botId -> owner of every bot, from
-- the V2 keys (one scan, made the first time a private original is met).
local all_owners = sync.once_per_key(function()
  local m = {}
  for it in ddb.scan{table = params.v2_conversation_table, segments = 4, projection = "#pk, #sk",
                     names = NAMES, filter = "contains(#sk, :b)", values = {[":b"] = {S = "#BOT#"}}} do
    local uid, sk = str(it.PK), str(it.SK)
    if uid and sk and sk:sub(1, #uid + 5) == uid .. "#BOT#" then m[sk:match("([^#]*)$")] = uid end
  end
  return m
end).get

local function any_owner(bot_id)
  local map, err = all_owners("all")
  if not map then return nil, err end
  return map[bot_id] or false
end

-- Conversion: bots and aliases --------------------------------------------------

-- A V2 bot -> the V3 bot item, or nil and why it cannot be converted.
local function convert_bot(it)
  local uid, sk = str(it.PK), str(it.SK)
  local bot_id = sk and sk:match("#BOT#([^#]+)$")
  if not uid or not bot_id then return nil, "malformed bot: the key is not {uid}#BOT#{botId}" end
  local m = first_missing(it, BOT_REQUIRED)
  if m then return nil, ("malformed bot: required attribute '%s' is missing"):format(m) end
  local b = {
    PK = {S = uid}, SK = {S = "BOT#" .. bot_id}, ItemType = {S = uid .. "#BOT"}, BotId = {S = bot_id},
    Title = it.Title, Description = it.Description, Instruction = it.Instruction,
    CreateTime = it.CreateTime, SyncStatus = it.SyncStatus, SyncStatusReason = it.SyncStatusReason,
    LastExecId = it.LastExecId,
    DisplayRetrievedChunks = it.DisplayRetrievedChunks or {BOOL = false},
    GenerationParams = it.GenerationParams or {M = {}},
    AgentData = it.AgentData or {M = {tools = empty_list()}},
    Knowledge = it.Knowledge or {M = {source_urls = empty_list(), sitemap_urls = empty_list(),
                                      filenames = empty_list(), s3_urls = empty_list()}},
    ConversationQuickStarters = it.ConversationQuickStarters or empty_list(),
    ActiveModels = it.ActiveModels, BedrockKnowledgeBase = it.BedrockKnowledgeBase,
    GuardrailsParams = it.GuardrailsParams,
    ApiPublishmentStackName = it.ApiPublishmentStackName,
    ApiPublishedDatetime = it.ApiPublishedDatetime, ApiPublishCodeBuildId = it.ApiPublishCodeBuildId,
    SharedStatus = {S = it.PublicBotId ~= nil and "shared" or "unshared"},
    AllowedCognitoUsers = empty_list(), AllowedCognitoGroups = empty_list(),
    LastUsedTime = it.LastBotUsed,
    UsageStats = {M = {usage_count = {N = "0"}}},
  }
  if it.PublicBotId ~= nil then b.SharedScope = {S = "all"} end
  if truthy(it.IsPinned) then b.IsStarred = {S = "TRUE"} end
  return b
end

-- A V2 alias -> the V3 alias item; or nil, why, and "skip" when it is left
-- out on purpose (inaccessible original) rather than malformed or failed.
local function convert_alias(p, it)
  params = p
  local uid, original = str(it.PK), str(it.OriginalBotId)
  if not uid or not original or original == "" then
    return nil, "malformed alias: OriginalBotId is missing or not a non-empty string"
  end
  local m = first_missing(it, ALIAS_REQUIRED)
  if m then return nil, ("malformed alias: required attribute '%s' is missing"):format(m) end
  local owner, err = public_owner(original)
  if err then return nil, "owner lookup failed: " .. tostring(err) end
  local accessible = owner and true or false
  if not owner then
    if not p.keep_inaccessible_aliases then
      return nil, "original bot is private or deleted (not migrated, as by the reference)", "skip"
    end
    owner, err = any_owner(original)
    if err then return nil, "owner lookup failed: " .. tostring(err) end
    if not owner then return nil, "original bot is deleted (no owner to record)", "skip" end
  end
  local a = {
    PK = {S = uid}, SK = {S = "ALIAS#" .. original}, ItemType = {S = uid .. "#ALIAS"},
    OriginalBotId = {S = original}, OwnerUserId = {S = owner},
    IsOriginAccessible = {BOOL = accessible},
    Title = it.Title, Description = it.Description, CreateTime = it.CreateTime,
    SyncStatus = it.SyncStatus,
    HasKnowledge = it.HasKnowledge or {BOOL = false}, HasAgent = it.HasAgent or {BOOL = false},
    ConversationQuickStarters = it.ConversationQuickStarters or empty_list(),
    ActiveModels = it.ActiveModels, LastUsedTime = it.LastBotUsed,
  }
  if truthy(it.IsPinned) then a.IsStarred = {S = "TRUE"} end
  return a, nil, nil, not accessible
end

-- Per-user statistics -----------------------------------------------------------

local function counts() return {bots = 0, aliases = 0, conversations = 0, related_documents = 0} end

local function new_stats(uid)
  -- failed: malformed items and rejected writes; rejected: the latter only.
  return {user_id = uid, read = counts(), submitted = counts(), skipped = counts(),
          failed = counts(), rejected = counts(), reasons = json.array()}
end

local function add_reason(st, kind, key, reason)
  if #st.reasons < REASONS_PER_USER then
    st.reasons[#st.reasons + 1] = {kind = kind, sk = str(key and key.SK), reason = reason}
  end
end

-- The report's entry: the reference's fields (counts are now what was
-- written) and the read / written / skipped / failed breakdown.
local function stats_entry(st)
  local written = counts()
  for _, k in ipairs(KINDS) do written[k] = st.submitted[k] - st.rejected[k] end
  local failed = 0
  for _, k in ipairs(KINDS) do failed = failed + st.failed[k] end
  local e = {user_id = st.user_id, bots_count = written.bots, aliases_count = written.aliases,
             conversations_count = written.conversations,
             related_documents_count = written.related_documents,
             skipped_aliases_count = st.skipped.aliases, success = failed == 0 and not st.error,
             duration = math.floor((st.duration or 0) * 1000) / 1000,
             read = st.read, written = written, skipped = st.skipped, failed = st.failed,
             reasons = st.reasons}
  if st.error then e.error = st.error
  elseif failed > 0 then e.error = ("%d item(s) failed (see reasons)"):format(failed) end
  return e
end

local function kind_of_v3(table_is_bots, sk)
  if table_is_bots then return sk:sub(1, 6) == "ALIAS#" and "aliases" or "bots" end
  return sk:find("#RELATED_DOCUMENT#", 1, true) and "related_documents" or "conversations"
end

-- Phase 1: the users in scope ----------------------------------------------------

local function find_users(ctx)
  local p = ctx.params
  local seen, list = {}, {}
  if p.users then
    for _, u in ipairs(p.users) do
      if not seen[u] then seen[u] = true; list[#list + 1] = u end
    end
  else
    -- Every PK of the table (users with conversations only included).
    for it in ddb.scan{table = p.v2_conversation_table, segments = ctx.options.segments or 4,
                       projection = "#pk", names = {["#pk"] = "PK"}} do
      ctx.counts.scanned = ctx.counts.scanned + 1
      local u = str(it.PK)
      if u and not seen[u] then seen[u] = true; list[#list + 1] = u end
    end
  end
  table.sort(list)
  local limit = ctx.options.limit
  if limit and #list > limit then
    -- A trial (--limit N): the first N users in order, migrated and verified.
    for i = #list, limit + 1, -1 do list[i] = nil end
  end
  users = list
  ctx:note("users", #list)
  mh.info(("%d users to %s"):format(#list, ctx.options.verify_only and "verify" or "migrate"))
end

-- Phase 2: migrate user by user, many at once (an `each` phase) ---------------

-- The phase's writers (shared by the users in flight) and report lists.
local function open_writers(ctx)
  local p = ctx.params
  ctx.live = {}          -- uid -> stats of users in flight
  ctx.inaccessible, ctx.inaccessible_total = json.array(), 0
  ctx.stats, ctx.resumed = {}, {}
  local function on_failure(table_is_bots)
    return function(f)
      local k = f.key or {}
      local uid, sk = str(k.PK), str(k.SK) or ""
      local st = uid and ctx.live[uid]
      local kind = kind_of_v3(table_is_bots, sk)
      if st then
        st.failed[kind] = st.failed[kind] + 1
        st.rejected[kind] = st.rejected[kind] + 1
        add_reason(st, kind, k, f.reason)
      end
      ctx:fail(k, f.reason)
    end
  end
  ctx.bots_w = ddb.writer{table = p.v3_bot_table, on_failure = on_failure(true)}
  ctx.convs_w = ddb.writer{table = p.v3_conversation_table, on_failure = on_failure(false)}
end

local function sample(ctx, source, outs)
  if ctx.options.sample and (ctx.sampled or 0) < ctx.options.sample then
    ctx:show_sample(source, outs)   -- (counts ctx.sampled)
  end
end

-- One user's items, converted and written: the user's totals once all its
-- writes landed; false while some failed (kept open: --resume migrates the
-- user again) or when interrupted; nil and why when the user failed.
local function migrate_user(uid, ctx)
  local p, dry = ctx.params, ctx.dry_run
  local st = new_stats(uid)
  ctx.live[uid] = st
  local started = mh.clock()
  -- Held once by the user and once per write in flight (the writer's
  -- tickets); settled when all are done.
  local settled = sync.group()
  settled:add()
  local ticket = {pending = 1, settled = function() settled:done() end}
  local function put(w, kind, it)
    st.submitted[kind] = st.submitted[kind] + 1
    w:put(it, ticket)
  end
  local function malformed(kind, it, why)
    st.failed[kind] = st.failed[kind] + 1
    add_reason(st, kind, it, why)
    ctx:fail({PK = it.PK, SK = it.SK}, why)
  end
  local function read(tag, kind, extra)
    local iter = user_items(p, uid, tag, extra)
    return function()
      if ctx:interrupted() then error("interrupted", 0) end
      local it = iter()
      if it then
        ctx.counts.scanned = ctx.counts.scanned + 1
        st.read[kind] = st.read[kind] + 1
      end
      return it
    end
  end
  local ok, err = pcall(function()
    for it in read("BOT", "bots") do
      local b, why = convert_bot(it)
      sample(ctx, it, {b})
      if b then put(ctx.bots_w, "bots", b) else malformed("bots", it, why) end
    end
    for it in read("BOT_ALIAS", "aliases") do
      local a, why, skip, inaccessible_kept = convert_alias(p, it)
      sample(ctx, it, {a})
      if a then put(ctx.bots_w, "aliases", a)
      elseif skip then
        st.skipped.aliases = st.skipped.aliases + 1
        ctx:skip(why, {PK = it.PK, SK = it.SK})
      else malformed("aliases", it, why) end
      if skip or inaccessible_kept then
        ctx.inaccessible_total = ctx.inaccessible_total + 1
        if #ctx.inaccessible < INACCESSIBLE_LISTED then
          ctx.inaccessible[#ctx.inaccessible + 1] = {user_id = uid, original_bot_id = str(it.OriginalBotId),
            written = inaccessible_kept or false,
            reason = inaccessible_kept and "original bot is private: written with IsOriginAccessible=false"
                     or why}
        end
      end
    end
    for it in read("CONV", "conversations") do put(ctx.convs_w, "conversations", it) end   -- unchanged
    for it in read("RELATED_DOCUMENT", "related_documents") do
      put(ctx.convs_w, "related_documents", it)
    end
  end)
  -- Push this user's last partial batches out, then wait until every
  -- write of the user is accepted or failed (the writer reports a failed
  -- entry before its ticket settles, so the user's counts are complete).
  ctx.bots_w:send_buffer()
  ctx.convs_w:send_buffer()
  ticket.pending = ticket.pending - 1
  if ticket.pending == 0 then ticket:settled() end
  settled:wait()
  st.duration = mh.clock() - started
  ctx.live[uid] = nil
  -- Writes neither accepted nor failed (the run gave up on the endpoint):
  -- the user stays open, as when interrupted.
  if ticket.open or err == "interrupted" then return false end
  if not ok then st.error = tostring(err) end
  local e = stats_entry(st)
  ctx.stats[#ctx.stats + 1] = e
  for _, n in pairs(e.written) do ctx.counts.written = ctx.counts.written + n end
  if dry then
    mh.info(("%s: %d bots, %d aliases (%d would be skipped), %d conversations, %d related documents"
      .. "%s"):format(uid, st.read.bots, st.read.aliases, st.skipped.aliases, st.read.conversations,
      st.read.related_documents, e.success and "" or (", " .. e.error)))
  end
  if not ok then return nil, "user failed: " .. st.error end
  -- A user with failed items stays open: --resume migrates it again.
  if not e.success then return false end
  return {b = e.bots_count, a = e.aliases_count, c = e.conversations_count,
          r = e.related_documents_count, s = e.skipped_aliases_count, d = e.duration}
end

local function user_key(uid) return {PK = {S = uid}} end

local function resumed_user(uid, d, ctx) ctx.resumed[#ctx.resumed + 1] = d end

-- The reference's report fields: user_stats, summary, inaccessible aliases.
local function migrate_report(ctx)
  local p = ctx.params
  ctx.bots_w:flush()
  ctx.convs_w:flush()
  local stats, resumed = ctx.stats, #ctx.resumed
  if resumed > 0 then mh.info(("%d users finished in an earlier run are skipped"):format(resumed)) end
  table.sort(stats, function(a, b) return a.user_id < b.user_id end)
  local s = {total_users = #stats + resumed, successful_users = 0, failed_users = 0, total_bots = 0,
             total_aliases = 0, total_skipped_aliases = 0, total_conversations = 0,
             total_related_documents = 0, total_duration_seconds = 0, resumed_users = resumed,
             total_read = counts(), total_skipped = counts(), total_failed = counts(),
             owner_lookups = lookup_count}
  local function add(ok, b, a, c, r, sk, d)
    if ok then s.successful_users = s.successful_users + 1 else s.failed_users = s.failed_users + 1 end
    s.total_bots, s.total_aliases = s.total_bots + b, s.total_aliases + a
    s.total_conversations = s.total_conversations + c
    s.total_related_documents = s.total_related_documents + r
    s.total_skipped_aliases = s.total_skipped_aliases + sk
    s.total_duration_seconds = s.total_duration_seconds + (d or 0)
  end
  for _, e in ipairs(stats) do
    add(e.success, e.bots_count, e.aliases_count, e.conversations_count, e.related_documents_count,
        e.skipped_aliases_count, e.duration)
    for _, k in ipairs(KINDS) do
      s.total_read[k] = s.total_read[k] + e.read[k]
      s.total_skipped[k] = s.total_skipped[k] + e.skipped[k]
      s.total_failed[k] = s.total_failed[k] + e.failed[k]
    end
  end
  for _, d in ipairs(ctx.resumed) do add(true, d.b, d.a, d.c, d.r, d.s, d.d) end
  s.total_duration_seconds = math.floor(s.total_duration_seconds * 1000) / 1000
  ctx:report_field("user_stats", #stats > 0 and stats or json.array())
  ctx:report_field("summary", s)
  ctx:report_field("inaccessible_aliases", {count = ctx.inaccessible_total, items = ctx.inaccessible,
    written = p.keep_inaccessible_aliases and "private ones, with IsOriginAccessible=false" or "none"})
end

-- Phase 3: verification, per user ------------------------------------------------

-- Expected V3 items of one user (bot table items by SK; conversation
-- table SKs by kind) and the aliases left out on purpose.
local function expected_of(p, uid)
  local bots, skipped = {}, {}
  local n = counts()
  for it in user_items(p, uid, "BOT") do
    local b = convert_bot(it)
    if b then bots[b.SK.S] = b; n.bots = n.bots + 1 end
  end
  for it in user_items(p, uid, "BOT_ALIAS") do
    local a, _, skip = convert_alias(p, it)
    if a then bots[a.SK.S] = a; n.aliases = n.aliases + 1
    elseif skip then skipped["ALIAS#" .. str(it.OriginalBotId)] = true end
  end
  local convs = {}
  for _, kind in ipairs{{"CONV", "conversations"}, {"RELATED_DOCUMENT", "related_documents"}} do
    for it in user_items(p, uid, kind[1], {projection = "#pk, #sk"}) do
      convs[it.SK.S] = kind[2]
      n[kind[2]] = n[kind[2]] + 1
    end
  end
  return bots, skipped, convs, n
end

local function verify_user(p, uid)
  local bots, skipped, convs, expected = expected_of(p, uid)
  local r = {user_id = uid, expected = expected, found = counts(), missing = counts(),
             different = counts(), unexpected = 0, skipped_present = 0}
  for it in ddb.query{table = p.v3_bot_table, key_condition = "#pk = :u", names = {["#pk"] = "PK"},
                      values = {[":u"] = {S = uid}}, consistent = true} do
    local sk = str(it.SK) or ""
    local want = bots[sk]
    if want then
      local kind = kind_of_v3(true, sk)
      if item.equal(it, want) then r.found[kind] = r.found[kind] + 1
      else r.different[kind] = r.different[kind] + 1 end
      bots[sk] = nil
    elseif skipped[sk] then r.skipped_present = r.skipped_present + 1
    else r.unexpected = r.unexpected + 1 end
  end
  for sk in pairs(bots) do
    local kind = kind_of_v3(true, sk)
    r.missing[kind] = r.missing[kind] + 1
  end
  for it in ddb.query{table = p.v3_conversation_table, key_condition = "#pk = :u",
                      names = {["#pk"] = "PK", ["#sk"] = "SK"}, values = {[":u"] = {S = uid}},
                      projection = "#pk, #sk", consistent = true} do
    local kind = convs[str(it.SK) or ""]
    if kind then
      r.found[kind] = r.found[kind] + 1
      convs[it.SK.S] = nil
    else r.unexpected = r.unexpected + 1 end
  end
  for _, kind in pairs(convs) do r.missing[kind] = r.missing[kind] + 1 end
  local ok = r.skipped_present == 0
  for _, k in ipairs(KINDS) do ok = ok and r.found[k] == expected[k] end
  r.ok = ok
  return r
end

local function verify(ctx)
  local p = ctx.params
  local per_user, failed_reads = {}, 0
  sync.each(users, p.user_concurrency, function(uid)
    local ok, r = pcall(verify_user, p, uid)
    if not ok then
      failed_reads = failed_reads + 1
      r = {user_id = uid, ok = false, error = tostring(r)}
    end
    per_user[#per_user + 1] = r
  end)
  table.sort(per_user, function(a, b) return a.user_id < b.user_id end)
  local source, destination = counts(), counts()
  local missing, different = counts(), counts()
  local skipped_present, unexpected = 0, 0
  for _, r in ipairs(per_user) do
    if r.expected then
      for _, k in ipairs(KINDS) do
        source[k] = source[k] + r.expected[k]
        destination[k] = destination[k] + r.found[k]
        missing[k] = missing[k] + r.missing[k]
        different[k] = different[k] + r.different[k]
      end
      skipped_present = skipped_present + r.skipped_present
      unexpected = unexpected + r.unexpected
    end
  end
  -- The reference's object: source = what should be there (converted
  -- items, skipped aliases excluded), destination = what is there and
  -- equal to it.
  local v = {source = source, destination = destination, success = true,
             skipped_aliases_present = skipped_present, unexpected_items = unexpected,
             users = #per_user, users_failed = 0}
  local checks = {}
  local labels = {bots = "bots in the V3 bot table", aliases = "aliases in the V3 bot table",
                  conversations = "conversations in the V3 conversation table",
                  related_documents = "related documents in the V3 conversation table"}
  for _, k in ipairs(KINDS) do
    local ok = source[k] == destination[k] and failed_reads == 0
    if source[k] ~= destination[k] then
      v["error_" .. k] = ("Source: %d, Destination: %d"):format(source[k], destination[k])
    end
    v.success = v.success and ok
    checks[#checks + 1] = {name = labels[k], checked = source[k], missing = missing[k],
                           different = different[k], ok = ok}
  end
  checks[#checks + 1] = {name = "skipped aliases absent", checked = nil, present = skipped_present,
                         ok = skipped_present == 0}
  v.success = v.success and skipped_present == 0 and failed_reads == 0
  if failed_reads > 0 then v.error_reads = ("%d users could not be read"):format(failed_reads) end
  local problems = json.array()
  for _, r in ipairs(per_user) do
    if not r.ok then v.users_failed = v.users_failed + 1 end
    problems[#problems + 1] = r
  end
  v.per_user = problems
  ctx:report_field("verification", v)
  if ctx.options.verify_only then
    -- As the reference: the verification object on stdout.
    local shown = {}
    for k, x in pairs(v) do if k ~= "per_user" then shown[k] = x end end
    io.stdout:write(json.encode(shown), "\n")
  end
  return v.success, checks
end

return {
  name = "bedrock-chat/v2-to-v3",
  description = "Bedrock Chat v2 -> v3: bots and aliases into the V3 bot table (new keys and "
    .. "sharing model), conversations and related documents copied into the V3 conversation table.",
  params = {
    {name = "v2_conversation_table", type = "table", required = true, access = "read",
     config = "V2_CONVERSATION_TABLE", stack_output = "ConversationTableName",
     stack_retained_table = "Database/ConversationTable",
     key = {hash = "PK", range = "SK"}, doc = "the V2 ConversationTable (source, never changed)"},
    {name = "v3_conversation_table", type = "table", required = true, access = "write",
     config = "V3_CONVERSATION_TABLE", stack_output = "ConversationTableNameV3",
     stack_resource = "Database/ConversationTableV3",
     key = {hash = "PK", range = "SK"}, doc = "ConversationTableV3 (conversations, related documents)"},
    {name = "v3_bot_table", type = "table", required = true, access = "write",
     config = "V3_BOT_TABLE", stack_output = "BotTableNameV3", stack_resource = "Database/BotTableV3",
     key = {hash = "PK", range = "SK"}, doc = "BotTableV3 (bots, aliases)"},
    {name = "users", type = "list",
     doc = "only these user ids (--users U1 U2 ...); default: every user of the V2 table"},
    {name = "keep_inaccessible_aliases", type = "boolean", default = false,
     doc = "write aliases whose original bot is private with IsOriginAccessible=false and the "
        .. "owner from the bot's V2 key (the reference leaves them out; deleted originals still are)"},
    {name = "user_concurrency", type = "integer", default = 16,
     doc = "users migrated (and verified) at once"},
  },

  check = function(p)
    if p.user_concurrency < 1 or p.user_concurrency > 256 then
      return ("--user-concurrency must be between 1 and 256, not %d"):format(p.user_concurrency)
    end
    if p.v3_bot_table == p.v3_conversation_table or p.v3_bot_table == p.v2_conversation_table
       or p.v3_conversation_table == p.v2_conversation_table then
      return "the V2 conversation table, the V3 conversation table and the V3 bot table must be "
        .. "three different tables"
    end
  end,

  confirm_notes = function(p)
    local notes = {}
    if p.users then notes[#notes + 1] = ("only users: %s"):format(table.concat(p.users, ", ")) end
    if p.keep_inaccessible_aliases then
      notes[#notes + 1] = "--keep-inaccessible-aliases: aliases of private bots are written with "
        .. "IsOriginAccessible=false"
    end
    return notes
  end,

  phases = {
    {name = "users", always = true, run = find_users, reads = {"v2_conversation_table"},
     doc = "the users in scope: --users, else every PK of the V2 table (sorted)"},
    {name = "migrate", reads = {"v2_conversation_table"}, writes = {"v3_bot_table", "v3_conversation_table"},
     each = {keys = function() return users end, key = user_key, fn = migrate_user,
             earlier = resumed_user, start = open_writers, finish = migrate_report,
             concurrency = "user_concurrency", count = false},
     doc = "per user (each), many at once: bots, aliases, conversations, related documents; "
        .. "a user is recorded once all its writes landed"},
    {name = "verify", verify = verify, reads = {"v2_conversation_table", "v3_bot_table",
     "v3_conversation_table"}, doc = "per user: expected items present and equal, skipped aliases absent"},
  },
}
