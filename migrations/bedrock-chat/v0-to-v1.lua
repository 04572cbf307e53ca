-- bedrock-chat/v0-to-v1: Bedrock Chat v1 replaces the vector database, so
-- every bot's knowledge is embedded again: one Fargate embedding task per
-- bot, started with ECS RunTask exactly as the reference does. Optionally
-- grants bot creation (Cognito group CreatingBotAllowed) to existing users.
-- Field by field, and what mighost keeps from and fixes in the original
-- script: docs/migrations/bedrock-chat-v0-to-v1.md.
--
-- Kept from the reference: which items are bots (SK contains "#BOT#"), the
-- RunTask request field by field, and the container's payload to the byte.
-- Fixed: a projected, parallel scan; one confirmation with totals; RunTask
-- failures and errors retried with backoff inside ECS's rate (token
-- bucket); a checkpoint per bot and an idempotency token, so --resume never
-- starts a second task for a bot; optional cap on running tasks; --wait;
-- the grant step; a report listing every bot with its task or failure.
-- Added to the request: `clientToken` (the idempotency token).

local ddb = require "mighost.dynamodb"
local ecs = require "mighost.ecs"
local cognito = require "mighost.cognito"
local sys = require "mighost.sys"
local mh = require "mighost"
local item = require "mighost.item"
local each = require "mighost.runner.each"

local BOT_MARK = "#BOT#"
local GROUP = "CreatingBotAllowed"
local LISTED_USERS = 1000     -- usernames listed per kind in the grant report
local SYNC_FINAL = {SUCCEEDED = true, FAILED = true, ORIGINAL_NOT_FOUND = true}

-- JSON text of a string as Python's json.dumps writes it (ensure_ascii):
-- the reference builds the payload with it and botocore the request body.
local py_string = require("mighost.pyjson").quote

local function py_list(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = py_string(v) end
  return "[" .. table.concat(out, ",") .. "]"
end

-- The container's argument: the bot's key as the stream record's Keys.
local function payload(pk, sk)
  return '{"PK": {"S": ' .. py_string(pk) .. '}, "SK": {"S": ' .. py_string(sk) .. '}}'
end

-- The idempotency token of a bot in a run: stable across --resume, new for
-- a fresh run. 64 hex characters, RunTask's limit.
local function client_token(run_id, bot)
  return sys.sha256(run_id .. "\n" .. bot.pk .. "\n" .. bot.sk)
end

-- The reference's RunTask request, member order included, plus the
-- idempotency token.
local function run_task_body(p, bot, token)
  return '{"cluster":' .. py_string(p.cluster)
    .. ',"launchType":"FARGATE"'
    .. ',"taskDefinition":' .. py_string(p.task_definition)
    .. ',"networkConfiguration":{"awsvpcConfiguration":{"subnets":' .. py_list(p.subnets)
    .. ',"securityGroups":' .. py_list(p.security_groups)
    .. ',"assignPublicIp":' .. py_string(p.assign_public_ip) .. '}}'
    .. ',"overrides":{"containerOverrides":[{"name":' .. py_string(p.container)
    .. ',"command":["-u","embedding/main.py",' .. py_string(payload(bot.pk, bot.sk)) .. ']}]}'
    .. ',"clientToken":' .. py_string(token) .. '}'
end

-- Finding the bots -----------------------------------------------------------

local function str(v) return type(v) == "table" and type(v.S) == "string" and v.S or nil end
local function bot_key(bot) return {PK = {S = bot.pk}, SK = {S = bot.sk}} end

local function has_knowledge(k)
  if type(k) ~= "table" or type(k.M) ~= "table" then return false end
  for _, v in pairs(k.M) do
    if type(v) == "table" and type(v.L) == "table" and #v.L > 0 then return true end
  end
  return false
end

-- Every bot of the table, in key order; run once per process (before the
-- confirmation, so it can show totals).
local survey

local function find_bots(p, o)
  if survey and survey.table == p.table then return survey end
  local s = {table = p.table, bots = {}, scanned = 0, without_knowledge = 0, skipped = 0}
  for page in ddb.scan_pages{table = p.table, segments = o.segments or 4,
      projection = "#pk, #sk, #t, #k, #s", filter = "contains(#sk, :bot)",
      names = {["#pk"] = "PK", ["#sk"] = "SK", ["#t"] = "Title", ["#k"] = "Knowledge",
               ["#s"] = "SyncStatus"},
      values = {[":bot"] = {S = BOT_MARK}}} do
    s.scanned = s.scanned + (page.scanned_count or #page.items)
    for _, it in ipairs(page.items) do
      local pk, sk = str(it.PK), str(it.SK)
      if pk and sk and sk:find(BOT_MARK, 1, true) then
        local bot = {pk = pk, sk = sk, title = str(it.Title), knowledge = has_knowledge(it.Knowledge),
                     sync_status = str(it.SyncStatus)}
        if not bot.knowledge then s.without_knowledge = s.without_knowledge + 1 end
        if p.only_with_knowledge and not bot.knowledge then s.skipped = s.skipped + 1
        else s.bots[#s.bots + 1] = bot end
      end
    end
  end
  table.sort(s.bots, function(a, b)
    if a.pk ~= b.pk then return a.pk < b.pk end
    return a.sk < b.sk
  end)
  if o.limit and #s.bots > o.limit then
    for i = #s.bots, o.limit + 1, -1 do s.bots[i] = nil end
  end
  for i, bot in ipairs(s.bots) do bot.i = i end
  survey = s
  return s
end

local function find_phase(ctx)
  local s = find_bots(ctx.params, ctx.options)
  ctx.counts.scanned = s.scanned
  ctx:count("bots", #s.bots + s.skipped)
  if s.skipped > 0 then
    for _ = 1, s.skipped do ctx:skip("no knowledge source (--only-with-knowledge)") end
  end
  ctx:note("bots_found", #s.bots + s.skipped)
  ctx:note("bots_without_knowledge", s.without_knowledge)
end

-- Starting the tasks: an `each` phase, one unit per bot ---------------------------

local function backoff(p, attempt)
  local ceiling = math.min(30, p.retry_delay * 2 ^ (attempt - 1))
  return ceiling * (0.5 + math.random() * 0.5)
end

local function failure_text(f)
  local parts = {f.reason or "failure"}
  if f.detail and f.detail ~= "" then parts[#parts + 1] = f.detail end
  if f.arn then parts[#parts + 1] = "(" .. f.arn .. ")" end
  return table.concat(parts, " ")
end

-- Tasks started and not yet seen stopped, for --max-running.
local function running_limiter(ctx, p, started)
  local cap = p.max_running
  if not cap then return {acquire = function() return true end, release = function() end} end
  local running, count, checking, last = {}, 0, false, -math.huge
  for _, arn in pairs(started) do
    if type(arn) == "string" then running[arn] = true; count = count + 1 end
  end
  local function refresh()
    local arns = {}
    for arn in pairs(running) do arns[#arns + 1] = arn end
    if #arns == 0 then return end
    local resp = ecs.describe_tasks{cluster = p.cluster, tasks = arns}
    if not resp then return end   -- try again at the next poll
    for _, t in ipairs(resp.tasks) do
      if t.lastStatus == "STOPPED" and running[t.taskArn] then running[t.taskArn] = nil; count = count - 1 end
    end
    for _, f in ipairs(resp.failures) do
      if f.reason == "MISSING" and running[f.arn] then running[f.arn] = nil; count = count - 1 end
    end
  end
  local reserved = 0
  return {
    acquire = function()
      while count + reserved >= cap do
        if ctx:interrupted() then return false end
        if not checking and mh.clock() - last >= p.poll_interval then
          checking = true
          refresh()
          checking, last = false, mh.clock()
        else
          mh.sleep(math.min(p.poll_interval, 0.5))
        end
      end
      reserved = reserved + 1
      return true
    end,
    release = function(arn)
      reserved = reserved - 1
      if arn and not running[arn] then running[arn] = true; count = count + 1 end
    end,
  }
end

-- The phase's run: the idempotency tokens' run id, the report's bots.
local function start_run(ctx)
  local data = ctx.data
  if ctx.dry_run then
    data.run_id = "dry-run"       -- plans of dry-runs compare equal
  elseif not data.run_id then
    data.run_id = sys.sha256(table.concat({mh.now(), tostring(mh.clock()), tostring(math.random())},
                                          "\n")):sub(1, 16)
    ctx:save()                     -- the tokens are fixed before the first request
  end
  ctx.bots = find_bots(ctx.params, ctx.options).bots
  ctx.report, ctx.earlier, ctx.retries = {}, 0, 0
  ctx.limiter = running_limiter(ctx, ctx.params, each.results(ctx.store, ctx.phase.name))
  if ctx.dry_run then
    io.stderr:write(("mighost: dry-run: %d bots; the RunTask request each would get:\n"):format(#ctx.bots))
  end
end

local function bot_entry(ctx, bot, status)
  local entry = {PK = bot.pk, SK = bot.sk, title = bot.title, knowledge = bot.knowledge, status = status}
  ctx.report[bot.i] = entry
  return entry
end

-- One bot's RunTask, retried with backoff when ECS answers with failures
-- or a retryable error: its task ARN; nil and why; false when not tried.
local function start_task(bot, ctx)
  local p = ctx.params
  local entry = bot_entry(ctx, bot, "not attempted")
  local body = run_task_body(p, bot, client_token(ctx.data.run_id, bot))
  if ctx.dry_run then
    ecs.run_task(body)
    io.stderr:write(("  %s  %s\n    RunTask %s\n"):format(bot.sk, bot.title or "(no Title)", body))
    entry.status, entry.request = "would start", body
    return true
  end
  local reason
  for attempt = 1, p.run_task_attempts do
    if attempt > 1 then mh.sleep(backoff(p, attempt - 1)) end
    if ctx:interrupted() or not ctx.limiter.acquire() then return false end
    if attempt > 1 then ctx.bucket:take() end
    if ctx:interrupted() then ctx.limiter.release(nil); return false end
    entry.attempts = attempt
    local resp, meta = ecs.run_task(body)
    local err = not resp and meta or nil
    -- ECS stopped answering for longer than --max-outage: the run stops
    -- (exit 3); the client token makes the next try of this bot safe.
    if err and err.outage then ctx.limiter.release(nil); return false end
    -- ECS's own bucket is not in step with ours: a throttled answer empties
    -- ours, so every request waits for the refill.
    if meta and (meta.throttles or 0) > 0 then ctx.bucket:drain() end
    local task = resp and resp.tasks and resp.tasks[1]
    if task and task.taskArn then
      ctx.limiter.release(task.taskArn)
      entry.status, entry.task_arn = "started", task.taskArn
      return task.taskArn
    end
    ctx.limiter.release(nil)
    if resp then
      local f = resp.failures and resp.failures[1]
      reason = f and failure_text(f) or "RunTask answered without a task"
    elseif err.retryable then
      reason = tostring(err)
    else
      -- Not the bot's fault (access, cluster, parameters): stop issuing.
      entry.status, entry.reason = "failed", tostring(err)
      error({exit = mh.EXIT.AWS, reason = entry.reason, message = ("RunTask for %s failed: %s. "
        .. "Starting stopped; fix the cause and run again with --resume (bots already started "
        .. "are not started again)"):format(bot.sk, entry.reason)})
    end
    ctx.retries = ctx.retries + 1
  end
  entry.status, entry.reason = "failed", ("%s (after %d attempts)"):format(reason, p.run_task_attempts)
  return nil, entry.reason
end

local function started_earlier(bot, arn, ctx)
  bot_entry(ctx, bot, "started earlier").task_arn = arn
  ctx.earlier = ctx.earlier + 1
end

local function start_report(ctx)
  for _, bot in ipairs(ctx.bots) do
    if not ctx.report[bot.i] then bot_entry(ctx, bot, "not attempted") end
  end
  ctx:note("started_earlier", ctx.earlier)
  ctx:note("retried_attempts", ctx.retries)   -- after failures or errors (the core's retries not counted)
  ctx:note("run_id", ctx.data.run_id)
  ctx:note("bots", ctx.report)
end

-- --wait: every started task followed to its end, with its bot's SyncStatus.

local function wait_phase(ctx)
  local p = ctx.params
  local started = each.results(ctx.store, "start_tasks")
  local follow, by_arn = {}, {}
  for _, bot in ipairs(find_bots(p, ctx.options).bots) do
    local arn = started[item.encode(bot_key(bot))]
    if type(arn) == "string" then
      local f = {bot = bot, arn = arn, id = ecs.task_id(arn)}
      follow[#follow + 1] = f
      by_arn[f.arn] = f
    end
  end
  ctx.counts.scanned = #follow
  local deadline = mh.clock() + p.wait_timeout
  local open = #follow
  while open > 0 and not ctx:interrupted() and mh.clock() < deadline do
    local arns, keys = {}, {}
    for _, f in ipairs(follow) do
      if not f.done then
        if not f.task_stopped then arns[#arns + 1] = f.arn end
        keys[#keys + 1] = {PK = {S = f.bot.pk}, SK = {S = f.bot.sk}}
      end
    end
    if #arns > 0 then
      local resp, err = ecs.describe_tasks{cluster = p.cluster, tasks = arns}
      if not resp then mh.warn("DescribeTasks: " .. tostring(err) .. " (trying again)") else
        for _, t in ipairs(resp.tasks) do
          local f = by_arn[t.taskArn]
          if f then
            f.task = {lastStatus = t.lastStatus, stopCode = t.stopCode, stoppedReason = t.stoppedReason,
                      exitCode = t.containers and t.containers[1] and t.containers[1].exitCode}
            if t.lastStatus == "STOPPED" then f.task_stopped = mh.clock() end
          end
        end
        for _, fl in ipairs(resp.failures) do
          local f = by_arn[fl.arn]
          if f then f.task = {lastStatus = "MISSING", reason = fl.reason}; f.task_stopped = mh.clock() end
        end
      end
    end
    local items, err = ddb.batch_get{table = p.table, keys = keys, consistent = true,
      projection = "#pk, #sk, #s, #r, #e", names = {["#pk"] = "PK", ["#sk"] = "SK",
      ["#s"] = "SyncStatus", ["#r"] = "SyncStatusReason", ["#e"] = "LastExecId"}}
    if not items then mh.warn("reading SyncStatus: " .. tostring(err) .. " (trying again)") else
      local now_by_sk = {}
      for _, it in ipairs(items) do now_by_sk[str(it.SK)] = it end
      for _, f in ipairs(follow) do
        if not f.done then
          local it = now_by_sk[f.bot.sk]
          local status = it and str(it.SyncStatus)
          local mine = it and str(it.LastExecId) == f.id
          f.sync = {SyncStatus = status, SyncStatusReason = it and str(it.SyncStatusReason),
                    LastExecId = it and str(it.LastExecId)}
          if not it then
            f.done, f.outcome = true, "bot deleted while embedding"
          elseif mine and SYNC_FINAL[status] and f.task_stopped then
            f.done, f.outcome = true, status
          elseif f.task_stopped and mh.clock() - f.task_stopped >= p.poll_interval then
            -- One more look after the stop: the task ended without a final status of its own.
            f.done, f.outcome = true, "task stopped without setting SyncStatus"
          end
          if f.done then open = open - 1 end
        end
      end
    end
    if open > 0 then
      local pause = mh.clock() + p.poll_interval
      while mh.clock() < pause and not ctx:interrupted() do mh.sleep(math.min(0.2, p.poll_interval)) end
    end
  end
  if ctx:interrupted() then return end
  local results = {}
  for i, f in ipairs(follow) do
    local outcome = f.outcome or ("still running after --wait-timeout " .. p.wait_timeout .. " s")
    results[i] = {PK = f.bot.pk, SK = f.bot.sk, task_arn = f.arn, task = f.task, sync = f.sync,
                  outcome = outcome}
    if outcome == "SUCCEEDED" then ctx:count("succeeded")
    else
      ctx:fail(bot_key(f.bot), ("%s%s"):format(outcome,
        f.sync and f.sync.SyncStatusReason and f.sync.SyncStatusReason ~= "" and
        (": " .. f.sync.SyncStatusReason) or ""))
    end
  end
  ctx:note("final_states", results)
end

-- The grant step ------------------------------------------------------------

local function grant_phase(ctx)
  local p = ctx.params
  local pool = p.user_pool_id
  local members = {}
  for u in cognito.list_users_in_group{pool = pool, group = GROUP} do members[u.Username] = true end
  local wanted = {}
  if p.grant_bot_creation_all then
    for u in cognito.list_users{pool = pool} do wanted[#wanted + 1] = u.Username end
  else
    for _, name in ipairs(p.grant_bot_creation or {}) do wanted[#wanted + 1] = name end
  end
  local json = require "mighost.json"
  local added, already, missing = json.array(), json.array(), json.array()
  local function list(t, name) if #t < LISTED_USERS then t[#t + 1] = name end end
  local n_added, n_already, n_missing = 0, 0, 0
  for _, name in ipairs(wanted) do
    if ctx:interrupted() then break end
    ctx.counts.scanned = ctx.counts.scanned + 1
    if members[name] then
      n_already = n_already + 1; list(already, name)
      ctx:skip("already in " .. GROUP)
    else
      local ok, err = cognito.add_user_to_group{pool = pool, user = name, group = GROUP}
      if ok then
        n_added = n_added + 1; list(added, name)
        members[name] = true
        ctx.counts.written = ctx.counts.written + 1
      elseif err.code == "UserNotFoundException" then
        n_missing = n_missing + 1; list(missing, name)
        ctx:fail({Username = {S = name}}, "no such user in " .. pool)
      else
        ctx:fail({Username = {S = name}}, tostring(err))
      end
    end
  end
  ctx:note("grant", {group = GROUP, user_pool_id = pool, added = {count = n_added, users = added},
    already_members = {count = n_already, users = already},
    not_found = {count = n_missing, users = missing}})
  io.stderr:write(("mighost: %s: %s %d users to %s, %d already members, %d not found.\n"):format(
    pool, ctx.dry_run and "would add" or "added", n_added, GROUP, n_already, n_missing))
  io.stderr:write("mighost: reminder: users get bot-creation rights only after they sign out and "
    .. "sign in again (group membership is read from their token)\n")
end

-- Parameters, checks, confirmation -------------------------------------------------

local function grants(p) return p.grant_bot_creation_all or (p.grant_bot_creation and #p.grant_bot_creation > 0) end

local function check(p, o)
  local function ids(list, prefix, flag)
    for _, v in ipairs(list or {}) do
      if not v:match("^" .. prefix .. "%-%x+$") then
        return ("%s: '%s' is not a %s id (%s-...)"):format(flag, v, prefix == "sg" and "security group"
          or "subnet", prefix)
      end
    end
  end
  if not p.grant_only then
    for _, k in ipairs{"table", "cluster", "task_definition", "subnets", "security_groups"} do
      if p[k] == nil or (type(p[k]) == "table" and #p[k] == 0) then
        return ("missing parameter %s: give it with --%s or --stack NAME"):format(k, k:gsub("_", "-"))
      end
    end
    local bad = ids(p.subnets, "subnet", "--subnets") or ids(p.security_groups, "sg", "--security-groups")
    if bad then return bad end
    if p.assign_public_ip ~= "ENABLED" and p.assign_public_ip ~= "DISABLED" then
      return ("--assign-public-ip must be ENABLED or DISABLED, not '%s'"):format(p.assign_public_ip)
    end
    if p.container == "" then return "--container needs the container's name" end
  end
  if p.run_task_rate <= 0 or p.run_task_burst < 1 then
    return "--run-task-rate must be above 0 and --run-task-burst at least 1"
  end
  if p.max_running and p.max_running < 1 then return "--max-running must be at least 1" end
  if p.run_task_attempts < 1 then return "--run-task-attempts must be at least 1" end
  if p.run_task_concurrency < 1 then return "--run-task-concurrency must be at least 1" end
  if p.poll_interval <= 0 or p.wait_timeout <= 0 or p.retry_delay < 0 then
    return "--poll-interval and --wait-timeout must be above 0, --retry-delay not below 0"
  end
  if p.grant_bot_creation_all and p.grant_bot_creation then
    return "--grant-bot-creation USER... and --grant-bot-creation-all exclude each other"
  end
  if grants(p) then
    if not p.user_pool_id then
      return "the grant step needs the user pool: --user-pool-id ID or --stack NAME (output AuthUserPoolId...)"
    end
    if o.source_dir then return "the grant step needs Cognito: it cannot run offline (--source-dir)" end
  elseif p.grant_only then
    return "--grant-only needs --grant-bot-creation USER... or --grant-bot-creation-all"
  end
  if p.wait and p.grant_only then return "--wait follows embedding tasks: not with --grant-only" end
end

local function confirm_notes(p, o, store)
  local notes = {}
  if not p.grant_only then
    local ok, s = pcall(find_bots, p, o)
    if not ok then
      notes[#notes + 1] = "the bots could not be listed: " .. tostring(s)
    else
      local done = 0
      local started = each.results(store, "start_tasks")
      for _, b in ipairs(s.bots) do if started[item.encode(bot_key(b))] then done = done + 1 end end
      notes[#notes + 1] = ("bots: %d found in %s (%d items scanned; aliases and conversations are "
        .. "not bots), %d of them without knowledge sources"):format(#s.bots + s.skipped, p.table,
        s.scanned, s.without_knowledge)
      if s.skipped > 0 then
        notes[#notes + 1] = ("skipped: %d bots without knowledge (--only-with-knowledge)"):format(s.skipped)
      end
      if done > 0 then
        notes[#notes + 1] = ("already started by the earlier run: %d (not started again)"):format(done)
      end
      notes[#notes + 1] = ("tasks to start: %d (one Fargate task per bot: cluster %s, task "
        .. "definition %s, %d subnets, public IP %s)"):format(#s.bots - done, p.cluster,
        p.task_definition, #p.subnets, p.assign_public_ip)
      if p.wait then
        notes[#notes + 1] = ("--wait: each task followed until its bot's SyncStatus is final "
          .. "(at most %d s)"):format(math.floor(p.wait_timeout))
      end
    end
  end
  if grants(p) then
    notes[#notes + 1] = ("grant: add %s of user pool %s to the group %s"):format(
      p.grant_bot_creation_all and "every user" or (#p.grant_bot_creation .. " users"),
      p.user_pool_id, GROUP)
  end
  return notes
end

local function embedding(p) return not p.grant_only end

return {
  name = "bedrock-chat/v0-to-v1",
  description = "Bedrock Chat v0 -> v1: start one embedding task per bot (ECS RunTask) to fill "
    .. "the new vector database, optionally wait for them, and grant bot creation to existing users.",
  params = {
    {name = "table", type = "table", access = "read",
     stack_output = "DatabaseConversationTableName", stack_resource = "Database/ConversationTable", key = {hash = "PK", range = "SK"},
     doc = "the ConversationTable (read only)"},
    {name = "cluster", type = "string", stack_output = "EmbeddingClusterName",
     doc = "the embedding ECS cluster"},
    {name = "task_definition", type = "string", stack_output = "EmbeddingTaskDefinitionName",
     doc = "the embedding task definition (family: the latest ACTIVE revision runs)"},
    {name = "container", type = "string", default = "Container",
     doc = "the task's container name"},
    {name = "subnets", type = "list", stack_output = "PrivateSubnetId",
     doc = "subnet ids for the tasks (one or more; --stack takes every PrivateSubnetId output)"},
    {name = "security_groups", type = "list", stack_output = "EmbeddingTaskSecurityGroupId",
     doc = "security group ids for the tasks"},
    {name = "assign_public_ip", type = "string", default = "ENABLED",
     doc = "ENABLED as the reference does, or DISABLED (as the stack's own trigger runs it)"},
    {name = "only_with_knowledge", type = "boolean", default = false,
     doc = "skip bots with no knowledge source (their task would only reset SyncStatus)"},
    {name = "grant_only", type = "boolean", default = false,
     doc = "only the grant step: no bots, no tasks"},
    {name = "wait", type = "boolean", default = false, identity = false,
     doc = "follow each task (DescribeTasks) and its bot's SyncStatus until final; report both"},
    {name = "wait_timeout", type = "number", default = 7200, identity = false,
     doc = "seconds --wait waits at most"},
    {name = "poll_interval", type = "number", default = 15, identity = false,
     doc = "seconds between two looks at the tasks (--wait, --max-running)"},
    {name = "max_running", type = "integer", identity = false,
     doc = "at most this many embedding tasks running at once (default: no cap)"},
    {name = "run_task_rate", type = "number", default = 20, identity = false,
     doc = "RunTask requests per second (ECS's sustained rate)"},
    {name = "run_task_concurrency", type = "integer", default = 16, identity = false,
     doc = "bots whose RunTask is under way at once (requests in flight, retries included)"},
    {name = "run_task_burst", type = "integer", default = 100, identity = false,
     doc = "RunTask requests at once before the rate applies (ECS's burst)"},
    {name = "run_task_attempts", type = "integer", default = 8, identity = false,
     doc = "RunTask attempts per bot when ECS answers with failures or a retryable error"},
    {name = "retry_delay", type = "number", default = 1, identity = false,
     doc = "seconds before the first retry of a bot; doubled each time (at most 30), with jitter"},
    {name = "user_pool_id", type = "string", stack_output = "AuthUserPoolId", identity = false,
     doc = "the Cognito user pool (for the grant step)"},
    {name = "grant_bot_creation", type = "list", identity = false,
     doc = "usernames to add to the group CreatingBotAllowed"},
    {name = "grant_bot_creation_all", type = "boolean", default = false, identity = false,
     doc = "add every user of the pool to CreatingBotAllowed"},
  },
  check = check,
  confirm_notes = confirm_notes,
  phases = {
    {name = "find_bots", always = true, run = find_phase, reads = {"table"}, when = embedding,
     doc = "every item whose SK contains #BOT# (projected, parallel scan)"},
    {name = "start_tasks", always = true,
     when = function(p, o) return embedding(p) and not o.verify_only end,
     each = {keys = function(ctx) return ctx.bots end, key = bot_key,
             fn = start_task, earlier = started_earlier, start = start_run, finish = start_report,
             concurrency = "run_task_concurrency", rate = {rate = "run_task_rate", burst = "run_task_burst"}},
     doc = "one RunTask per bot (each); a bot is recorded once its task started, idempotent "
        .. "(clientToken); runs again on --resume for the bots not started yet"},
    {name = "wait", run = wait_phase, reads = {"table"},
     when = function(p, o) return p.wait and not o.dry_run and not p.grant_only end,
     doc = "only with --wait"},
    {name = "grant", run = grant_phase, when = function(p) return grants(p) and true or false end,
     doc = "only with --grant-bot-creation USER... or --grant-bot-creation-all"},
  },
}
