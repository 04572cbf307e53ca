-- mighost.runner.launch: `mighost launch ecs ... -- run NAME ...`, the
-- workers of a run shared through a coordination table, started on an
-- engine that already schedules containers (ECS here; Kubernetes and AWS
-- Batch start the same command from their own manifests, see
-- examples/scale-out/). mighost schedules nothing itself: RunTask starts
-- the tasks, the coordination table shares the work.
--
-- RunTask takes at most 10 tasks a call; each call has a clientToken made
-- from the launch (cluster, task definition, container, command, count,
-- --token) and the call's number, so running the same launch again (after
-- a timeout, say) starts nothing twice.

local ecs = require "mighost.ecs"
local json = require "mighost.json"
local sys = require "mighost.sys"
local mh = require "mighost"

local M = {}
M.PER_CALL = 10   -- RunTask's limit on count

local function usage(msg)
  io.stderr:write("mighost: launch: ", msg, "\n")
  return mh.EXIT.USAGE
end

local function list(text)
  local out = json.array()
  for v in (text or ""):gmatch("[^,%s]+") do out[#out + 1] = v end
  return out
end

local function has(cmd, flag)
  for _, a in ipairs(cmd) do
    if a == flag or a:sub(1, #flag + 1) == flag .. "=" then return true end
  end
  return false
end

-- The checked options: the requests' common part and the count, or nil
-- and the exit code.
local function plan(o)
  if o.positional[1] ~= "ecs" then
    return nil, usage("which engine? mighost launch ecs ... (Kubernetes and AWS Batch: "
      .. "see examples/scale-out/)")
  end
  local cmd = o.after
  if not cmd or #cmd == 0 then
    return nil, usage("the workers' command goes after --: mighost launch ecs ... -- run NAME ... "
      .. "--coordinate TABLE --no-undo --yes")
  end
  if cmd[1] ~= "run" or not has(cmd, "--coordinate") then
    return nil, usage("the workers' command must be `run NAME ... --coordinate TABLE` (workers "
      .. "without a coordination table would each do the whole run)")
  end
  if not has(cmd, "--no-undo") then
    return nil, usage("a shared run keeps no undo journal: add --no-undo to the workers' command")
  end
  if not has(cmd, "--yes") then
    return nil, usage("the workers have no terminal to confirm on: add --yes to their command")
  end
  local count = math.tointeger(tonumber(o.count or ""))
  if not count or count < 1 then return nil, usage("--count expects a positive whole number") end
  if not o.cluster or not o.task_definition then
    return nil, usage("--cluster and --task-definition are required")
  end
  local launch_type = o.launch_type or "FARGATE"
  if launch_type ~= "FARGATE" and launch_type ~= "EC2" then
    return nil, usage("--launch-type is FARGATE or EC2")
  end
  if launch_type == "FARGATE" and not o.subnets then
    return nil, usage("FARGATE tasks need --subnets (awsvpc networking)")
  end
  local req = {cluster = o.cluster, taskDefinition = o.task_definition, launchType = launch_type,
    startedBy = "mighost-launch",
    overrides = {containerOverrides = json.array{{name = o.container or "mighost",
      command = json.array(cmd)}}}}
  if o.subnets then
    req.networkConfiguration = {awsvpcConfiguration = {subnets = list(o.subnets),
      securityGroups = o.security_groups and list(o.security_groups) or nil,
      assignPublicIp = o.public_ip and "ENABLED" or "DISABLED"}}
  end
  local base = sys.sha256(table.concat({o.cluster, o.task_definition, o.container or "mighost",
    json.encode(cmd), tostring(count), o.token or ""}, "\n")):sub(1, 40)
  return {request = req, count = count, token = "mighost-" .. base}
end

function M.run(o)
  local p, code = plan(o)
  if not p then return code end
  local started, failures, calls = json.array(), json.array(), 0
  local exit = mh.EXIT.OK
  for first = 1, p.count, M.PER_CALL do
    calls = calls + 1
    local req = {}
    for k, v in pairs(p.request) do req[k] = v end
    req.count = math.min(M.PER_CALL, p.count - first + 1)
    req.clientToken = ("%s-%d"):format(p.token, calls)
    local resp, err = ecs.run_task(req)
    if not resp then
      io.stderr:write(("mighost: launch: RunTask (tasks %d to %d): %s\n"):format(first,
        first + req.count - 1, tostring(err)))
      exit = (err.code == "ClientException" or err.code == "InvalidParameterException") and
             mh.EXIT.USAGE or mh.EXIT.AWS
      break
    end
    if resp.dry_run then io.stdout:write(json.encode(req), "\n") end
    for _, t in ipairs(resp.tasks or {}) do started[#started + 1] = t.taskArn end
    for _, f in ipairs(resp.failures or {}) do
      failures[#failures + 1] = {arn = f.arn, reason = f.reason}
      exit = mh.EXIT.AWS
    end
  end
  if o.output == "json" then
    print(json.encode({started = started, failures = failures, calls = calls}))
  else
    if not mh.dry_run then
      print(("started %d of %d workers on cluster %s (%d RunTask calls)"):format(#started, p.count,
        o.cluster, calls))
    end
    for _, arn in ipairs(started) do print("  " .. arn) end
    for _, f in ipairs(failures) do print(("  failed: %s %s"):format(tostring(f.arn or "-"), tostring(f.reason))) end
  end
  if exit == mh.EXIT.AWS and #failures > 0 then
    io.stderr:write("mighost: launch: some tasks did not start (see above); the run goes on with "
      .. "the others: launch more with another --token, or let the started workers finish it\n")
  end
  return exit
end

return M
