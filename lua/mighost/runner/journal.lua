-- mighost.runner.journal: the undo journal of a run. Before the runner
-- changes an item in place (an update, a delete, a put that replaces an
-- item) the item's previous image, or its absence, is appended to a
-- gzip'd JSON-lines file and fsync'ed; only then is the write sent. So
-- `mighost undo RUN` (runner.undo) can put every item back after a crash
-- at any moment.
--
-- Layout, beside the state file NAME-ID.json:
--   NAME-ID.undo/meta.json          {state, phases = [{name, table, kind, file, new}], remote}
--   NAME-ID.undo/PHASE.SEG.jsonl.gz one file per phase and scan segment (the
--                                   open part of its stream)
--   NAME-ID.undo/PHASE.SEG.pNNNNNN.jsonl.gz  a sealed part: an open file is
--                                   sealed (renamed) when a resumed run starts
--                                   (so a tail cut by a crash ends its part) and,
--                                   with --undo-to, before each upload
-- A stream (phase and segment) is its parts in order, then its open file.
--
-- With --undo-to s3://BUCKET/PREFIX the folder is a spool: the lines are
-- fsync'ed there before the write is sent, as without it, and sealed parts
-- are uploaded to PREFIX/NAME-ID/STAMP/ (STAMP: when the fresh run started)
-- and then removed from the folder. An upload happens before every save of
-- the state file (so a checkpoint never covers a write whose before-image
-- is only on this disk), at least every second while the run writes, and
-- at the run's end or stop; a resumed run, and `mighost undo` on the same
-- machine, first upload what a killed run left. meta.json is uploaded at
-- the start, with every new phase, and at the end with "complete": true.
-- Lines, in DynamoDB's JSON (so json.decode_ddb reads them typed): Key is
-- the item's key, Item what it was before (null: no item), Attributes
-- what the run left (null: no item):
--   {"t":"w","Key":K,"Item":B,"Attributes":A}  a write whose result was
--                                              known before it was sent
--   {"t":"pre","Key":K,"Item":B}               an update about to be sent ...
--   {"t":"post","Key":K,"Attributes":A}        ... what it left (ALL_NEW),
--   {"t":"none","Key":K}                       ... or that its condition held it back
--   {"t":"new","Key":K}                        a put into a table that was
--                                              empty when the phase first wrote to it
-- Appends from concurrent tasks are committed together (one gzip member
-- and one fsync for all that arrived meanwhile); a "post" line waits for
-- the next commit. Each member is complete or, cut by a crash, the last:
-- undo ignores a torn tail (its writes were never sent).

local ctl = require "mighost.ctl"
local json = require "mighost.json"
local sys = require "mighost.sys"
local mh = require "mighost"
local s3 = require "mighost.s3"
local sync = require "mighost.sync"
-- The journal's own uploads, never counted as a phase's writes to S3.
local s3_put, s3_get, s3_list = s3.put, s3.get, s3.list_page

local M = {}
local Journal = {}
Journal.__index = Journal

function M.dir_of(state_path) return (state_path:gsub("%.json$", "")) .. ".undo" end

local function file_part(name) return (name:gsub("[^%w%-_]", "_")) end

-- "s3://BUCKET/PREFIX" -> {bucket =, prefix =} (prefix without slashes at
-- its ends; may be ""), or nil, why.
function M.parse_url(url)
  local bucket, prefix = tostring(url):match("^s3://([^/]+)/?(.*)$")
  if not bucket then
    return nil, ("'%s' is no S3 location: expected s3://BUCKET/PREFIX"):format(sys.shown(url))
  end
  prefix = prefix:gsub("^/+", ""):gsub("/+$", "")
  return {bucket = bucket, prefix = prefix}
end

function M.url_of(remote)
  return ("s3://%s/%s/"):format(remote.bucket, remote.prefix)
end

-- A stream's files in a folder's listing: {[stream] = {part files in
-- order..., open file last}}, stream = "FILE.SEG".
function M.streams(names)
  local by, parts = {}, {}
  for _, f in ipairs(names) do
    local base, seg, n = f:match("^([%w%-_]+)%.([%w%-_]+)%.p(%d+)%.jsonl%.gz$")
    local stream = base and (base .. "." .. seg)
    if not stream then
      base, seg = f:match("^([%w%-_]+)%.([%w%-_]+)%.jsonl%.gz$")
      stream, n = base and (base .. "." .. seg), math.huge
    end
    if stream then
      by[stream] = by[stream] or {}
      table.insert(by[stream], f)
      parts[f] = tonumber(n)
    end
  end
  for _, list in pairs(by) do table.sort(list, function(a, b) return parts[a] < parts[b] end) end
  return by
end

-- The journal of a run with a state file; nil for runs that keep none.
-- o.undo_to: s3://BUCKET/PREFIX for the journal's parts.
function M.open(store, o)
  if not store.path then return nil end
  local dir = M.dir_of(store.path)
  local j = setmetatable({dir = dir, pending = {}, waiters = {}, scheduled = false, seq = 0, in_flight = {},
                          writing = sync.group(), run = store.path:match("([^/]+)%.json$")}, Journal)
  local text = sys.read_file(dir .. "/meta.json")
  local ok, meta = pcall(json.decode, text or "")
  j.meta = ok and type(meta) == "table" and meta or {state = store.path, phases = {}}
  j.meta.phases = j.meta.phases or {}
  if o and o.undo_to then
    local base, err = M.parse_url(o.undo_to)
    if not base then return nil, err end
    j.base = base
  end
  for _, f in ipairs(sys.list_dir(dir) or {}) do
    local n = tonumber(f:match("%.p(%d+)%.jsonl%.gz$"))
    if n and n > j.seq then j.seq = n end
  end
  return j
end

-- Whether the S3 location answers (before anything is written): one
-- ListObjectsV2 of a key. nil, why when it does not.
function Journal:check_remote()
  if not self.base then return true end
  local page, err = s3_list{bucket = self.base.bucket, prefix = self.base.prefix, max_keys = 1}
  if not page then
    return nil, ("--undo-to %s: S3 does not answer (%s): nothing was written"):format(
      M.url_of(self.base), tostring(type(err) == "table" and (err.message or err.code) or err))
  end
  return true
end

-- Uploads meta.json (with --undo-to).
function Journal:put_meta()
  if not self.meta.remote then return true end
  local r = self.meta.remote
  local ok, err = s3_put{bucket = r.bucket, key = r.prefix .. "/meta.json", body = json.encode(self.meta),
                         content_type = "application/json"}
  if not ok then
    error(("cannot upload the undo journal's meta.json to %s: %s"):format(M.url_of(r),
      tostring(type(err) == "table" and (err.message or err.code) or err)), 0)
  end
  return true
end

local function save_meta(self)
  local ok, err = sys.mkdirs(self.dir)
  if ok then ok, err = sys.write_file(self.dir .. "/meta.json", json.encode(self.meta)) end
  if not ok then error("cannot write the undo journal: " .. tostring(err), 0) end
end

-- A fresh run (not --resume) starts a new journal: the old one belongs to
-- the run being replaced (its S3 copy stays where it is).
function Journal:reset()
  for _, f in ipairs(sys.list_dir(self.dir) or {}) do os.remove(self.dir .. "/" .. f) end
  self.meta.phases = {}
  self.meta.complete = nil
  self.seq = 0
  self.meta.remote = nil
  if self.base then
    local prefix = (self.base.prefix ~= "" and self.base.prefix .. "/" or "") .. self.run .. "/"
      .. sys.utc(nil, "%Y%m%dT%H%M%SZ")
    self.meta.remote = {bucket = self.base.bucket, prefix = prefix}
  end
  if self.meta.remote then
    save_meta(self)
    self:put_meta()
  end
end

-- Updates a killed run had in flight ("pre" lines with no "post" in the
-- files here: the spool's parts and open files) get a "post" with the item
-- as it is now, so undo knows what the run left (without it, an item the
-- resumed run then finds already as wanted would stay unconfirmed, and be
-- left alone). An item changed by somebody else between the kill and the
-- resume is taken for the run's; docs/undo.md says so.
function Journal:settle_in_flight()
  local gz = require "mighost.gz"
  local ddb = require "mighost.dynamodb"
  local item = require "mighost.item"
  local by_file = {}
  for _, p in ipairs(self.meta.phases) do if p.table then by_file[p.file] = p end end
  for stream, files in pairs(M.streams(sys.list_dir(self.dir) or {})) do
    local base, seg = stream:match("^(.+)%.([^.]+)$")
    local p = by_file[base]
    local open = {}
    for _, f in ipairs(files) do
      local lines = gz.lines(self.dir .. "/" .. f)
      while lines do
        local ok, line = pcall(lines)
        if not ok or line == nil then break end
        local k = line:match('^{"t":"pre","Key":(.-),"Item":')
        if k then open[k] = line
        else
          k = line:match('^{"t":"post","Key":(.-),"Attributes":') or line:match('^{"t":"none","Key":(.*)}$')
          if k then open[k] = nil end
        end
      end
    end
    if p and next(open) then
      local keys = {}
      for k in pairs(open) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do
        local now, err = ddb.get{table = p.table, key = item.decode(k), consistent = true}
        if err then error("reading an item the stopped run was updating: " .. tostring(err), 0) end
        local ok, pre = pcall(json.decode_ddb, open[k])
        local before = ok and type(pre) == "table" and pre.Item ~= json.null and pre.Item or nil
        local same = (now == nil and before == nil) or (now and before and item.equal(now, before))
        -- As before: the write never landed (and the resumed run may do
        -- it again, with a journal line of its own).
        if same then self:note(p, seg, M.none_line(k))
        else self:note(p, seg, M.post_line(k, now and item.encode(now))) end
      end
      self:flush()
    end
  end
end

-- A resumed run: what the killed run left is sealed (a torn tail ends its
-- part) and, with a remote, uploaded before anything else is written.
function Journal:resume()
  if self.base and not self.meta.remote then
    -- The run started without --undo-to: its journal goes there from now on.
    self.meta.remote = {bucket = self.base.bucket, prefix = (self.base.prefix ~= "" and
      self.base.prefix .. "/" or "") .. self.run .. "/" .. sys.utc(nil, "%Y%m%dT%H%M%SZ")}
  end
  self.meta.complete = nil
  if sys.exists(self.dir) then save_meta(self) end
  if self.meta.remote then
    -- Parts uploaded before (and removed here): numbering goes on after
    -- theirs, so no part is ever replaced.
    local r, token = self.meta.remote, nil
    repeat
      local page, err = s3_list{bucket = r.bucket, prefix = r.prefix .. "/", token = token}
      if not page then error("cannot list the undo journal in S3: " .. tostring(
        type(err) == "table" and (err.message or err.code) or err), 0) end
      for _, obj in ipairs(page.objects) do
        local n = tonumber(obj.key:match("%.p(%d+)%.jsonl%.gz$"))
        if n and n > self.seq then self.seq = n end
      end
      token = page.next_token
    until not token
  end
  self:settle_in_flight()
  self:seal()
  if self.meta.remote then
    self:upload()
    self:put_meta()
  end
end

-- Whether a table holds no item (one Scan of Limit 1): a copy into it is
-- undone by deleting the keys it wrote.
function M.is_empty(tbl)
  local ddb = require "mighost.dynamodb"
  for page in ddb.scan_pages{table = tbl, limit = 1, projection = "#h",
                             names = {["#h"] = ddb.schema(tbl).hash}} do
    if #page.items > 0 then return false end
    if page.last_key == nil then break end
  end
  return true
end

-- Declares a phase that writes table `tbl`; `new` marks a destination
-- that was empty when the phase first wrote to it (kept across --resume:
-- the first answer stands, since the run's own writes fill it since).
function Journal:phase(name, kind, tbl, is_new)
  for _, p in ipairs(self.meta.phases) do
    if p.name == name then return p end
  end
  local p = {name = name, kind = kind, table = tbl, file = file_part(name), new = is_new or false}
  self.meta.phases[#self.meta.phases + 1] = p
  save_meta(self)
  self:put_meta()
  return p
end

-- The entry of a table written by an each or run phase (several tables
-- per phase: one entry, and one stream, each); nil when none yet.
function Journal:find_entry(name, tbl)
  for _, p in ipairs(self.meta.phases) do
    if p.name == name and p.table == tbl then return p end
  end
end

function Journal:entry(name, kind, tbl, is_new)
  local p = self:find_entry(name, tbl)
  if p then return p end
  local n = 0
  for _, q in ipairs(self.meta.phases) do if q.name == name then n = n + 1 end end
  p = {name = name, kind = kind, table = tbl, new = is_new or false,
       file = file_part(name) .. (n > 0 and ("-" .. n) or "")}
  self.meta.phases[#self.meta.phases + 1] = p
  save_meta(self)
  self:put_meta()
  return p
end

-- An each or run phase's writes the journal could not see (raw requests,
-- other services): {[what] = count}, kept in meta.json so undo says so.
function Journal:unjournaled(name, kind, counts)
  if not next(counts) then return end
  local mark
  for _, p in ipairs(self.meta.phases) do
    if p.name == name and p.not_journaled then mark = p end
  end
  if not mark then
    mark = {name = name, kind = kind, not_journaled = {}}
    self.meta.phases[#self.meta.phases + 1] = mark
  end
  for what, n in pairs(counts) do mark.not_journaled[what] = (mark.not_journaled[what] or 0) + n end
  save_meta(self)
  self:put_meta()
end

-- Writes what is pending. gz_append waits for its fsync on a thread of
-- its own while the other tasks go on, so another commit may start
-- meanwhile: the writer keeps them in order, and `writing` (a wait group)
-- holds them for flush and seal.
local function commit(self)
  self.scheduled = false
  self.unsynced = true
  local pending, waiters = self.pending, self.waiters
  self.pending, self.waiters = {}, {}
  self.writing:add()
  local failure
  for path, lines in pairs(pending) do
    local ok, err = ctl.gz_append(path, table.concat(lines))
    if not ok then failure = err end
  end
  self.writing:done()
  for _, w in ipairs(waiters) do
    w.failure = failure
    mh.unpark(w.task)
  end
end

-- Until no commit is being written.
local function settle(self)
  self.writing:wait()
end

local function path_of(self, p, seg)
  return ("%s/%s.%s.jsonl.gz"):format(self.dir, p.file, tostring(seg or "x"))
end

-- Appends lines (each ending in "\n") for phase p's segment and returns
-- once they are on disk; raises when they cannot be written (the write
-- must then not be sent). `groups` instead of seg: {[seg] = lines}.
function Journal:record(p, seg, lines, groups)
  if self.failed then error("the undo journal cannot be uploaded: " .. self.failed, 0) end
  for s, ls in pairs(groups or {[seg] = lines}) do
    local path = path_of(self, p, s)
    local list = self.pending[path] or {}
    self.pending[path] = list
    for _, l in ipairs(ls) do
      list[#list + 1] = l
      -- An update in flight until its "post" or "none" (see seal).
      local k = l:match('^{"t":"pre","Key":(.-),"Item":')
      if k then self.in_flight[path .. "\0" .. k] = {path = path, line = l} end
    end
  end
  local w = {task = mh.current()}
  self.waiters[#self.waiters + 1] = w
  if not self.scheduled then
    self.scheduled = true
    -- A short pause gathers what other tasks record meanwhile.
    mh.spawn(function() mh.sleep(0.002); commit(self) end)
  end
  mh.park()
  if w.failure then error("cannot write the undo journal: " .. tostring(w.failure), 0) end
end

-- Appends a line that need not be on disk before anything (a "post").
function Journal:note(p, seg, line)
  local path = path_of(self, p, seg)
  local k = line:match('^{"t":"post","Key":(.-),"Attributes":') or line:match('^{"t":"none","Key":(.*)}\n$')
  if k then self.in_flight[path .. "\0" .. k] = nil end
  local list = self.pending[path] or {}
  self.pending[path] = list
  list[#list + 1] = line
end

-- Writes what is noted; at the end of a phase.
function Journal:flush()
  if next(self.pending) then commit(self) end
  settle(self)
end

-- Seals every open file: renamed to the stream's next part.
function Journal:seal()
  self:flush()
  local names = sys.list_dir(self.dir) or {}
  table.sort(names)
  for _, f in ipairs(names) do
    local base, seg = f:match("^([%w%-_]+)%.([%w%-_]+)%.jsonl%.gz$")
    if base then
      self.seq = self.seq + 1
      local to = ("%s/%s.%s.p%06d.jsonl.gz"):format(self.dir, base, seg, self.seq)
      local ok, err = os.rename(self.dir .. "/" .. f, to)
      if not ok then error("cannot seal a part of the undo journal: " .. tostring(err), 0) end
    end
  end
  -- The "pre" lines of updates still in flight start the new open files
  -- again, so the files here always hold them: a resumed run finds them
  -- (settle_in_flight) even when their first copy was uploaded. Undo reads
  -- the repeat as the same line.
  if next(self.in_flight) then
    for _, x in pairs(self.in_flight) do
      local list = self.pending[x.path] or {}
      self.pending[x.path] = list
      list[#list + 1] = x.line
    end
    commit(self)
    settle(self)
  end
end

-- Uploads the sealed parts, then removes them here.
function Journal:upload()
  local r = self.meta.remote
  local names = sys.list_dir(self.dir) or {}
  table.sort(names)
  for _, f in ipairs(names) do
    if f:match("%.p%d+%.jsonl%.gz$") then
      local path = self.dir .. "/" .. f
      local body, rerr = sys.read_file(path)
      if not body then error("cannot read the undo journal: " .. tostring(rerr), 0) end
      local ok, err = s3_put{bucket = r.bucket, key = r.prefix .. "/" .. f, body = body}
      if not ok then
        error(("cannot upload the undo journal to %s: %s"):format(M.url_of(r),
          tostring(type(err) == "table" and (err.message or err.code) or err)), 0)
      end
      os.remove(path)
      self.uploaded = (self.uploaded or 0) + 1
    end
  end
end

-- With a remote: seal and upload what is written so far (one sync at a
-- time; a caller arriving during one waits, then runs its own, so what it
-- wrote before calling is covered). Raises when it cannot upload; then
-- no further write is journaled (nor sent).
function Journal:sync()
  if not self.meta.remote then return true end
  while self.syncing do mh.sleep(0.005) end
  self.syncing = true
  self.unsynced = false
  local ok, err = pcall(function()
    self:seal()
    self:upload()
  end)
  self.syncing = false
  if not ok then
    self.failed = tostring(err)
    error(err, 0)
  end
  return true
end

-- The run's end (or stop): everything uploaded, and meta.json says whether
-- the run wrote all it meant to (complete) or stopped.
function Journal:close(complete)
  if not self.meta.remote then return true end
  self:sync()
  self.meta.complete = complete and true or false
  save_meta(self)
  self:put_meta()
  return true
end

-- The batch writer's before_send for a copy (puts) or delete phase p on
-- table tbl. Puts into a table that was empty: the keys. Otherwise the
-- items as they are now (one BatchGetItem per request; `before` given by
-- the delete phase saves it), and puts that would change nothing are left
-- out.
function Journal:writer_hook(p, tbl, projected)
  local ddb = require "mighost.dynamodb"
  local item = require "mighost.item"
  return function(entries)
    local groups, found = {}, nil
    local need = {}
    if not p.new then
      for _, e in ipairs(entries) do
        if not (e.op == "delete" and e.before and not projected) then
          need[#need + 1], e.looked_up = e.key, true
        end
      end
    end
    if #need > 0 then
      local got, err = ddb.batch_get{table = tbl, keys = need, consistent = true}
      if not got then error("reading the before-images for the undo journal: " .. tostring(err), 0) end
      found = {}
      for _, it in ipairs(got) do found[item.encode(ddb.key_of(ddb.schema(tbl), it))] = it end
    end
    for _, e in ipairs(entries) do
      local key_text = item.encode(e.key)
      local line
      if p.new and e.op == "put" then line = M.new_line(key_text)
      else
        local b
        if e.looked_up then b = found[key_text] else b = e.before end
        local after_text = e.op == "put" and e.text or nil
        local same = b and after_text and item.equal(b, item.decode(after_text))
        if not same then line = M.write_line(key_text, b and item.encode(b), after_text) end
      end
      if line then
        local seg = e.ticket and e.ticket.seg or "x"
        groups[seg] = groups[seg] or {}
        table.insert(groups[seg], line)
      end
    end
    if next(groups) then self:record(p, nil, nil, groups) end
  end
end

-- Each and run phases write through mighost.dynamodb themselves. While
-- one runs, the module's put, update, delete, transact_write and writer
-- are wrapped so each write is journaled first, like the runner's own:
--   put, delete       one consistent GetItem: a "w" line (before, what the
--                     put leaves / nothing)
--   update            one consistent GetItem: "pre"; then what it left
--                     (ReturnValues ALL_NEW, or a GetItem when the caller
--                     asked for other values): "post"
--   transact_write    the same per action
--   writer{...}       the batch writer's before_send (writer_hook)
-- A table that was empty at the phase's first write to it gets its keys
-- only ("new": undo deletes them). Requests the journal cannot read
-- (ddb.request of a write operation, S3 puts and copies) are counted as
-- not journaled (Journal:unjournaled). Invisible here, and said in
-- docs/undo.md: calls through a function of the module a script saved in
-- a local before the phase, and other services. A failed before-image
-- read returns the module's nil, err, the write unsent. Returns {restore = fn}.
function Journal:intercept(name, kind)
  local ddb = require "mighost.dynamodb"
  local item = require "mighost.item"
  local saved = {put = ddb.put, update = ddb.update, delete = ddb.delete,
                 transact_write = ddb.transact_write, writer = ddb.writer, request = ddb.request,
                 s3_put = s3.put, s3_copy = s3.copy}
  local jr, entries, raw = self, {}, {}
  local function entry(tbl)
    local p = entries[tbl]
    while p == "pending" do mh.sleep(0.005); p = entries[tbl] end
    if p then return p end
    p = jr:find_entry(name, tbl)
    if not p then
      entries[tbl] = "pending"
      local ok, res = pcall(function() return jr:entry(name, kind, tbl, M.is_empty(tbl)) end)
      if not ok then entries[tbl] = nil; error(res, 0) end
      p = res
    end
    entries[tbl] = p
    return p
  end
  local function key_of(tbl, it)
    local ok, k = pcall(function() return ddb.key_of(ddb.schema(tbl), it) end)
    return ok and k or nil
  end
  -- The item now (consistent); a failed read raises a table the wrappers
  -- turn into the module's nil, err (the write is then not sent).
  local function before_of(tbl, key)
    local b, err = ddb.get{table = tbl, key = key, consistent = true}
    if err then error({journal_read = err}, 0) end
    return b
  end
  local function read_failed(e)
    if type(e) == "table" and e.journal_read then return e.journal_read end
    error(e, 0)
  end
  -- Lines for one action (op: put, update, delete); nil for what the
  -- journal leaves to the module (no table, no key: the call fails anyway).
  local function lines_for(op, o)
    if type(o) ~= "table" or type(o.table) ~= "string" then return nil end
    local key = key_of(o.table, op == "put" and o.item or o.key)
    if not key then return nil end
    local p = entry(o.table)
    local kt = item.encode(key)
    if p.new then return p, kt, M.new_line(kt), false end
    local b = before_of(o.table, key)
    local btext = b and item.encode(b)
    if op == "update" then return p, kt, M.pre_line(kt, btext), true end
    return p, kt, M.write_line(kt, btext, op == "put" and item.encode(o.item) or nil), false
  end
  -- What an update left: true, item (nil: none), or false when unknown.
  local function after_of(o, attrs)
    if o.return_values == nil or o.return_values == "ALL_NEW" then return true, attrs end
    local ok, got = pcall(before_of, o.table, o.key)
    return ok, got
  end
  local function journaled(op, o)
    local ok, p, kt, line, pre = pcall(lines_for, op, o)
    if not ok then return nil, read_failed(p) end
    return p, kt, line, pre
  end
  -- put and delete: the line, then the write.
  local function simple(op)
    return function(o)
      local p, line_or_err, line = journaled(op, o)
      if p == nil and line_or_err then return nil, line_or_err end
      if p then jr:record(p, "x", {line}) end
      return saved[op](o)
    end
  end
  ddb.put, ddb.delete = simple("put"), simple("delete")
  ddb.update = function(o)
    local p, kt, line, pre = journaled("update", o)
    if p == nil and kt then return nil, kt end
    if not p then return saved.update(o) end
    jr:record(p, "x", {line})
    if not pre then return saved.update(o) end
    local o2 = {}
    for k, v in pairs(o) do o2[k] = v end
    o2.return_values = o.return_values or "ALL_NEW"
    local r1, r2 = saved.update(o2)
    if r1 then
      -- Unknown (the read failed): no "post"; undo treats it as unconfirmed.
      local known, after = after_of(o, r2)
      if known then jr:note(p, "x", M.post_line(kt, after and item.encode(after))) end
      if o.return_values == nil then r2 = nil end
    elseif r1 == false then
      jr:note(p, "x", M.none_line(kt))
    end
    return r1, r2
  end
  ddb.transact_write = function(list)
    local pres, groups = {}, {}
    for _, a in ipairs(type(list) == "table" and list or {}) do
      local op, o = next(a)
      if op == "put" or op == "update" or op == "delete" then
        local p, kt, line, pre = journaled(op, o)
        if p == nil and kt then return nil, kt end
        if p then
          groups[p] = groups[p] or {}
          table.insert(groups[p], line)
          if pre then pres[#pres + 1] = {p = p, kt = kt, o = o} end
        end
      end
    end
    for p, lines in pairs(groups) do jr:record(p, "x", lines) end
    local r1, r2 = saved.transact_write(list)
    for _, x in ipairs(pres) do
      if r1 then
        local ok, after = pcall(before_of, x.o.table, x.o.key)
        -- Unread: no "post", so undo treats the item as unconfirmed.
        if ok then jr:note(x.p, "x", M.post_line(x.kt, after and item.encode(after))) end
      elseif r1 == false then jr:note(x.p, "x", M.none_line(x.kt)) end
    end
    return r1, r2
  end
  ddb.writer = function(o)
    if type(o) == "table" and type(o.table) == "string" and o.before_send == nil then
      local o2 = {}
      for k, v in pairs(o) do o2[k] = v end
      o2.before_send = jr:writer_hook(entry(o.table), o.table)
      return saved.writer(o2)
    end
    return saved.writer(o)
  end
  local function count(what) raw[what] = (raw[what] or 0) + 1 end
  local reads = {Get = true, Batch = true, Query = true, Scan = true, Describe = true, List = true,
                 TransactGet = true}
  ddb.request = function(op, body, tname)
    local verb = tostring(op):match("^(%u%l+)")
    local read = reads[verb] and (op ~= "BatchWriteItem") or op == "TransactGetItems"
    if not read then count(("%s %s"):format(op, tostring(tname or "?"))) end
    return saved.request(op, body, tname)
  end
  s3.put = function(o)
    count(("PutObject s3:%s"):format(tostring(type(o) == "table" and o.bucket)))
    return saved.s3_put(o)
  end
  s3.copy = function(o)
    if not mh.dry_run then count(("CopyObject s3:%s"):format(tostring(type(o) == "table" and o.to))) end
    return saved.s3_copy(o)
  end
  return {restore = function()
    ddb.put, ddb.update, ddb.delete = saved.put, saved.update, saved.delete
    ddb.transact_write, ddb.writer, ddb.request = saved.transact_write, saved.writer, saved.request
    s3.put, s3.copy = saved.s3_put, saved.s3_copy
    jr:flush()
    jr:unjournaled(name, kind, raw)
  end}
end

-- Line builders (item texts are item.encode output, or nil).
local function text_or_null(t) return t or "null" end
function M.write_line(key, before, after)
  return ('{"t":"w","Key":%s,"Item":%s,"Attributes":%s}\n'):format(key, text_or_null(before),
    text_or_null(after))
end
function M.pre_line(key, before)
  return ('{"t":"pre","Key":%s,"Item":%s}\n'):format(key, text_or_null(before))
end
function M.post_line(key, after)
  return ('{"t":"post","Key":%s,"Attributes":%s}\n'):format(key, text_or_null(after))
end
function M.none_line(key) return ('{"t":"none","Key":%s}\n'):format(key) end
function M.new_line(key) return ('{"t":"new","Key":%s}\n'):format(key) end

return M
