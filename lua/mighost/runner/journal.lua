-- mighost.runner.journal: the undo journal of a run. Before the runner
-- changes an item in place (an update, a delete, a put that replaces an
-- item) the item's previous image, or its absence, is appended to a
-- gzip'd JSON-lines file and fsync'ed; only then is the write sent. So
-- `mighost undo RUN` (runner.undo) can put every item back after a crash
-- at any moment.
--
-- Layout, beside the state file NAME-ID.json:
--   NAME-ID.undo/meta.json          {state, phases = [{name, table, kind, file, new}]}
--   NAME-ID.undo/PHASE.SEG.jsonl.gz one file per phase and scan segment
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

local M = {}
local Journal = {}
Journal.__index = Journal

function M.dir_of(state_path) return (state_path:gsub("%.json$", "")) .. ".undo" end

local function file_part(name) return (name:gsub("[^%w%-_]", "_")) end

-- The journal of a run with a state file; nil for runs that keep none.
function M.open(store)
  if not store.path then return nil end
  local dir = M.dir_of(store.path)
  local j = setmetatable({dir = dir, pending = {}, waiters = {}, scheduled = false}, Journal)
  local text = sys.read_file(dir .. "/meta.json")
  local ok, meta = pcall(json.decode, text or "")
  j.meta = ok and type(meta) == "table" and meta or {state = store.path, phases = {}}
  j.meta.phases = j.meta.phases or {}
  return j
end

-- A fresh run (not --resume) starts a new journal: the old one belongs to
-- the run being replaced.
function Journal:reset()
  for _, f in ipairs(sys.list_dir(self.dir) or {}) do os.remove(self.dir .. "/" .. f) end
  self.meta.phases = {}
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
  local ok, err = sys.mkdirs(self.dir)
  if ok then ok, err = sys.write_file(self.dir .. "/meta.json", json.encode(self.meta)) end
  if not ok then error("cannot write the undo journal: " .. tostring(err), 0) end
  return p
end

local function commit(self)
  self.scheduled = false
  local pending, waiters = self.pending, self.waiters
  self.pending, self.waiters = {}, {}
  local failure
  for path, lines in pairs(pending) do
    local ok, err = ctl.gz_append(path, table.concat(lines))
    if not ok then failure = err end
  end
  for _, w in ipairs(waiters) do
    w.failure = failure
    mh.unpark(w.task)
  end
end

local function path_of(self, p, seg)
  return ("%s/%s.%s.jsonl.gz"):format(self.dir, p.file, tostring(seg or "x"))
end

-- Appends lines (each ending in "\n") for phase p's segment and returns
-- once they are on disk; raises when they cannot be written (the write
-- must then not be sent). `groups` instead of seg: {[seg] = lines}.
function Journal:record(p, seg, lines, groups)
  for s, ls in pairs(groups or {[seg] = lines}) do
    local path = path_of(self, p, s)
    local list = self.pending[path] or {}
    self.pending[path] = list
    for _, l in ipairs(ls) do list[#list + 1] = l end
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
  local list = self.pending[path] or {}
  self.pending[path] = list
  list[#list + 1] = line
end

-- Writes what is noted; at the end of a phase.
function Journal:flush()
  if next(self.pending) then commit(self) end
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
