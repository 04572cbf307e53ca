-- The dataset of the reference, on the real key schemas.
-- arg: table-name prefix, "edge" to add the malformed rows.
local ddb = require "mighost.dynamodb"
local P, edge, colonver = arg[1] or "v25", arg[2] == "edge", arg[2] == "colonver"

local function create(name, hash, range, gsis)
  local defs, seen = {}, {}
  local function def(a) if not seen[a] then seen[a] = true; defs[#defs + 1] = {AttributeName = a, AttributeType = "S"} end end
  def(hash); def(range)
  local req = {TableName = P .. "-" .. name, AttributeDefinitions = defs, BillingMode = "PAY_PER_REQUEST",
               KeySchema = {{AttributeName = hash, KeyType = "HASH"}, {AttributeName = range, KeyType = "RANGE"}}}
  if gsis then
    req.GlobalSecondaryIndexes = {}
    for _, g in ipairs(gsis) do
      def(g[2]); if g[3] then def(g[3]) end
      local ks = {{AttributeName = g[2], KeyType = "HASH"}}
      if g[3] then ks[2] = {AttributeName = g[3], KeyType = "RANGE"} end
      req.GlobalSecondaryIndexes[#req.GlobalSecondaryIndexes + 1] =
        {IndexName = g[1], KeySchema = ks, Projection = {ProjectionType = "ALL"}}
    end
  end
  assert(ddb.create_table(req))
end

create("assets", "databaseId", "assetId", {{"BucketIdGSI", "bucketId", "assetId"}, {"assetIdGSI", "assetId", "databaseId"}})
create("versions-v1", "assetId", "assetVersionId")
create("versions-v2", "databaseId:assetId", "assetVersionId")
create("files-v1", "assetId:assetVersionId", "fileKey")
create("files-v2", "databaseId:assetId:assetVersionId", "fileKey", {{"databaseIdAssetIdIndex", "databaseId:assetId"}})
create("metadata", "databaseId:assetId:assetVersionId", "type:filePath:metadataKey", {{"databaseIdAssetIdIndex", "databaseId:assetId"}})

local function put(t, it) assert(ddb.put{table = P .. "-" .. t, item = it}) end

for _, a in ipairs{{"db-alpha", "x1111"}, {"db-alpha", "xdup"}, {"db-alpha#deleted", "x4444"},
                   {"db-beta", "x3333"}, {"db-beta", "xcolon:part"}, {"db-beta", "xdup"}} do
  put("assets", {databaseId = {S = a[1]}, assetId = {S = a[2]}, assetName = {S = "Asset " .. a[2]},
                 bucketId = {S = "bkt-0001"}, isDistributable = {BOOL = true}, tags = {L = {}}})
end

local function version(asset, v, current)
  put("versions-v1", {assetId = {S = asset}, assetVersionId = {S = v},
    dateCreated = {S = "2025-06-01T12:00:00.000000"}, comment = {S = "Version " .. v},
    description = {S = "desc"}, specifiedPipelines = {L = {}}, createdBy = {S = "alice@example.com"},
    isCurrentVersion = {BOOL = current}})
end
version("x1111", "0", false); version("x1111", "1", true); version("x3333", "0", true)
version("xdup", "0", true); version("x4444", "0", true); version("x9999", "0", true)
version("xcolon:part", "0", true)

local function file(pk, key, size, version_id)
  put("files-v1", {["assetId:assetVersionId"] = {S = pk}, fileKey = {S = key},
    versionId = version_id == false and {NULL = true} or {S = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"},
    size = {N = tostring(size or 1024)}, lastModified = {S = "2025-06-01T12:00:00+00:00"},
    etag = {S = "\"9b2cf535f27731c974343645a3985328\""}, createdAt = {S = "2025-06-01T12:00:01.000000"}})
end
file("x1111:0", "/model.glb", 1000); file("x1111:1", "/model.glb", 2000)
file("x1111:1", "/scans/2024-01-01T10:00:00Z/pointcloud.e57"); file("x3333:0", "/readme.txt", nil, false)
file("xdup:0", "/a.obj"); file("xcolon:part:0", "/b.obj"); file("x9999:0", "/orphan.bin")
file("x4444:0", "/archived.stl")
if edge then file("nocolon", "/n.bin"); file(":0", "/z.bin") end
-- A version id with a colon: the reference splits at the last colon.
if colonver then file("x1111:2:rc", "/rc.glb") end

local function meta(pk, sk, key, with)
  local it = {["databaseId:assetId:assetVersionId"] = {S = pk}, ["type:filePath:metadataKey"] = {S = sk},
    metadataKey = {S = key}, metadataValue = {S = "value"}, metadataValueType = {S = "string"},
    createdAt = {S = "2025-06-01T12:00:02.000000"}}
  if with then it["databaseId:assetId"] = {S = with} end
  put("metadata", it)
end
meta("db-alpha:x1111:1", "metadata:/:author", "author", "db-alpha:x1111")
meta("db-alpha:x1111:1", "attribute:/model.glb:color", "color")
meta("db-beta:x3333:0", "metadata:/scans/2024-01-01T10:00:00Z/pointcloud.e57:source", "source")
meta("db-beta:xcolon:part:0", "metadata:/:k", "k")
if edge then meta("nocolon", "metadata:/:x", "x") end
print("seeded", P)
