-- vams_seed.lua: a realistic, deterministic VAMS v2.4 data set for the
-- v2.4 -> v2.5 demo and benchmark (item shapes as VAMS v2.4 writes them).
--   mighost run --endpoint-url URL scripts/vams_seed.lua [KEY=VALUE ...]
-- prefix=STR   table name prefix, as for vams_tables.lua (default "")
-- assets=N     live assets (default 2000), spread over 6 databases
-- items=N      instead of assets=: add assets until the source items (asset
--              versions + file versions + metadata rows) reach N
-- seed=N       random seed (default 1): same seed, same items
-- dups=N       assetIds also present in a second database (default 0)
-- orphans=N    assets with versions but no asset row (default 3)
-- archived=N   assets archived under "{db}#deleted" (default 1% of assets)
-- colon=0|1    one asset whose assetId contains a colon (default 1)
-- Creates the tables if missing. Prints what it wrote and, last, the line
-- "source_items N".
local ddb = require "mighost.dynamodb"
local mh = require "mighost"
local tables = require "vams_tables"

local opt = {prefix = "", assets = "2000", seed = "1", dups = "0", orphans = "3", colon = "1"}
for _, a in ipairs(arg) do
  local k, v = a:match("^([%w_]+)=(.*)$")
  if not k or (opt[k] == nil and k ~= "items" and k ~= "archived") then
    error("vams_seed.lua: unknown argument '" .. a .. "' (see the header of the script)", 0)
  end
  opt[k] = v
end
local function num(k)
  local n = math.tointeger(tonumber(opt[k]))
  if not n or n < 0 then error(("vams_seed.lua: %s=%s is not a count"):format(k, opt[k]), 0) end
  return n
end
local target = opt.items and num("items")
local n_assets = target and math.maxinteger or num("assets")
local n_dups, n_orphans = num("dups"), num("orphans")
local n_archived = opt.archived and num("archived") or (target and target // 1375 or n_assets // 100)
math.randomseed(num("seed"))

local names = tables.create(opt.prefix)
local W = {}
for k, t in pairs(names) do W[k] = ddb.writer{table = t, window = 16} end
local assets_w = W.asset_storage_table_name
local versions_w = W.asset_versions_storage_table_name_v1
local files_w = W.asset_file_versions_storage_table_name_v1
local meta_w = W.asset_file_metadata_versions_storage_table_name

local R = math.random
local function pick(list) return list[R(#list)] end
local function S(s) return {S = s} end
local function uuid()
  return ("%08x-%04x-4%03x-%04x-%012x"):format(R(0, 0xffffffff), R(0, 0xffff), R(0, 0xfff),
    0x8000 | R(0, 0x3fff), R(0, 0xffffffffffff))
end
local function date(day, sec)   -- 2025-01-01 + day, sec seconds into it
  local m, d = 1 + day // 28 % 12, 1 + day % 28
  return ("2025-%02d-%02dT%02d:%02d:%02d"):format(m, d, sec // 3600 % 24, sec // 60 % 60, sec % 60)
end

local databases = {"db-alpha", "db-beta", "db-gamma", "db-delta", "db-epsilon", "db-zeta"}
local users = {"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"}
local kinds = {{".glb", "Turbine"}, {".obj", "Bracket"}, {".e57", "Site scan"}, {".stl", "Housing"},
  {".usdz", "Valve"}, {".las", "Survey"}}
-- File keys: relative S3 keys starting with "/", some with colons (timestamps).
local files = {"/model.glb", "/model.obj", "/textures/diffuse.png", "/textures/normal.png",
  "/docs/readme.txt", "/scans/2024-01-01T10:00:00Z/pointcloud.e57", "/scans/2024-06-12T08:30:00Z/site.las",
  "/exports/v:final/part.stl", "/thumbnail.jpg", "/preview/preview.usdz"}
local meta_keys = {"author", "color", "material", "source", "license", "units"}

local c = {assets = 0, archived = 0, dups = 0, versions = 0, files = 0, null_version_id = 0,
  colon_keys = 0, meta = 0, meta_with_field = 0, orphan_assets = 0, orphan_versions = 0,
  orphan_files = 0, colon_assets = 0}
local per_db = {}
local dup_list = {}

local function source_items() return c.versions + c.files + c.meta end

-- Versions, file versions and metadata rows of one asset. db nil: orphan.
local function history(asset_id, db, n_versions)
  local day = R(0, 300)
  for v = 0, n_versions - 1 do
    local vid = tostring(v)
    versions_w:put{assetId = S(asset_id), assetVersionId = S(vid),
      dateCreated = S(date(day + v, R(0, 86399)) .. ".000000"), comment = S("Version " .. vid),
      description = S("Upload " .. vid .. " of " .. asset_id), specifiedPipelines = {L = {}},
      createdBy = S(pick(users)), isCurrentVersion = {BOOL = v == n_versions - 1}}
    c.versions = c.versions + 1
    if not db then c.orphan_versions = c.orphan_versions + 1 end
    -- 1-5 distinct file keys per version.
    local order = {}
    for i = 1, #files do order[i] = i end
    for i = #order, 2, -1 do local j = R(i); order[i], order[j] = order[j], order[i] end
    local when = date(day + v, R(0, 86399))
    for f = 1, R(1, 5) do
      local fk = files[order[f]]
      local null = R(10) == 1   -- S3 returned no version id (unversioned bucket)
      files_w:put{["assetId:assetVersionId"] = S(asset_id .. ":" .. vid), fileKey = S(fk),
        versionId = null and {NULL = true} or S(("%x"):format(R(0, 0xffffffffffff)) .. ".rmSpXd3dIbrHY"),
        size = {N = tostring(R(100, 50000000))}, lastModified = S(when .. "+00:00"),
        etag = S(('"%08x%08x%08x%08x"'):format(R(0, 0xffffffff), R(0, 0xffffffff), R(0, 0xffffffff),
          R(0, 0xffffffff))), createdAt = S(when .. ".000000")}
      c.files = c.files + 1
      if null then c.null_version_id = c.null_version_id + 1 end
      if fk:find(":", 1, true) then c.colon_keys = c.colon_keys + 1 end
      if not db then c.orphan_files = c.orphan_files + 1 end
    end
    -- 0-3 metadata rows; v2.4 handlers write databaseId:assetId, older rows lack it.
    if db then
      local used = {}
      for _ = 1, R(0, 3) do
        local kind = R(2) == 1 and "metadata" or "attribute"
        local path = kind == "metadata" and R(2) == 1 and "/" or files[order[1]]
        local mk = pick(meta_keys)
        local sk = kind .. ":" .. path .. ":" .. mk
        if not used[sk] then
          used[sk] = true
          local row = {["databaseId:assetId:assetVersionId"] = S(db .. ":" .. asset_id .. ":" .. vid),
            ["type:filePath:metadataKey"] = S(sk), metadataKey = S(mk),
            metadataValue = S(mk .. " of " .. asset_id), metadataValueType = S("string"),
            createdAt = S(when .. ".000000")}
          if R(2) == 1 then
            row["databaseId:assetId"] = S(db .. ":" .. asset_id)
            c.meta_with_field = c.meta_with_field + 1
          end
          meta_w:put(row)
          c.meta = c.meta + 1
        end
      end
    end
  end
end

local function asset_row(db, asset_id, n_versions)
  local kind = pick(kinds)
  return {databaseId = S(db), assetId = S(asset_id), assetName = S(kind[2] .. " " .. asset_id:sub(2, 7)),
    description = S(kind[2] .. " asset"), isDistributable = {BOOL = R(4) > 1}, tags = {L = {}},
    assetType = S(kind[1]), snsTopic = S("arn:aws:sns:us-east-1:111122223333:AssetTopic" .. asset_id),
    currentVersionId = S(tostring(n_versions - 1)), bucketId = S(("bkt-%04d"):format(R(1, 3))),
    assetLocation = {M = {Key = S(asset_id .. "/")}}}
end

local t0 = mh.clock()
local i = 0
while i < n_assets and not (target and source_items() >= target) do
  i = i + 1
  local db = pick(databases)
  local id = "x" .. uuid()
  if i == 1 and opt.colon == "1" then id = "xcolon:" .. uuid(); c.colon_assets = 1 end
  local n_versions = R(1, 4)
  local row_db = db
  if i % 100 == 50 and c.archived < n_archived then   -- soft-deleted
    row_db = db .. "#deleted"
    c.archived = c.archived + 1
  end
  assets_w:put(asset_row(row_db, id, n_versions))
  per_db[row_db] = (per_db[row_db] or 0) + 1
  c.assets = c.assets + 1
  if c.dups < n_dups and i % 7 == 3 and row_db == db then   -- the same assetId in a second database
    local other
    repeat other = pick(databases) until other ~= db
    assets_w:put(asset_row(other, id, n_versions))
    per_db[other] = (per_db[other] or 0) + 1
    c.dups = c.dups + 1
    dup_list[#dup_list + 1] = ("%s in %s and %s"):format(id, row_db, other)
  end
  history(id, row_db, n_versions)
end
for _ = 1, n_orphans do   -- versions whose asset row is gone from every database
  history("x" .. uuid(), nil, R(1, 2))
  c.orphan_assets = c.orphan_assets + 1
end

for k, w in pairs(W) do
  local r = w:flush()
  if r.failed > 0 then
    error(("seeding %s: %d writes failed, first: %s"):format(names[k], r.failed,
      r.failures[1] and r.failures[1].reason or "?"), 0)
  end
end

local dt = mh.clock() - t0
local dbs = {}
for db, n in pairs(per_db) do dbs[#dbs + 1] = ("%s %d"):format(db, n) end
table.sort(dbs)
print(("assets            %d (+%d duplicate rows, %d archived under {db}#deleted%s)"):format(c.assets,
  c.dups, c.archived, c.colon_assets > 0 and ", 1 assetId with a colon" or ""))
print("  per database    " .. table.concat(dbs, ", "))
for _, d in ipairs(dup_list) do print("  duplicate       " .. d) end
print(("asset versions    %d (%d orphaned: their asset is in no database)"):format(c.versions, c.orphan_versions))
print(("file versions     %d (%d orphaned, %d with versionId NULL, %d with colons in fileKey)"):format(
  c.files, c.orphan_files, c.null_version_id, c.colon_keys))
print(("metadata rows     %d (%d already have databaseId:assetId, %d lack it)"):format(c.meta,
  c.meta_with_field, c.meta - c.meta_with_field))
print(("seeded in %.1f s"):format(dt))
print(("source_items %d"):format(source_items()))
