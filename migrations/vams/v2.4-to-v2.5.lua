-- vams/v2.4-to-v2.5: VAMS v2.5 keys asset versions and file versions by
-- database as well as asset. Copies the V1 version tables into the V2
-- tables and backfills `databaseId:assetId` on metadata-version rows.
-- What it does field by field, and what it keeps from and fixes in the
-- original script: docs/migrations/vams-v2.4-to-v2.5.md.
--
-- Kept from the reference: the destination items, field by field; archived
-- assets keyed under "{db}#deleted"; the config file and flags.
-- Fixed: duplicate assetIds are listed and need a decision
-- (--duplicate-assets); --limit never truncates the lookup and verification
-- is scoped to what the run processed; file-version keys are parsed with
-- the known assetIds; the backfill never recreates a deleted row;
-- --clear-v2 deletes in batches with retries; unprocessed items are
-- retried with backoff; verification compares each expected item with
-- what is there and sets the exit code; a JSON report lists orphans,
-- duplicates, archived assets and failures.

local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local mh = require "mighost"
local sync = require "mighost.sync"
local inflight = require "mighost.inflight"
local config = require "vams._config"

local VKEY, FKEY = "databaseId:assetId", "databaseId:assetId:assetVersionId"
local V1FKEY = "assetId:assetVersionId"
local DELETED = "#deleted"

-- assetId -> list of database ids; built by the lookup phase, used by all.
local owners, archived_count = {}, 0

local function str(v)
  return type(v) == "table" and type(v.S) == "string" and v.S ~= "" and v.S or nil
end

-- The database ids an assetId goes to, or nil and why not.
local function targets(asset_id, ctx)
  local dbs = owners[asset_id]
  if not dbs then return nil, "orphan" end
  if #dbs > 1 then
    local mode = ctx.params.duplicate_assets
    if mode == "all" then return dbs end
    return nil, "duplicate"    -- "skip", or a dry-run before the decision
  end
  return dbs
end

-- Phase 2 transform: a V1 asset version -> one V2 item per target database.
local function version_items(it, ctx)
  local asset, version = str(it.assetId), str(it.assetVersionId)
  if not asset or not version then
    ctx:fail({assetId = it.assetId, assetVersionId = it.assetVersionId},
             "malformed: assetId and assetVersionId must be non-empty strings")
    return nil
  end
  local dbs, why = targets(asset, ctx)
  if not dbs then
    if why == "orphan" then ctx:orphan({assetId = it.assetId, assetVersionId = it.assetVersionId},
                                       "no asset with this assetId")
    else ctx:skip("assetId in several databases (--duplicate-assets)", {assetId = it.assetId,
                  assetVersionId = it.assetVersionId}) end
    return nil
  end
  local out = {}
  for _, db in ipairs(dbs) do
    local n = item.copy(it)
    n[VKEY] = {S = db .. ":" .. asset}
    n.databaseId = {S = db}
    n.assetId = {S = asset}
    out[#out + 1] = n
  end
  return out
end

-- "xcolon:part:0" -> "xcolon:part", "0": split where the prefix is a known
-- assetId (so colons inside assetIds and version ids both work); when no
-- prefix is known, the last colon as the reference does (then an orphan).
local function split_file_pk(pk)
  local known, last
  local from = 1
  while true do
    local at = pk:find(":", from, true)
    if not at then break end
    if at > 1 and at < #pk then
      local asset = pk:sub(1, at - 1)
      last = at
      if owners[asset] then
        if known then return nil, nil, "ambiguous: more than one prefix is a known assetId" end
        known = at
      end
    end
    from = at + 1
  end
  local cut = known or last
  if not cut then return nil end
  return pk:sub(1, cut - 1), pk:sub(cut + 1)
end

-- Phase 3 transform: a V1 file version -> V2 items.
local function file_items(it, ctx)
  local pk, sk = str(it[V1FKEY]), str(it.fileKey)
  local key = {[V1FKEY] = it[V1FKEY], fileKey = it.fileKey}
  if not pk or not sk then
    ctx:fail(key, "malformed: assetId:assetVersionId and fileKey must be non-empty strings")
    return nil
  end
  local asset, version, problem = split_file_pk(pk)
  if not asset then
    ctx:fail(key, problem or "malformed: the key has no assetId:assetVersionId form")
    return nil
  end
  local dbs, why = targets(asset, ctx)
  if not dbs then
    if why == "orphan" then ctx:orphan(key, "no asset with this assetId")
    else ctx:skip("assetId in several databases (--duplicate-assets)", key) end
    return nil
  end
  local out = {}
  for _, db in ipairs(dbs) do
    local n = item.copy(it)
    n[V1FKEY] = nil
    n[FKEY] = {S = db .. ":" .. asset .. ":" .. version}
    n[VKEY] = {S = db .. ":" .. asset}
    out[#out + 1] = n
  end
  return out
end

-- Phase 1: assetId -> databases, from the whole asset table (never limited).
local function lookup(ctx)
  owners, archived_count = {}, 0
  local strip = ctx.params.archived_db_id == "strip"
  local archived, single = {}, {}
  for it in ddb.scan{table = ctx.params.asset_table, segments = ctx.options.segments or 4,
                     projection = "databaseId, assetId"} do
    ctx.counts.scanned = ctx.counts.scanned + 1
    local db, asset = str(it.databaseId), str(it.assetId)
    if db and asset then
      if db:sub(-#DELETED) == DELETED then
        archived_count = archived_count + 1
        if #archived < 100 then archived[#archived + 1] = {databaseId = db, assetId = asset} end
        if strip then db = db:sub(1, -#DELETED - 1) end
      end
      local list = owners[asset]
      if not list then
        -- Most assets are in one database: they share that database's
        -- list (never changed in place), so memory is one entry per asset.
        local one = single[db]
        if not one then one = {db}; single[db] = one end
        owners[asset] = one
      else
        local seen = false
        for _, d in ipairs(list) do if d == db then seen = true end end
        if not seen then
          local more = table.move(list, 1, #list, 1, {})
          more[#more + 1] = db
          table.sort(more)
          owners[asset] = more
        end
      end
    else
      ctx:skip("asset row without databaseId or assetId")
    end
  end
  local dups = {}
  for asset, dbs in pairs(owners) do
    if #dbs > 1 then dups[#dups + 1] = {assetId = asset, databases = dbs} end
  end
  table.sort(dups, function(a, b) return a.assetId < b.assetId end)
  local n = 0
  for _ in pairs(owners) do n = n + 1 end
  ctx:note("assets", n)
  ctx:note("duplicate_assets", dups)
  ctx:note("archived_assets", {count = archived_count, items = archived,
                               keyed_as = strip and "original database id" or "{db}#deleted"})
  if #dups > 0 then
    local names = {}
    for i, d in ipairs(dups) do
      if i > 20 then names[#names + 1] = "..."; break end
      names[#names + 1] = ("%s (%s)"):format(d.assetId, table.concat(d.databases, ", "))
    end
    local list = table.concat(names, "; ")
    if ctx.params.duplicate_assets == "refuse" then
      if ctx.dry_run or ctx.options.verify_only then
        mh.warn(("%d assetIds are in several databases: %s. A real run refuses until you pass "
          .. "--duplicate-assets=skip (leave their versions in V1, listed) or --duplicate-assets=all "
          .. "(copy them under every database); this %s treats them as skipped."):format(#dups, list,
          ctx.dry_run and "dry-run" or "verification"))
      else
        error({exit = mh.EXIT.USAGE, message = ("%d assetIds are in several databases: %s. Decide with "
          .. "--duplicate-assets=skip (leave their versions in V1, listed in the report) or "
          .. "--duplicate-assets=all (copy them under every database); nothing was written"):format(
          #dups, list)})
      end
    end
  end
  if archived_count > 0 then
    mh.info(("%d archived assets are keyed as %s"):format(archived_count,
      strip and "their original database" or "\"{db}#deleted\" (as the reference does)"))
  end
end

-- Phase 0: --clear-v2 empties both V2 tables, in batches with retries.
local function clear_v2(ctx)
  for _, t in ipairs{ctx.params.versions_v2, ctx.params.files_v2} do
    local s = ddb.schema(t)
    local names = {["#h"] = s.hash, ["#r"] = s.range}
    local w = ddb.writer{table = t, on_failure = function(f) ctx:fail(f.key, f.reason) end}
    for it in ddb.scan{table = t, segments = ctx.options.segments or 4, projection = "#h, #r",
                       names = names} do
      ctx.counts.scanned = ctx.counts.scanned + 1
      w:delete(ddb.key_of(s, it))
    end
    local c = w:flush()
    ctx.counts.deleted = ctx.counts.deleted + c.deleted
  end
end

-- Phase 4 (an update phase): databaseId:assetId on a metadata row lacking
-- it, taken from its key; the runner's default condition
-- attribute_exists(<hash key>) means a row deleted meanwhile is never
-- recreated.
local function backfill(it, ctx)
  local s = ddb.schema(ctx.params.metadata)
  local pk, sk = str(it[s.hash]), str(it[s.range])
  if not pk or not sk then return nil, "malformed: empty key" end
  if str(it[VKEY]) then ctx:skip("already has databaseId:assetId"); return nil end
  local cut = pk:match("^.*():")
  if not cut or cut == 1 then
    return nil, "malformed: the key has no databaseId:assetId:assetVersionId form"
  end
  return {update = "SET #v = :v", names = {["#v"] = VKEY}, values = {[":v"] = {S = pk:sub(1, cut - 1)}}}
end

-- Phase 5: every V1 row this run processed is checked against the V2 item
-- the transform gives for it now (all attributes), by BatchGetItem; rows
-- left out on purpose (orphans, duplicates skipped) must be absent.
-- `batches`: how many BatchGetItems of 100 keys this check keeps in flight
-- at most (mighost.inflight sizes the window below it).
local function verify_copy(ctx, label, source, dest, transform, key_of_v2, batches)
  local checked, missing, different, examples = 0, 0, 0, {}
  local batch = {}
  local quiet = setmetatable({}, {__index = function(_, k)
    -- A context that records nothing: verification re-runs the transform.
    if k == "params" then return ctx.params end
    return function() end
  end})
  -- A window of BatchGetItems in flight, not one at a time inside the
  -- scan loop. Each batch holds its 100 expected items as text (a third of
  -- their size as tables); items read back are lean, and compared with the
  -- expected text attribute by attribute (decoded only where it differs).
  local pool = sync.pool(math.min(inflight.cap(), batches))
  pool.ready = function() return inflight.ready("BatchGetItem", dest) end
  pool.queue = 2    -- batches waiting for a worker
  local function compare(batch)
    local keys = {}
    for i, e in ipairs(batch) do keys[i] = e.key end
    local got = assert(ddb.batch_get{table = dest, keys = keys, consistent = true, lean = true})
    local by_key = {}
    for _, g in ipairs(got) do by_key[item.encode(key_of_v2(g))] = g end
    for _, e in ipairs(batch) do
      local g = by_key[item.encode(e.key)]
      checked = checked + 1
      if not g then
        missing = missing + 1
        if #examples < 20 then examples[#examples + 1] = {missing = e.key} end
      elseif not item.equal(g, item.decode_lean(e.want)) then
        different = different + 1
        if #examples < 20 then examples[#examples + 1] = {different = e.key} end
      end
    end
  end
  local function flush()
    if #batch > 0 then pool:go(compare, batch) end
    batch = {}
  end
  -- Pages of 1,000 items (not 1 MB): the scan's queue stays small.
  local scan = {table = source, segments = ctx.options.segments or 4, limit = 1000, lean = true}
  if ctx.options.limit then
    -- The same rows, in the same order, as the limited copy read.
    scan = {table = source, segment = 0, total_segments = 1, limit = 1000,
            max_items = ctx.options.limit, lean = true}
  end
  for it in ddb.scan(scan) do
    local outs = transform(it, quiet)
    for _, want in ipairs(outs or {}) do
      batch[#batch + 1] = {key = key_of_v2(want), want = item.encode(want)}
      if #batch == 100 then flush() end
    end
  end
  flush()
  pool:wait()
  return {name = label, checked = checked, missing = missing, different = different,
          ok = missing == 0 and different == 0, examples = examples}
end

-- Metadata rows whose key has the databaseId:assetId:... form must now
-- carry databaseId:assetId.
local function verify_metadata(ctx)
  local p = ctx.params
  local lacking, rows = 0, 0
  local hash = ddb.schema(p.metadata).hash
  -- Only the two attributes it looks at are read.
  local names = {["#h"] = hash, ["#v"] = VKEY}
  local scan = {table = p.metadata, segments = ctx.options.segments or 4, limit = 1000,
                projection = "#h, #v", names = names}
  if ctx.options.limit then
    scan = {table = p.metadata, segment = 0, total_segments = 1, max_items = ctx.options.limit,
            projection = "#h, #v", names = names}
  end
  for it in ddb.scan(scan) do
    local pk = str(it[hash])
    -- Malformed keys are failures of the backfill, not of verification.
    if pk and pk:find(":", 2, true) then
      rows = rows + 1
      if not str(it[VKEY]) then lacking = lacking + 1 end
    end
  end
  return {name = "metadata rows with databaseId:assetId", checked = rows,
          missing = lacking, ok = lacking == 0}
end

-- The checks read different tables and run together, so their round trips
-- overlap: one after another, at 30 ms a request, each spent much of its
-- time filling its window and draining it. Each copy check keeps up to 12
-- BatchGetItems in flight: 40,000 keys a second at 30 ms a request, where
-- the server gives about 25,000 with no latency; 24 each measured no
-- faster and the run peaked 7 MB higher at 100k items (40 MB against 33;
-- bench/RESULTS.md). The report lists the checks in this order whichever
-- ends first.
local function verify(ctx)
  local p = ctx.params
  local jobs = {
    function() return verify_copy(ctx, "asset versions in V2", p.versions_v1, p.versions_v2,
      version_items, function(i) return {[VKEY] = i[VKEY], assetVersionId = i.assetVersionId} end, 12) end,
    function() return verify_copy(ctx, "file versions in V2", p.files_v1, p.files_v2, file_items,
      function(i) return {[FKEY] = i[FKEY], fileKey = i.fileKey} end, 12) end,
  }
  if p.metadata then jobs[#jobs + 1] = function() return verify_metadata(ctx) end end
  local checks, which = {}, {}
  for i = 1, #jobs do which[i] = i end
  sync.each(which, #jobs, function(i) checks[i] = jobs[i]() end)
  return checks
end

return {
  name = "vams/v2.4-to-v2.5",
  description = "VAMS v2.4 -> v2.5: re-key asset versions and file versions by database, "
    .. "backfill databaseId:assetId on metadata versions.",
  params = config.with_params({
    {name = "asset_table", type = "table", required = true, access = "read",
     config = "asset_storage_table_name", stack_resource = "AssetStorageTable",
     key = {hash = "databaseId", range = "assetId"}, doc = "the asset table (lookup of assetId -> databaseId)"},
    {name = "versions_v1", type = "table", required = true, access = "read",
     config = "asset_versions_storage_table_name_v1", stack_resource = "AssetVersionsStorageTable",
     key = {hash = "assetId", range = "assetVersionId"}, doc = "V1 asset versions (source)"},
    {name = "versions_v2", type = "table", required = true, access = "write",
     config = "asset_versions_storage_table_name_v2", stack_resource = "AssetVersionsStorageTableV2",
     key = {hash = VKEY, range = "assetVersionId"}, doc = "V2 asset versions (destination)"},
    {name = "files_v1", type = "table", required = true, access = "read",
     config = "asset_file_versions_storage_table_name_v1", stack_resource = "AssetFileVersionsStorageTable",
     key = {hash = V1FKEY, range = "fileKey"}, doc = "V1 file versions (source)"},
    {name = "files_v2", type = "table", required = true, access = "write",
     config = "asset_file_versions_storage_table_name_v2", stack_resource = "AssetFileVersionsStorageTableV2",
     key = {hash = FKEY, range = "fileKey"}, doc = "V2 file versions (destination)"},
    {name = "metadata", type = "table", access = "write",
     config = "asset_file_metadata_versions_storage_table_name",
     stack_resource = "AssetFileMetadataVersionsStorageTable",
     key = {hash = FKEY, range = "type:filePath:metadataKey"},
     doc = "metadata versions, updated in place (optional: without it the backfill is skipped)"},
    {name = "clear_v2", type = "boolean", default = false,
     doc = "first delete every item of both V2 tables (in batches, with retries)"},
    {name = "duplicate_assets", type = "string", default = "refuse",
     doc = "an assetId in several databases: refuse (list them, write nothing), skip (leave "
        .. "their versions in V1, listed), all (copy under every database)"},
    {name = "archived_db_id", type = "string", default = "keep",
     doc = "archived assets ({db}#deleted): keep that id in V2 keys as the reference does, "
        .. "or strip it to the original database id"},
    {name = "batch_size", type = "integer", identity = false, default = 25, config = "batch_size",
     doc = "items per BatchWriteItem (1-25; the writer always uses at most 25)"},
    -- The reference config's remaining keys, accepted as they are.
    {name = "config_dry_run", type = "boolean", identity = false,
     config = "dry_run", flag = "--config-dry-run",
     doc = "the config file's dry_run: true requires --dry-run"},
    {name = "config_limit", type = "integer", identity = false,
     config = "limit", flag = "--config-limit",
     doc = "the config file's limit: used as --limit when that is not given (0: none)"},
  }),

  check = function(p, o)
    local choices = {duplicate_assets = {refuse = 1, skip = 1, all = 1},
                     archived_db_id = {keep = 1, strip = 1}}
    for k, allowed in pairs(choices) do
      if not allowed[p[k]] then
        local list = {}
        for c in pairs(allowed) do list[#list + 1] = c end
        table.sort(list)
        return ("--%s must be one of %s, not '%s'"):format(k:gsub("_", "-"),
          table.concat(list, ", "), tostring(p[k]))
      end
    end
    if p.batch_size < 1 or p.batch_size > 25 then
      return ("batch_size must be between 1 and 25 (DynamoDB's limit), not %d"):format(p.batch_size)
    end
    if p.config_dry_run and not o.dry_run then
      return "the config file sets \"dry_run\": true: pass --dry-run, or remove the key for a real run"
    end
    -- The reference treats "limit": 0 as no limit; a negative one is a mistake.
    if p.config_limit and p.config_limit < 0 then
      return ("the config file's \"limit\" must be 0 (no limit) or more, not %d"):format(p.config_limit)
    end
    if p.config_limit and p.config_limit > 0 and not o.limit then o.limit = p.config_limit end
    return config.region_mismatch(p, o)
  end,

  confirm_notes = function(p)
    local notes = {}
    if p.clear_v2 then
      notes[#notes + 1] = ("--clear-v2: every item of %s and %s is deleted first"):format(
        p.versions_v2, p.files_v2)
    end
    return notes
  end,

  phases = {
    {name = "lookup", always = true, run = lookup, reads = {"asset_table"},
     doc = "assetId -> databaseId from the whole asset table"},
    {name = "clear_v2", run = clear_v2, writes = {"versions_v2", "files_v2"},
     when = function(p) return p.clear_v2 end, doc = "only with --clear-v2"},
    {name = "asset_versions", copy = {source = "versions_v1", destination = "versions_v2",
      transform = version_items, lean = true}},
    {name = "file_versions", copy = {source = "files_v1", destination = "files_v2",
      transform = file_items, lean = true}},
    {name = "metadata_backfill", when = function(p) return p.metadata ~= nil end,
     update = {table = "metadata", change = backfill, lean = true,
               condition_failed = "deleted while migrating (not recreated)"}},
    {name = "verify", verify = verify, reads = {"versions_v1", "versions_v2", "files_v1",
      "files_v2", "metadata"}},
  },
}
