-- mighost.runner.undo: `mighost undo RUN` puts back what a run changed,
-- from its undo journal (runner.journal).
--
-- Phases are undone last first; the segment files of a phase at once,
-- each file's entries in order. For an item the run changed in place, the
-- item is read (consistent) and:
--   equal to its before-image     nothing to do (already back: a resumed
--                                 undo, or a write that never landed)
--   equal to what the run left    the before-image is written back (a put,
--                                 or a delete for an item the run created),
--                                 on the condition that every attribute
--                                 still holds what the run left
--   anything else                 changed since the run: listed in the
--                                 report, left alone (exit 1)
-- Keys the run put into a table that was empty are deleted. The undo has
-- its own state (undo-state.json in the journal folder: entries done per
-- file, counts, the items left alone), saved every second, so Ctrl-C (exit
-- 130) or a kill is continued with --resume; redoing an entry is harmless.

local ddb = require "mighost.dynamodb"
local gz = require "mighost.gz"
local item = require "mighost.item"
local json = require "mighost.json"
local sys = require "mighost.sys"
local mh = require "mighost"
local journal = require "mighost.runner.journal"
local state = require "mighost.runner.state"

local M = {}
local EXIT = mh.EXIT
local MAX_LISTED = 1000
local MAX_CONDITION_ATTRS = 100

local function same(a, b)
  if a == nil or b == nil then return a == b end
  return item.equal(a, b)
end

local function present(v) if v == nil or v == json.null then return nil end return v end

-- The condition that the item is still what the run left (at most
-- MAX_CONDITION_ATTRS attributes compared; the read before covered all).
local function still_as_left(after, schema)
  local names, values = {["#h"] = schema.hash}, {}
  if after == nil then return "attribute_not_exists(#h)", names, nil end
  local parts, attrs = {"attribute_exists(#h)"}, {}
  for k in pairs(after) do attrs[#attrs + 1] = k end
  table.sort(attrs)
  for i, k in ipairs(attrs) do
    if i > MAX_CONDITION_ATTRS then break end
    names["#a" .. i], values[":v" .. i] = k, after[k]
    parts[#parts + 1] = ("#a%d = :v%d"):format(i, i)
  end
  return table.concat(parts, " AND "), names, values
end

local Undo = {}
Undo.__index = Undo

function Undo:left_alone(tbl, key, reason)
  local c = self.st.counts
  c.changed_since = c.changed_since + 1
  if #self.st.changed < MAX_LISTED then
    self.st.changed[#self.st.changed + 1] = {table = tbl, key = item.to_plain({M = key}), reason = reason}
  end
end

function Undo:failed(tbl, key, err)
  local c = self.st.counts
  c.failed = c.failed + 1
  if #self.st.failures < MAX_LISTED then
    self.st.failures[#self.st.failures + 1] = {table = tbl, key = item.to_plain({M = key}),
                                               reason = tostring(err)}
  end
end

-- One entry: {key, before, after, unconfirmed} or {key, new = true}.
function Undo:apply(p, e)
  local c, tbl = self.st.counts, p.table
  if e.new then
    local done, old = ddb.delete{table = tbl, key = e.key, return_values = "ALL_OLD"}
    if done == nil then return self:failed(tbl, e.key, old) end
    if old or self.dry_run then c.deleted = c.deleted + 1 else c.already = c.already + 1 end
    return
  end
  local now, err = ddb.get{table = tbl, key = e.key, consistent = true}
  if err then return self:failed(tbl, e.key, err) end
  if same(now, e.before) then c.already = c.already + 1; return end
  if e.unconfirmed or not same(now, e.after) then
    return self:left_alone(tbl, e.key, e.unconfirmed and
      "changed, and the run's write to it was not confirmed: left as it is" or
      "changed since the run: left as it is")
  end
  local cond, names, values = still_as_left(e.after, self:schema(tbl))
  local done, werr
  if e.before then
    done, werr = ddb.put{table = tbl, item = e.before, condition = cond, names = names, values = values}
  else
    done, werr = ddb.delete{table = tbl, key = e.key, condition = cond, names = names, values = values}
  end
  if done then c.restored = c.restored + 1
  elseif done == false then self:left_alone(tbl, e.key, "changed while being undone: left as it is")
  else self:failed(tbl, e.key, werr) end
end

function Undo:schema(tbl)
  self.schemas[tbl] = self.schemas[tbl] or ddb.schema(tbl)
  return self.schemas[tbl]
end

function Undo:save(force)
  if self.dry_run then return end
  local now = mh.clock()
  if not force and now - (self.saved_at or 0) < 1 then return end
  self.saved_at = now
  local ok, err = sys.write_file(self.state_path, json.encode(self.st))
  if not ok then error("cannot save the undo's state: " .. tostring(err), 0) end
end

-- The entries of one segment file, in order; returns false when stopped.
function Undo:file(p, name)
  local fst = self.st.files[name] or {events = 0}
  self.st.files[name] = fst
  if fst.done then return true end
  local lines, err = gz.lines(self.dir .. "/" .. name)
  if not lines then error(err, 0) end
  local pending, seen = {}, 0
  local function event(e)
    seen = seen + 1
    if seen <= fst.events then return end       -- done before a stop
    self:apply(p, e)
    fst.events = seen
    self:save()
  end
  while true do
    if sys.interrupted() > 0 then return false end
    -- A member cut short by a crash can only be the last: its writes were
    -- never sent, so it ends the file.
    local ok, line = pcall(lines)
    if not ok or line == nil then break end
    local dok, r = pcall(json.decode_ddb, line)
    if dok and type(r) == "table" and r.Key then
      local key_text = item.encode(r.Key)
      if r.t == "pre" then pending[key_text] = present(r.Item) or false
      elseif r.t == "post" then
        local before = pending[key_text]
        pending[key_text] = nil
        event({key = r.Key, before = before or nil, after = present(r.Attributes)})
      elseif r.t == "none" then pending[key_text] = nil
      elseif r.t == "w" then event({key = r.Key, before = present(r.Item), after = present(r.Attributes)})
      elseif r.t == "new" then event({key = r.Key, new = true}) end
    end
  end
  -- Updates whose result was never recorded (the run was killed with them
  -- in flight): back already, or left alone and listed.
  local keys = {}
  for k in pairs(pending) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if sys.interrupted() > 0 then return false end
    event({key = item.decode(k), before = pending[k] or nil, unconfirmed = true})
  end
  fst.done = true
  self:save(true)
  return true
end

function Undo:phase(p)
  local files = {}
  for _, f in ipairs(sys.list_dir(self.dir) or {}) do
    local base = f:match("^(.+)%.[^.]+%.jsonl%.gz$")
    if base == p.file then files[#files + 1] = f end
  end
  table.sort(files)
  local tasks = {}
  for _, f in ipairs(files) do tasks[#tasks + 1] = mh.spawn(self.file, self, p, f) end
  local first_err
  for _, t in ipairs(tasks) do
    local ok, err = pcall(t.wait, t)
    if not ok and not first_err then first_err = err end
  end
  if first_err then error(first_err, 0) end
end

local function confirm(o, lines)
  io.stderr:write(table.concat(lines, "\n"), "\n")
  if o.yes or o.dry_run then return true end
  if not sys.isatty(0) and not sys.isatty(2) then
    io.stderr:write("mighost: undo writes to the tables above; without a terminal, pass --yes to "
      .. "confirm (or --dry-run first)\n")
    return false
  end
  local answer = sys.prompt("Proceed? [y/N] ")
  return answer ~= nil and answer:lower():match("^y") ~= nil
end

local function fail(code, fmt, ...)
  io.stderr:write("mighost: undo: ", fmt:format(...), "\n")
  sys.set_exit_code(code)
end

function M.command(args, parsed)
  local o = parsed("undo", args)
  if not o then return end
  o.dry_run = o.dry_run or mh.dry_run
  local run = o.positional[1]
  if not run then return fail(EXIT.USAGE, "which run? (mighost undo RUN; see mighost status)") end
  if not args.aws then
    return fail(EXIT.USAGE, "no AWS region: pass --region, set AWS_REGION, or set region in your profile")
  end
  local dir = o.state_dir or state.default_dir()
  local path, ferr = state.find(dir, run)
  if not path then return fail(EXIT.USAGE, "%s", ferr) end
  local jdir = journal.dir_of(path)
  local meta_ok, meta = pcall(json.decode, sys.read_file(jdir .. "/meta.json") or "")
  if not meta_ok or type(meta) ~= "table" or type(meta.phases) ~= "table" then
    return fail(EXIT.USAGE, "the run %s kept no undo journal (%s): it wrote nothing in place, ran "
      .. "with --no-undo, or was a dry-run", path, jdir)
  end
  local sock = require("mighost.runner.control").paths(path).socket
  if sys.exists(sock) and require("mighost.ctl").send(sock, "status", 2) then
    return fail(EXIT.USAGE, "the run is still going: stop it first (mighost ctl %s stop)", run)
  end
  local u = setmetatable({dir = jdir, state_path = jdir .. "/undo-state.json", dry_run = o.dry_run,
                          schemas = {}}, Undo)
  local saved = sys.read_file(u.state_path)
  local sok, st = pcall(json.decode, saved or "")
  if saved and sok and type(st) == "table" and not o.dry_run then
    if st.finished then
      io.stderr:write(("mighost: undo: the run %s was undone already (%s); nothing to do\n"):format(
        run, tostring(st.finished)))
      return
    end
    if not o.resume then
      return fail(EXIT.USAGE, "an undo of %s was stopped (started %s): pass --resume to continue "
        .. "it", run, tostring(st.started))
    end
    u.st = st
  elseif o.resume and not o.dry_run then
    return fail(EXIT.USAGE, "nothing to resume: no undo of %s was started", run)
  end
  u.st = u.st or {started = sys.utc(), files = {},
    counts = {restored = 0, deleted = 0, already = 0, changed_since = 0, failed = 0},
    changed = json.array(), failures = json.array()}
  local lines = {("mighost: %s the run %s (%s):"):format(o.dry_run and "dry-run of the undo of" or
    "about to undo", run, path)}
  for i = #meta.phases, 1, -1 do
    local p = meta.phases[i]
    lines[#lines + 1] = ("  phase %-20s %-7s %s: %s"):format(p.name, p.kind, p.table, p.new and
      "delete the keys it wrote (the table was empty before)" or
      "put back the items it changed, unless changed since")
  end
  if not confirm(o, lines) then return fail(EXIT.USAGE, "not confirmed; nothing was changed") end

  local exit = EXIT.OK
  local ok, err = pcall(function()
    for i = #meta.phases, 1, -1 do
      if sys.interrupted() > 0 then break end
      u:phase(meta.phases[i])
    end
  end)
  local c = u.st.counts
  if not ok then
    fail(EXIT.AWS, "%s", tostring(type(err) == "table" and (err.message or err.code) or err))
    exit = EXIT.AWS
  elseif sys.interrupted() > 0 then exit = EXIT.INTERRUPTED
  elseif c.changed_since > 0 or c.failed > 0 then exit = EXIT.FAILED end
  if exit == EXIT.OK or exit == EXIT.FAILED then u.st.finished = sys.utc() end
  if exit == EXIT.FAILED and c.failed > 0 then u.st.finished = nil end   -- failures: --resume retries
  u:save(true)
  local rep = {run = run, state_file = path, journal = jdir, mode = o.dry_run and "dry-run" or "undo",
    started = u.st.started, finished = sys.utc(), exit_code = exit, counts = c,
    changed_since = u.st.changed, failed = u.st.failures}
  local report_path = o.report or ("mighost-undo-%s-%s.json"):format(
    (path:match("([^/]+)%.json$") or "run"), sys.utc(nil, "%Y%m%dT%H%M%SZ"))
  local wok, werr = sys.write_file(report_path, json.encode(rep) .. "\n")
  if not wok then io.stderr:write("mighost: undo: cannot write the report: ", tostring(werr), "\n") end
  io.stderr:write(("\nundo of %s: %s\n  %s %d, %s %d, already as before %d, changed "
    .. "since the run (left alone) %d, failed %d\n"):format(run,
    exit == EXIT.OK and "done" or exit == EXIT.INTERRUPTED and
      "interrupted (continue with mighost undo --resume)" or exit == EXIT.FAILED and
      "done, with items left alone or failed (listed in the report)" or "stopped",
    o.dry_run and "would restore" or "restored", c.restored, o.dry_run and "would delete" or "deleted",
    c.deleted, c.already, c.changed_since, c.failed))
  for i, x in ipairs(u.st.changed) do
    if i > 10 then io.stderr:write("    ... (all listed in the report)\n"); break end
    io.stderr:write(("    left alone in %s: %s: %s\n"):format(x.table, json.encode(x.key), x.reason))
  end
  if wok then io.stderr:write("  report: ", report_path, "\n") end
  if o.output == "json" then print(json.encode(rep)) end
  sys.set_exit_code(exit)
end

return M
