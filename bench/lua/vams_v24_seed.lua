-- vams_v24_seed.lua: a deterministic VAMS v2.3 data set for the
-- vams/v2.3-to-v2.4 benchmark, on the six tables of the migration (made
-- by tests/integration/vams/v24_fixture.lua PREFIX empty).
--   mighost run --endpoint-url URL bench/lua/vams_v24_seed.lua PREFIX CONSTRAINTS METADATA
-- CONSTRAINTS constraint items (1-3 groups, sometimes a user, 1-2
-- criteria), METADATA metadata records (a third asset records, the rest
-- file records; 1-4 string attributes each, one in ten with a number),
-- and 6 databases x 12 schema fields. Prints the counts.
local ddb = require "mighost.dynamodb"
local P, nc, nm = arg[1], math.tointeger(tonumber(arg[2])), math.tointeger(tonumber(arg[3]))
math.randomseed(7)
local R = math.random
local function S(s) return {S = s} end
local dbs = {"db-alpha", "db-beta", "db-gamma", "db-delta", "db-epsilon", "db-zeta"}
local groups = {"admin", "editors", "viewers", "survey", "cad", "ops", "contractors", "qa"}
local types = {"database", "asset", "api", "web", "tag", "pipeline", "workflow"}

local w = ddb.writer{table = P .. "-auth", window = 16}
local items = 0
for i = 1, nc do
  local perms = {}
  for g = 1, R(1, 3) do
    for _, verb in ipairs{"GET", "PUT"} do
      perms[#perms + 1] = {M = {groupId = S(groups[(i + g) % #groups + 1]), id = S(("p%d%s"):format(g, verb)),
        permission = S(verb), permissionType = S("allow")}}
    end
  end
  local it = {entityType = S("constraint"), sk = S(("constraint#c-%06d"):format(i)),
    constraintId = S(("c-%06d"):format(i)), name = S(("constraint %d"):format(i)),
    description = S("Access rule " .. i .. " for project données"), objectType = S(types[i % #types + 1]),
    criteriaAnd = {L = {{M = {field = S("databaseId"), id = S("k1"), operator = S("equals"),
                                value = S(dbs[i % #dbs + 1])}}}},
    groupPermissions = {L = perms}}
  if i % 4 == 0 then
    it.userPermissions = {L = {{M = {userId = S(("user%d@example.com"):format(i % 50)),
      permission = S("GET"), permissionType = S("allow")}}}}
  end
  if i % 3 == 0 then
    it.criteriaOr = {L = {{M = {field = S("assetName"), operator = S("starts_with"), value = S("tmp")}}}}
  end
  w:put(it)
  items = items + 1
end
w:flush()

local words = {"title", "surveyor", "site", "scanner", "lod", "owner", "status", "project", "notes"}
w = ddb.writer{table = P .. "-meta-old", window = 16}
local attrs = 0
for i = 1, nm do
  local asset = ("x%08x"):format(i // 3)
  local aid = i % 3 == 0 and asset or ("/%s/scans/part-%d/file-%d.e57"):format(asset, i % 7, i)
  local it = {databaseId = S(dbs[i % #dbs + 1]), assetId = S(aid),
              _metadata_last_updated = S("2024-11-03T16:20:11.512210")}
  for k = 1, R(1, 4) do it[words[k]] = S(("%s value %d"):format(words[k], R(1, 1e6))); attrs = attrs + 1 end
  if i % 10 == 0 then it.points = {N = tostring(R(1, 1e7))}; attrs = attrs + 1 end
  w:put(it)
end
w:flush()

w = ddb.writer{table = P .. "-schema-old", window = 16}
local dtypes = {"string", "textarea", "number", "boolean", "date", "inline-controlled-list", "location",
                "controlled-list"}
for _, db in ipairs(dbs) do
  for f = 1, 12 do
    w:put({databaseId = S(db), field = S(("field%02d"):format(f)), dataType = S(dtypes[f % #dtypes + 1]),
           required = {BOOL = f % 2 == 0}, sequenceNumber = {N = tostring(f)}, dependsOn = {L = {}},
           inlineControlledListValues = S("red, green, blue")})
  end
end
w:flush()
print(("constraints %d"):format(items))
print(("metadata_records %d"):format(nm))
print(("metadata_attributes %d"):format(attrs))
print(("schema_fields %d"):format(#dbs * 12))
