-- vams_tables.lua: the VAMS v2.4/v2.5 tables with their real key schemas and
-- GSIs (as the VAMS v2.4 stacks define them), for the demo and the benchmark.
--   mighost run --endpoint-url URL scripts/vams_tables.lua [PREFIX]
-- creates PREFIX..<construct id> for each table (waits until ACTIVE) and
-- prints "config_key table_name" lines. Also a module: require "vams_tables".
local ddb = require "mighost.dynamodb"

local M = {}

local function S(name) return {AttributeName = name, AttributeType = "S"} end
local function key(hash, range)
  local k = {{AttributeName = hash, KeyType = "HASH"}}
  if range then k[2] = {AttributeName = range, KeyType = "RANGE"} end
  return k
end
local function gsi(name, hash, range)
  return {IndexName = name, KeySchema = key(hash, range), Projection = {ProjectionType = "ALL"}}
end

-- Config key (the reference script's) -> construct id and CreateTable body.
M.tables = {
  {config = "asset_storage_table_name", id = "AssetStorageTable",
   attrs = {S "databaseId", S "assetId", S "bucketId"}, key = key("databaseId", "assetId"),
   gsis = {gsi("BucketIdGSI", "bucketId", "assetId"), gsi("assetIdGSI", "assetId", "databaseId")}},
  {config = "asset_versions_storage_table_name_v1", id = "AssetVersionsStorageTable",
   attrs = {S "assetId", S "assetVersionId"}, key = key("assetId", "assetVersionId")},
  {config = "asset_versions_storage_table_name_v2", id = "AssetVersionsStorageTableV2",
   attrs = {S "databaseId:assetId", S "assetVersionId"}, key = key("databaseId:assetId", "assetVersionId")},
  {config = "asset_file_versions_storage_table_name_v1", id = "AssetFileVersionsStorageTable",
   attrs = {S "assetId:assetVersionId", S "fileKey"}, key = key("assetId:assetVersionId", "fileKey")},
  {config = "asset_file_versions_storage_table_name_v2", id = "AssetFileVersionsStorageTableV2",
   attrs = {S "databaseId:assetId:assetVersionId", S "fileKey", S "databaseId:assetId"},
   key = key("databaseId:assetId:assetVersionId", "fileKey"),
   gsis = {gsi("databaseIdAssetIdIndex", "databaseId:assetId")}},
  {config = "asset_file_metadata_versions_storage_table_name", id = "AssetFileMetadataVersionsStorageTable",
   attrs = {S "databaseId:assetId:assetVersionId", S "type:filePath:metadataKey", S "databaseId:assetId"},
   key = key("databaseId:assetId:assetVersionId", "type:filePath:metadataKey"),
   gsis = {gsi("databaseIdAssetIdIndex", "databaseId:assetId")}},
}

-- {config_key = table name} for a prefix.
function M.names(prefix)
  local out = {}
  for _, t in ipairs(M.tables) do out[t.config] = (prefix or "") .. t.id end
  return out
end

-- Creates every table (an existing one is left as it is); returns M.names.
function M.create(prefix)
  local names = M.names(prefix)
  for _, t in ipairs(M.tables) do
    local ok, err = ddb.create_table{TableName = names[t.config], AttributeDefinitions = t.attrs,
      KeySchema = t.key, GlobalSecondaryIndexes = t.gsis, BillingMode = "PAY_PER_REQUEST"}
    if not ok and err.code ~= "ResourceInUseException" then
      error(("CreateTable %s: %s"):format(names[t.config], tostring(err)), 0)
    end
  end
  return names
end

-- Run as a script (not required by another one).
if arg and arg[0] and arg[0]:match("vams_tables%.lua$") then
  local names = M.create(arg[1])
  for _, t in ipairs(M.tables) do print(t.config .. " " .. names[t.config]) end
end

return M
