-- mighost.ecs: Amazon ECS (AWS JSON 1.1) for scripts, on mighost.aws.call.
--
--   local resp, err = ecs.run_task(request)        -- {tasks = {...}, failures = {...}}
--   local resp, err = ecs.describe_tasks{cluster = C, tasks = {arn, ...}}
--   local resp, err = ecs.request(op, body)         -- any other operation
--
-- AWS errors come back as values (nil, err). run_task sends a JSON text as
-- it is (a script that needs exact bytes builds it itself) or encodes a
-- table. In a dry-run (and offline, which is one) RunTask is recorded in
-- the plan as {"op":"RunTask","table":"ecs:CLUSTER","request":...} and not
-- sent; the answer then is {tasks = {}, failures = {}, dry_run = true}.
-- Offline runs (--source-dir) have no AWS access: other calls return an
-- error with code "Offline".

local aws = require "mighost.aws"
local json = require "mighost.json"
local plan = require "mighost.plan"
local mh = require "mighost"

local M = {}
M.DESCRIBE_MAX = 100   -- tasks per DescribeTasks request (the API's limit)

local call, stats_copy, stats = require("mighost.service").new("ecs")

function M.request(op, body)
  if type(op) ~= "string" then error("request(op, body): op must be an operation name", 2) end
  if type(body) == "table" then body = json.encode(body) end
  if mh.dry_run and op ~= "DescribeTasks" and not op:match("^List") and not op:match("^Describe") then
    return nil, aws.error("DryRun", op .. " is not a read: refused in a dry-run", false)
  end
  return call(op, body or "{}")
end

function M.run_task(request)
  local body = request
  if type(request) == "table" then body = json.encode(request)
  elseif type(request) ~= "string" then error("run_task(request): a JSON text or a table", 2) end
  if mh.dry_run then
    local ok, doc = pcall(json.decode, body)
    if not ok or type(doc) ~= "table" then error("run_task: the request is not a JSON object", 2) end
    plan.record("RunTask", "ecs:" .. tostring(doc.cluster or "default"), body)
    stats.recorded = stats.recorded + 1
    return {tasks = {}, failures = {}, dry_run = true}
  end
  return call("RunTask", body)
end

-- DescribeTasks for any number of tasks (in requests of 100); the answers'
-- tasks and failures merged.
function M.describe_tasks(o)
  if type(o) ~= "table" or type(o.tasks) ~= "table" then
    error("describe_tasks{cluster =, tasks = {...}}: tasks is required", 2)
  end
  local out = {tasks = {}, failures = {}}
  for first = 1, #o.tasks, M.DESCRIBE_MAX do
    local batch = {}
    for i = first, math.min(#o.tasks, first + M.DESCRIBE_MAX - 1) do batch[#batch + 1] = o.tasks[i] end
    local parts = {}
    if o.cluster then parts[#parts + 1] = '"cluster":' .. json.quote(o.cluster) end
    local quoted = {}
    for i, t in ipairs(batch) do quoted[i] = json.quote(t) end
    parts[#parts + 1] = '"tasks":[' .. table.concat(quoted, ",") .. "]"
    local resp, err = call("DescribeTasks", "{" .. table.concat(parts, ",") .. "}")
    if not resp then return nil, err end
    for _, t in ipairs(resp.tasks or {}) do out.tasks[#out.tasks + 1] = t end
    for _, f in ipairs(resp.failures or {}) do out.failures[#out.failures + 1] = f end
  end
  return out
end

-- A task's id: the last segment of its ARN.
function M.task_id(arn)
  return type(arn) == "string" and arn:match("([^/]+)$") or nil
end

M.stats = stats_copy

return M
