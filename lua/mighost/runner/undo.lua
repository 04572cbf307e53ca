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
local s3 = require "mighost.s3"
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

-- The entries of one stream (a phase's segment: its parts in order, then
-- its open file), in order; returns false when stopped. Each and run
-- phases may write one item several times: their entries are merged per
-- key first (the first before-image, the last image left), in memory.
function Undo:stream(p, name, files)
  local fst = self.st.files[name] or {events = 0}
  self.st.files[name] = fst
  if fst.done then return true end
  local pending, seen = {}, 0
  local merge = (p.kind == "each" or p.kind == "run") and {}
  local function apply(e)
    seen = seen + 1
    if seen <= fst.events then return end       -- done before a stop
    self:apply(p, e)
    fst.events = seen
    self:save()
  end
  local function event(e)
    if not merge then return apply(e) end
    local k = item.encode(e.key)
    local m = merge[k]
    if not m then merge[k] = e
    elseif not e.new then m.after, m.unconfirmed = e.after, e.unconfirmed end
  end
  for _, file in ipairs(files) do
    local lines, err = gz.lines(self.dir .. "/" .. file)
    if not lines then error(err, 0) end
    while true do
      if sys.interrupted() > 0 then return false end
      -- A member cut short by a crash can only be the last of its part:
      -- its writes were never sent, so it ends the part.
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
  if merge then
    keys = {}
    for k in pairs(merge) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      if sys.interrupted() > 0 then return false end
      apply(merge[k])
    end
  end
  fst.done = true
  self:save(true)
  return true
end

function Undo:phase(p)
  local streams = journal.streams(sys.list_dir(self.dir) or {})
  local names = {}
  for name in pairs(streams) do
    if name:match("^(.+)%.[^.]+$") == p.file then names[#names + 1] = name end
  end
  table.sort(names)
  local tasks = {}
  for _, name in ipairs(names) do tasks[#tasks + 1] = mh.spawn(self.stream, self, p, name, streams[name]) end
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

local function aws_text(err)
  return tostring(type(err) == "table" and (err.message or err.code) or err)
end

-- The journal of run `run` under s3://BUCKET/PREFIX (--undo-from): the
-- newest STAMP folder under PREFIX/RUN/ that holds a meta.json.
local function find_remote(url, run)
  local base, why = journal.parse_url(url)
  if not base then return nil, why end
  local top = (base.prefix ~= "" and base.prefix .. "/" or "") .. run .. "/"
  local best, token = nil, nil
  repeat
    local page, err = s3.list_page{bucket = base.bucket, prefix = top, token = token}
    if not page then return nil, ("cannot list %s: %s"):format(url, aws_text(err)) end
    for _, obj in ipairs(page.objects) do
      local stamp = obj.key:sub(#top + 1):match("^([^/]+)/meta%.json$")
      if stamp and (not best or stamp > best) then best = stamp end
    end
    token = page.next_token
  until not token
  if not best then return nil, ("no undo journal of %s under s3://%s/%s"):format(run, base.bucket, top) end
  return {bucket = base.bucket, prefix = top .. best}
end

-- Brings the journal in S3 into dir: meta.json (returned) and every part.
local function download(remote, dir)
  local body, err = s3.get{bucket = remote.bucket, key = remote.prefix .. "/meta.json"}
  if not body then return nil, ("cannot read %smeta.json: %s"):format(journal.url_of(remote), aws_text(err)) end
  local ok, meta = pcall(json.decode, body)
  if not ok or type(meta) ~= "table" or type(meta.phases) ~= "table" then
    return nil, ("%smeta.json is no undo journal"):format(journal.url_of(remote))
  end
  local mok, merr = sys.mkdirs(dir)
  if not mok then return nil, tostring(merr) end
  local token
  repeat
    local page, lerr = s3.list_page{bucket = remote.bucket, prefix = remote.prefix .. "/", token = token}
    if not page then return nil, ("cannot list %s: %s"):format(journal.url_of(remote), aws_text(lerr)) end
    for _, obj in ipairs(page.objects) do
      local name = obj.key:sub(#remote.prefix + 2)
      if name:match("^[%w%-_]+%.[%w%-_]+%.p%d+%.jsonl%.gz$") then
        local part, gerr = s3.get{bucket = remote.bucket, key = obj.key}
        if not part then return nil, ("cannot read s3://%s/%s: %s"):format(remote.bucket, obj.key, aws_text(gerr)) end
        local wok, werr = sys.write_file(dir .. "/" .. name, part)
        if not wok then return nil, tostring(werr) end
      end
    end
    token = page.next_token
  until not token
  return meta
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
  if not path and not o.undo_from then return fail(EXIT.USAGE, "%s", ferr) end
  local jdir = path and journal.dir_of(path) or ("%s/%s.undo"):format(dir, (run:gsub("%.json$", "")))
  local meta_ok, meta = pcall(json.decode, sys.read_file(jdir .. "/meta.json") or "")
  if not meta_ok or type(meta) ~= "table" or type(meta.phases) ~= "table" then meta = nil end
  if path then
    local sock = require("mighost.runner.control").paths(path).socket
    if sys.exists(sock) and require("mighost.ctl").send(sock, "status", 2) then
      return fail(EXIT.USAGE, "the run is still going: stop it first (mighost ctl %s stop)", run)
    end
  end
  -- A journal in S3 (the run's --undo-to, or --undo-from): what a killed
  -- run left in its spool here is uploaded first, then the whole journal
  -- is read into the journal folder's s3/.
  local remote = meta and meta.remote
  if o.undo_from then
    local r, why = find_remote(o.undo_from, path and path:match("([^/]+)%.json$") or
      (run:gsub("%.json$", ""):match("([^/]+)$")))
    if not r then return fail(EXIT.USAGE, "%s", why) end
    remote = r
  end
  local from, journal_complete = jdir, true
  if remote then
    if meta and meta.remote and meta.remote.prefix == remote.prefix and path then
      local j = journal.open({path = path})
      local ok, err = pcall(function() j:seal(); j:upload() end)
      if not ok then return fail(EXIT.AWS, "%s", tostring(err)) end
    end
    from = jdir .. "/s3"
    local got, why = download(remote, from)
    if not got then return fail(EXIT.AWS, "%s", why) end
    meta = got
    journal_complete = meta.complete == true
  end
  if not meta then
    return fail(EXIT.USAGE, "the run %s kept no undo journal (%s): it wrote nothing in place, ran "
      .. "with --no-undo, or was a dry-run", path or run, jdir)
  end
  local u = setmetatable({dir = from, state_path = jdir .. "/undo-state.json", dry_run = o.dry_run,
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
    "about to undo", run, remote and journal.url_of(remote) or path)}
  -- Phases whose writes the journal could not see: said, listed, exit 1.
  local not_journaled = json.array()
  for i = #meta.phases, 1, -1 do
    local p = meta.phases[i]
    if p.not_journaled then
      local what = {}
      for w, n in pairs(p.not_journaled) do what[#what + 1] = ("%d x %s"):format(n, w) end
      table.sort(what)
      not_journaled[#not_journaled + 1] = {phase = p.name, kind = p.kind, writes = p.not_journaled}
      lines[#lines + 1] = ("  phase %-20s %-7s NOT JOURNALED, cannot be undone: %s"):format(p.name,
        p.kind, table.concat(what, ", "))
    else
      lines[#lines + 1] = ("  phase %-20s %-7s %s: %s"):format(p.name, p.kind, p.table, p.new and
        "delete the keys it wrote (the table was empty before)" or
        "put back the items it changed, unless changed since")
    end
  end
  if not journal_complete then
    lines[#lines + 1] = "  warning: the run did not close its journal in S3 (it stopped, or its machine "
      .. "was lost): if its spool was lost too, its last writes may be missing"
  end
  if not confirm(o, lines) then return fail(EXIT.USAGE, "not confirmed; nothing was changed") end

  local exit = EXIT.OK
  local ok, err = pcall(function()
    for i = #meta.phases, 1, -1 do
      if sys.interrupted() > 0 then break end
      if meta.phases[i].table then u:phase(meta.phases[i]) end
    end
  end)
  local c = u.st.counts
  if not ok then
    fail(EXIT.AWS, "%s", tostring(type(err) == "table" and (err.message or err.code) or err))
    exit = EXIT.AWS
  elseif sys.interrupted() > 0 then exit = EXIT.INTERRUPTED
  elseif c.changed_since > 0 or c.failed > 0 or #not_journaled > 0 then exit = EXIT.FAILED end
  if exit == EXIT.OK or exit == EXIT.FAILED then u.st.finished = sys.utc() end
  if exit == EXIT.FAILED and c.failed > 0 then u.st.finished = nil end   -- failures: --resume retries
  u:save(true)
  local rep = {run = run, state_file = path, journal = remote and journal.url_of(remote) or jdir,
    mode = o.dry_run and "dry-run" or "undo", journal_complete = journal_complete,
    started = u.st.started, finished = sys.utc(), exit_code = exit, counts = c,
    changed_since = u.st.changed, failed = u.st.failures, not_journaled = not_journaled}
  local report_path = o.report or ("mighost-undo-%s-%s.json"):format(
    (path:match("([^/]+)%.json$") or "run"), sys.utc(nil, "%Y%m%dT%H%M%SZ"))
  local wok, werr = sys.write_file(report_path, json.encode(rep) .. "\n")
  if not wok then io.stderr:write("mighost: undo: cannot write the report: ", tostring(werr), "\n") end
  io.stderr:write(("\nundo of %s: %s\n  %s %d, %s %d, already as before %d, changed "
    .. "since the run (left alone) %d, failed %d\n"):format(run,
    exit == EXIT.OK and "done" or exit == EXIT.INTERRUPTED and
      "interrupted (continue with mighost undo --resume)" or exit == EXIT.FAILED and
      "done, with items left alone or failed, or phases not journaled (listed in the report)" or "stopped",
    o.dry_run and "would restore" or "restored", c.restored, o.dry_run and "would delete" or "deleted",
    c.deleted, c.already, c.changed_since, c.failed))
  for _, x in ipairs(not_journaled) do
    io.stderr:write(("    not journaled (not undone): phase %s (%s)\n"):format(x.phase, x.kind))
  end
  for i, x in ipairs(u.st.changed) do
    if i > 10 then io.stderr:write("    ... (all listed in the report)\n"); break end
    io.stderr:write(("    left alone in %s: %s: %s\n"):format(x.table, json.encode(x.key), x.reason))
  end
  if wok then io.stderr:write("  report: ", report_path, "\n") end
  if o.output == "json" then print(json.encode(rep)) end
  sys.set_exit_code(exit)
end

return M
