-- vams/ab-deployment: moves a VAMS deployment's data from stack A to stack
-- B in an A/B deployment (deploy B beside A, move the data, verify, switch
-- DNS, destroy A): the DynamoDB tables, the S3 buckets' objects and the
-- Cognito users with their groups.
--
-- Which table, bucket and user pool goes where comes either from the old
-- MigrationSchema JSON of VAMS's removed VAMSDataMigration.py (--mapping
-- FILE, read as it is), or from the two stacks (--from-stack A --to-stack
-- B), paired by CDK construct id. Everything is checked before anything is
-- written: key schemas must match (else exit 2), destination tables must
-- be empty unless --allow-nonempty (a destination that already equals its
-- source, as after a finished run, counts as done).
--
-- Phases: plan (resolve, check, list every pair), tables (one declarative
-- copy per pair: parallel segments, batched writes, checkpoints), buckets
-- (server-side copies, see vams/_ab_buckets), users (see vams/_ab_users),
-- verify (tables item by item, buckets object by object, users with
-- attributes and groups).

local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local json = require "mighost.json"
local sys = require "mighost.sys"
local mh = require "mighost"
local copy = require "mighost.runner.copy"
local buckets = require "vams._ab_buckets"
local users = require "vams._ab_users"
local stacks = require "vams._ab_stacks"

local GiB, MiB = 1 << 30, 1 << 20
local PARTS = {tables = true, buckets = true, users = true}

local function stop(msg) error({exit = mh.EXIT.USAGE, message = msg}, 0) end

-- "NAME" with the route of one side: NAME@profile=P,region=R.
local function routed(name, profile, region)
  local r = {}
  if profile then r[#r + 1] = "profile=" .. profile end
  if region then r[#r + 1] = "region=" .. region end
  return #r > 0 and (name .. "@" .. table.concat(r, ",")) or name
end

local function route_of(profile, region)
  if not profile and not region then return nil end
  return {profile = profile, region = region}
end

-- The old MigrationSchema JSON -> pairs.
local function from_mapping(path, v)
  local text, err = sys.read_file(path)
  if not text then stop(("cannot read the mapping file: %s"):format(err)) end
  local ok, doc = pcall(json.decode, text)
  if not ok or type(doc) ~= "table" then stop(("the mapping file %s is not a JSON object"):format(path)) end
  local rfrom = v.from_region or (doc.regionFrom ~= json.null and doc.regionFrom) or nil
  local rto = v.to_region or (doc.regionTo ~= json.null and doc.regionTo) or nil
  local plan = {tables = {}, buckets = {}, regions = {rfrom, rto}}
  local function field(e, i, what, ...)
    local x = e
    for _, k in ipairs{...} do x = type(x) == "table" and x[k] or nil end
    if type(x) ~= "string" or x == "" then
      stop(("mapping file %s: %s[%d] needs %s"):format(path, what, i, table.concat({...}, ".")))
    end
    return x
  end
  for i, e in ipairs(doc.VAMS_DynamoDBTable_Mapping or {}) do
    for _, a in ipairs(type(e.attributes) == "table" and e.attributes or {}) do
      if (a.from or "") ~= "" or (a.to or "") ~= "" then
        stop(("mapping file %s: %s has an attribute mapping (%s -> %s); attribute renames are not "
          .. "supported (the old script ignored them too): remove it, or rename after the move")
          :format(path, e.tableDescriptor or ("table " .. i), tostring(a.from), tostring(a.to)))
      end
    end
    plan.tables[#plan.tables + 1] = {id = e.tableDescriptor or ("table" .. i),
      from = field(e, i, "VAMS_DynamoDBTable_Mapping", "tables", "from"),
      to = field(e, i, "VAMS_DynamoDBTable_Mapping", "tables", "to")}
  end
  for i, e in ipairs(doc.VAMS_S3Bucket_Mapping or {}) do
    plan.buckets[#plan.buckets + 1] = {id = e.bucketDescriptor or ("bucket" .. i),
      from = field(e, i, "VAMS_S3Bucket_Mapping", "buckets", "from"),
      to = field(e, i, "VAMS_S3Bucket_Mapping", "buckets", "to")}
  end
  return plan
end

-- The pairs of this run, resolved once: {tables, buckets, pools, unpaired}.
local resolved
local function resolve(v)
  if resolved then return resolved end
  local plan
  if v.mapping then
    plan = from_mapping(v.mapping, v)
  else
    local sp, err = stacks.pairs(v.from_stack, v.to_stack,
      route_of(v.from_profile, v.from_region), route_of(v.to_profile, v.to_region))
    if not sp then stop(err) end
    plan = sp
  end
  plan.pools = plan.pools or {}
  if v.from_user_pool then
    plan.pools = {{id = "user pool", from = v.from_user_pool, to = v.to_user_pool}}
  end
  -- A region other than the run's own makes a routed client.
  local base = (sys.credentials() or {}).region
  local rf = v.from_region or (plan.regions and plan.regions[1])
  local rt = v.to_region or (plan.regions and plan.regions[2])
  if rf == base then rf = nil end
  if rt == base then rt = nil end
  for _, t in ipairs(plan.tables) do
    t.from, t.to = routed(t.from, v.from_profile, rf), routed(t.to, v.to_profile, rt)
  end
  for _, b in ipairs(plan.buckets) do
    b.from, b.to = routed(b.from, v.from_profile, rf), routed(b.to, v.to_profile, rt)
  end
  for _, p in ipairs(plan.pools) do
    p.from_route, p.to_route = route_of(v.from_profile, rf), route_of(v.to_profile, rt)
  end
  local skip = {}
  for _, part in ipairs(v.skip or {}) do skip[part] = true end
  if skip.tables then plan.tables = {} end
  if skip.buckets then plan.buckets = {} end
  if skip.users then plan.pools = {} end
  resolved = plan
  return plan
end

-- Key of an item as text: the same key gives the same text in both tables.
local function key_text(schema, it)
  local k = item.encode_value(it[schema.hash])
  if schema.range then k = k .. "\0" .. item.encode_value(it[schema.range]) end
  return k
end

-- Every item of `from` looked up in `to`: {checked, missing, different}.
local function compare_table(from, to)
  local schema = assert(ddb.schema(from))
  local r = {checked = 0, missing = 0, different = 0, examples = {}}
  local batch, wanted = {}, {}
  local function flush()
    if #batch == 0 then return end
    local found, err = ddb.batch_get{table = to, keys = batch, consistent = true}
    if not found then error(err, 0) end
    local got = {}
    for _, it in ipairs(found) do got[key_text(schema, it)] = it end
    for k, it in pairs(wanted) do
      local other = got[k]
      if not other or not item.equal(it, other) then
        if other then r.different = r.different + 1 else r.missing = r.missing + 1 end
        if #r.examples < 10 then r.examples[#r.examples + 1] = ddb.key_of(schema, it) end
      end
    end
    batch, wanted = {}, {}
  end
  for it in ddb.scan{table = from, segments = 4, consistent = true} do
    r.checked = r.checked + 1
    batch[#batch + 1] = ddb.key_of(schema, it)
    wanted[key_text(schema, it)] = it
    if #batch == ddb.BATCH_GET_MAX then flush() end
  end
  flush()
  return r
end

-- One item read at most: is the table empty?
local function empty(name)
  for page in ddb.scan_pages{table = name, limit = 1, consistent = true} do
    if #page.items > 0 then return false end
    if not page.last_key then return true end
  end
  return true
end

local function show_schema(s)
  local parts = {("%s (%s, HASH)"):format(s.hash, s.types[s.hash] or "?")}
  if s.range then parts[2] = ("%s (%s, RANGE)"):format(s.range, s.types[s.range] or "?") end
  return table.concat(parts, ", ")
end

-- Plan phase: resolve, then check every table pair before any write.
local function plan_phase(ctx)
  local v = ctx.params
  local plan = resolve(v)
  local started = ctx.store:phase("tables").data.started or {}
  local lines = {}
  for _, t in ipairs(plan.tables) do
    local function schema(name, side)
      local s, err = ddb.schema(name)
      if s then return s end
      if type(err) == "table" and err.code == "ResourceNotFoundException" then
        stop(("table %s (%s) does not exist in stack %s: check the mapping"):format(name, t.id, side))
      end
      error(err, 0)   -- an AWS or network error: exit 3
    end
    local a, b = schema(t.from, "A"), schema(t.to, "B")
    if a.hash ~= b.hash or a.range ~= b.range or a.types[a.hash] ~= b.types[b.hash]
       or (a.range and a.types[a.range] ~= b.types[b.range]) then
      stop(("table %s: key schemas differ: %s has %s, %s has %s; nothing was written")
        :format(t.id, t.from, show_schema(a), t.to, show_schema(b)))
    end
    t.state = "copy"
    -- --verify-only writes nothing: only the schemas matter then.
    if not ctx.options.verify_only and not started[t.id] and not empty(t.to) then
      if v.allow_nonempty then
        local c = compare_table(t.from, t.to)
        t.overwrites = c.checked - c.missing
        t.state = "copy (destination not empty: " .. t.overwrites .. " items with the same key overwritten)"
        ctx:list("overwritten", {table = t.to, items = t.overwrites})
      else
        local c = compare_table(t.from, t.to)
        if c.missing == 0 and c.different == 0 then
          t.state, t.equal = "already equal: nothing to copy", true
        else
          stop(("table %s (%s) is not empty and differs from %s (%d of %d items missing or "
            .. "different): pass --allow-nonempty to write over items with the same key (the report "
            .. "counts them), or empty it"):format(t.to, t.id, t.from, c.missing + c.different, c.checked))
        end
      end
    end
    lines[#lines + 1] = ("  table  %-28s %s -> %s: %s"):format(t.id, t.from, t.to, t.state)
  end
  for _, b in ipairs(plan.buckets) do
    lines[#lines + 1] = ("  bucket %-28s %s -> %s"):format(b.id, b.from, b.to)
  end
  for _, p in ipairs(plan.pools) do
    lines[#lines + 1] = ("  users  %-28s %s -> %s"):format(p.id, p.from, p.to)
  end
  for _, u in ipairs(plan.unpaired or {}) do
    mh.warn(("%s %s is in stack %s only: skipped"):format(u.kind, u.id, u.stack))
    ctx:list("unpaired", u)
    lines[#lines + 1] = ("  skip   %-28s in stack %s only"):format(u.id, u.stack)
  end
  io.stderr:write("mighost: vams/ab-deployment moves:\n", table.concat(lines, "\n"), "\n")
  ctx:note("pairs", {tables = #plan.tables, buckets = #plan.buckets, user_pools = #plan.pools})
end

local function new_counts()
  return {scanned = 0, written = 0, deleted = 0, skipped = {}, skipped_total = 0, orphaned = 0, failed = 0}
end

-- Adds a pair's counts into the phase's.
local function add_counts(into, c)
  for _, k in ipairs{"scanned", "written", "deleted", "skipped_total", "orphaned", "failed"} do
    into[k] = into[k] + (c[k] or 0)
  end
  for reason, n in pairs(c.skipped) do into.skipped[reason] = (into.skipped[reason] or 0) + n end
end

-- A context for one pair, sharing the phase's lists and store.
local function pair_ctx(ctx, name)
  return setmetatable({counts = new_counts(), phase = {name = name},
    skip_marks = setmetatable({}, {__mode = "k"})}, {__index = ctx})
end

local function tables_phase(ctx)
  local plan = resolve(ctx.params)
  ctx.data.started, ctx.data.done = ctx.data.started or {}, ctx.data.done or {}
  for _, t in ipairs(plan.tables) do
    if ctx.stopping or ctx:interrupted() then ctx.stopping = true; return end
    if t.equal then
      ctx:skip("destination already equal to the source", {table = t.to})
    elseif not ctx.data.done[t.id] then
      ctx.data.started[t.id] = true
      ctx:save()
      local sub = pair_ctx(ctx, "tables:" .. t.id)
      local src, dst = t.from, t.to
      -- Lean items: each goes out as the text it came in, never decoded.
      copy.run({name = sub.phase.name, copy = {source = function() return src end,
                                               destination = function() return dst end,
                                               lean = true}}, sub)
      add_counts(ctx.counts, sub.counts)
      ctx:note("table " .. t.id, {from = t.from, to = t.to, scanned = sub.counts.scanned,
                                  written = sub.counts.written, failed = sub.counts.failed,
                                  overwritten = t.overwrites})
      if sub.stopping then ctx.stopping = true; return end
      if sub.counts.failed == 0 then ctx.data.done[t.id] = true; ctx:save() end
    end
  end
end

local function buckets_phase(ctx)
  local v = ctx.params
  local plan = resolve(v)
  ctx.data.pairs = ctx.data.pairs or {}
  local last_save = 0
  function ctx.bucket_checkpoint(self, force)
    local now = mh.clock()
    if force or now - last_save >= 1 then last_save = now; self:save() end
  end
  local started = mh.clock()
  function ctx.progress_line()
    local c = ctx.counts
    local dt = math.max(mh.clock() - started, 1e-3)
    return ("[buckets] %d objects listed, %d copied (%.1f MB, %.0f objects/s), %d already in B, "
      .. "failed %d"):format(c.scanned, c.written, (c.bytes_copied or 0) / 1e6, c.written / dt,
      c.skipped_total, c.failed)
  end
  for _, b in ipairs(plan.buckets) do
    if ctx.stopping or ctx:interrupted() then ctx.stopping = true; return end
    local st = ctx.data.pairs[b.id] or {}
    ctx.data.pairs[b.id] = st
    buckets.copy(b, ctx, st, {window = v.window, threshold = v.multipart_threshold,
                              part_size = v.part_size, limit = ctx.options.limit})
  end
  local c = ctx.counts
  ctx:note("objects", {listed = c.scanned, copied = c.written, already_in_b = c.skipped_total,
    failed = c.failed, bytes_listed = c.bytes_listed or 0, bytes_copied = c.bytes_copied or 0,
    multipart_copies = c.multipart_copies or 0,
    encryption = "copies take bucket B's default encryption (no encryption headers are sent)"})
end

local function users_phase(ctx)
  local plan = resolve(ctx.params)
  ctx.data.pools = ctx.data.pools or {}
  local resets = json.array()
  for _, p in ipairs(plan.pools) do
    local st = ctx.data.pools[p.id] or {}
    ctx.data.pools[p.id] = st
    users.copy(p, ctx, st, {send_invitations = ctx.params.send_invitations})
    -- Every user this run created, an interrupted part of it included.
    local names = {}
    for name in pairs(st.done or {}) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do resets[#resets + 1] = name end
  end
  -- Every user created in B, not only the first 100.
  ctx:report_field("password_resets", {count = #resets, users = resets,
    note = ctx.params.send_invitations and "Cognito sent each an invitation with a temporary password"
      or "no message was sent: each must reset their password (forgot-password flow)"})
end

local function verify_phase(ctx)
  local plan = resolve(ctx.params)
  local checks = {}
  for _, t in ipairs(plan.tables) do
    local c = compare_table(t.from, t.to)
    checks[#checks + 1] = {name = ("table %s: %s -> %s, item by item"):format(t.id, t.from, t.to),
      ok = c.missing == 0 and c.different == 0, checked = c.checked, missing = c.missing,
      different = c.different, examples = #c.examples > 0 and c.examples or nil}
  end
  for _, b in ipairs(plan.buckets) do checks[#checks + 1] = buckets.verify(b) end
  for _, p in ipairs(plan.pools) do checks[#checks + 1] = users.verify(p) end
  return checks
end

return {
  name = "vams/ab-deployment",
  description = "Move a VAMS deployment's data from stack A to stack B (A/B deployment): "
    .. "DynamoDB tables, S3 objects, Cognito users and groups.",
  params = {
    {name = "mapping", doc = "the old MigrationSchema JSON (regionFrom, regionTo, "
      .. "VAMS_S3Bucket_Mapping, VAMS_DynamoDBTable_Mapping) naming what goes where"},
    {name = "from_stack", doc = "stack A (the old deployment): its tables, buckets and user pool "
      .. "are paired with stack B's by CDK construct id"},
    {name = "to_stack", doc = "stack B (the new deployment)"},
    {name = "from_region", doc = "stack A's region (default: regionFrom of the mapping, or --region)"},
    {name = "to_region", doc = "stack B's region (default: regionTo of the mapping, or --region)"},
    {name = "from_profile", doc = "AWS profile for stack A (another account)"},
    {name = "to_profile", doc = "AWS profile for stack B; its credentials also read A's objects "
      .. "(S3 copies server side)"},
    {name = "from_user_pool", doc = "user pool A's id (default: from the stacks)"},
    {name = "to_user_pool", doc = "user pool B's id"},
    {name = "allow_nonempty", type = "boolean", default = false,
     doc = "write into destination tables that already hold items (same keys are overwritten; "
       .. "the report counts them)"},
    {name = "send_invitations", type = "boolean", default = false,
     doc = "let Cognito send each new user its invitation (default: no message, MessageAction=SUPPRESS)"},
    {name = "skip", type = "list", doc = "parts to leave out: tables, buckets, users"},
    {name = "window", type = "integer", default = 64, identity = false,
     doc = "objects copied at once"},
    {name = "multipart_threshold", type = "integer", default = 5 * GiB, identity = false,
     doc = "objects larger than this (bytes) are copied in parts (UploadPartCopy)"},
    {name = "part_size", type = "integer", default = 512 * MiB, identity = false,
     doc = "part size of a multipart copy (bytes; at least 5 MiB; the source's own part size "
       .. "when it was uploaded in parts)"},
  },

  check = function(v)
    if v.mapping and (v.from_stack or v.to_stack) then
      return "give either --mapping FILE or --from-stack A --to-stack B, not both"
    end
    if not v.mapping and not (v.from_stack and v.to_stack) then
      return "what goes where? give --from-stack A --to-stack B, or --mapping FILE (the old "
        .. "MigrationSchema JSON)"
    end
    if (v.from_user_pool == nil) ~= (v.to_user_pool == nil) then
      return "--from-user-pool and --to-user-pool go together"
    end
    for _, part in ipairs(v.skip or {}) do
      if not PARTS[part] then return ("--skip: unknown part '%s' (tables, buckets, users)"):format(part) end
    end
    if v.window < 1 then return "--window must be at least 1" end
    if v.part_size < 5 * MiB then return "--part-size must be at least 5 MiB (5242880), S3's smallest part" end
    if v.multipart_threshold < 1 then return "--multipart-threshold must be positive" end
  end,

  phases = {
    {name = "plan", always = true, dry_run = true, run = plan_phase,
     doc = "resolve the pairs, compare key schemas, check destinations, list every pair"},
    {name = "tables", run = tables_phase, doc = "copy every table pair (declarative copies)"},
    {name = "buckets", run = buckets_phase, doc = "copy every bucket's objects (server side)"},
    {name = "users", run = users_phase, doc = "copy users, groups and memberships"},
    {name = "verify", verify = verify_phase},
  },
}
