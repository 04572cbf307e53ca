-- mighost.runner: the commands that run Lua (run, eval, list, describe,
-- check) and the lifecycle every migration shares: parameters, pre-flight,
-- confirmation, phases, verification, report, summary, exit code.

local mh = require "mighost"
local sys = require "mighost.sys"
local params = require "mighost.runner.params"
local lifecycle = require "mighost.runner.lifecycle"

local M = {}

-- Exit codes: one definition, in C (mighost.EXIT).
M.EXIT = mh.EXIT

local function usage_error(msg)
  io.stderr:write("mighost: ", msg, "\n")
  sys.set_exit_code(M.EXIT.USAGE)
end
M.usage_error = usage_error

local RUN_HELP = [[
usage: mighost run NAME|FILE [options] [migration options]

Runs a migration: pre-flight checks, a confirmation, its phases in order,
verification, a JSON report and a summary. A FILE that does not return a
migration table runs as a plain script.

options:
  --config FILE            JSON parameters (keys as the migration declares them;
                           _comment* and comments keys are ignored)
  --set KEY=VALUE          one parameter (repeatable)
  --stack NAME             fill parameters from a CloudFormation stack's outputs
  --dry-run                read for real, validate and record writes, send none
  --plan FILE              with --dry-run: every would-be write as a JSON line
  --source-dir DIR         offline evaluation: read the tables from DynamoDB export
                           files in DIR instead of AWS (implies --dry-run; no AWS
                           access, region or credentials needed; see the README)
  --verify-only            only the verification phases
  --limit N                stop after N source items per phase (a trial run)
  --report FILE            where to write the JSON report
                           (default mighost-report-NAME-TIMESTAMP.json)
  --resume                 continue an interrupted run from its checkpoints
  --fresh                  start over even if an unfinished run exists
  --state-dir DIR          checkpoints (default $XDG_STATE_HOME/mighost or
                           ~/.local/state/mighost)
  --yes                    do not ask for confirmation (needed without a terminal)
  --quiet                  no progress lines
  --max-read-rate N        hold reads to N capacity units per second
  --max-write-rate N       hold writes to N capacity units per second
  --max-failures N         stop a phase after N failed items (default 100; 0: no limit)
  --sample N               (dry-run) show N source items and what would be written
The migration's own parameters are options too: --NAME VALUE (see describe).
]]

local function load_migration(path)
  local chunk, err = loadfile(path, "t")
  if not chunk then error(err, 0) end
  return chunk
end

-- The migration table a file returns, checked; or nil, message.
function M.load(path)
  local chunk = load_migration(path)
  local ok, mig = pcall(chunk)
  if not ok then error(mig, 0) end
  if type(mig) ~= "table" or mig.phases == nil then return nil end
  local problems = lifecycle.validate(mig)
  if #problems > 0 then
    error(("%s: not a valid migration:\n  %s"):format(path, table.concat(problems, "\n  ")), 0)
  end
  return mig
end

local function run(args)
  for _, a in ipairs(args) do
    if a == "--help" or a == "-h" then io.stdout:write(RUN_HELP); return end
  end
  if not args.script then return usage_error("run: which migration? (see mighost list)") end
  -- The first positional argument is the script. A plain script gets what
  -- follows it; a migration takes options from both sides of its name.
  local before, after, seen = {}, {}, false
  for _, a in ipairs(args) do
    if not seen and a:sub(1, 1) ~= "-" then seen = true
    elseif seen then after[#after + 1] = a
    else before[#before + 1] = a end
  end
  local chunk = load_migration(args.script)
  arg = {[0] = args.script}
  for i, a in ipairs(after) do arg[i] = a end
  local result = chunk(table.unpack(after))
  local rest = before
  for _, a in ipairs(after) do rest[#rest + 1] = a end
  if type(result) ~= "table" or result.phases == nil then return end
  local problems = lifecycle.validate(result)
  if #problems > 0 then
    return usage_error(("%s: not a valid migration:\n  %s"):format(args.script,
      table.concat(problems, "\n  ")))
  end
  local opts, err = params.parse_run_options(result, rest, args)
  if not opts then return usage_error(err) end
  sys.set_exit_code(lifecycle.run(result, opts))
end

-- Packaged migrations: NAME = folder/file without .lua.
local function packaged()
  local root = sys.migrations_dir()
  local names = {}
  local top = sys.list_dir(root) or {}
  table.sort(top)
  for _, folder in ipairs(top) do
    local files = sys.list_dir(root .. "/" .. folder)
    if files then
      table.sort(files)
      for _, f in ipairs(files) do
        local name = f:match("^(.+)%.lua$")
        if name and not f:match("^_") then
          names[#names + 1] = {name = folder .. "/" .. name, path = root .. "/" .. folder .. "/" .. f}
        end
      end
    end
  end
  return names
end
M.packaged = packaged

local function list(args)
  for _, a in ipairs(args) do
    if a == "--help" or a == "-h" then
      io.stdout:write("usage: mighost list\n\nThe packaged migrations, one line each.\n")
      return
    end
  end
  for _, m in ipairs(packaged()) do
    local ok, mig = pcall(M.load, m.path)
    local desc = ok and mig and (mig.description or ""):match("^[^\n]*") or
      ("(cannot load: " .. tostring(mig) .. ")")
    print(("%-28s %s"):format(m.name, desc))
  end
end

local function describe(args)
  for _, a in ipairs(args) do
    if a == "--help" or a == "-h" then
      io.stdout:write("usage: mighost describe NAME|FILE\n\nParameters (types, defaults, "
        .. "config keys, stack outputs), phases and the tables read and written.\n")
      return
    end
  end
  if not args.script then return usage_error("describe: which migration?") end
  local mig = M.load(args.script)
  if not mig then return usage_error(args.script .. " is a plain script, not a migration") end
  io.stdout:write(lifecycle.describe(mig))
end

local function check(args)
  for _, a in ipairs(args) do
    if a == "--help" or a == "-h" then
      io.stdout:write("usage: mighost check FILE\n\nLoads and validates a migration; "
        .. "no AWS access.\n")
      return
    end
  end
  if not args.script then return usage_error("check: which file?") end
  local mig = M.load(args.script)
  if not mig then return usage_error(args.script .. " does not return a migration table") end
  print(("%s: ok (%d parameters, %d phases)"):format(mig.name, #(mig.params or {}), #mig.phases))
end

local function new(args)
  local templates = require "mighost.runner.templates"
  local name, kind = nil, "copy"
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--help" or a == "-h" then
      io.stdout:write("usage: mighost new NAME [FILE] [--kind KIND]\n\nWrites FILE (default NAME.lua, "
        .. "with / turned into -) holding a starting migration: declared parameters, one phase of "
        .. "KIND and a verification. It passes `mighost check` as written.\n\nKIND:\n")
      for _, k in ipairs(templates.KINDS) do
        io.stdout:write(("  %-8s %s\n"):format(k, templates.doc[k]))
      end
      return
    elseif a == "--kind" or a:match("^%-%-kind=") then
      kind = a:match("^%-%-kind=(.*)$")
      if not kind then i = i + 1; kind = args[i] end
      if not templates.doc[kind or ""] then
        return usage_error(("new: --kind %s: one of %s"):format(tostring(kind),
          table.concat(templates.KINDS, ", ")))
      end
    elseif a:sub(1, 1) == "-" then
      return usage_error("new: unknown option " .. a)
    elseif not name then name = a
    else args.file = a end
    i = i + 1
  end
  if not name then return usage_error("new: which name? (e.g. mighost new acme/add-version)") end
  if not name:match("^[%w_%-./]+$") then
    return usage_error("new: a name is letters, digits, '-', '_', '.' and '/'")
  end
  local file = args.file or (name:gsub("/", "-") .. ".lua")
  if sys.exists(file) then return usage_error(file .. " already exists; choose another name or remove it") end
  local text = templates.render(kind, name, file)
  local ok, err = sys.write_file(file, text)
  if not ok then return usage_error(tostring(err)) end
  print(("wrote %s (phase kind %s): edit it, then `mighost check %s`"):format(file, kind, file))
end

function M.main(cmd, args)
  local commands = {run = run, list = list, describe = describe, check = check, new = new}
  return commands[cmd](args)
end

function M.eval(args)
  local code = args[#args]
  local chunk, err = load(code, "=(eval)", "t")
  if not chunk then error(err, 0) end
  return chunk()
end

return M
