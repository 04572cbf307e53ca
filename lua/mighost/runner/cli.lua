-- mighost.runner.cli: the Lua commands' usage lines, options and help,
-- from one table that their parsers read too, so help and parsing cannot
-- drift. An option is one line, "KIND[ PLACEHOLDER]: help" (KIND bool or
-- value), as in params.RUNNER_FLAGS; `run` adds the options C parses
-- (args.c_options: --region, --profile, ...), which come from C's own
-- tables (src/cli/cli_common.c, src/cli/cli_run.c).

local sys = require "mighost.sys"
local params = require "mighost.runner.params"

local M = {}

local OUTPUT = "value FORMAT: text (default) or json"
local STATE_DIR = "value DIR: the state folder (default $XDG_STATE_HOME/mighost or ~/.local/state/mighost)"

M.COMMANDS = {
  run = {
    usage = "mighost run NAME|FILE [options] [migration options]",
    about = "Runs a migration: pre-flight checks, a confirmation, its phases in order, "
      .. "verification, a JSON report and a summary. A FILE that does not return a "
      .. "migration table runs as a plain script, with the arguments after it.",
    options = params.RUNNER_FLAGS,
    footer = "The migration's own parameters are options too: --NAME VALUE (see mighost describe NAME).",
  },
  list = {
    usage = "mighost list [options]",
    about = "The packaged migrations, one line each.",
    options = {["--output"] = OUTPUT},
    max_args = 0,
  },
  describe = {
    usage = "mighost describe NAME|FILE [options]",
    about = "A migration's parameters (types, defaults, config keys, where --stack finds "
      .. "them), phases and the tables read and written.",
    options = {["--output"] = OUTPUT},
    max_args = 1,
  },
  check = {
    usage = "mighost check FILE [options]",
    about = "Loads and validates a migration; no AWS access.",
    options = {["--output"] = OUTPUT},
    max_args = 1,
  },
  status = {
    usage = "mighost status [NAME] [options]",
    about = "The runs in the state folder (all, or those of migration NAME): started, "
      .. "finished or interrupted, phase and position, failed items, and the command "
      .. "that resumes an unfinished one.",
    options = {["--output"] = OUTPUT,
               ["--coordinate"] = "value TABLE: the runs shared by several workers in this coordination table instead (segments done, leased and free; workers and heartbeats; items per second; verification)",
               ["--state-dir"] = "value DIR: the state folder (default $XDG_STATE_HOME/mighost or ~/.local/state/mighost)"},
    max_args = 1,
  },
  ctl = {
    usage = "mighost ctl RUN COMMAND [ARGS]",
    about = "Controls a running migration (RUN: its state file's name, as mighost status "
      .. "shows it, or the start of it): pause (requests in flight finish, no new ones are "
      .. "sent), resume, status, stop (as Ctrl-C: state saved, exit 130), set max-write-rate N, "
      .. "set max-read-rate N, set concurrency N (DynamoDB requests in flight). Talks to the "
      .. "run through the Unix socket beside its state file, else through a flag file.",
    options = {["--state-dir"] = STATE_DIR,
               ["--flag-file"] = "bool: use the flag file even where the socket works",
               ["--timeout"] = "value SECONDS: how long to wait for the run's answer (default 5; a run slowed by a debugger or a loaded machine may need more)",
               ["--output"] = OUTPUT},
    max_args = 4,
  },
  history = {
    usage = "mighost history [NAME] [options]",
    about = "The runs recorded in the history table (all, or those of migration NAME), "
      .. "newest first: when, by whom, where, on which tables, with what outcome.",
    options = {["--output"] = OUTPUT,
               ["--history"] = "value TABLE: the history table (default mighost-history)"},
    max_args = 1,
    aws = true,
  },
  undo = {
    usage = "mighost undo RUN [options]",
    about = "Puts back what run RUN (its state file's name, as mighost status shows it) "
      .. "changed, from its undo journal: each item it updated, replaced or deleted gets its "
      .. "earlier image again, unless it changed since the run (those are listed and left "
      .. "alone); items it wrote into tables that were empty before are deleted. Asks first "
      .. "(--yes without a terminal); --resume continues an undo that was stopped. A run "
      .. "with --undo-to is undone from its journal in S3.",
    options = {["--state-dir"] = STATE_DIR, ["--dry-run"] = "bool: say what would be restored; write nothing",
               ["--undo-from"] = "value URL: read the journal of RUN from S3, URL = s3://BUCKET/PREFIX (the run's --undo-to), e.g. on another machine than the run's",
               ["--yes"] = "bool: do not ask for confirmation",
               ["--resume"] = "bool: continue an undo that was stopped",
               ["--report"] = "value FILE: the undo's JSON report (default mighost-undo-RUN-TIMESTAMP.json)",
               ["--output"] = OUTPUT},
    max_args = 1,
    aws = true,
  },
  launch = {
    usage = "mighost launch ecs --cluster C --task-definition TD --count N [options] -- run NAME ... --coordinate TABLE --no-undo --yes",
    about = "Starts N workers of a run shared through a coordination table on Amazon ECS: "
      .. "RunTask with the container's command overridden by what follows --, in calls of "
      .. "at most 10 tasks, each with a clientToken (the same command launched again starts "
      .. "nothing new unless --token changes). Prints the tasks started.",
    options = {
      ["--cluster"] = "value CLUSTER: the ECS cluster",
      ["--task-definition"] = "value TD: the task definition (family, family:revision or ARN) whose image holds mighost",
      ["--count"] = "value N: how many workers to start",
      ["--container"] = "value NAME: the container whose command is overridden (default mighost)",
      ["--launch-type"] = "value TYPE: FARGATE (default) or EC2",
      ["--subnets"] = "value IDS: comma-separated subnets (awsvpc networking; required for FARGATE)",
      ["--security-groups"] = "value IDS: comma-separated security groups",
      ["--public-ip"] = "bool: assign a public IP (subnets without a NAT gateway)",
      ["--token"] = "value TEXT: part of the clientTokens (default: derived from the command), to launch the same command again",
      ["--dry-run"] = "bool: print the RunTask requests, send none",
      ["--output"] = OUTPUT,
    },
    max_args = 1,
    aws = true,
  },
  new = {
    usage = "mighost new NAME [FILE] [--kind KIND]",
    about = "Writes FILE (default NAME.lua, with / turned into -) holding a starting "
      .. "migration: declared parameters, one phase of KIND and a verification. It passes "
      .. "`mighost check` as written.",
    options = {["--kind"] = "value KIND: the phase kind: copy (default; read, transform, write "
      .. "elsewhere), update (in place), delete (the items a predicate selects), each (a "
      .. "function per item)"},
    max_args = 2,
  },
}

-- The command's options, sorted: {name, kind, arg, help, from = "c"|nil}.
function M.options(cmd, args)
  local out = {}
  for name, spec in pairs(M.COMMANDS[cmd].options) do
    local kind, arg, help = params.flag_spec(spec)
    out[#out + 1] = {name = name, kind = kind, arg = arg, help = help}
  end
  -- The commands that reach AWS also take the options C parses.
  if cmd == "run" or cmd == "status" or M.COMMANDS[cmd].aws then
    for _, o in ipairs(args and args.c_options or {}) do
      out[#out + 1] = {name = o.name, kind = o.arg and "value" or "bool", arg = o.arg, help = o.help,
                       from = "c"}
    end
  end
  out[#out + 1] = {name = "--help", kind = "bool", help = "this help"}
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

-- Text wrapped to width, every line but the first indented.
local function wrap(text, indent, width)
  local lines, line = {}, ""
  for word in text:gmatch("%S+") do
    if #line > 0 and indent + #line + 1 + #word > width then
      lines[#lines + 1] = line
      line = word
    else
      line = #line > 0 and (line .. " " .. word) or word
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n" .. (" "):rep(indent))
end

local function option_lines(out, list)
  for _, o in ipairs(list) do
    local head = o.name .. (o.arg and (" " .. o.arg) or "")
    if #head > 24 then
      out[#out + 1] = "  " .. head .. "\n" .. (" "):rep(27) .. wrap(o.help or "", 27, 79) .. "\n"
    else
      out[#out + 1] = ("  %-24s %s\n"):format(head, wrap(o.help or "", 27, 79))
    end
  end
end

function M.help(cmd, args)
  local c = M.COMMANDS[cmd]
  local out = {"usage: ", c.usage, "\n\n", wrap(c.about, 0, 79), "\n\noptions:\n"}
  local own, engine = {}, {}
  for _, o in ipairs(M.options(cmd, args)) do
    if o.from == "c" then engine[#engine + 1] = o else own[#own + 1] = o end
  end
  option_lines(out, own)
  if #engine > 0 then
    out[#out + 1] = "\nAWS and engine options:\n"
    option_lines(out, engine)
  end
  if c.footer then out[#out + 1] = "\n" .. wrap(c.footer, 0, 79) .. "\n" end
  return table.concat(out)
end

-- "unknown option --x: did you mean --y?" for a command's option names.
function M.unknown(cmd, name, names)
  if not names then
    names = {}
    for _, o in ipairs(M.options(cmd)) do names[#names + 1] = o.name end
  end
  local near = sys.closest(name, names)
  return ("%s: unknown option %s%s (see mighost %s --help)"):format(cmd, name,
    near and (": did you mean " .. near .. "?") or "", cmd)
end

-- Parses a command other than run: {help = true} for --help, else the
-- options by name with "_" for "-" (output = "json") and the positional
-- arguments; or nil and a message (a usage error).
function M.parse(cmd, args)
  local c = M.COMMANDS[cmd]
  local o = {positional = {}}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--help" or a == "-h" then return {help = true} end
    -- "--": the rest is another command's (launch: the workers').
    if a == "--" then
      o.after = {table.unpack(args, i + 1)}
      break
    end
    local name, inline = a:match("^(%-%-[^=]+)=(.*)$")
    name = name or a
    if a:sub(1, 1) == "-" and #a > 1 then
      local spec = c.options[name]
      if not spec then return nil, M.unknown(cmd, name) end
      local kind = params.flag_spec(spec)
      local key = name:sub(3):gsub("%-", "_")
      if kind == "bool" then
        o[key] = true
      else
        if not inline then
          i = i + 1
          inline = args[i]
          if inline == nil then return nil, ("%s: %s needs a value"):format(cmd, name) end
        end
        o[key] = inline
      end
    else
      o.positional[#o.positional + 1] = a
    end
    i = i + 1
  end
  if #o.positional > (c.max_args or math.huge) then
    return nil, ("%s: unexpected argument '%s' (see mighost %s --help)"):format(cmd,
      o.positional[(c.max_args or 0) + 1], cmd)
  end
  if o.output and o.output ~= "text" and o.output ~= "json" then
    return nil, ("%s: --output must be text or json, not '%s'"):format(cmd, o.output)
  end
  return o
end

-- With --log-format json every line on stderr is a JSON object: this
-- stands in for io.stderr, turns each line written to it into
-- {"time", "level", "msg"} and passes lines that are JSON already.
function M.json_stderr(real)
  local json = require "mighost.json"
  local pending, w = "", {}
  function w:write(...)
    for k = 1, select("#", ...) do pending = pending .. tostring((select(k, ...))) end
    while true do
      local line, rest = pending:match("^([^\n]*)\n(.*)$")
      if not line then break end
      pending = rest
      line = line:gsub("[\r]", ""):gsub("\27%[K", "")
      if line:match("^{.*}$") then
        real:write(line, "\n")
      elseif line:match("%S") then
        local msg, n = line:gsub("^mighost: ", "")
        real:write(json.encode({time = sys.utc(), level = n > 0 and "notice" or "info", msg = msg}), "\n")
      end
    end
    return self
  end
  function w:flush() real:flush() return self end
  function w:setvbuf(...) return real:setvbuf(...) end
  return w
end

-- The command line as typed (argv after "mighost"), quoted for a shell,
-- with the values of the migration's secret parameters masked, given as
-- options or as --set KEY=VALUE, and passwords in URLs.
function M.command_line(argv, mig)
  local secret = {}
  for _, p in ipairs(mig and mig.params or {}) do
    if p.secret then
      secret[params.flag_of(p)] = true
      for _, k in ipairs(params.config_keys(p)) do secret[k] = true end
    end
  end
  local out, prev = {"mighost"}, nil
  for _, a in ipairs(argv or {}) do
    local shown = a
    local name = a:match("^(%-%-[^=]+)=")
    if prev and secret[prev] then
      shown = "****"
    elseif name and secret[name] then
      shown = name .. "=****"
    else
      local set_value = (prev == "--set" and a) or (name == "--set" and a:sub(7))
      local key = set_value and set_value:match("^([^=]+)=")
      if key and secret[key] then shown = (name == "--set" and "--set=" or "") .. key .. "=****" end
    end
    shown = shown:gsub("(://[^/:@]+:)[^/@]+@", "%1****@")
    if shown == "" or shown:gsub("%*%*%*%*", ""):find("[^%w%-_./=:@,+%%]") then shown = "'" .. shown:gsub("'", "'\\''") .. "'" end
    out[#out + 1] = shown
    prev = a
  end
  return table.concat(out, " ")
end

return M
