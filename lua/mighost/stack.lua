-- mighost.stack: names read from a deployed CloudFormation stack, the way
-- CDK builds them: its outputs, and its resources including those of its
-- nested stacks.
--
--   local stack = require "mighost.stack"
--   local s = stack.open("vams-prod")        -- nothing is read until asked
--   stack.open("vams-b", {profile = P, region = R})   -- in another account or region
--   s:output("ConversationTableNameV3")      -- value | nil, err
--   s:resource("AssetStorageTable", "AWS::DynamoDB::Table")  -- physical id, resource | nil, err
--   s:resources()                            -- every resource, nested stacks followed
--   s:retained_table("Database/ConversationTable")  -- a table an update dropped but kept
--   stack.construct_of("AssetStorageTable1A2B3C4D") -> "AssetStorageTable"
--
-- How a name matches. CDK derives a logical id from the construct path
-- under its stack: the path's ids with everything but letters and digits
-- removed, then (for a path of more than one id, such as Table/Resource)
-- eight upper-case hex digits of a hash. An output created inside a
-- construct gets its key the same way (DatabaseConversationTableName
-- 1A2B3C4D); one created on the stack itself keeps its id (BotTableNameV3).
-- So a declared id matches a logical id that equals it, or equals it plus
-- exactly eight hex digits: AssetVersionsStorageTable never matches
-- AssetVersionsStorageTableV2…, and a path such as "Database/Table" is
-- written as the construct ids joined. Two matches are an error naming
-- both; a guess is never made.
--
-- Resources come from ListStackResources (every page), and each resource
-- of type AWS::CloudFormation::Stack is followed: its physical id is the
-- nested stack's ARN, listed the same way.
--
-- Using it in a migration. A parameter declares where a stack holds it:
--   {name = "source", type = "table", stack_output = "ConversationTableName"}
--   {name = "assets", type = "table", stack_resource = "AssetStorageTable"}
-- and `mighost run … --stack NAME` fills it (outputs first, then resources;
-- a table parameter only takes AWS::DynamoDB::Table resources; last,
-- stack_retained_table = "Database/ConversationTable" for a table an update
-- removed from the stack but kept). Code that
-- pairs two stacks (e.g. moving data from deployment A to deployment B)
-- walks one stack's resources and looks each construct up in the other:
--   local a, b = stack.open(name_a), stack.open(name_b)
--   for _, r in ipairs(assert(a:resources("AWS::DynamoDB::Table"))) do
--     local other, err = b:resource(r.construct, r.type)  -- nil, err if absent or ambiguous
--   end
-- r.construct is the logical id without its hash, r.stack the (nested)
-- stack that holds it, r.logical, r.physical and r.type as CloudFormation
-- gives them.

local aws = require "mighost.aws"
local xml = require "mighost.xml"

local M = {}

local NESTED = "AWS::CloudFormation::Stack"
local MAX_NESTING = 10   -- CloudFormation's own limit on stack nesting is lower

local function escape(s)
  return (s:gsub("[^%w%-_.~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- The construct ids joined as CDK does it: letters and digits only.
local function normalize(id)
  return (id:gsub("[^%w]", ""))
end

-- The logical id without CDK's eight-hex-digit hash, or as it is when it
-- has none.
function M.construct_of(logical)
  local base = logical:match("^(.+)%x%x%x%x%x%x%x%x$")
  if base and logical:sub(-8):match("^[0-9A-F]+$") then return base end
  return logical
end

-- Does a logical id (or output key) belong to the declared construct id?
function M.matches(id, logical)
  local want = normalize(id)
  if logical == want then return true end
  return #logical == #want + 8 and logical:sub(1, #want) == want
    and logical:sub(-8):match("^[0-9A-F]+$") ~= nil
end

local function text_of(e, tag)
  for _, c in ipairs(e) do if c.tag == tag then return c.text end end
end

local function find(e, tag)
  if e.tag == tag then return e end
  for _, c in ipairs(e) do
    local f = find(c, tag)
    if f then return f end
  end
end

local function call(op, query, route)
  local body, err = aws.call("cloudformation", op, query, route)
  if not body then return nil, err end
  local doc, xerr = xml.decode(body)
  if not doc then return nil, aws.error("SerializationException", op .. ": " .. tostring(xerr), false) end
  return doc
end

local Stack = {}
Stack.__index = Stack

function M.open(name, route)
  return setmetatable({name = name, route = route}, Stack)
end

-- {key = value} of the stack's outputs (DescribeStacks, read once).
function Stack:outputs()
  if self._outputs then return self._outputs end
  local doc, err = call("DescribeStacks", "StackName=" .. escape(self.name), self.route)
  if not doc then return nil, err end
  local outputs = {}
  local list = find(doc, "Outputs")
  for _, member in ipairs(list or {}) do
    local k = text_of(member, "OutputKey")
    if k then outputs[k] = text_of(member, "OutputValue") end
  end
  self._outputs = outputs
  return outputs
end

local function ambiguous(what, id, a, b)
  return nil, aws.error("Ambiguous", ("%s %s and %s both match %s"):format(what, a, b, id), false)
end

-- The output whose key is the declared id (with or without CDK's hash).
-- nil without an error when there is none.
function Stack:output(id)
  local outputs, err = self:outputs()
  if not outputs then return nil, err end
  if outputs[id] then return outputs[id] end
  local found, key
  for k, v in pairs(outputs) do
    if M.matches(id, k) then
      if found then return ambiguous("stack outputs", id, key, k) end
      found, key = v, k
    end
  end
  return found
end

-- Outputs numbered from 0 (PrivateSubnetId0, PrivateSubnetId1, …), in order.
function Stack:numbered_outputs(id)
  local outputs, err = self:outputs()
  if not outputs then return nil, err end
  local out = {}
  while outputs[id .. #out] do out[#out + 1] = outputs[id .. #out] end
  return out
end

-- Every resource of one stack, all pages of ListStackResources.
local function list_resources(stack_id, route)
  local out, token = {}, nil
  repeat
    local query = "StackName=" .. escape(stack_id) .. (token and ("&NextToken=" .. escape(token)) or "")
    local doc, err = call("ListStackResources", query, route)
    if not doc then return nil, err end
    for _, member in ipairs(find(doc, "StackResourceSummaries") or {}) do
      out[#out + 1] = {logical = text_of(member, "LogicalResourceId"),
                       physical = text_of(member, "PhysicalResourceId"),
                       type = text_of(member, "ResourceType"),
                       status = text_of(member, "ResourceStatus")}
    end
    token = text_of(find(doc, "ListStackResourcesResult") or doc, "NextToken")
  until not token or token == ""
  return out
end

-- Every resource of the stack and of its nested stacks (read once), or
-- only those of one type.
function Stack:resources(rtype)
  if not self._resources then
    local all, seen = {}, {}
    local function walk(stack_id, depth)
      if seen[stack_id] then return true end
      seen[stack_id] = true
      if depth > MAX_NESTING then
        return nil, aws.error("NestingTooDeep", "stack " .. self.name .. ": nested deeper than "
          .. MAX_NESTING .. " levels", false)
      end
      local list, err = list_resources(stack_id, self.route)
      if not list then return nil, err end
      for _, r in ipairs(list) do
        r.stack = stack_id
        r.construct = M.construct_of(r.logical or "")
        all[#all + 1] = r
        if r.type == NESTED and r.physical and r.physical ~= "" then
          local ok, werr = walk(r.physical, depth + 1)
          if not ok then return nil, werr end
        end
      end
      return true
    end
    local ok, err = walk(self.name, 0)
    if not ok then return nil, err end
    self._resources = all
  end
  if not rtype then return self._resources end
  local out = {}
  for _, r in ipairs(self._resources) do if r.type == rtype then out[#out + 1] = r end end
  return out
end

-- The physical id of the one resource whose logical id belongs to the
-- construct id (and whose type is rtype, or one of the list rtype).
-- nil without an error when there is none.
function Stack:resource(id, rtype)
  local all, err = self:resources()
  if not all then return nil, err end
  local types = type(rtype) == "table" and rtype or {rtype}
  local found
  for _, r in ipairs(all) do
    local type_ok = rtype == nil
    for _, t in ipairs(types) do type_ok = type_ok or r.type == t end
    if type_ok and r.logical and M.matches(id, r.logical) then
      if found then return ambiguous("stack resources", id, found.logical, r.logical) end
      found = r
    end
  end
  if found then return found.physical, found end
end

local TABLE_TYPES = {"AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"}

-- A table the stack kept (DeletionPolicy Retain) when an update removed
-- it: no longer a resource, but CloudFormation named it
-- STACK-LOGICALID-SUFFIX, so ListTables finds it by the construct id.
-- Bedrock Chat's V2 ConversationTable is one once V3 is deployed.
function Stack:retained_table(id)
  local ddb = require "mighost.dynamodb"
  local prefix = self.name .. "-" .. normalize(id)
  local found, start
  repeat
    local resp, err = ddb.request("ListTables", {ExclusiveStartTableName = start, Limit = 100})
    if not resp then return nil, err end
    for _, t in ipairs(resp.TableNames or {}) do
      local hash = t:sub(1, #prefix) == prefix and t:sub(#prefix + 1):match("^([0-9A-F]+)%-%w+$")
      if hash and #hash == 8 then
        if found then return ambiguous("retained tables", id, found, t) end
        found = t
      end
    end
    start = resp.LastEvaluatedTableName
  until not start
  return found
end

-- A parameter's value from the stack: its output (stack_output) or, when
-- the stack publishes none, its resource (stack_resource). Returns the
-- value and where it came from, nil when the stack holds neither, or nil
-- and an error.
function M.resolve(s, p)
  if p.stack_output then
    if p.type == "list" then
      -- Numbered outputs (PrivateSubnetId0, 1, …) or a single one.
      local list, err = s:numbered_outputs(p.stack_output)
      if not list then return nil, nil, err end
      if #list > 0 then return list, ("outputs %s0…%d"):format(p.stack_output, #list - 1) end
    end
    local v, err = s:output(p.stack_output)
    if err then return nil, nil, err end
    if v then return p.type == "list" and {v} or v, "output " .. p.stack_output end
  end
  if p.stack_resource then
    local v, r = s:resource(p.stack_resource, p.type == "table" and TABLE_TYPES or p.stack_resource_type)
    if v == nil and r then return nil, nil, r end
    if v then return v, "resource " .. r.logical end
  end
  if p.stack_retained_table then
    local v, err = s:retained_table(p.stack_retained_table)
    if err then return nil, nil, err end
    if v then return v, "table kept from " .. p.stack_retained_table end
  end
  return nil
end

return M
