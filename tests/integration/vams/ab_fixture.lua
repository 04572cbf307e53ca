-- One stack's tables and user pool for vams/ab-deployment: five tables
-- with VAMS's key schemas and GSIs named PREFIX-SIDE-<table>, and a user
-- pool. arg: PREFIX SIDE MODE [SCALE]; MODE "source" fills them (stack A:
-- 1,170 items of every type times SCALE (default 1), 3 groups, 50 users),
-- "empty" leaves them empty (stack B), "mismatch" is "empty" with another
-- sort key on the comment table.
-- Prints "POOL <id>".
local ddb = require "mighost.dynamodb"
local cognito = require "mighost.cognito"
local P, side, mode, scale = arg[1], arg[2], arg[3], tonumber(arg[4]) or 1
local variant = mode

-- name, hash, range, {{index, hash, range}}
local TABLES = {
  {"databaseStorageTable", "databaseId"},
  {"assetStorageTable", "databaseId", "assetId",
   {{"BucketIdGSI", "bucketId", "assetId"}, {"assetIdGSI", "assetId", "databaseId"}}},
  {"commentStorageTable", "assetId", "assetVersionId:commentId"},
  {"pipelineStorageTable", "databaseId", "pipelineId", {{"pipelineIdGSI", "pipelineId"}}},
  {"metadataStorageTable", "databaseId", "assetId"},
}

local function create(name, hash, range, gsis)
  local defs, seen = {}, {}
  local function def(a) if a and not seen[a] then seen[a] = true; defs[#defs + 1] = {AttributeName = a, AttributeType = "S"} end end
  def(hash); def(range)
  local ks = {{AttributeName = hash, KeyType = "HASH"}}
  if range then ks[2] = {AttributeName = range, KeyType = "RANGE"} end
  local req = {TableName = name, AttributeDefinitions = defs, BillingMode = "PAY_PER_REQUEST", KeySchema = ks}
  if gsis then
    req.GlobalSecondaryIndexes = {}
    for _, g in ipairs(gsis) do
      def(g[2]); def(g[3])
      local gk = {{AttributeName = g[2], KeyType = "HASH"}}
      if g[3] then gk[2] = {AttributeName = g[3], KeyType = "RANGE"} end
      req.GlobalSecondaryIndexes[#req.GlobalSecondaryIndexes + 1] =
        {IndexName = g[1], KeySchema = gk, Projection = {ProjectionType = "ALL"}}
    end
  end
  assert(ddb.create_table(req))
end

for _, t in ipairs(TABLES) do
  local range = t[3]
  if variant == "mismatch" and t[1] == "commentStorageTable" then range = "commentId" end
  create(P .. "-" .. side .. "-" .. t[1], t[2], range, t[4])
end
local function pool(name)
  local resp = assert(cognito.request("CreateUserPool", {PoolName = name}))
  return resp.UserPool.Id
end
local a = pool(P .. "-" .. side .. "-pool")
if mode ~= "source" then print("POOL " .. a); return end

-- Items of every attribute type, 120 to 300 per table.
local w = {}
for i, t in ipairs(TABLES) do w[i] = ddb.writer{table = P .. "-" .. side .. "-" .. t[1]} end
for n = 1, 300 * scale do
  local db = ("db-%02d"):format(n % 7)
  local asset = ("x%05d"):format(n)
  if n <= 120 * scale then
    w[1]:put{databaseId = {S = ("db-%03d"):format(n)}, description = {S = "Database " .. n},
             assetCount = {N = tostring(n * 3)}, acl = {SS = {"admin", "user" .. n}}}
  end
  w[2]:put{databaseId = {S = db}, assetId = {S = asset}, bucketId = {S = "bkt-" .. (n % 3)},
           assetName = {S = "Asset " .. n .. " ✓"}, isDistributable = {BOOL = n % 2 == 0},
           tags = {L = {{S = "t" .. n % 5}, {N = "1.50"}}}, size = {N = tostring(n) .. "123456789012345678901234567890"},
           thumb = {B = "AAEC/w=="}, extra = {M = {k = {NULL = true}, s = {S = ""}}}}
  w[3]:put{assetId = {S = asset}, ["assetVersionId:commentId"] = {S = "1:c" .. n},
           commentBody = {S = ("comment %d "):format(n):rep(n % 20 + 1)}, commentOwnerID = {S = "user" .. n % 50}}
  if n <= 150 * scale then
    w[4]:put{databaseId = {S = db}, pipelineId = {S = "p" .. n}, pipelineType = {S = "StandardFile"},
             enabled = {BOOL = true}, inputTypes = {SS = {".glb", ".obj"}}, version = {N = tostring(n)}}
  end
  w[5]:put{databaseId = {S = db}, assetId = {S = asset}, author = {S = "alice"}, weight = {NS = {"1", "2." .. n}}}
end
for _, x in ipairs(w) do local c = x:flush(); assert(c.failed == 0, "fixture writes failed") end

-- The user pool's groups and users.
local GROUPS = {"admin", "editors", "viewers"}
for i, g in ipairs(GROUPS) do
  assert(cognito.request("CreateGroup", {UserPoolId = a, GroupName = g, Description = "VAMS " .. g, Precedence = i}))
end
for n = 1, 50 do
  local user = ("user%02d@example.com"):format(n)
  assert(cognito.request("AdminCreateUser", {UserPoolId = a, Username = user, MessageAction = "SUPPRESS",
    UserAttributes = {{Name = "email", Value = user}, {Name = "email_verified", Value = n % 4 == 0 and "false" or "true"},
                      {Name = "given_name", Value = "User " .. n}}}))
  -- Every user in one to three groups.
  for i, g in ipairs(GROUPS) do
    if i == 1 + n % 3 or (n % 5 == 0 and i ~= 1 + n % 3) then
      assert(cognito.add_user_to_group{pool = a, user = user, group = g})
    end
  end
end
print("POOL " .. a)
