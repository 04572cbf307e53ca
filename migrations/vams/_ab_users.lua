-- vams/_ab_users: the Cognito part of vams/ab-deployment. Copies the users
-- of user pool A into user pool B with their attributes and group
-- memberships, creating the groups B lacks.
--
-- Passwords cannot be read from Cognito, so every user created in B must
-- set a new one: they are listed in the report (password_resets). Users
-- created with MessageAction=SUPPRESS get no message; --send-invitations
-- lets Cognito send its invitation (a temporary password) instead.
-- A user already in B is left as it is and counted, unless this run
-- created it: users are recorded in the run's state before they are
-- created, so a resumed run finishes their group memberships.

local cognito = require "mighost.cognito"
local json = require "mighost.json"
local mh = require "mighost"

local M = {}
M.BATCH = 25   -- users created at once, between two checkpoints

-- Attributes Cognito sets itself and AdminCreateUser refuses.
local function writable(name)
  return name ~= "sub" and not name:match("^cognito:") and name ~= "identities"
end

local function all_users(pool, route)
  local out = {}
  for u in cognito.list_users{pool = pool, route = route} do out[#out + 1] = u end
  return out
end

-- ListGroups, every page: name -> group.
local function groups_of(pool, route)
  local out, token = {}, nil
  repeat
    local resp, err = cognito.request("ListGroups", {UserPoolId = pool, Limit = 60, NextToken = token}, route)
    if not resp then error(err, 0) end
    for _, g in ipairs(resp.Groups or {}) do out[g.GroupName] = g end
    token = resp.NextToken
    if token == json.null or token == "" then token = nil end
  until not token
  return out
end

-- AdminListGroupsForUser, every page: sorted group names.
function M.memberships(pool, user, route)
  local out, token = {}, nil
  repeat
    local resp, err = cognito.request("AdminListGroupsForUser",
      {UserPoolId = pool, Username = user, Limit = 60, NextToken = token}, route)
    if not resp then return nil, err end
    for _, g in ipairs(resp.Groups or {}) do out[#out + 1] = g.GroupName end
    token = resp.NextToken
    if token == json.null or token == "" then token = nil end
  until not token
  table.sort(out)
  return out
end

-- Runs fn(x) for every x of list in up to n tasks at once.
local function each(list, n, fn)
  local i, tasks = 0, {}
  local function worker()
    while i < #list do
      i = i + 1
      fn(list[i])
    end
  end
  for k = 1, math.min(n, #list) do tasks[k] = mh.spawn(worker) end
  for _, t in ipairs(tasks) do t:wait() end
end

-- What moving pool A to pool B involves: users and groups of both.
function M.plan(pair)
  local p = {users = all_users(pair.from, pair.from_route), groups = groups_of(pair.from, pair.from_route),
             existing = {}, existing_groups = groups_of(pair.to, pair.to_route)}
  for _, u in ipairs(all_users(pair.to, pair.to_route)) do p.existing[u.Username] = u end
  p.memberships = {}
  each(p.users, 16, function(u)
    local g, err = M.memberships(pair.from, u.Username, pair.from_route)
    if not g then error(err, 0) end
    p.memberships[u.Username] = g
  end)
  return p
end

local function create_user(pair, u, opt)
  local attrs = {}
  for _, a in ipairs(u.Attributes or {}) do
    if writable(a.Name) then attrs[#attrs + 1] = {Name = a.Name, Value = a.Value} end
  end
  local req = {UserPoolId = pair.to, Username = u.Username, UserAttributes = json.array(attrs)}
  if opt.send_invitations then
    req.DesiredDeliveryMediums = json.array{"EMAIL"}
  else
    req.MessageAction = "SUPPRESS"
  end
  local resp, err = cognito.request("AdminCreateUser", req, pair.to_route)
  if not resp and not (err and err.code == "UsernameExistsException") then return nil, err end
  if u.Enabled == false then
    local ok, derr = cognito.request("AdminDisableUser", {UserPoolId = pair.to, Username = u.Username},
                                     pair.to_route)
    if not ok then return nil, derr end
  end
  return true
end

-- ctx: the phase context; st: this pair's persisted state
-- ({pending = {user = true}, done = {user = true}}); opt: {send_invitations}.
function M.copy(pair, ctx, st, opt)
  local p = M.plan(pair)
  st.pending, st.done = st.pending or {}, st.done or {}
  -- Groups first, so memberships can be added.
  local names = {}
  for name in pairs(p.groups) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    if not p.existing_groups[name] then
      local g = p.groups[name]
      -- The group's IAM role belongs to stack A's account: not copied.
      local req = {UserPoolId = pair.to, GroupName = name, Description = g.Description,
                   Precedence = g.Precedence}
      local ok, err = ctx.dry_run and cognito.record("CreateGroup", pair.to, req)
                      or cognito.request("CreateGroup", req, pair.to_route)
      if not ok and not (err and err.code == "GroupExistsException") then error(err, 0) end
      ctx:count("groups_created")
    end
  end
  local todo = {}
  for _, u in ipairs(p.users) do
    ctx.counts.scanned = ctx.counts.scanned + 1
    if p.existing[u.Username] and not st.pending[u.Username] then
      if st.done[u.Username] then ctx:skip("created by an earlier run")
      else ctx:skip("already in B (left as it is)") end
    else
      todo[#todo + 1] = u
    end
  end
  for first = 1, #todo, M.BATCH do
    if ctx:interrupted() then ctx.stopping = true; return end
    local batch = {}
    for i = first, math.min(#todo, first + M.BATCH - 1) do batch[#batch + 1] = todo[i] end
    for _, u in ipairs(batch) do st.pending[u.Username] = true end
    ctx:save()    -- before the users exist: a resumed run knows they are this run's
    each(batch, 8, function(u)
      local ok, err
      if ctx.dry_run then
        ok = cognito.record("AdminCreateUser", pair.to, {UserPoolId = pair.to, Username = u.Username})
      else
        ok, err = create_user(pair, u, opt)
      end
      for _, g in ipairs(ok and p.memberships[u.Username] or {}) do
        ok, err = cognito.add_user_to_group{pool = pair.to, user = u.Username, group = g, route = pair.to_route}
        if not ok then break end
      end
      if ok then
        st.pending[u.Username], st.done[u.Username] = nil, true
        ctx.counts.written = ctx.counts.written + 1
      else
        ctx:fail(("cognito:%s/%s"):format(pair.to, u.Username), tostring(err))
      end
    end)
    ctx:save()
  end
end

-- Every user of A is in B with the same attributes (less sub) and groups.
function M.verify(pair)
  local check = {name = ("user pool %s -> %s: users, attributes and groups"):format(pair.from, pair.to),
                 checked = 0, missing = 0, different = 0, examples = {}}
  local b = {}
  for _, u in ipairs(all_users(pair.to, pair.to_route)) do b[u.Username] = u end
  local users = all_users(pair.from, pair.from_route)
  local function bad(kind, name)
    check[kind] = check[kind] + 1
    if #check.examples < 10 then check.examples[#check.examples + 1] = name end
  end
  each(users, 16, function(u)
    check.checked = check.checked + 1
    local v = b[u.Username]
    if not v then return bad("missing", u.Username) end
    for name, value in pairs(u.attributes) do
      if writable(name) and v.attributes[name] ~= value then return bad("different", u.Username) end
    end
    if (u.Enabled ~= false) ~= (v.Enabled ~= false) then return bad("different", u.Username) end
    local ga = M.memberships(pair.from, u.Username, pair.from_route)
    local gb = M.memberships(pair.to, u.Username, pair.to_route)
    if not ga or not gb or table.concat(ga, "\n") ~= table.concat(gb, "\n") then
      return bad("different", u.Username)
    end
  end)
  check.ok = check.missing == 0 and check.different == 0
  return check
end

return M
