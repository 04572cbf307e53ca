-- vams/v2.3-to-v2.4: VAMS v2.4 moves permission constraints to their own
-- table (one item per group and per user), metadata to one item per
-- attribute, metadata schemas to one record per database, and reindexes
-- OpenSearch through the reindexer Lambda function.
-- What it does field by field, and what it keeps from and fixes in the
-- original script: docs/migrations/vams-v2.3-to-v2.4.md. The conversion rules
-- are in vams/_v24_convert.lua.
--
-- Kept from the reference: the destination items byte for byte (JSON text
-- inside S attributes as Python's json.dumps writes it, timestamps as
-- datetime.isoformat(), uuid4 schema ids, file paths without a leading
-- slash), the config file and flags, the reindexer payload.
-- Fixed: existence is checked on the exact keys each transform produces
-- (BatchGetItem, consistent), and every write is a conditional PutItem, so
-- a re-run never rewrites dateCreated or a schema id and never overwrites a
-- v2.4 edit; schemas are never deleted (no delete-before-write window); an
-- old record is deleted (--delete-old-data) only when every item derived
-- from it is confirmed present, so the same command later is the cleanup
-- step; deletes go through the batch writer (UnprocessedItems retried); a
-- bad item fails alone with its reason; numeric sequenceNumber, dependsOn
-- lists and non-string metadata values are migrated (listed in the report;
-- --reference-conversion drops them as the reference does); controlled-list
-- and unknown field types are kept in the v2.3 table and listed; a Lambda
-- function error or an error body is a failure, and the reindexer is
-- invoked once (no SDK re-sends); --limit is refused on a real run where it
-- would truncate a schema; verification compares what each v2.3 record
-- should have produced with what is there and sets the exit code.

local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local ids = require "mighost.ids"
local mh = require "mighost"
local sync = require "mighost.sync"
local conv = require "vams._v24_convert"
local reindexer = require "vams._reindex"
local config = require "vams._config"

local SKEY = "databaseId:metadataEntityType"
local SCHEMA_INDEX = "DatabaseIdMetadataEntityTypeIndex"
local MAX_BATCHES = 8          -- existence-check batches in flight per phase
local PUT_WORKERS = 8          -- conditional puts in flight per batch

-- Report helpers ---------------------------------------------------------------

local function plain_key(k)
  local out = {}
  for name, v in pairs(k) do out[name] = type(v) == "table" and (v.S or v.N) or v end
  return out
end

-- Verification runs the phases' own code against a context that records
-- nothing, and counts what is missing or different.
local function quiet_ctx(ctx)
  local q = {params = ctx.params, options = ctx.options, dry_run = false, verify = true,
             counts = {scanned = 0, written = 0, deleted = 0, failed = 0}, notes = {},
             checked = 0, missing = 0, different = 0, examples = {}}
  function q.skip() end
  function q.fail() end
  function q.note() end
  function q.list() end
  function q.interrupted() return ctx:interrupted() end
  function q.miss(_, kind, key)
    q[kind] = q[kind] + 1
    if #q.examples < 20 then q.examples[#q.examples + 1] = {[kind] = plain_key(key)} end
  end
  return q
end

-- Existence checks and writes in batches ------------------------------------------
--
-- A unit is one v2.3 record: {source_key, items, deletable}. Units are
-- gathered until their items hold 100 keys; each batch is one task: a
-- consistent BatchGetItem of the keys, then a conditional PutItem
-- (attribute_not_exists) for each item not there, then the delete of each
-- source record whose every item is confirmed present.

local Batcher = {}
Batcher.__index = Batcher

-- o: table, schema, compare(have, want) (nil: presence is enough),
-- share_timestamps, deleter (a batch writer on the source table, or nil).
local function batcher(ctx, o)
  return setmetatable({ctx = ctx, o = o, units = {}, nkeys = 0, pool = sync.pool(MAX_BATCHES)},
                      Batcher)
end

function Batcher:add(unit)
  local ctx, schema = self.ctx, self.o.schema
  local keep = {}
  for _, it in ipairs(unit.items) do
    local why = ddb.validate(schema, it)
    if why then
      ctx:fail(ddb.key_of(schema, it), "not written: " .. why)
      unit.deletable = false
    else
      keep[#keep + 1] = it
    end
  end
  unit.items = keep
  self.units[#self.units + 1] = unit
  self.nkeys = self.nkeys + #keep
  if self.nkeys >= ddb.BATCH_GET_MAX then self:send() end
end

local function put_one(self, entry)
  local ctx, o = self.ctx, self.o
  local u, it = entry[1], entry[2]
  local ok, err = ddb.put{table = o.table, item = it, condition = "attribute_not_exists(#k)",
                          names = {["#k"] = o.schema.hash}}
  if ok then
    entry.ok = true
    ctx.counts.written = ctx.counts.written + 1
  elseif ok == false then
    -- Written by someone else since the check: theirs stays.
    u.confirmed = false
    ctx:skip("appeared in the v2.4 table during the run (kept, not overwritten)", ddb.key_of(o.schema, it))
  else
    u.confirmed = false
    ctx:fail(ddb.key_of(o.schema, it), tostring(err))
  end
end

local function process(self, units)
  local ctx, o = self.ctx, self.o
  local schema = o.schema
  local keys, seen = {}, {}
  for _, u in ipairs(units) do
    u.ids = {}
    for i, it in ipairs(u.items) do
      local k = ddb.key_of(schema, it)
      local id = item.encode(k)
      u.ids[i] = id
      if not seen[id] then seen[id] = true; keys[#keys + 1] = k end
    end
  end
  local present = {}
  if #keys > 0 then
    local got, err = ddb.batch_get{table = o.table, keys = keys, consistent = true}
    if not got then
      for _, u in ipairs(units) do
        ctx:fail(u.source_key, "existence check in " .. o.table .. " failed: " .. tostring(err))
      end
      return
    end
    for _, g in ipairs(got) do present[item.encode(ddb.key_of(schema, g))] = g end
  end
  local puts, owner, dups = {}, {}, {}
  for _, u in ipairs(units) do
    u.confirmed = u.deletable
    if o.share_timestamps then
      -- Items of one constraint share their timestamps: a missing one
      -- takes those of one already there.
      local have
      for i = 1, #u.items do have = have or present[u.ids[i]] end
      if have and have.dateCreated and have.dateModified then
        for i, it in ipairs(u.items) do
          if not present[u.ids[i]] then
            it.dateCreated, it.dateModified = have.dateCreated, have.dateModified
          end
        end
      end
    end
    for i, it in ipairs(u.items) do
      local have = present[u.ids[i]]
      if ctx.verify then
        ctx.checked = ctx.checked + 1
        if not have then ctx:miss("missing", ddb.key_of(schema, it))
        elseif o.compare and not o.compare(have, it) then ctx:miss("different", ddb.key_of(schema, it)) end
      elseif have then
        if o.compare and not o.compare(have, it) then
          u.confirmed = false
          ctx:skip("the v2.4 table holds a different value (kept; the v2.3 record is not deleted)",
                   ddb.key_of(schema, it))
        else
          ctx:skip("already migrated")
        end
      elseif owner[u.ids[i]] then
        -- Two v2.3 records of this batch map to one v2.4 key (e.g. "/x9"
        -- and "/x9/"): the first is written, the other checked against it.
        dups[#dups + 1] = {u, it, owner[u.ids[i]]}
      else
        local entry = {u, it}
        owner[u.ids[i]] = entry
        puts[#puts + 1] = entry
      end
    end
  end
  -- A few workers per batch (MAX_BATCHES x PUT_WORKERS requests in
  -- flight), not a task per item.
  sync.each(puts, PUT_WORKERS, function(entry) put_one(self, entry) end)
  for _, d in ipairs(dups) do
    local u, it, first = d[1], d[2], d[3]
    if not first.ok or (o.compare and not o.compare(first[2], it)) then
      u.confirmed = false
      ctx:skip("another v2.3 record maps to the same v2.4 key with a different value (kept; the "
        .. "v2.3 record is not deleted)", ddb.key_of(schema, it))
    else
      ctx:skip("already migrated")
    end
  end
  if o.deleter then
    for _, u in ipairs(units) do
      if u.confirmed then o.deleter:delete(u.source_key)
      else ctx:list("v2.3 records kept (not every derived item confirmed)", plain_key(u.source_key)) end
    end
  end
end

function Batcher:send()
  if #self.units == 0 then return end
  local units = self.units
  self.units, self.nkeys = {}, 0
  self.pool:go(function()
    local ok, err = pcall(process, self, units)
    if not ok then
      for _, u in ipairs(units) do self.ctx:fail(u.source_key, "internal error: " .. tostring(err)) end
    end
  end)
end

function Batcher:finish()
  self:send()
  self.pool:wait()
  if self.o.deleter then
    local c = self.o.deleter:flush()
    self.ctx.counts.deleted = self.ctx.counts.deleted + c.deleted
  end
end

local function deleter_for(ctx, table_name)
  if ctx.verify or not ctx.params.delete_old_data then return nil end
  return ddb.writer{table = table_name, on_failure = function(f)
    ctx:fail(f.key, "delete of the v2.3 record: " .. tostring(f.reason))
  end}
end

local function mode(ctx) return ctx.params.reference_conversion and "reference" or "mighost" end

-- Phase 0: start time (the clock's first read), --limit and the reindexer ---------

local function setup(ctx)
  local p, o = ctx.params, ctx.options
  ctx:note("started", ids.utc_isoformat())
  if o.limit and not ctx.dry_run and not o.verify_only then
    -- W13: a limited scan of the schema table would write a truncated schema.
    local n, err = ddb.count{table = p.old_schema_table}
    if not n then error(err) end
    if n > o.limit then
      error({exit = mh.EXIT.USAGE, message = ("--limit %d would truncate metadata schemas (%s holds %d field records): "
        .. "a truncated schema would stand for the complete one. Use --limit only with --dry-run, or "
        .. "a limit of at least %d"):format(o.limit, p.old_schema_table, n, n)})
    end
  end
  if not ctx.dry_run and not o.verify_only and not p.skip_reindex then
    -- The function exists and may be invoked (InvocationType DryRun), before anything is written.
    reindexer.check_invocable(p.reindexer_function,
      "check reindexer_function_name, or pass --skip-reindex; nothing was written")
  end
end

-- Phases 1-4: constraints --------------------------------------------------------

local function constraints(ctx)
  local p = ctx.params
  local schema = assert(ddb.schema(p.constraints_table))
  local b = batcher(ctx, {table = p.constraints_table, schema = schema, share_timestamps = true,
                          deleter = deleter_for(ctx, p.auth_table)})
  local clock = ctx.verify and function() return "" end or ids.utc_isoformat
  local n_items = 0
  for c in ddb.scan{table = p.auth_table, segment = 0, total_segments = 1,
                    filter = "#t = :t AND begins_with(#sk, :p)", names = {["#t"] = "entityType", ["#sk"] = "sk"},
                    values = {[":t"] = {S = "constraint"}, [":p"] = {S = "constraint#"}},
                    max_items = ctx.options.limit} do
    if ctx:interrupted() then break end
    ctx.counts.scanned = ctx.counts.scanned + 1
    local key = {entityType = c.entityType, sk = c.sk}
    local notes = {}
    local items, why = conv.constraint_items(c, clock, notes)
    if not items then
      ctx:fail(key, "not migrated: " .. why)
    else
      if notes.id_from_sk then ctx:list("constraintId taken from sk (attribute missing)", plain_key(key)) end
      if notes.id_mismatch then
        ctx:list("constraintId differs from sk (the attribute is used)", plain_key(key))
      end
      if notes.empty_object_type then
        ctx:list("objectType empty: left out (an index key cannot be empty)", plain_key(key))
      end
      n_items = n_items + #items
      b:add({source_key = key, items = items, deletable = true})
    end
  end
  b:finish()
  ctx:note("items", n_items)
end

-- Phase 5: metadata ------------------------------------------------------------------

local function metadata(ctx)
  local p = ctx.params
  local schema = assert(ddb.schema(p.new_metadata_table))
  local b = batcher(ctx, {table = p.new_metadata_table, schema = schema,
    compare = function(have, want)
      return conv.s(have.metadataValue) == want.metadataValue.S and
             conv.s(have.metadataValueType) == want.metadataValueType.S
    end,
    deleter = deleter_for(ctx, p.old_metadata_table)})
  local o = {mode = mode(ctx), leading_slash = p.file_path_leading_slash}
  local scan = {table = p.old_metadata_table, segments = ctx.options.segments or 4}
  if ctx.options.limit then
    scan = {table = p.old_metadata_table, segment = 0, total_segments = 1, max_items = ctx.options.limit}
  end
  local n_items, empty = 0, 0
  for rec in ddb.scan(scan) do
    if ctx:interrupted() then break end
    ctx.counts.scanned = ctx.counts.scanned + 1
    local key = {databaseId = rec.databaseId, assetId = rec.assetId}
    local r, why = conv.metadata_items(rec, o)
    if not r then
      ctx:skip("not migrated: " .. why, key)
    else
      local shown = plain_key(key)
      for _, e in ipairs(r.extras) do
        ctx:list("non-string values migrated (the reference drops them)",
                {databaseId = shown.databaseId, assetId = shown.assetId, attribute = e.name, type = e.type})
      end
      for _, e in ipairs(r.dropped) do
        ctx:list("non-string values dropped (--reference-conversion)",
                {databaseId = shown.databaseId, assetId = shown.assetId, attribute = e.name, type = e.type})
      end
      local deletable = true
      for _, e in ipairs(r.unmigratable) do
        deletable = false
        ctx:list("values with no v2.4 form (record kept in v2.3)",
                {databaseId = shown.databaseId, assetId = shown.assetId, attribute = e.name, type = e.type})
      end
      if r.empty_path then ctx:list("file records with an empty file path", shown) end
      if #r.items > 500 then
        ctx:list("entities over v2.4's 500 metadata records", {key = r.k3, records = #r.items})
      end
      empty = empty + r.empty
      n_items = n_items + #r.items
      b:add({source_key = key, items = r.items, deletable = deletable})
    end
  end
  b:finish()
  ctx:note("items", n_items)
  if empty > 0 then ctx:note("empty values (not migrated, as the reference)", empty) end
end

-- Phase 5.5: metadata schemas -------------------------------------------------------

local function existing_schemas(ctx, db)
  local out = {}
  for it in ddb.query{table = ctx.params.new_schema_table, index = SCHEMA_INDEX,
                      key_condition = "#pk = :v", names = {["#pk"] = SKEY},
                      values = {[":v"] = {S = db .. ":assetMetadata"}}} do
    if conv.s(it.schemaName) == "migratedSchema" then out[#out + 1] = it end
  end
  table.sort(out, function(a, b)
    local ca, cb = conv.s(a.dateCreated), conv.s(b.dateCreated)
    if ca ~= cb then return ca < cb end
    return conv.s(a.metadataSchemaId) < conv.s(b.metadataSchemaId)
  end)
  return out
end

local function schema_db(ctx, db, recs, deleter)
  local p = ctx.params
  local fields, migrated, extras = conv.list(), {}, {}
  for _, rec in ipairs(recs) do
    local f, why = conv.schema_field(rec, {mode = mode(ctx)}, extras)
    local key = {databaseId = rec.databaseId, field = rec.field}
    if f then
      fields[#fields + 1] = f
      migrated[#migrated + 1] = {key = key, name = conv.get(f, "metadataFieldKeyName")}
    else
      ctx:skip(why, key)
    end
  end
  for _, e in ipairs(extras) do
    ctx:list("field details (see README)", {databaseId = db, field = e.field, what = e.what})
  end
  if #fields == 0 then
    ctx:list("databases with no migratable field (no schema)", db)
    return
  end
  local doc = conv.obj()
  conv.set(doc, "fields", fields)
  local text = conv.dumps(doc)
  local existing = existing_schemas(ctx, db)
  local names = {}
  for _, m in ipairs(migrated) do names[m.name] = true end
  if ctx.verify then
    ctx.checked = ctx.checked + 1
    local have = existing[1]
    local skey = {databaseId = db}
    if not have then ctx:miss("missing", skey)
    else
      local got = conv.field_names(conv.s(have.fields))
      for name in pairs(names) do
        if not got[name] then ctx:miss("different", {databaseId = db, field = name}) end
      end
    end
    return
  end
  if #existing > 1 then
    local list = {}
    for _, e in ipairs(existing) do list[#list + 1] = conv.s(e.metadataSchemaId) end
    ctx:list("databases with several migratedSchema items (the oldest is used, none deleted)",
            {databaseId = db, ids = list})
  end
  local have, confirmed = existing[1], nil
  local schema_key = function(it) return {metadataSchemaId = it.metadataSchemaId, [SKEY] = it[SKEY]} end
  if not have then
    local now = ids.utc_isoformat()
    local it = {metadataSchemaId = {S = ids.uuid4()}, [SKEY] = {S = db .. ":assetMetadata"},
      databaseId = {S = db}, metadataSchemaEntityType = {S = "assetMetadata"},
      schemaName = {S = "migratedSchema"}, fields = {S = text}, enabled = {BOOL = true},
      dateCreated = {S = now}, dateModified = {S = now}, createdBy = {S = "MIGRATION"},
      modifiedBy = {S = "MIGRATION"}}
    local why = ddb.validate(assert(ddb.schema(p.new_schema_table)), it)
    if why then ctx:fail(schema_key(it), "not written: " .. why); return end
    local ok, err = ddb.put{table = p.new_schema_table, item = it,
                            condition = "attribute_not_exists(metadataSchemaId)"}
    if ok then
      ctx.counts.written = ctx.counts.written + 1
      confirmed = names
    elseif ok == false then
      ctx:skip("appeared in the v2.4 table during the run (kept, not overwritten)", schema_key(it))
      return
    else
      ctx:fail(schema_key(it), tostring(err))
      return
    end
  elseif conv.s(have.fields) == text then
    ctx:skip("already migrated (same fields)")
    confirmed = names
  elseif p.overwrite_schemas then
    local it = {}
    for k, v in pairs(have) do it[k] = v end
    it.fields, it.modifiedBy = {S = text}, {S = "MIGRATION"}
    it.dateModified = {S = ids.utc_isoformat()}
    local ok, err = ddb.put{table = p.new_schema_table, item = it,
                            condition = "attribute_exists(metadataSchemaId)"}
    if not ok then ctx:fail(schema_key(have), tostring(err)); return end
    ctx.counts.written = ctx.counts.written + 1
    ctx:list("migratedSchema fields rewritten (--overwrite-schemas; id and dateCreated kept)", db)
    confirmed = names
  else
    ctx:skip("a migratedSchema with other fields exists (kept; --overwrite-schemas rewrites its fields)",
             schema_key(have))
    confirmed = conv.field_names(conv.s(have.fields))
  end
  if deleter then
    for _, m in ipairs(migrated) do
      if confirmed[m.name] then deleter:delete(m.key)
      else ctx:list("v2.3 records kept (not every derived item confirmed)", plain_key(m.key)) end
    end
  end
end

local function schemas(ctx)
  local p = ctx.params
  local groups, order = {}, {}
  -- Schema tables are small (one record per field): grouped in memory, in
  -- the order of each database's first record, records in scan order.
  for rec in ddb.scan{table = p.old_schema_table, segment = 0, total_segments = 1,
                      max_items = ctx.options.limit} do
    ctx.counts.scanned = ctx.counts.scanned + 1
    local db = conv.s(rec.databaseId)
    if db == "" then
      ctx:skip("field record without a databaseId string", {databaseId = rec.databaseId, field = rec.field})
    else
      if not groups[db] then groups[db] = {}; order[#order + 1] = db end
      local g = groups[db]
      g[#g + 1] = rec
    end
  end
  local deleter = deleter_for(ctx, p.old_schema_table)
  for _, db in ipairs(order) do
    if ctx:interrupted() then break end
    schema_db(ctx, db, groups[db], deleter)
  end
  if deleter then ctx.counts.deleted = ctx.counts.deleted + deleter:flush().deleted end
  ctx:note("databases", #order)
end

-- Phase 6: reindex -------------------------------------------------------------------

local function payload_of(p, o)
  return reindexer.payload{operation = "both", dry_run = false, clear_indexes = p.clear_indexes_before_reindex,
                           limit = p.reindex_limit or o.limit}
end

local function reindex(ctx)
  local p = ctx.params
  local payload = payload_of(p, ctx.options)
  local event = p.reindex_invocation == "event"
  ctx:note("function", p.reindexer_function)
  ctx:note("payload", payload)
  ctx:note("invocation_type", event and "Event" or "RequestResponse")
  if ctx.dry_run then
    mh.info(("dry-run: would invoke %s once with %s"):format(p.reindexer_function, payload))
    return
  end
  reindexer.invoke(ctx, p.reindexer_function, payload, {event = event, timeout = p.reindex_timeout})
end

-- Verification --------------------------------------------------------------------

local function verify(ctx)
  local checks = {}
  for _, v in ipairs{{"constraints in the v2.4 table", constraints},
                     {"metadata items in the v2.4 table", metadata},
                     {"metadata schemas in the v2.4 table", schemas}} do
    local q = quiet_ctx(ctx)
    v[2](q)
    checks[#checks + 1] = {name = v[1], checked = q.checked, missing = q.missing,
                           different = q.different, ok = q.missing == 0 and q.different == 0,
                           examples = q.examples}
  end
  return checks
end

-- The v2.3 tables are written (deleted in) only with --delete-old-data.
local function deleted_with_old_data(p) return p.delete_old_data and "write" or "read" end

return {
  name = "vams/v2.3-to-v2.4",
  description = "VAMS v2.3 -> v2.4: constraints, metadata and metadata schemas into the v2.4 tables, "
    .. "then the OpenSearch reindex through the reindexer Lambda function.",
  params = config.with_params({
    {name = "auth_table", type = "table", required = true, access = deleted_with_old_data,
     config = "auth_entities_table_name", stack_resource = "AuthEntitiesTable",
     key = {hash = "entityType", range = "sk"}, doc = "v2.3 constraints (AuthEntitiesTable)"},
    {name = "constraints_table", type = "table", required = true, access = "write",
     config = "constraints_table_name", stack_resource = "ConstraintsStorageTable",
     key = {hash = "constraintId"}, doc = "v2.4 constraints (ConstraintsStorageTable)"},
    {name = "old_metadata_table", type = "table", required = true, access = deleted_with_old_data,
     config = "old_metadata_table_name", stack_resource = "MetadataStorageTable",
     key = {hash = "databaseId", range = "assetId"}, doc = "v2.3 metadata (MetadataStorageTable)"},
    {name = "new_metadata_table", type = "table", required = true, access = "write",
     config = "new_metadata_table_name", stack_resource = "AssetFileMetadataStorageTableV2",
     key = {hash = "metadataKey", range = "databaseId:assetId:filePath"},
     doc = "v2.4 metadata (AssetFileMetadataStorageTableV2)"},
    {name = "old_schema_table", type = "table", required = true, access = deleted_with_old_data,
     config = "old_metadata_schema_table_name", stack_resource = "MetadataSchemaStorageTable",
     key = {hash = "databaseId", range = "field"}, doc = "v2.3 metadata schemas (MetadataSchemaStorageTable)"},
    {name = "new_schema_table", type = "table", required = true, access = "write",
     config = "new_metadata_schema_table_name", stack_resource = "MetadataSchemaStorageTableV2",
     key = {hash = "metadataSchemaId", range = SKEY},
     doc = "v2.4 metadata schemas (MetadataSchemaStorageTableV2)"},
    {name = "reindexer_function", type = "string", required = true, config = "reindexer_function_name",
     stack_resource = "crOsReindexer", stack_resource_type = "AWS::Lambda::Function",
     doc = "the reindexer Lambda function (name or ARN)"},
    {name = "clear_indexes_before_reindex", type = "boolean", default = false,
     config = "clear_indexes_before_reindex", doc = "sent as clear_indexes in the reindexer's payload"},
    {name = "delete_old_data", type = "boolean", default = false, config = "delete_old_data",
     doc = "delete each v2.3 record once every item derived from it is confirmed in the v2.4 table "
        .. "(run again later with it to clean up)"},
    {name = "reference_conversion", type = "boolean", default = false,
     doc = "drop numeric sequenceNumber, dependsOn lists and non-string metadata values as the "
        .. "reference does (listed in the report) instead of migrating them"},
    {name = "file_path_leading_slash", type = "boolean", default = false,
     doc = "key file metadata as db:asset:/path (the v2.4 service's form) instead of db:asset:path "
        .. "(the reference's)"},
    {name = "overwrite_schemas", type = "boolean", default = false,
     doc = "rewrite the fields of an existing migratedSchema that differ (keeps its id and dateCreated)"},
    {name = "skip_reindex", type = "boolean", default = false, doc = "do not invoke the reindexer"},
    {name = "reindex_invocation", type = "string", default = "sync",
     doc = "sync: RequestResponse, one attempt, waits up to --reindex-timeout and checks the answer; "
        .. "event: asynchronous (HTTP 202), the function's logs show the outcome"},
    {name = "reindex_timeout", type = "integer", identity = false, default = 900,
     doc = "seconds to wait for a sync reindex (the deployed function's timeout is 15 minutes)"},
    {name = "reindex_limit", type = "integer",
     doc = "the payload's limit (default: --limit, as the reference)"},
    -- The reference config's remaining keys, accepted as they are.
    {name = "config_dry_run", type = "boolean", identity = false,
     config = "dry_run", flag = "--config-dry-run",
     doc = "the config file's dry_run: true requires --dry-run"},
    {name = "config_limit", type = "integer", identity = false,
     config = "limit", flag = "--config-limit",
     doc = "the config file's limit: used as --limit when that is not given (0: none)"},
  }),

  check = function(p, o)
    if p.reindexer_function == "" then
      return "reindexer_function_name is empty: set it in the config file (the reindexer Lambda "
        .. "function of the v2.4 stack) or pass --reindexer-function"
    end
    if p.reindex_invocation ~= "sync" and p.reindex_invocation ~= "event" then
      return ("--reindex-invocation must be sync or event, not '%s'"):format(p.reindex_invocation)
    end
    if p.reindex_timeout < 1 then return "--reindex-timeout must be at least 1 second" end
    if p.config_dry_run and not o.dry_run then
      return "the config file sets \"dry_run\": true: pass --dry-run, or remove the key for a real run"
    end
    if p.config_limit and p.config_limit < 0 then
      return ("the config file's \"limit\" must be 0 (no limit) or more, not %d"):format(p.config_limit)
    end
    if p.config_limit and p.config_limit > 0 and not o.limit then o.limit = p.config_limit end
    return config.region_mismatch(p, o)
  end,

  confirm_notes = function(p, o)
    local notes = {}
    if p.delete_old_data then
      notes[#notes + 1] = ("--delete-old-data: v2.3 records whose every v2.4 item is confirmed present "
        .. "are deleted from %s, %s and %s"):format(p.auth_table, p.old_metadata_table, p.old_schema_table)
    end
    if not p.skip_reindex then
      notes[#notes + 1] = ("the reindexer %s is invoked once (%s) with %s"):format(p.reindexer_function,
        p.reindex_invocation == "event" and "asynchronously" or "waiting for its answer", payload_of(p, o))
    end
    return notes
  end,

  phases = {
    {name = "setup", always = true, run = setup, reads = {"old_schema_table"},
     doc = "start time; --limit check; the reindexer can be invoked (DryRun)"},
    {name = "constraints", run = constraints, reads = {"auth_table"}, writes = {"constraints_table"},
     doc = "one item per group and per user of each v2.3 constraint"},
    {name = "metadata", run = metadata, reads = {"old_metadata_table"}, writes = {"new_metadata_table"},
     doc = "one item per metadata attribute of each asset and file record"},
    {name = "schemas", run = schemas, reads = {"old_schema_table"}, writes = {"new_schema_table"},
     doc = "one migratedSchema per database"},
    {name = "reindex", run = reindex, when = function(p) return not p.skip_reindex end,
     doc = "the reindexer Lambda function, invoked once"},
    {name = "verify", verify = verify, reads = {"auth_table", "constraints_table", "old_metadata_table",
      "new_metadata_table", "old_schema_table", "new_schema_table"},
     doc = "every remaining v2.3 record's items are in the v2.4 tables"},
  },
}
