-- mighost.runner.status: `mighost status [NAME]`, the runs kept in the
-- state folder, one row each: migration, account and region, started,
-- finished or interrupted, the phase and position it stopped at, failed
-- items, and the command that resumes it.
--
-- State files are written by mighost.runner.state and other versions of
-- mighost may add or drop fields, so every field is read defensively: a
-- missing one shows as "-", a file that is not a run is listed as such.

local json = require "mighost.json"
local sys = require "mighost.sys"

local M = {}

local function str(v) return type(v) == "string" and v ~= "" and v or nil end

-- Failed items recorded for a phase, whatever shape the count takes.
local function failed_of(p)
  local n = 0
  for _, v in ipairs{p.failed, p.counts and p.counts.failed, p.failed_count} do
    if math.type(v) == "integer" then n = math.max(n, v)
    elseif type(v) == "table" and math.type(v.count) == "integer" then n = math.max(n, v.count)
    elseif type(v) == "table" and #v > 0 then n = math.max(n, #v) end
  end
  return n
end

-- Where an unfinished run stands: its phase, and segments done of known.
local function position(data)
  local phases = type(data.phases) == "table" and data.phases or {}
  local name = str(data.current_phase)
  local failed, done_phases = 0, {}
  for pname, p in pairs(phases) do
    if type(p) == "table" then
      failed = failed + failed_of(p)
      if p.done then done_phases[#done_phases + 1] = pname
      elseif not name then name = pname end
    end
  end
  table.sort(done_phases)
  local p = name and type(phases[name]) == "table" and phases[name] or nil
  local done, known = 0, 0
  if p and type(p.segments) == "table" then
    for _, seg in pairs(p.segments) do
      known = known + 1
      if type(seg) == "table" and seg.done then done = done + 1 end
    end
  end
  return name, p and (known > 0 and ("%d of %d segments done"):format(done, known) or "not started"),
    failed, done_phases
end

local function resume_command(data, file, dir, default_dir)
  local cmd = str(data.command)
  if not cmd then
    cmd = "mighost run " .. (str(data.migration) or "NAME") .. " (same parameters)"
  end
  cmd = cmd:gsub(" %-%-fresh", "")
  if not cmd:find(" %-%-resume") then cmd = cmd .. " --resume" end
  if dir ~= default_dir and not cmd:find(" %-%-state%-dir") then cmd = cmd .. " --state-dir " .. dir end
  return cmd
end

-- One row per state file in dir (of migration `name`, or all), newest first.
function M.rows(dir, name, default_dir)
  local rows = {}
  for _, f in ipairs(sys.list_dir(dir) or {}) do
    if f:match("%.json$") then
      local path = dir .. "/" .. f
      local text = sys.read_file(path)
      local ok, data = pcall(json.decode, text or "")
      if not ok or type(data) ~= "table" or not str(data.migration) then
        if not name then rows[#rows + 1] = {file = path, status = "unreadable"} end
      elseif not name or data.migration == name then
        local identity = type(data.run) == "table" and data.run or data
        local phase, at, failed, done = position(data)
        local row = {
          file = path, migration = data.migration,
          account = str(identity.account) or str(data.account),
          region = str(identity.region) or str(data.region),
          started = str(data.started), updated = str(data.updated),
          status = data.finished == true and "finished" or "interrupted",
          phases_done = json.array(done), failed_items = failed,
        }
        if data.finished ~= true then
          row.phase, row.position = phase, at
          row.resume = resume_command(data, f, dir, default_dir)
        end
        rows[#rows + 1] = row
      end
    end
  end
  table.sort(rows, function(a, b) return (a.updated or a.started or "") > (b.updated or b.started or "") end)
  return rows
end

function M.text(rows, dir)
  if #rows == 0 then return ("no runs in %s\n"):format(dir) end
  local out = {}
  for _, r in ipairs(rows) do
    if r.status == "unreadable" then
      out[#out + 1] = ("%s: not a mighost state file\n"):format(r.file)
    else
      out[#out + 1] = ("%s  %s  %s/%s  started %s%s\n"):format(r.migration, r.status:upper(),
        r.account or "-", r.region or "-", r.started or "-",
        r.updated and (", last saved " .. r.updated) or "")
      if r.status ~= "finished" then
        out[#out + 1] = ("  stopped in phase %s (%s)%s\n"):format(r.phase or "-", r.position or "-",
          #r.phases_done > 0 and ("; done: " .. table.concat(r.phases_done, ", ")) or "")
      end
      if r.failed_items > 0 then out[#out + 1] = ("  failed items: %d\n"):format(r.failed_items) end
      if r.resume then out[#out + 1] = ("  resume: %s\n"):format(r.resume) end
      out[#out + 1] = ("  state: %s\n"):format(r.file)
    end
  end
  return table.concat(out)
end

return M
