-- mighost.runner.report: the JSON report of a run, the summary on stderr,
-- and progress lines while a phase runs.

local json = require "mighost.json"
local sys = require "mighost.sys"
local mh = require "mighost"
local item = require "mighost.item"
local inflight = require "mighost.inflight"

local M = {}
local Report = {}
Report.__index = Report

local function plain_key(k)
  if type(k) ~= "table" then return k end
  local ok, text = pcall(item.encode, k)
  return ok and json.decode(text) or tostring(k)
end

local function listed(list)
  local out = json.array()
  for i, e in ipairs(list) do out[i] = {key = plain_key(e.key), reason = e.reason} end
  return out
end

function M.new(mig, values, o, info)
  local shown = {}
  for _, p in ipairs(mig.params or {}) do
    local v = values[p.name]
    if p.secret and v ~= nil then v = "(secret)" end
    shown[p.name] = v
  end
  local mode = o.dry_run and "dry-run" or o.verify_only and "verify-only" or "run"
  local r = setmetatable({data = {
    migration = mig.name, mighost = mh.version, mode = mode, parameters = shown,
    region = info.region, started = sys.utc(), limit = o.limit, phases = {},
    tables = info.tables, notes = info.notes, backups = info.backup,
    parameter_sources = info.sources,
    command_line = require("mighost.runner.cli").command_line(o.argv, mig)},
    o = o, started = mh.clock()}, Report)
  local w = info.where or {}
  r.data.account, r.data.principal, r.data.profile = w.account, w.principal, w.profile
  r.data.endpoints, r.data.credential_source = w.endpoints, w.credentials
  local stamp = sys.utc(nil, "%Y%m%dT%H%M%SZ")
  r.path = o.report or ("mighost-report-%s-%s.json"):format(mig.name:gsub("[^%w%-_.]", "_"), stamp)
  return r
end

-- The runner's own top-level fields; a migration cannot replace them.
local RESERVED = {migration = true, mighost = true, mode = true, parameters = true, region = true,
  started = true, limit = true, phases = true, tables = true, notes = true, backups = true,
  finished = true, exit_code = true, outcome = true, duration_seconds = true, state_file = true,
  aws = true, account = true, principal = true, profile = true, endpoints = true,
  credential_source = true, failed_keys_file = true, parameter_sources = true,
  command_line = true, control = true, history = true, undo = true}

-- A top-level field set by a migration (ctx:report_field), so a report can
-- keep the shape of the reference script's own report. "verification" is
-- merged beside the runner's `ok` and `phases`, which stay the runner's.
function Report:set_field(name, value)
  local d = self.data
  if name == "verification" and type(value) == "table" then
    d.verification = d.verification or {ok = true, phases = {}}
    for k, v in pairs(value) do
      if k ~= "ok" and k ~= "phases" then d.verification[k] = v end
    end
    return
  end
  if RESERVED[name] or name == "verification" then
    error(("report_field: '%s' is the runner's own field"):format(name), 3)
  end
  d[name] = value
end

function Report:phase_skipped(name, why, counts)
  self.data.phases[#self.data.phases + 1] = {name = name, status = "skipped", reason = why,
                                             earlier_counts = counts}
end

function Report:phase_done(name, ctx, seconds, before, after, err)
  local c = ctx.counts
  local status = err and "error" or (ctx.stopping and "stopped") or
                 (sys.interrupted() > 0 and "interrupted") or "done"
  local entry = {
    name = name, status = status, duration_seconds = math.floor(seconds * 1000) / 1000,
    -- The process's CPU time (every thread) while the phase ran.
    cpu_seconds = math.floor(after.cpu_seconds * 1000) / 1000,
    -- The run's peak resident memory so far: the phase that raised it
    -- is the first whose figure is the run's largest.
    peak_rss_mb = after.peak_rss and math.floor(after.peak_rss / 1024 * 10 + 0.5) / 10,
    scanned = c.scanned, written = c.written, deleted = c.deleted,
    skipped = {total = c.skipped_total, by_reason = c.skipped, items = listed(ctx.skipped_items)},
    orphaned = {count = c.orphaned, items = listed(ctx.orphans)},
    failed = {count = c.failed, items = listed(ctx.failures)},
    superseded = c.superseded,
    retried = c.retried,          -- failed keys of earlier runs, copied again first
    retries = after.retries - before.retries, throttles = after.throttles - before.throttles,
    consumed_capacity = {read = after.read_units - before.read_units,
                         write = after.write_units - before.write_units},
    notes = next(ctx.notes) and ctx.notes or nil,
    -- The requests in flight each operation's window chose (mighost.inflight).
    in_flight = next(inflight.levels()) and inflight.levels() or nil,
  }
  if self.o.dry_run then
    entry.would_write, entry.written = c.written, 0
    entry.would_delete, entry.deleted = c.deleted, 0
  end
  if err then entry.error = type(err) == "table" and err.message or tostring(err) end
  if ctx.verification and status ~= "done" then
    -- An interrupted or failed verification proves nothing.
    ctx.verification.ok = false
    ctx.verification.incomplete = true
  end
  if ctx.verification then
    entry.verification = ctx.verification
    self.data.verification = self.data.verification or {ok = true, phases = {}}
    self.data.verification.ok = self.data.verification.ok and ctx.verification.ok
    self.data.verification.phases[name] = ctx.verification
  end
  self.data.phases[#self.data.phases + 1] = entry
end

local EXIT_NAMES = {[0] = "ok", [1] = "items failed or verification failed",
  [2] = "usage or configuration error", [3] = "AWS or network error", [4] = "script error",
  [130] = "interrupted (state saved; continue with --resume)"}

function Report:finish(exit, store)
  local d = self.data
  d.finished, d.exit_code = sys.utc(), exit
  d.outcome = EXIT_NAMES[exit]
  d.duration_seconds = math.floor((mh.clock() - self.started) * 1000) / 1000
  d.state_file = store.path
  -- The keys of the items that failed, which --resume retries.
  if store.path and store:failed_total() > 0 then d.failed_keys_file = store:failed_path() end
  d.aws = require("mighost.aws").stats()
  local ok, err = sys.write_file(self.path, json.encode(d) .. "\n")
  if not ok then io.stderr:write("mighost: cannot write the report: ", tostring(err), "\n") end
  self:summary(ok and self.path or nil)
  -- --output json: the report itself is the machine-readable summary.
  if self.o.output == "json" then io.stdout:write(json.encode(d), "\n") end
  return ok
end

function Report:summary(path)
  local d, lines = self.data, {}
  lines[#lines + 1] = ("\n%s (%s) finished in %.1f s: %s"):format(d.migration, d.mode,
    d.duration_seconds, d.outcome)
  for _, p in ipairs(d.phases) do
    if p.status == "skipped" then
      lines[#lines + 1] = ("  %-24s skipped: %s"):format(p.name, p.reason)
    else
      local dry = d.mode == "dry-run"
      local w = dry and ("would write %d, would delete %d"):format(p.would_write or 0, p.would_delete or 0)
                or ("written %d, deleted %d"):format(p.written, p.deleted)
      local line = ("  %-24s %-11s scanned %d, %s, skipped %d, orphaned %d, failed %d"):format(
        p.name, p.status, p.scanned, w, p.skipped.total, p.orphaned.count, p.failed.count)
      if p.retries > 0 or p.throttles > 0 then
        line = line .. (", %d retries (%d throttles)"):format(p.retries, p.throttles)
      end
      lines[#lines + 1] = line
      for reason, n in pairs(p.skipped.by_reason) do
        lines[#lines + 1] = ("      skipped %d: %s"):format(n, reason)
      end
      for i, f in ipairs(p.failed.items) do
        if i > 5 then lines[#lines + 1] = "      ... (all listed in the report)"; break end
        lines[#lines + 1] = ("      failed %s: %s"):format(json.encode(f.key), f.reason)
      end
      if p.verification then
        lines[#lines + 1] = ("      verification: %s"):format(p.verification.incomplete and
          "INCOMPLETE" or p.verification.ok and "passed" or "FAILED")
        for _, c in ipairs(type(p.verification.checks) == "table" and p.verification.checks or {}) do
          if type(c) == "table" and c.name then
            local extra = {}
            for _, k in ipairs{"checked", "missing", "different"} do
              if c[k] then extra[#extra + 1] = ("%s %s"):format(k, tostring(c[k])) end
            end
            lines[#lines + 1] = ("        %-4s %s%s"):format(c.ok == false and "FAIL" or "ok", c.name,
              #extra > 0 and (": " .. table.concat(extra, ", ")) or "")
          end
        end
      end
    end
  end
  for _, t in ipairs(d.backups and d.backups.tables or {}) do
    if t.backup then lines[#lines + 1] = ("  backup of %s: %s"):format(t.table, t.backup.arn) end
  end
  if d.failed_keys_file then
    lines[#lines + 1] = ("  failed items: %s (--resume retries exactly those)"):format(
      d.failed_keys_file)
  end
  if path then lines[#lines + 1] = "  report: " .. path end
  io.stderr:write(table.concat(lines, "\n"), "\n")
end

return M
