-- mighost.runner.state: checkpoints. One small interface (load, save a
-- segment's position, mark a phase done) so the local file can later give
-- way to a lease table in DynamoDB shared by several workers; scan segments
-- are the unit of work and of checkpointing.
--
-- A state file per run identity: the migration, the parameters that change
-- what is read or written (all but those declared identity = false), and
-- where the run acts: account, region and endpoints (runner.where).
--   {version, migration, identity, params_identity, where = {account,
--    region, endpoint}, params, started, updated, finished,
--    phases = {NAME = {done, segments = {["0"] = {done, key = "<item JSON>"}},
--                      data = {...}, counts = {...}}}}
-- It is replaced atomically (sys.write_file), so it is consistent whenever
-- the process stops, even on SIGKILL. `finished` is set only by a run that
-- ended with exit 0; `last_exit` says how the last process ended.
--
-- Failed items: their keys go to a JSON-lines file beside the state
-- (NAME-ID.failed.jsonl), one {"phase", "key" (item JSON), "reason"} per
-- line, so the state file stays small however many items fail. A phase with
-- failed keys is not done, and --resume retries exactly those keys. Keys are
-- appended (and fsync'ed) before the state file that moves a checkpoint past
-- them is written, so a failed item is never behind a checkpoint without
-- being in this file. At most MAX_FAILED_KEYS are kept: past that,
-- record_failed says no and the caller keeps its page open instead.

local json = require "mighost.json"
local sys = require "mighost.sys"
local item = require "mighost.item"

local Store = {}
Store.__index = Store

local M = {}
M.MAX_FAILED_KEYS = 100000

function M.default_dir()
  local xdg = sys.getenv("XDG_STATE_HOME")
  if xdg and xdg ~= "" then return xdg .. "/mighost" end
  local home = sys.getenv("HOME")
  if home and home ~= "" then return home .. "/.local/state/mighost" end
  return ".mighost-state"
end

-- A stable text for the parameter values: sorted keys.
function M.params_identity(name, values)
  return sys.sha256(name .. "\n" .. json.encode(values))
end

function M.identity(name, values, where)
  return sys.sha256(table.concat({M.params_identity(name, values), where.account or "",
    where.region or "", where.endpoint or ""}, "\n"))
end

function M.open(dir, name, values, where)
  local id = M.identity(name, values, where)
  local file = ("%s/%s-%s.json"):format(dir, name:gsub("[^%w%-_.]", "_"), id:sub(1, 16))
  local s = setmetatable({path = file, dir = dir, dirty = false}, Store)
  local text = sys.read_file(file)
  if text then
    local ok, data = pcall(json.decode, text)
    if not ok or type(data) ~= "table" or data.identity ~= id then
      error(("the state file %s is damaged; move it away to start over"):format(file), 0)
    end
    s.data, s.existed = data, true
    sys.state_saved()
  else
    s.data = {version = 2, migration = name, identity = id, params = values,
              params_identity = M.params_identity(name, values),
              where = {account = where.account, region = where.region, endpoint = where.endpoint},
              started = sys.utc(), phases = {}, finished = false}
  end
  return s
end

-- The state file a user names a run by (mighost ctl, undo): its path, its
-- name with or without .json, or the start of that name when only one run
-- in dir begins with it (a run that is going, with its control socket,
-- wins over finished ones: its state file may not be written yet).
-- Returns the state file's path, or nil, message.
function M.find(dir, run)
  if run:match("%.json$") and sys.exists(run) then return run end
  run = run:gsub("%.json$", "")
  local names, live, seen = {}, {}, {}
  for _, f in ipairs(sys.list_dir(dir) or {}) do
    local base = f:match("^(.+)%.json$") or f:match("^(.+)%.ctl%.sock$")
    if base and base:sub(1, #run) == run and not seen[base] then
      seen[base] = true
      names[#names + 1] = base
      if sys.exists(dir .. "/" .. base .. ".ctl.sock") then live[#live + 1] = base end
    end
  end
  if seen[run] then return dir .. "/" .. run .. ".json" end
  if #names > 1 and #live == 1 then names = live end
  if #names == 1 then return dir .. "/" .. names[1] .. ".json" end
  if #names > 1 then
    table.sort(names)
    return nil, ("'%s' names %d runs in %s (%s): give more of the name"):format(run, #names, dir,
      table.concat(names, ", "))
  end
  return nil, ("no run '%s' in %s (see mighost status --state-dir %s)"):format(run, dir, dir)
end

-- The unfinished runs whose state files are in dir (damaged files left
-- out), oldest first: {path, migration, params_identity, where, started}.
function M.unfinished_runs(dir)
  local runs = {}
  for _, f in ipairs(sys.list_dir(dir) or {}) do
    if f:match("%.json$") then
      local path = dir .. "/" .. f
      local ok, data = pcall(json.decode, sys.read_file(path) or "")
      if ok and type(data) == "table" and data.migration and not data.finished then
        runs[#runs + 1] = {path = path, migration = data.migration, started = data.started,
          params_identity = data.params_identity, where = data.where or {}}
      end
    end
  end
  table.sort(runs, function(a, b) return tostring(a.started) < tostring(b.started) end)
  return runs
end

local function where_text(w)
  return ("account %s, region %s, endpoint %s"):format(w.account or "?", w.region or "?",
    w.endpoint or "?")
end

-- Why --resume found nothing for this store (which did not exist): a run
-- with the same parameters elsewhere is refused by name, else the
-- unfinished runs in the folder are listed.
function M.no_match_message(store)
  local d, dir = store.data, store.dir
  local runs = M.unfinished_runs(dir)
  for _, r in ipairs(runs) do
    if r.migration == d.migration and r.params_identity == d.params_identity then
      local diff = {}
      for _, k in ipairs{"account", "region", "endpoint"} do
        if r.where[k] ~= d.where[k] then
          diff[#diff + 1] = ("%s %s (this run: %s)"):format(k, tostring(r.where[k] or "?"),
            tostring(d.where[k] or "?"))
        end
      end
      return ("refusing to resume: the unfinished run of %s with these parameters (started %s, "
        .. "state %s) ran elsewhere: %s. Resume it with the same account, region and endpoint, "
        .. "or pass --fresh to start a separate run here"):format(d.migration, tostring(r.started),
        r.path, table.concat(diff, "; "))
    end
  end
  local lines = {("nothing to resume: no unfinished run of %s in %s matches these parameters and "
    .. "%s"):format(d.migration, dir, where_text(d.where))}
  if #runs == 0 then
    lines[#lines + 1] = "  (no unfinished runs there; run without --resume to start)"
  else
    lines[#lines + 1] = "  unfinished runs there:"
    for _, r in ipairs(runs) do
      lines[#lines + 1] = ("    %s, %s, started %s (%s)"):format(r.migration, where_text(r.where),
        tostring(r.started), r.path)
    end
  end
  return table.concat(lines, "\n")
end

function Store:unfinished() return self.existed and not self.data.finished end
function Store:finished() return self.existed and self.data.finished end

function Store:reset()
  self.data.phases, self.data.finished, self.data.started = {}, false, sys.utc()
  self.data.last_exit, self.data.failed_keys = nil, nil
  self.existed = false
  self.failed, self.fresh = {}, {}
  self.failed_count, self.failed_pending = 0, {}
  if sys.exists(self:failed_path()) then self.rewrite_failed = true end
end

-- Failed keys ----------------------------------------------------------------

function Store:failed_path() return (self.path:gsub("%.json$", "")) .. ".failed.jsonl" end

local function failed_line(phase, key_text, reason)
  return ('{"phase":%s,"key":%s,"reason":%s}\n'):format(json.quote(phase), json.quote(key_text),
    json.quote(tostring(reason or "")))
end

-- phase -> {order = {key_text...}, reasons = {[key_text] = reason}}
function Store:load_failed()
  if self.failed then return self.failed end
  self.failed, self.failed_count, self.failed_pending, self.fresh = {}, 0, {}, {}
  local text = self.existed and sys.read_file(self:failed_path())
  for line in (text or ""):gmatch("[^\n]+") do
    local ok, e = pcall(json.decode, line)
    -- A line cut short by a crash is the only partial one, the last.
    if ok and type(e) == "table" and type(e.phase) == "string" and type(e.key) == "string" then
      self:remember_failed(e.phase, e.key, e.reason)
    end
  end
  return self.failed
end

function Store:remember_failed(phase, key_text, reason)
  local f = self.failed[phase]
  if not f then f = {order = {}, reasons = {}}; self.failed[phase] = f end
  if f.reasons[key_text] == nil then
    f.order[#f.order + 1] = key_text
    self.failed_count = self.failed_count + 1
  end
  f.reasons[key_text] = reason or ""
end

-- Records a failed item of a phase; false when over MAX_FAILED_KEYS (then
-- the work it belongs to must stay open some other way).
function Store:record_failed(phase, key, reason)
  self:load_failed()
  local ok, key_text = pcall(item.encode, key)
  if not ok or type(key) ~= "table" then return false end
  local f = self.failed[phase]
  local known = f and f.reasons[key_text] ~= nil
  if not known and self.failed_count >= M.MAX_FAILED_KEYS then return false end
  self:remember_failed(phase, key_text, reason)
  self.fresh[phase] = self.fresh[phase] or {}
  self.fresh[phase][key_text] = true
  self.failed_pending[#self.failed_pending + 1] = failed_line(phase, key_text, reason)
  self.dirty = true
  return true
end

-- The failed keys of a phase, {key = <item>, reason}, as loaded from
-- earlier runs (plus any recorded since).
function Store:failed_of(phase)
  self:load_failed()
  local f = self.failed[phase]
  local out = {}
  for i, k in ipairs(f and f.order or {}) do
    out[i] = {key = item.decode(k), reason = f.reasons[k]}
  end
  return out
end

-- After a retry of `list` (from failed_of) settled: the keys that did not
-- fail again (record_failed in this process) leave the file.
function Store:settle_retried(phase, list)
  local f = self.failed[phase]
  if not f then return end
  local gone = {}
  for _, e in ipairs(list) do
    local k = item.encode(e.key)
    if not (self.fresh[phase] and self.fresh[phase][k]) then gone[k] = true end
  end
  local keep = {}
  for _, k in ipairs(f.order) do
    if gone[k] then f.reasons[k] = nil; self.failed_count = self.failed_count - 1
    else keep[#keep + 1] = k end
  end
  f.order = keep
  self.rewrite_failed, self.dirty = true, true
end

function Store:failed_total()
  self:load_failed()
  return self.failed_count
end

function Store:phase_failed_count(phase)
  self:load_failed()
  local f = self.failed[phase]
  return f and #f.order or 0
end

local function save_failed(self)
  local path = self:failed_path()
  if self.rewrite_failed then
    local lines = {}
    for phase, f in pairs(self.failed) do
      for _, k in ipairs(f.order) do lines[#lines + 1] = failed_line(phase, k, f.reasons[k]) end
    end
    local ok, err = sys.write_file(path, table.concat(lines))
    if not ok then error("cannot save the failed keys: " .. tostring(err), 0) end
    self.rewrite_failed, self.failed_pending = false, {}
  elseif #self.failed_pending > 0 then
    local ok, err = sys.append_file(path, table.concat(self.failed_pending))
    if not ok then error("cannot save the failed keys: " .. tostring(err), 0) end
    self.failed_pending = {}
  end
  self.data.failed_keys = self.failed_count
end

function Store:phase(name)
  local p = self.data.phases[name]
  if not p then
    p = {done = false, segments = {}, data = {}, counts = {}}
    self.data.phases[name] = p
  end
  return p
end

function Store:phase_done(name)
  local p = self.data.phases[name]
  return p and p.done
end

-- nil (from the start), {done = true}, or {key = <item>} to continue after.
function Store:segment(phase, seg)
  local s = self:phase(phase).segments[tostring(seg)]
  if not s then return nil end
  if s.done then return {done = true} end
  return {key = item.decode(s.key)}
end

function Store:set_segment(phase, seg, last_key)
  local p = self:phase(phase)
  if last_key == nil then p.segments[tostring(seg)] = {done = true}
  else p.segments[tostring(seg)] = {key = item.encode(last_key)} end
  self.dirty = true
end

function Store:mark_phase_done(name, counts)
  local p = self:phase(name)
  p.done, p.counts = true, counts or p.counts
  self.dirty = true
  self:save()
end

-- How the process ends: finished only with exit 0 (see the top).
function Store:ended(exit)
  self.data.last_exit = exit
  self.data.finished = exit == 0
  self.dirty = true
  self:save()
  if exit == 0 then os.remove(self:failed_path()) end   -- nothing is left to retry
end

-- With the undo journal in S3 (--undo-to), store.before_save uploads it:
-- the state is encoded first, then the journal is sealed and uploaded, then
-- the state written, so a saved checkpoint never covers a write whose
-- before-image is not in S3. One save at a time (the upload yields).
local function save_after_upload(self)
  while self.saving do require("mighost").sleep(0.005) end
  if not self.dirty then return true end
  self.saving = true
  self.data.updated = sys.utc()
  local text = json.encode(self.data)
  self.dirty = false
  local ok, err = pcall(self.before_save)
  if ok then ok, err = sys.mkdirs(self.dir) end
  if ok and self.failed then save_failed(self) end
  if ok then ok, err = sys.write_file(self.path, text) end
  self.saving = false
  if not ok then
    self.dirty = true
    error("cannot save the checkpoint: " .. tostring(err), 0)
  end
  sys.state_saved()
  return true
end

function Store:save()
  if not self.dirty then return true end
  if self.before_save then return save_after_upload(self) end
  self.data.updated = sys.utc()
  local ok, err = sys.mkdirs(self.dir)
  if ok and self.failed then save_failed(self) end
  if ok then ok, err = sys.write_file(self.path, json.encode(self.data)) end
  if not ok then error("cannot save the checkpoint: " .. tostring(err), 0) end
  sys.state_saved()
  self.dirty = false
  return true
end

-- A store that keeps nothing: dry-runs and --limit trial runs never touch
-- a real run's checkpoints.
local Null = setmetatable({}, {__index = Store})
Null.__index = Null
function M.null(name, values)
  return setmetatable({data = {migration = name, params = values, phases = {}}, dirty = false}, Null)
end
function Null:save() return true end
function Null:ended() end
function Null:record_failed() return true end
function Null:failed_of() return {} end
function Null:settle_retried() end
function Null:failed_total() return 0 end
function Null:phase_failed_count() return 0 end
function Null:unfinished() return false end
function Null:finished() return false end

return M
