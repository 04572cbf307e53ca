-- mighost.runner: the commands that run Lua (run, eval, list, describe,
-- check) and the lifecycle every migration shares: parameters, pre-flight,
-- confirmation, phases, verification, report, summary, exit code.

local mh = require "mighost"
local sys = require "mighost.sys"
local params = require "mighost.runner.params"
local lifecycle = require "mighost.runner.lifecycle"
local cli = require "mighost.runner.cli"
local json = require "mighost.json"

local M = {}

-- Exit codes: one definition, in C (mighost.EXIT).
M.EXIT = mh.EXIT

local function usage_error(msg)
  io.stderr:write("mighost: ", msg, "\n")
  sys.set_exit_code(M.EXIT.USAGE)
end
M.usage_error = usage_error


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
    if a == "--help" or a == "-h" then io.stdout:write(cli.help("run", args)); return end
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
  -- --concurrency caps the learnt windows of plain scripts too.
  if (args.concurrency or 0) > 0 then require("mighost.inflight").set_cap(args.concurrency) end
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
  opts.script = args.script
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

-- Parses a simple command's arguments; nil after printing help or an error.
local function parsed(cmd, args)
  local o, err = cli.parse(cmd, args)
  if not o then return usage_error(err) end
  if o.help then io.stdout:write(cli.help(cmd, args)); return end
  return o
end

local function missing_script(cmd, o)
  if not o.positional[1] then return cmd .. ": which migration? (see mighost list)" end
  return ("%s: no migration or script named '%s' (see mighost list)"):format(cmd, o.positional[1])
end

local function list(args)
  local o = parsed("list", args)
  if not o then return end
  local rows = json.array()
  for _, m in ipairs(packaged()) do
    local ok, mig = pcall(M.load, m.path)
    local desc = ok and mig and (mig.description or ""):match("^[^\n]*") or nil
    rows[#rows + 1] = {name = m.name, description = desc, path = m.path,
                       error = not ok and tostring(mig) or nil}
  end
  if o.output == "json" then return print(json.encode(rows)) end
  for _, r in ipairs(rows) do
    print(("%-28s %s"):format(r.name, r.description or ("(cannot load: " .. r.error .. ")")))
  end
end

local function describe(args)
  local o = parsed("describe", args)
  if not o then return end
  if not args.script then return usage_error(missing_script("describe", o)) end
  local mig = M.load(args.script)
  if not mig then return usage_error(args.script .. " is a plain script, not a migration") end
  if o.output == "json" then return print(json.encode(lifecycle.describe_data(mig))) end
  io.stdout:write(lifecycle.describe(mig))
end

local function check(args)
  local o = parsed("check", args)
  if not o then return end
  if not args.script then return usage_error(missing_script("check", o)) end
  local mig = M.load(args.script)
  if not mig then return usage_error(args.script .. " does not return a migration table") end
  if o.output == "json" then
    return print(json.encode({name = mig.name, ok = true, parameters = #(mig.params or {}),
                              phases = #mig.phases}))
  end
  print(("%s: ok (%d parameters, %d phases)"):format(mig.name, #(mig.params or {}), #mig.phases))
end

-- `mighost status [NAME]`: the runs in the state folder.
local function status(args)
  local o = parsed("status", args)
  if not o then return end
  if o.coordinate then
    -- A run shared by several workers: its coordination table.
    local code = require("mighost.runner.lease_status").show(o.coordinate, o.positional[1], o.output)
    if code ~= 0 then sys.set_exit_code(code) end
    return
  end
  local st = require "mighost.runner.status"
  local default_dir = require("mighost.runner.state").default_dir()
  local dir = o.state_dir or default_dir
  local rows = st.rows(dir, o.positional[1], default_dir)
  if o.output == "json" then
    print(json.encode({state_dir = dir, runs = json.array(rows)}))
  else
    io.stdout:write(st.text(rows, dir))
  end
end

local function new(args)
  local o = parsed("new", args)
  if not o then return end
  local templates = require "mighost.runner.templates"
  local name, kind = o.positional[1], o.kind or "copy"
  args.file = o.positional[2]
  if not templates.doc[kind] then
    return usage_error(("new: --kind %s: one of %s"):format(sys.shown(kind),
      table.concat(templates.KINDS, ", ")))
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

-- `mighost ctl RUN COMMAND...`: live control of a running migration.
local function ctl(args)
  local o = parsed("ctl", args)
  if not o then return end
  local run = table.remove(o.positional, 1)
  if not run or #o.positional == 0 then
    return usage_error("ctl: which run and which command? (mighost ctl RUN pause|resume|status|stop|"
      .. "set max-write-rate N|set max-read-rate N|set concurrency N)")
  end
  local state = require "mighost.runner.state"
  local path, err = state.find(o.state_dir or state.default_dir(), run)
  if not path then return usage_error("ctl: " .. err) end
  local timeout = tonumber(o.timeout or "5")
  if not timeout or timeout <= 0 or timeout > 86400 then
    return usage_error("ctl: --timeout: a number of seconds above 0 (at most 86400), not "
      .. tostring(o.timeout))
  end
  local answer, serr = require("mighost.runner.control").send(path, table.concat(o.positional, " "),
    o.flag_file, timeout)
  if not answer then
    io.stderr:write("mighost: ctl: ", serr, "\n")
    return sys.set_exit_code(M.EXIT.AWS)
  end
  if o.output == "json" then print(json.encode(answer))
  elseif answer.status then
    local st = answer.status
    print(("phase %s: scanned %s, written %s, deleted %s, failed %s; %s, %s requests in flight; "
      .. "max-write-rate %s, max-read-rate %s, concurrency %s"):format(tostring(st.phase),
      tostring(st.scanned), tostring(st.written), tostring(st.deleted), tostring(st.failed),
      st.paused and "PAUSED" or "running", tostring(st.in_flight), tostring(st.max_write_rate or "none"),
      tostring(st.max_read_rate or "none"), tostring(st.concurrency or "engine default")))
  else print(answer.message) end
  if not answer.ok then sys.set_exit_code(M.EXIT.USAGE) end
end

function M.main(cmd, args)
  if mh.log_json and io.type(io.stderr) == "file" then io.stderr = cli.json_stderr(io.stderr) end
  local commands = {run = run, list = list, describe = describe, check = check, new = new,
                    status = status, ctl = ctl,
                    history = function(a) return require("mighost.runner.history").command(a, parsed) end,
                    undo = function(a) return require("mighost.runner.undo").command(a, parsed) end,
                    launch = function(a)
                      local o = parsed("launch", a)
                      if o then sys.set_exit_code(require("mighost.runner.launch").run(o)) end
                    end}
  return commands[cmd](args)
end

function M.eval(args)
  local code = args[#args]
  local chunk, err = load(code, "=(eval)", "t")
  if not chunk then error(err, 0) end
  return chunk()
end

return M
