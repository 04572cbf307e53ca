-- mighost.cognito: Cognito user pools (AWS JSON 1.1, signing name
-- cognito-idp) for scripts, on mighost.aws.call.
--
--   for user in cognito.list_users{pool = P, filter = 'email ^= "a"'} do end
--   for user in cognito.list_users_in_group{pool = P, group = G} do end
--   local ok, err = cognito.add_user_to_group{pool = P, user = U, group = G}
--   local resp, err = cognito.request(op, body [, route])
--   cognito.record(op, pool, body)     -- a dry-run's would-be write, in the plan
--
-- `route` ({profile = P, region = R}, also an option of the iterators and
-- of add_user_to_group) reaches a pool in another account or region.
-- A user is Cognito's record (Username, Enabled, UserStatus, ...) with its
-- Attributes also as a map in `attributes`. The iterators follow the
-- pagination tokens and raise the AWS error, if any, from the loop.
-- AdminAddUserToGroup is idempotent on AWS's side (adding a member again
-- succeeds); in a dry-run it is recorded in the plan
-- ({"op":"AdminAddUserToGroup","table":"cognito:POOL",...}) and not sent.
-- Offline runs (--source-dir) have no AWS access: every call returns an
-- error with code "Offline".

local aws = require "mighost.aws"
local json = require "mighost.json"
local plan = require "mighost.plan"
local mh = require "mighost"

local M = {}
M.PAGE_MAX = 60   -- ListUsers' and ListUsersInGroup's largest Limit

local call, stats_copy, stats = require("mighost.service").new("cognito-idp")

function M.request(op, body, route)
  if type(body) == "table" then body = json.encode(body) end
  return call(op, body or "{}", route)
end

function M.record(op, pool, body)
  if type(body) == "table" then body = json.encode(body) end
  plan.record(op, "cognito:" .. pool, body)
  stats.recorded = stats.recorded + 1
  return true
end

local function need(o, field, what)
  if type(o) ~= "table" or type(o[field]) ~= "string" or o[field] == "" then
    error(("option '%s' (%s) is required"):format(field, what), 3)
  end
  return o[field]
end

local function with_attributes(u)
  local map = {}
  for _, a in ipairs(u.Attributes or {}) do map[a.Name] = a.Value end
  u.attributes = map
  return u
end

-- Pages of `op` as one stream of users; `token` names the pagination field.
local function users(op, request, token, route)
  local page, i, next_token, done = nil, 0, nil, false
  return function()
    while true do
      if page and i < #page then
        i = i + 1
        return with_attributes(page[i])
      end
      if done then return nil end
      request[token] = next_token
      local resp, err = call(op, json.encode(request), route)
      if not resp then error(err, 2) end
      page, i = resp.Users or {}, 0
      next_token = resp[token]
      if next_token == json.null or next_token == "" then next_token = nil end
      done = next_token == nil
    end
  end
end

function M.list_users(o)
  local req = {UserPoolId = need(o, "pool", "the user pool id"), Limit = o.limit or M.PAGE_MAX}
  if o.filter then req.Filter = o.filter end
  if o.attributes then req.AttributesToGet = json.array(o.attributes) end
  return users("ListUsers", req, "PaginationToken", o.route)
end

function M.list_users_in_group(o)
  local req = {UserPoolId = need(o, "pool", "the user pool id"),
               GroupName = need(o, "group", "the group name"), Limit = o.limit or M.PAGE_MAX}
  return users("ListUsersInGroup", req, "NextToken", o.route)
end

-- true, or nil and the error (UserNotFoundException for an unknown user).
function M.add_user_to_group(o)
  local body = json.encode{UserPoolId = need(o, "pool", "the user pool id"),
                           Username = need(o, "user", "a username"),
                           GroupName = need(o, "group", "the group name")}
  if mh.dry_run then
    plan.record("AdminAddUserToGroup", "cognito:" .. o.pool, body)
    stats.recorded = stats.recorded + 1
    return true
  end
  local resp, err = call("AdminAddUserToGroup", body, o.route)
  if not resp then return nil, err end
  return true
end

M.stats = stats_copy

return M
