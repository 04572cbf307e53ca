-- mighost.runner.state: checkpoints. One small interface (load, save a
-- segment's position, mark a phase done) so the local file can later give
-- way to a lease table in DynamoDB shared by several workers; scan segments
-- are the unit of work and of checkpointing.
--
-- A state file per run identity (migration + parameters):
--   {version, migration, identity, params, started, updated, finished,
--    phases = {NAME = {done, segments = {["0"] = {done, key = "<item JSON>"}},
--                      data = {...}, counts = {...}}}}
-- It is replaced atomically (sys.write_file), so it is consistent whenever
-- the process stops, even on SIGKILL.

local json = require "mighost.json"
local sys = require "mighost.sys"
local item = require "mighost.item"

local Store = {}
Store.__index = Store

local M = {}

function M.default_dir()
  local xdg = sys.getenv("XDG_STATE_HOME")
  if xdg and xdg ~= "" then return xdg .. "/mighost" end
  local home = sys.getenv("HOME")
  if home and home ~= "" then return home .. "/.local/state/mighost" end
  return ".mighost-state"
end

-- A stable text for the parameter values: sorted keys.
function M.identity(name, values)
  return sys.sha256(name .. "\n" .. json.encode(values))
end

function M.open(dir, name, values)
  local id = M.identity(name, values)
  local file = ("%s/%s-%s.json"):format(dir, name:gsub("[^%w%-_.]", "_"), id:sub(1, 16))
  local s = setmetatable({path = file, dir = dir, dirty = false}, Store)
  local text = sys.read_file(file)
  if text then
    local ok, data = pcall(json.decode, text)
    if not ok or type(data) ~= "table" or data.identity ~= id then
      error(("the state file %s is damaged; move it away to start over"):format(file), 0)
    end
    s.data, s.existed = data, true
  else
    s.data = {version = 1, migration = name, identity = id, params = values,
              started = sys.utc(), phases = {}, finished = false}
  end
  return s
end

function Store:unfinished() return self.existed and not self.data.finished end
function Store:finished() return self.existed and self.data.finished end

function Store:reset()
  self.data.phases, self.data.finished, self.data.started = {}, false, sys.utc()
  self.existed = false
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

function Store:finish()
  self.data.finished = true
  self.dirty = true
  self:save()
end

function Store:save()
  if not self.dirty then return true end
  self.data.updated = sys.utc()
  local ok, err = sys.mkdirs(self.dir)
  if ok then ok, err = sys.write_file(self.path, json.encode(self.data)) end
  if not ok then error("cannot save the checkpoint: " .. tostring(err), 0) end
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
function Null:unfinished() return false end
function Null:finished() return false end

return M
