-- The dataset of the reference on the real key schemas
-- and GSIs, for vams/v2.3-to-v2.4.
--   mighost run v24_fixture.lua PREFIX [VARIANT] [FILE.jsonl TABLE ...]
-- Tables PREFIX-auth, -constraints, -meta-old, -meta-new, -schema-old,
-- -schema-new. The source items are loaded from the v24_source_*.jsonl
-- files as written there (attribute and map order kept: it is the wire
-- order the conversion rules depend on). VARIANT:
--   empty   the six tables, no items
--   (none)  the reference dataset
--   edge    the reference dataset and the edge rows
-- Extra FILE TABLE pairs load more items (TABLE is the suffix: auth, ...).
local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local P, variant = arg[1] or "v24", arg[2] or ""
local here = arg[0]:match("^(.*)/[^/]*$") or "."

local function S(a) return {AttributeName = a, AttributeType = "S"} end
local function key(h, r)
  local k = {{AttributeName = h, KeyType = "HASH"}}
  if r then k[2] = {AttributeName = r, KeyType = "RANGE"} end
  return k
end
local function gsi(name, h, r)
  return {IndexName = name, KeySchema = key(h, r), Projection = {ProjectionType = "ALL"}}
end
local tables = {
  {"auth", {S "entityType", S "sk"}, key("entityType", "sk")},
  {"constraints", {S "constraintId", S "groupId", S "userId", S "objectType"}, key("constraintId"),
   {gsi("GroupPermissionsIndex", "groupId", "objectType"), gsi("UserPermissionsIndex", "userId", "objectType"),
    gsi("ObjectTypeIndex", "objectType", "constraintId")}},
  {"meta-old", {S "databaseId", S "assetId"}, key("databaseId", "assetId")},
  {"meta-new", {S "metadataKey", S "databaseId:assetId:filePath", S "databaseId:assetId"},
   key("metadataKey", "databaseId:assetId:filePath"),
   {gsi("DatabaseIdAssetIdFilePathIndex", "databaseId:assetId:filePath", "metadataKey"),
    gsi("DatabaseIdAssetIdIndex", "databaseId:assetId", "metadataKey")}},
  {"schema-old", {S "databaseId", S "field"}, key("databaseId", "field")},
  {"schema-new", {S "metadataSchemaId", S "databaseId:metadataEntityType", S "metadataEntityType", S "databaseId"},
   key("metadataSchemaId", "databaseId:metadataEntityType"),
   {gsi("DatabaseIdMetadataEntityTypeIndex", "databaseId:metadataEntityType", "metadataSchemaId"),
    gsi("MetadataEntityTypeIndex", "metadataEntityType", "metadataSchemaId"),
    gsi("DatabaseIdIndex", "databaseId", "metadataSchemaId")}},
}
for _, t in ipairs(tables) do
  assert(ddb.create_table{TableName = P .. "-" .. t[1], AttributeDefinitions = t[2], KeySchema = t[3],
                          GlobalSecondaryIndexes = t[4], BillingMode = "PAY_PER_REQUEST"})
end

local function load(file, suffix)
  local n = 0
  for line in io.lines(file) do
    if line ~= "" then
      assert(ddb.put{table = P .. "-" .. suffix, item = item.decode(line)})
      n = n + 1
    end
  end
  return n
end
if variant ~= "empty" then
  load(here .. "/v24_source_auth.jsonl", "auth")
  load(here .. "/v24_source_metadata.jsonl", "meta-old")
  load(here .. "/v24_source_schema.jsonl", "schema-old")
end
if variant == "edge" then
  -- Edge constraints: BOOL groupId, no constraintId, c-ok, c0,
  -- N groupId, N constraintId; and one whose items would be over 400 KB
  -- (non-ASCII text is six bytes per character in the JSON text).
  load(here .. "/v24_edge_auth.jsonl", "auth")
  assert(ddb.put{table = P .. "-auth", item = {entityType = {S = "constraint"}, sk = {S = "constraint#c-big"},
    constraintId = {S = "c-big"}, objectType = {S = "asset"}, criteriaAnd = {L = {{M = {
      field = {S = "assetName"}, operator = {S = "contains"}, value = {S = ("\u{e9}"):rep(100000)}}}}}}})
  -- 28 assets with one key each, plus "/x9" and "/x9/" with key a
  -- (one v2.4 key, different values); a record with a binary value.
  for i = 0, 27 do
    assert(ddb.put{table = P .. "-meta-old", item = {databaseId = {S = "db-c"},
      assetId = {S = ("a%02d"):format(i)}, k = {S = "v" .. i}}})
  end
  assert(ddb.put{table = P .. "-meta-old", item = {databaseId = {S = "db-c"}, assetId = {S = "/x9"}, a = {S = "one"}}})
  assert(ddb.put{table = P .. "-meta-old", item = {databaseId = {S = "db-c"}, assetId = {S = "/x9/"}, a = {S = "two"}}})
  assert(ddb.put{table = P .. "-meta-old", item = {databaseId = {S = "db-c"}, assetId = {S = "xb"},
    bin = {B = "\0\1"}, ok = {S = "v"}}})
end
for i = 3, #arg - 1, 2 do load(arg[i], arg[i + 1]) end
print("seeded", P)
