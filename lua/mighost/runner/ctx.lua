-- mighost.runner.ctx: the context a phase's functions get (`ctx`), the
-- migration author's main API: the run's parameters and options, counts,
-- skips with reasons, failures that keep an item's work open, notes and
-- lists for the report, per-phase resumable data, and whether to stop.
--
--   ctx.params, ctx.options, ctx.dry_run, ctx.phase, ctx.data
--   ctx:skip(reason [, key])      on purpose, with a reason (counted, listed)
--   ctx:fail(key, reason)         failed: counted, listed, kept for --resume
--   ctx:orphan(key, reason)       a source item with nowhere to go
--   ctx:count(name [, n])         a counter of the report
--   ctx:note(name, value)         a fact for the report
--   ctx:list(name, entry)         a listed note ({count, first 100 items})
--   ctx:report_field(name, value) a top-level report field
--   ctx:interrupted()             true once the run must stop issuing work
--   ctx:save()                    persist ctx.data (plain-code phases)
local json = require "mighost.json"
local sys = require "mighost.sys"
local aws = require "mighost.aws"
local mh = require "mighost"

local M = {}

local MAX_LISTED = 100   -- failures and orphans listed per phase (all are counted)
M.MAX_LISTED = MAX_LISTED

local Ctx = {}
Ctx.__index = Ctx

local function new_counts()
  return {scanned = 0, written = 0, deleted = 0, skipped = {}, skipped_total = 0,
          orphaned = 0, failed = 0}
end

function Ctx:skip(reason, key)
  local c = self.counts
  c.skipped[reason] = (c.skipped[reason] or 0) + 1
  c.skipped_total = c.skipped_total + 1
  if key and #self.skipped_items < MAX_LISTED then
    self.skipped_items[#self.skipped_items + 1] = {key = key, reason = reason}
  end
  local me = mh.current()
  if me then self.skip_marks[me] = true end
end

function Ctx:orphan(key, reason)
  self.counts.orphaned = self.counts.orphaned + 1
  if #self.orphans < MAX_LISTED then self.orphans[#self.orphans + 1] = {key = key, reason = reason} end
  local me = mh.current()
  if me then self.skip_marks[me] = true end
end

-- A failed item: counted, listed, and its key kept in the state's
-- failed-keys file so --resume retries it. Returns false when it could not
-- be kept (no key, too many failed keys) or when the run gave up on an
-- endpoint (then it is no failure of the item's: the run stops with exit 3
-- and nothing is counted); the caller must then keep the item's work open.
function Ctx:fail(key, reason)
  local me = mh.current()
  if me then self.skip_marks[me] = true end
  if aws.gave_up() then self.outage = true; return false end
  self.counts.failed = self.counts.failed + 1
  if #self.failures < MAX_LISTED then self.failures[#self.failures + 1] = {key = key, reason = reason} end
  -- --max-failures: a cause that fails every item stops the phase instead
  -- of running through the table; what is not done stays open.
  local max = self.options.max_failures or 0
  if max > 0 and self.counts.failed >= max then self.halted = true end
  return key ~= nil and self.store:record_failed(self.phase.name, key, reason)
end

function Ctx:count(name, n)
  self.counts[name] = (self.counts[name] or 0) + (n or 1)
end

-- Extra facts for the report (duplicates found, ids assigned, ...).
function Ctx:note(name, value) self.notes[name] = value end

-- A list in the phase's notes, {count = every entry, items = the first
-- 100}: what a phase did on purpose and the operator should see.
function Ctx:list(name, entry)
  local n = self.notes[name]
  if not n then n = {count = 0, items = json.array()}; self.notes[name] = n end
  n.count = n.count + 1
  if #n.items < MAX_LISTED then n.items[#n.items + 1] = entry end
end

-- A top-level field of the JSON report, for a migration whose reference
-- wrote a report of its own (see Report:set_field).
function Ctx:report_field(name, value) self.report:set_field(name, value) end

-- True once the run must stop issuing work: Ctrl-C, or the run gave up on
-- an endpoint that stopped answering (--max-outage).
function Ctx:interrupted()
  return sys.interrupted() > 0 or aws.gave_up() ~= nil or self.halted == true
end

-- Per-phase resumable data for `run` phases: ctx.data persists in the
-- state file; call ctx:save() after changing it.
function Ctx:save()
  self.store:phase(self.phase.name).data = self.data
  self.store.dirty = true
  self.store:save()
end

function Ctx:checkpoint_moved()
  -- The undo journal in S3: a task of the run saves (runner.journal).
  if self.store.before_save then return end
  local now = mh.clock()
  if now - (self.last_save or 0) >= 1 then
    self.last_save = now
    self.store:save()
  end
end

function Ctx:show_sample(source, outs)
  local item = require "mighost.item"
  local diff = require "mighost.runner.diff"
  self.sampled = (self.sampled or 0) + 1
  local w = {("--- sample %d (%s): source %s"):format(self.sampled, self.phase.name,
    item.encode(source))}
  if #outs == 0 then w[#w + 1] = "    writes nothing" end
  for i, o in ipairs(outs) do
    w[#w + 1] = ("    write %d of %d%s:"):format(i, #outs, #outs == 1 and "" or "")
    for _, line in ipairs(diff.lines(source, o)) do w[#w + 1] = "      " .. line end
  end
  io.stderr:write(table.concat(w, "\n"), "\n")
end

-- A phase's context: fields given (params, options, store, phase, report,
-- migration, dry_run, data) plus fresh counts and lists.
function M.new(fields)
  fields.counts = new_counts()
  fields.failures, fields.orphans, fields.skipped_items, fields.notes = {}, {}, {}, {}
  fields.skip_marks = setmetatable({}, {__mode = "k"})
  return setmetatable(fields, Ctx)
end

M.Ctx = Ctx
return M
