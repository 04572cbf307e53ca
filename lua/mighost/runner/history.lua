-- mighost.runner.history: one item per run in a DynamoDB table (the way
-- Flyway keeps its schema history), so operators can tell which
-- migrations ran against which tables, when, by whom and how they ended.
--
-- The table (--history TABLE, default mighost-history; --no-history: none)
-- is in the account, region and DynamoDB endpoint the run's own
-- credentials reach, and is created on first use (on-demand capacity,
-- key migration + run). Dry-runs and offline runs never touch it. A run's
-- item is put when it starts (outcome "running", so a killed process
-- still leaves a trace) and again when it ends, with:
--   migration, run (started#id), mighost, mode, parameters (JSON, secret
--   ones masked), account, principal, profile, region, endpoint, user,
--   tables_read, tables_written, started, finished, outcome, exit_code,
--   counts {scanned, written, deleted, skipped, failed}, report,
--   state_file, undo_journal, resumed, command_line.
-- Failing to write history is a warning, never the run's failure.

local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local json = require "mighost.json"
local sys = require "mighost.sys"
local mh = require "mighost"

local M = {}
M.DEFAULT_TABLE = "mighost-history"

local function absolute(path)
  if not path or path:sub(1, 1) == "/" or path:match("^s3://") then return path end
  local cwd = sys.getenv("PWD")
  return cwd and cwd ~= "" and (cwd .. "/" .. path) or path
end

-- Creates the table when it does not exist; true, or nil, message.
local function ensure(name)
  local t, err = ddb.describe_table(name)
  if t then return true end
  if not (type(err) == "table" and err.code == "ResourceNotFoundException") then
    return nil, tostring(err)
  end
  local _, cerr = ddb.without_guard(ddb.create_table, {TableName = name, BillingMode = "PAY_PER_REQUEST",
    AttributeDefinitions = {{AttributeName = "migration", AttributeType = "S"},
                            {AttributeName = "run", AttributeType = "S"}},
    KeySchema = {{AttributeName = "migration", KeyType = "HASH"},
                 {AttributeName = "run", KeyType = "RANGE"}}})
  if cerr and not (type(cerr) == "table" and cerr.code == "ResourceInUseException") then
    return nil, tostring(cerr)
  end
  if cerr then return ddb.wait_active(name) and true end
  mh.info(("history: created the table %s (on-demand capacity)"):format(name))
  return true
end

-- The tables a run reads and writes, by name, sorted.
function M.tables_of(mig, values, phase_tables)
  local reads, writes, seen = {}, {}, {r = {}, w = {}}
  local function add(list, mark, v)
    local name = type(v) == "string" and (values[v] or v)
    if type(name) == "string" and not mark[name] then mark[name] = true; list[#list + 1] = name end
  end
  for _, ph in ipairs(mig.phases) do
    local r, w = phase_tables(ph)
    for _, v in ipairs(r) do add(reads, seen.r, v) end
    for _, v in ipairs(w) do add(writes, seen.w, v) end
  end
  table.sort(reads)
  table.sort(writes)
  return reads, writes
end

local Hist = {}
Hist.__index = Hist

-- A run's history, or nil when this run keeps none; nothing is read or
-- written yet (the re-run check reads, start writes).
function M.new(mig, values, o, info, store, tables_read, tables_written)
  if o.no_history or o.dry_run or o.source_dir then return nil end
  local shown = {}
  for _, p in ipairs(mig.params or {}) do
    local v = values[p.name]
    if p.secret and v ~= nil then v = "(secret)" end
    shown[p.name] = v
  end
  local w = info.where or {}
  return setmetatable({table = o.history or M.DEFAULT_TABLE, data = {
    migration = mig.name, mighost = mh.version, mode = o.verify_only and "verify-only" or "run",
    parameters = json.encode(shown), account = w.account, principal = w.principal,
    profile = w.profile, region = info.region, endpoint = w.endpoints, user = sys.getenv("USER"),
    tables_read = tables_read, tables_written = tables_written,
    state_file = store.path and absolute(store.path), resumed = o.resume and true or false,
    command_line = require("mighost.runner.cli").command_line(o.argv, mig), limit = o.limit,
  }}, Hist)
end

-- The run starts: its item is put (outcome "running"); false when the
-- table cannot be used (a warning: the run goes on unrecorded).
function Hist:start(rep)
  local d = self.data
  d.started, d.outcome, d.report = rep.data.started, "running", absolute(rep.path)
  d.run = mh.now() .. "#" .. sys.sha256(d.started .. tostring(mh.clock()) ..
    tostring(math.random())):sub(1, 8)
  local ok, err = ensure(self.table)
  if not ok then
    mh.warn(("history: cannot use the table %s (%s); this run is not recorded (--no-history "
      .. "to skip)"):format(self.table, err))
    self.broken = true
    return false
  end
  self:put()
  rep.data.history = {table = self.table, migration = d.migration, run = d.run}
  return true
end

function Hist:put()
  local plain = {}
  for k, v in pairs(self.data) do
    if v ~= nil and not (type(v) == "table" and next(v) == nil) then plain[k] = v end
  end
  local ok, done, err = pcall(ddb.without_guard, ddb.put, {table = self.table,
    item = item.from_plain(plain).M})
  if not ok or not done then
    mh.warn(("history: cannot record the run in %s: %s"):format(self.table,
      tostring(ok and err or done)))
  end
end

-- At the end: outcome and totals from the report.
function Hist:finish(rep, undo_dir)
  if self.broken then return end
  local d = rep.data
  local counts = {scanned = 0, written = 0, deleted = 0, skipped = 0, failed = 0}
  for _, p in ipairs(d.phases or {}) do
    if p.status ~= "skipped" then
      counts.scanned = counts.scanned + (p.scanned or 0)
      counts.written = counts.written + (p.written or 0)
      counts.deleted = counts.deleted + (p.deleted or 0)
      counts.skipped = counts.skipped + (p.skipped and p.skipped.total or 0)
      counts.failed = counts.failed + (p.failed and p.failed.count or 0)
    end
  end
  local h = self.data
  h.finished, h.outcome, h.exit_code, h.counts = d.finished, d.outcome, d.exit_code, counts
  h.undo_journal = undo_dir and absolute(undo_dir)
  self:put()
end

-- The runs of a migration (or of all) in a history table, newest first;
-- nil, message when it cannot be read. A table that does not exist holds
-- no runs.
function M.list(tbl, name)
  local rows = {}
  local it
  if name then
    it = ddb.query{table = tbl, key_condition = "#m = :m", names = {["#m"] = "migration"},
                   values = {[":m"] = {S = name}}, consistent = true}
  else
    it = ddb.scan{table = tbl, consistent = true}
  end
  local ok, err = pcall(function()
    for row in it do rows[#rows + 1] = item.to_plain({M = row}) end
  end)
  if not ok then
    if type(err) == "table" and err.code == "ResourceNotFoundException" then return {} end
    return nil, tostring(type(err) == "table" and (err.message or err.code) or err)
  end
  table.sort(rows, function(a, b) return tostring(a.run) > tostring(b.run) end)
  return rows
end

-- An earlier run of this migration that finished with exit 0 on the same
-- tables, in the same account, region and endpoint; or nil.
function Hist:finished_before()
  local h = self
  local rows = M.list(h.table, h.data.migration)
  local d = h.data
  local function same_list(a, b) return json.encode(a or {}) == json.encode(b or {}) end
  for _, r in ipairs(rows or {}) do
    if r.exit_code == 0 and r.mode == "run" and r.run ~= d.run and r.limit == nil and
       same_list(r.tables_read, d.tables_read) and same_list(r.tables_written, d.tables_written) and
       r.account == d.account and r.region == d.region and r.endpoint == d.endpoint then
      return r
    end
  end
end

-- `mighost history [NAME] [--output json] [--history TABLE]`.
function M.command(args, parsed)
  local o = parsed("history", args)
  if not o then return end
  if not args.aws then
    io.stderr:write("mighost: history: no AWS region: pass --region, set AWS_REGION, or set region "
      .. "in your profile\n")
    return sys.set_exit_code(mh.EXIT.USAGE)
  end
  local tbl = o.history or M.DEFAULT_TABLE
  local rows, err = M.list(tbl, o.positional[1])
  if not rows then
    io.stderr:write(("mighost: history: cannot read %s: %s\n"):format(tbl, err))
    return sys.set_exit_code(mh.EXIT.AWS)
  end
  if o.output == "json" then return print(json.encode({table = tbl, runs = json.array(rows)})) end
  if #rows == 0 then return print(("no runs recorded in %s"):format(tbl)) end
  for _, r in ipairs(rows) do
    print(("%s  %s  %s  exit %s (%s)"):format(tostring(r.started), r.migration, r.mode or "run",
      tostring(r.exit_code or "-"), tostring(r.outcome)))
    print(("    by %s in account %s, region %s"):format(tostring(r.principal or r.user or "?"),
      tostring(r.account or "?"), tostring(r.region or "?")))
    print(("    read %s; wrote %s"):format(table.concat(r.tables_read or {}, ", "),
      table.concat(r.tables_written or {}, ", ")))
    if r.counts then
      print(("    scanned %s, written %s, deleted %s, skipped %s, failed %s; report %s"):format(
        tostring(r.counts.scanned), tostring(r.counts.written), tostring(r.counts.deleted),
        tostring(r.counts.skipped), tostring(r.counts.failed), tostring(r.report)))
    end
  end
end

return M
