-- mighost.dynamodb: DynamoDB for scripts, built on mighost.aws.call.
--
-- Items are in the typed form of mighost.item. Calls suspend only the task
-- that makes them, so many tasks (scan segments, batch writes) fly at once.
-- AWS errors come back as values (nil, err); a failed condition comes back
-- as false, err. Misuse (a missing table name, a bad item) raises.
-- In a dry-run every write is validated against the table's key schema and
-- recorded (mighost.plan) instead of sent.

local aws = require "mighost.aws"
local item = require "mighost.item"
local json = require "mighost.json"
local plan = require "mighost.plan"
local mh = require "mighost"
local sys = require "mighost.sys"
local inflight = require "mighost.inflight"

local M = {}
local q = json.quote
local dry_run = mh.dry_run

M.MAX_ITEM_SIZE = item.MAX_SIZE or 409600
M.BATCH_WRITE_MAX = 25
M.BATCH_GET_MAX = 100
M.MAX_REQUEST_BYTES = 16 * 1024 * 1024

-- Table references -------------------------------------------------------
-- A table is named "NAME", or "NAME@profile=P,region=R" (either key may be
-- left out) to reach it with another profile's credentials and/or in
-- another region: a cross-account or cross-region copy in one run.
-- DynamoDB table names cannot contain '@', so the suffix is unambiguous.
-- Statistics, schemas and the plan keep the whole reference, so the same
-- NAME in two accounts stays two tables.

local function parse_ref(t) return require("mighost.route").parse(t, "table") end

-- The name sent to DynamoDB, and the route ({profile, region} or nil).
local function wire(t) return parse_ref(t).name end
function M.table_name(t) return wire(t) end
function M.table_route(t) return parse_ref(t).route end

-- Statistics per table ---------------------------------------------------

local stats = {}

local function table_stats(name)
  local s = stats[name]
  if not s then
    s = {calls = 0, retries = 0, throttles = 0, errors = 0, read_units = 0,
         write_units = 0, items_read = 0, items_written = 0, items_deleted = 0,
         items_failed = 0, unprocessed = 0, dry_run_writes = 0, bytes_sent = 0,
         bytes_received = 0}
    stats[name] = s
  end
  return s
end

local function add_capacity(s, cc, kind)
  if not cc then return end
  if cc.TableName then cc = {cc} end
  for _, c in ipairs(cc) do
    local units = c.CapacityUnits or 0
    if kind == "write" then s.write_units = s.write_units + units
    else s.read_units = s.read_units + units end
  end
end

-- Capacity limits (--max-read-rate / --max-write-rate): capacity units
-- per second, spent from a bucket that refills with time. A request waits
-- while its bucket is in debt and takes its estimate up front (so a window
-- of concurrent requests cannot overshoot); what it really consumed
-- (ReturnConsumedCapacity) settles the difference afterwards, so the
-- long-run rate holds whatever the item sizes.
local limits = {}

local function set_limit(kind, rate)
  local l = limits[kind]
  if not (rate and rate > 0) then limits[kind] = nil
  elseif l then l.rate, l.units = rate, math.min(l.units, rate)   -- a debt is kept
  else limits[kind] = {rate = rate, units = rate, at = mh.clock()} end
end

function M.set_rate_limits(o)
  for _, kind in ipairs{"read", "write"} do set_limit(kind, o[kind]) end
end

-- One limit changed while requests wait (mighost ctl ... set max-write-rate).
function M.set_rate_limit(kind, rate) set_limit(kind, rate) end

local function refill(l)
  local now = mh.clock()
  l.units = math.min(l.rate, l.units + (now - l.at) * l.rate)
  l.at = now
end

-- Sleeps are short so a changed limit holds within a fraction of a second.
local function wait_for_capacity(kind, estimate)
  local l = limits[kind]
  if not l then return end
  refill(l)
  while l.units < 0 do
    mh.sleep(math.min(0.2, -l.units / l.rate))
    l = limits[kind]
    if not l then return end
    refill(l)
  end
  l.units = l.units - estimate
end

-- Live control (mighost ctl): while paused no new request is sent (those
-- in flight finish); `limit` caps the DynamoDB requests in flight. Ctrl-C
-- or `stop` releases a pause so the run can settle and save its state.
local gate = {paused = false, limit = nil, busy = 0, wire = 0}
function M.control(o)
  if o.paused ~= nil then gate.paused = o.paused end
  if o.limit ~= nil then gate.limit = o.limit > 0 and o.limit or nil end
end
function M.control_state() return {paused = gate.paused, limit = gate.limit, in_flight = gate.wire} end

local function enter_gate()
  while (gate.paused and sys.interrupted() == 0) or (gate.limit and gate.busy >= gate.limit) do
    mh.sleep(0.05)
  end
  gate.busy = gate.busy + 1
end

local function spend(kind, cc, estimate)
  local l = limits[kind]
  if not l then return end
  l.units = l.units + estimate
  if not cc then return end
  if cc.TableName then cc = {cc} end
  for _, c in ipairs(cc) do l.units = l.units - (c.CapacityUnits or 0) end
end

-- One call: returns the decoded response, or nil, err. `estimate` is the
-- capacity it will likely consume (for the rate limits).
-- Offline evaluation (--source-dir): reads answered by a mighost.offline
-- source from export files; nothing reaches mighost.aws.
local offline = nil

function M.set_offline(source) offline = source end
function M.offline() return offline end

local function offline_call(op, tname, body)
  local s = table_stats(tname)
  s.calls = s.calls + 1
  s.bytes_sent = s.bytes_sent + #body
  local resp, err = offline:call(op, tname, body)
  if not resp then
    s.errors = s.errors + 1
    err.table, err.operation = tname, op
    return nil, err
  end
  return resp
end

-- Item reads and writes go through a window of requests in flight per
-- operation and table, sized from what they show (mighost.inflight);
-- scans and queries are paced by their segments.
local windowed = {BatchWriteItem = true, BatchGetItem = true, PutItem = true, UpdateItem = true,
                  DeleteItem = true, GetItem = true, TransactWriteItems = true}
local function rate_of(kind)
  return function() local l = limits[kind]; return l and l.rate end
end
local rates = {read = rate_of("read"), write = rate_of("write")}

local function unprocessed(resp)
  local u = resp.UnprocessedItems or resp.UnprocessedKeys
  return u ~= nil and next(u) ~= nil
end

local function consumed(cc)
  if not cc then return nil end
  if cc.TableName then return cc.CapacityUnits end
  local n = 0
  for _, c in ipairs(cc) do n = n + (c.CapacityUnits or 0) end
  return n
end

local function call(op, tname, body, kind, estimate, lazy, lean)
  if offline then return offline_call(op, tname, body) end
  estimate = estimate or 1
  -- The pause and --concurrency gate comes first; the window (which only
  -- limits) after it, so a paused run holds no window slot and a request
  -- waiting for a slot is never waited on by one that holds it.
  enter_gate()
  local w = windowed[op] and inflight.window(op, tname, rates[kind])
  local on_wire, t0 = false, nil
  local ok, text, meta = pcall(function()
    wait_for_capacity(kind, estimate)
    while gate.paused and sys.interrupted() == 0 do mh.sleep(0.05) end
    t0 = w and w:acquire()
    if t0 and gate.paused then
      -- Paused while waiting for the slot: hold it, time from the resume.
      while gate.paused and sys.interrupted() == 0 do mh.sleep(0.05) end
      t0 = mh.clock()
    end
    gate.wire, on_wire = gate.wire + 1, true
    return aws.call("dynamodb", op, body, parse_ref(tname).route)
  end)
  if on_wire then gate.wire = gate.wire - 1 end
  gate.busy = gate.busy - 1
  -- lazy (scans and queries): the page's Items stay text until a consumer
  -- takes the page (a third result: {text, at, end} for json.decode_ddb_items).
  local resp, items_at, items_end
  if ok and text then
    if lazy then resp, items_at, items_end = json.decode_ddb_lazy(text)
    else resp = json.decode_ddb(text, lean) end
  end
  if t0 then
    w:release(t0, {throttled = ok and (meta.throttles > 0 or (resp ~= nil and unprocessed(resp))),
                   units = resp and consumed(resp.ConsumedCapacity)})
  end
  if not ok then error(text, 0) end
  local s = table_stats(tname)
  s.bytes_sent = s.bytes_sent + #body
  if text then s.bytes_received = s.bytes_received + #text end
  s.calls = s.calls + 1
  s.retries = s.retries + (meta.attempts > 0 and meta.attempts - 1 or 0)
  s.throttles = s.throttles + meta.throttles
  if not text then
    spend(kind, nil, estimate)
    s.errors = s.errors + 1
    meta.table, meta.operation = tname, op
    return nil, meta
  end
  add_capacity(s, resp.ConsumedCapacity, kind)
  spend(kind, resp.ConsumedCapacity, estimate)
  return resp, nil, items_at and {text, items_at, items_end}
end

-- The runner's write guard (--backup, --require-backup): called with the
-- table reference before any write is sent or recorded; it raises for a
-- table the run did not declare.
local write_guard = nil
function M.set_write_guard(fn) write_guard = fn end
-- The runner's own bookkeeping (the history table) is no table of the run.
function M.without_guard(fn, ...)
  local saved = write_guard
  write_guard = nil
  local r = table.pack(pcall(fn, ...))
  write_guard = saved
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end
local function guard(t) if write_guard then write_guard(t) end end

-- Request building ---------------------------------------------------------

local function need_table(o)
  if type(o) ~= "table" then error("expected an options table", 3) end
  local t = o.table
  if type(t) ~= "string" or t == "" then error("option 'table' (a table name) is required", 3) end
  return t
end

local function encode_names(names)
  local keys = {}
  for k, v in pairs(names) do
    if type(k) ~= "string" or type(v) ~= "string" then
      error("'names' maps placeholders (#name) to attribute names", 4)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = q(k) .. ":" .. q(names[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function encoded(what, value)
  local ok, text = pcall(item.encode, value)
  if not ok then error(what .. ": " .. tostring(text), 4) end
  return text
end

-- Options shared by most operations, appended to parts.
local function common(parts, o)
  if o.condition then parts[#parts + 1] = '"ConditionExpression":' .. q(o.condition) end
  if o.names then parts[#parts + 1] = '"ExpressionAttributeNames":' .. encode_names(o.names) end
  if o.values then
    parts[#parts + 1] = '"ExpressionAttributeValues":' .. encoded("values", o.values)
  end
  if o.return_values then parts[#parts + 1] = '"ReturnValues":' .. q(o.return_values) end
  parts[#parts + 1] = '"ReturnConsumedCapacity":"TOTAL"'
end

local function body_of(parts) return "{" .. table.concat(parts, ",") .. "}" end

-- Key schemas, for validation and de-duplication -----------------------------

local schemas = {}

function M.describe_table(name)
  if type(name) ~= "string" then error("describe_table(name): name must be a string", 2) end
  local resp, err = call("DescribeTable", name, '{"TableName":' .. q(wire(name)) .. '}', "read")
  if not resp then return nil, err end
  return resp.Table
end

-- {hash=, range=, types={attr=S|N|B}, index_keys={attr=type}, item_count=}
function M.schema(name)
  local s = schemas[name]
  if s then return s end
  local t, err = M.describe_table(name)
  if not t then return nil, err end
  s = {types = {}, index_keys = {}, item_count = t.ItemCount, size_bytes = t.TableSizeBytes,
       name = name}
  for _, d in ipairs(t.AttributeDefinitions or {}) do s.types[d.AttributeName] = d.AttributeType end
  for _, k in ipairs(t.KeySchema or {}) do
    if k.KeyType == "HASH" then s.hash = k.AttributeName else s.range = k.AttributeName end
  end
  local function index_keys(list)
    for _, idx in ipairs(list or {}) do
      for _, k in ipairs(idx.KeySchema or {}) do
        s.index_keys[k.AttributeName] = s.types[k.AttributeName]
      end
    end
  end
  index_keys(t.GlobalSecondaryIndexes)
  index_keys(t.LocalSecondaryIndexes)
  schemas[name] = s
  return s
end

local function must_schema(name)
  local s, err = M.schema(name)
  if not s then error(err, 3) end
  return s
end

-- The key of an item: a new table with only the key attributes.
function M.key_of(schema, it)
  local k = {[schema.hash] = it[schema.hash]}
  if schema.range then k[schema.range] = it[schema.range] end
  return k
end

local function key_attr_ok(schema, it, name, where)
  local v = it[name]
  if v == nil then return ("%s: key attribute '%s' is missing"):format(where, name) end
  local want = schema.types[name]
  if type(v) ~= "table" or v[want] == nil then
    return ("%s: key attribute '%s' must be of type %s"):format(where, name, want)
  end
  if want ~= "N" and v[want] == "" then
    return ("%s: key attribute '%s' is an empty string"):format(where, name)
  end
end

-- Returns nil if the item (or key) can be written, else the reason. size:
-- the item's item.size when the caller has it already.
function M.validate(schema, it, key_only, size)
  if type(it) ~= "table" and not item.is_lean(it) then return "the item is not a table" end
  local what = key_only and "key" or "item"
  local reason = key_attr_ok(schema, it, schema.hash, what)
  if not reason and schema.range then reason = key_attr_ok(schema, it, schema.range, what) end
  if reason then return reason end
  if key_only then
    for name in pairs(it) do
      if name ~= schema.hash and name ~= schema.range then
        return ("key: '%s' is not a key attribute"):format(name)
      end
    end
    return nil
  end
  for name, want in pairs(schema.index_keys) do
    local v = it[name]
    if v ~= nil then
      if type(v) ~= "table" or v[want] == nil then
        return ("item: index key attribute '%s' must be of type %s"):format(name, want)
      end
      if v[want] == "" then
        return ("item: index key attribute '%s' is an empty string"):format(name)
      end
    end
  end
  size = size or item.size(it)
  if size > M.MAX_ITEM_SIZE then
    return ("item: %d bytes is over DynamoDB's 400 KB limit"):format(size)
  end
end

local function record(op, tname, body, schema, it, key_only)
  local reason = M.validate(schema, it, key_only)
  if reason then return nil, aws.error("ValidationException", reason, false) end
  plan.record(op, tname, body)
  local s = table_stats(tname)
  s.dry_run_writes = s.dry_run_writes + 1
  return true
end

-- Single-item operations ---------------------------------------------------

function M.get(o)
  local t = need_table(o)
  local parts = {'"TableName":' .. q(wire(t)), '"Key":' .. encoded("key", o.key)}
  if o.consistent then parts[#parts + 1] = '"ConsistentRead":true' end
  if o.projection then parts[#parts + 1] = '"ProjectionExpression":' .. q(o.projection) end
  if o.names then parts[#parts + 1] = '"ExpressionAttributeNames":' .. encode_names(o.names) end
  parts[#parts + 1] = '"ReturnConsumedCapacity":"TOTAL"'
  local resp, err = call("GetItem", t, body_of(parts), "read", nil, nil, o.lean)
  if not resp then return nil, err end
  if resp.Item then
    local s = table_stats(t)
    s.items_read = s.items_read + 1
  end
  return resp.Item
end

-- put/update/delete: true[, attributes] | false, err (condition) | nil, err
local function write_one(op, o, build, validate_what)
  local t = need_table(o)
  guard(t)
  if op == "PutItem" then
    local size = item.size(o.item)
    if size > M.MAX_ITEM_SIZE then
      return nil, aws.error("ValidationException", ("item: %d bytes is over DynamoDB's 400 KB "
        .. "limit; store large values elsewhere (S3) or split the item"):format(size), false)
    end
  end
  local parts = {'"TableName":' .. q(wire(t))}
  build(parts)
  common(parts, o)
  local body = body_of(parts)
  if dry_run then
    local schema = must_schema(t)
    return record(op, t, body, schema, validate_what, validate_what ~= o.item)
  end
  local resp, err = call(op, t, body, "write", nil, nil, o.lean)
  if not resp then
    if err.code == "ConditionalCheckFailedException" then return false, err end
    return nil, err
  end
  local s = table_stats(t)
  if op == "DeleteItem" then s.items_deleted = s.items_deleted + 1
  else s.items_written = s.items_written + 1 end
  return true, resp.Attributes
end

function M.put(o)
  if type(o) == "table" and type(o.item) ~= "table" and not item.is_lean(o.item) then
    error("put: option 'item' is required", 2)
  end
  return write_one("PutItem", o, function(parts)
    parts[#parts + 1] = '"Item":' .. encoded("item", o.item)
  end, o.item)
end

function M.update(o)
  if type(o) == "table" and type(o.update) ~= "string" then
    error("update: option 'update' (an update expression) is required", 2)
  end
  return write_one("UpdateItem", o, function(parts)
    parts[#parts + 1] = '"Key":' .. encoded("key", o.key)
    parts[#parts + 1] = '"UpdateExpression":' .. q(o.update)
  end, o.key)
end

function M.delete(o)
  return write_one("DeleteItem", o, function(parts)
    parts[#parts + 1] = '"Key":' .. encoded("key", o.key)
  end, o.key)
end

-- transact_write{ {put={table=,item=,condition=...}}, {update={...}},
--                 {delete={...}}, {check={...}} ; token = "..." }
function M.transact_write(list)
  if type(list) ~= "table" or #list == 0 then error("transact_write: a list of actions", 2) end
  local actions, tables = {}, {}
  for i, a in ipairs(list) do
    local kind, o = next(a)
    local action = ({put = "Put", update = "Update", delete = "Delete", check = "ConditionCheck"})[kind]
    if not action then error(("transact_write: action %d must be put, update, delete or check"):format(i), 2) end
    local t = need_table(o)
    guard(t)
    tables[#tables + 1] = t
    local parts = {'"TableName":' .. q(wire(t))}
    if kind == "put" then parts[#parts + 1] = '"Item":' .. encoded("item", o.item)
    else parts[#parts + 1] = '"Key":' .. encoded("key", o.key) end
    if kind == "update" then parts[#parts + 1] = '"UpdateExpression":' .. q(o.update) end
    if o.condition then parts[#parts + 1] = '"ConditionExpression":' .. q(o.condition) end
    if o.names then parts[#parts + 1] = '"ExpressionAttributeNames":' .. encode_names(o.names) end
    if o.values then parts[#parts + 1] = '"ExpressionAttributeValues":' .. encoded("values", o.values) end
    actions[i] = "{" .. q(action) .. ":" .. body_of(parts) .. "}"
    if dry_run then
      local reason = M.validate(must_schema(t), kind == "put" and o.item or o.key, kind ~= "put")
      if reason then return nil, aws.error("ValidationException", ("action %d: %s"):format(i, reason), false) end
    end
  end
  for i = 2, #tables do
    local a, b = parse_ref(tables[1]).route or {}, parse_ref(tables[i]).route or {}
    if a.profile ~= b.profile or a.region ~= b.region then
      error("transact_write: every table of a transaction must be in the same account and region", 2)
    end
  end
  local body = '{"TransactItems":[' .. table.concat(actions, ",") .. ']'
  if list.token then body = body .. ',"ClientRequestToken":' .. q(list.token) end
  body = body .. ',"ReturnConsumedCapacity":"TOTAL"}'
  if dry_run then
    plan.record("TransactWriteItems", tables[1], body)
    return true
  end
  local resp, err = call("TransactWriteItems", tables[1], body, "write")
  if not resp then
    if err.code == "TransactionCanceledException" then return false, err end
    return nil, err
  end
  return true
end

-- batch_get{table=, keys={...}, projection=, names=, consistent=, lean=}
-- Returns the items found (any order); UnprocessedKeys are retried.
function M.batch_get(o)
  local t = need_table(o)
  local keys = o.keys or error("batch_get: option 'keys' is required", 2)
  local found, pending = {}, {}
  for i, k in ipairs(keys) do pending[i] = encoded("keys[" .. i .. "]", k) end
  local extra = {}
  if o.consistent then extra[#extra + 1] = '"ConsistentRead":true' end
  if o.projection then extra[#extra + 1] = '"ProjectionExpression":' .. q(o.projection) end
  if o.names then extra[#extra + 1] = '"ExpressionAttributeNames":' .. encode_names(o.names) end
  local rounds, max_rounds = 0, o.max_attempts or 10
  while #pending > 0 do
    local chunk, rest = {}, {}
    for i, k in ipairs(pending) do
      if i <= M.BATCH_GET_MAX then chunk[#chunk + 1] = k else rest[#rest + 1] = k end
    end
    local req = {'"Keys":[' .. table.concat(chunk, ",") .. ']'}
    for _, e in ipairs(extra) do req[#req + 1] = e end
    local body = '{"RequestItems":{' .. q(wire(t)) .. ':' .. body_of(req) .. '},"ReturnConsumedCapacity":"TOTAL"}'
    local resp, err = call("BatchGetItem", t, body, "read", nil, nil, o.lean)
    if not resp then return nil, err end
    for _, it in ipairs(resp.Responses and resp.Responses[wire(t)] or {}) do found[#found + 1] = it end
    local un = resp.UnprocessedKeys and resp.UnprocessedKeys[wire(t)]
    if un and un.Keys and #un.Keys > 0 then
      rounds = rounds + 1
      if rounds >= max_rounds then
        return nil, aws.error("UnprocessedKeys", ("%d keys still unprocessed after %d attempts")
          :format(#un.Keys, rounds), true)
      end
      for _, k in ipairs(un.Keys) do rest[#rest + 1] = item.encode(k) end
      mh.sleep(math.random() * math.min(5, 0.05 * 2 ^ rounds))
    else
      rounds = 0
    end
    pending = rest
  end
  local s = table_stats(t)
  s.items_read = s.items_read + #found
  return found
end

-- Scans and queries -------------------------------------------------------

local function page_body(op, o, segment, total, start_key)
  local parts = {'"TableName":' .. q(wire(o.table))}
  if o.index then parts[#parts + 1] = '"IndexName":' .. q(o.index) end
  if op == "Query" then
    if not o.key_condition then error("query: option 'key_condition' is required", 4) end
    parts[#parts + 1] = '"KeyConditionExpression":' .. q(o.key_condition)
    if o.forward == false then parts[#parts + 1] = '"ScanIndexForward":false' end
  end
  if o.filter then parts[#parts + 1] = '"FilterExpression":' .. q(o.filter) end
  if o.projection then parts[#parts + 1] = '"ProjectionExpression":' .. q(o.projection) end
  if o.names then parts[#parts + 1] = '"ExpressionAttributeNames":' .. encode_names(o.names) end
  if o.values then parts[#parts + 1] = '"ExpressionAttributeValues":' .. encoded("values", o.values) end
  if o.consistent then parts[#parts + 1] = '"ConsistentRead":true' end
  if o.limit then parts[#parts + 1] = '"Limit":' .. math.tointeger(o.limit) end
  if o.select then parts[#parts + 1] = '"Select":' .. q(o.select) end
  if total then
    parts[#parts + 1] = '"Segment":' .. segment
    parts[#parts + 1] = '"TotalSegments":' .. total
  end
  if start_key then parts[#parts + 1] = '"ExclusiveStartKey":' .. encoded("start_key", start_key) end
  parts[#parts + 1] = '"ReturnConsumedCapacity":"TOTAL"'
  return body_of(parts)
end

-- Pages from every segment, fetched concurrently by one task per segment,
-- through a bounded queue: a producer takes a slot before it fetches, so
-- pages queued plus pages being fetched never exceed `prefetch` (default:
-- the number of segments, at most 4) and memory stays at a few pages (a
-- page is up to 1 MB of JSON) whatever the table's size. Returns an
-- iterator and a to-be-closed value that stops the producers if the loop
-- ends early.
-- Parallel scans' progress, for the runner's ETA: per table and number of
-- segments, the segments finished, the items they held and the items seen
-- by all (COUNT scans are not tracked).
local scan_progress = {}
function M.scan_progress() return scan_progress end
function M.reset_scan_progress() scan_progress = {} end

-- keep_raw: pages are handed over with their items still as text (page.raw,
-- read with M.page_items), for consumers that take them one at a time.
local function pages(op, o, per_item, keep_raw)
  local t = need_table(o)
  local segments = {}
  if o.segment then                      -- one segment of a parallel scan
    segments[1] = {n = o.segment, total = o.total_segments or error("total_segments is required", 3),
                   start = o.start_key}
  elseif (o.segments or 1) > 1 then
    if op ~= "Scan" then error("segments apply to scans only", 3) end
    for i = 1, o.segments do
      segments[i] = {n = i - 1, total = o.segments, start = o.start_keys and o.start_keys[i]}
    end
  else
    segments[1] = {start = o.start_key}
  end
  local capacity = o.prefetch or math.max(2, math.min(#segments, 4))
  local queue, head, tail, slots = {}, 1, 0, 0
  local consumer, waiting = nil, {}
  local live, stopped, failure = #segments, false, nil

  local function wake_consumer()
    if consumer then local c = consumer; consumer = nil; mh.unpark(c) end
  end
  local function wake_producer()
    local p = table.remove(waiting)
    if p then mh.unpark(p) end
  end

  local function produce(seg)
    local start = seg.start
    local track, seen = nil, 0
    if seg.total and o.select ~= "COUNT" then
      local k = t .. "#" .. seg.total
      track = scan_progress[k] or {table = t, total = seg.total, done = 0, items_done = 0, items_seen = 0}
      scan_progress[k] = track
    end
    repeat
      while slots >= capacity and not stopped do
        waiting[#waiting + 1] = mh.current()
        mh.park()
      end
      if stopped then break end
      slots = slots + 1
      local resp, err, raw = call(op, t, page_body(op, o, seg.n, seg.total, start), "read", nil, true)
      if not resp then failure = failure or err; stopped = true; break end
      -- A queued page stays compact (its Items as text) until it is taken.
      local items = resp.Items
      if raw and math.type(resp.Count) ~= "integer" then
        items, raw = json.decode_ddb_items(raw[1], raw[2], raw[3]), nil
      end
      local n = raw and resp.Count or #(items or {})
      if not raw then items = items or {} end
      local s = table_stats(t)
      s.items_read = s.items_read + n
      seen = seen + n
      if track and resp.LastEvaluatedKey == nil then
        track.done, track.items_done = track.done + 1, track.items_done + seen
      end
      start = resp.LastEvaluatedKey
      tail = tail + 1
      queue[tail] = {items = items, raw = raw, n = n, last_key = start, segment = seg.n, count = resp.Count,
                     scanned_count = resp.ScannedCount, done = start == nil, track = track}
      wake_consumer()
    until start == nil
    live = live - 1
    wake_consumer()
  end

  for _, seg in ipairs(segments) do mh.spawn(produce, seg) end

  local function next_page()
    while true do
      if failure then error(failure, 2) end
      if head <= tail then
        local p = queue[head]
        queue[head] = nil
        head = head + 1
        slots = slots - 1
        wake_producer()
        if p.raw and not keep_raw then
          local r = p.raw
          p.raw = nil
          p.items = json.decode_ddb_items(r[1], r[2], r[3])
        end
        -- Seen when handed over (item by item for item_iter), not when fetched.
        if p.track and not per_item then p.track.items_seen = p.track.items_seen + p.n end
        return p
      end
      if live == 0 then return nil end
      consumer = mh.current()
      mh.park()
    end
  end
  local closer = setmetatable({}, {__close = function()
    stopped = true
    while #waiting > 0 do wake_producer() end
  end})
  return next_page, closer
end

-- The items of a page, one at a time: from page.items, or decoded from its
-- text (page.raw) a hundred at a time, so a page of a thousand items is
-- never all Lua tables at once. The page lets go of each item it hands out.
-- lean: items from the text are lean items (mighost.item: kept as text,
-- each attribute decoded when read).
local CHUNK = 100
function M.page_items(p, lean)
  local items, i, n = p.items, 0, p.items and #p.items or 0
  local raw = p.raw
  p.raw = nil
  local text, at, e
  if raw then text, at, e = raw[1], raw[2], raw[3] end
  return function()
    while true do
      if i < n then
        i = i + 1
        local it = items[i]
        items[i] = nil
        return it
      end
      if not at then return nil end
      items, at = json.decode_ddb_items(text, at, e, CHUNK, lean)
      i, n = 0, #items
    end
  end
end

local function item_iter(op, o)
  local next_page, closer = pages(op, o, true, true)
  local page, iter, left = nil, nil, o.max_items
  return function()
    if left and left <= 0 then return nil end
    while true do
      if iter then
        local it = iter()
        if it ~= nil then
          if left then left = left - 1 end
          if page.track then page.track.items_seen = page.track.items_seen + 1 end
          return it, page
        end
      end
      page = next_page()
      if not page then return nil end
      iter = M.page_items(page, o.lean)
    end
  end, nil, nil, closer
end

-- for item, page in ddb.scan{table=, segments=, filter=, ...} do ... end
-- (page: where the item came from, its items not kept)
function M.scan(o) return item_iter("Scan", o) end
function M.query(o) return item_iter("Query", o) end

-- for page in ddb.scan_pages{...}: page = {items, last_key, segment, count, scanned_count}
-- o.raw_items: the pages' items stay text (page.raw, page.n items): read
-- them with ddb.page_items(page).
function M.scan_pages(o)
  local next_page, closer = pages("Scan", o, false, o.raw_items)
  return next_page, nil, nil, closer
end
function M.query_pages(o)
  local next_page, closer = pages("Query", o)
  return next_page, nil, nil, closer
end

-- Number of matching items (Select = COUNT), all segments.
function M.count(o)
  local c = {}
  for k, v in pairs(o) do c[k] = v end
  c.select = "COUNT"
  local op = c.key_condition and "Query" or "Scan"
  local next_page, closer = pages(op, c)
  local n = 0
  local ok, err = pcall(function()
    for page in next_page do n = n + (page.count or 0) end
  end)
  getmetatable(closer).__close()
  if not ok then return nil, err end
  return n
end

-- Generic requests: reads always; writes refused in a dry-run. tname, the
-- table reference the request is for, picks its route and its statistics
-- (the body names the table itself).
local reads = {GetItem = true, BatchGetItem = true, Query = true, Scan = true,
  DescribeTable = true, ListTables = true, DescribeTimeToLive = true,
  DescribeContinuousBackups = true, ListTagsOfResource = true, DescribeLimits = true,
  DescribeEndpoints = true, TransactGetItems = true, DescribeKinesisStreamingDestination = true}

function M.request(op, body, tname)
  if type(body) == "table" then body = json.encode(body) end
  if not reads[op] then guard(tname or "(a request without a table reference)") end
  if dry_run and not reads[op] then
    return nil, aws.error("DryRun", op .. " is not a read: refused in a dry-run", false)
  end
  if offline then
    if not reads[op] then
      return nil, aws.error("Offline", op .. " is not a read: refused offline (--source-dir)", false)
    end
    return offline_call(op, tname or "*", body or "{}")
  end
  local text, meta = aws.call("dynamodb", op, body or "{}", tname and parse_ref(tname).route)
  local s = table_stats(tname or "*")
  s.calls = s.calls + 1
  if not text then return nil, meta end
  return json.decode_ddb(text)
end

-- Waits until the table is ACTIVE (after CreateTable or UpdateTable).
function M.wait_active(name, timeout)
  local deadline = mh.clock() + (timeout or 300)
  while true do
    local t, err = M.describe_table(name)
    if t and t.TableStatus == "ACTIVE" then return t end
    if not t and err.code ~= "ResourceNotFoundException" then return nil, err end
    if mh.clock() > deadline then
      return nil, aws.error("Timeout", ("table %s is not ACTIVE after %d s"):format(name, timeout or 300), true)
    end
    mh.sleep(0.05)
  end
end

-- CreateTable with the request as a plain table, then wait until ACTIVE.
function M.create_table(request)
  if dry_run then return nil, aws.error("DryRun", "CreateTable is not a read: refused in a dry-run", false) end
  local ref = request.TableName
  local body = {}
  for k, v in pairs(request) do body[k] = v end
  body.TableName = wire(ref)
  local resp, err = M.request("CreateTable", body, ref)
  if not resp then return nil, err end
  return M.wait_active(ref)
end

function M.stats()
  local copy = {}
  for t, s in pairs(stats) do
    local c = {}
    for k, v in pairs(s) do c[k] = v end
    copy[t] = c
  end
  return copy
end

M.writer = function(o)
  if type(o) == "table" and o.table then guard(o.table) end
  return require("mighost.dynamodb_writer").new(M, o, {
    call = call, table_stats = table_stats, must_schema = must_schema, record = record,
  })
end

return M
