-- mighost.runner.params: a migration's parameters from the command line,
-- --set, a JSON --config file and CloudFormation stack outputs, in that
-- order of precedence, then the declared defaults; checked against their
-- declared types.
--
-- A parameter declaration:
--   {name = "source_table", type = "table", required = true, doc = "...",
--    config = "sourceTableName" (or a list of keys), stack_output = "SourceTable",
--    stack_resource = "SourceTable" (construct id; see mighost.stack),
--    stack_retained_table = "Db/Table" (a table an update removed but kept),
--    key = {hash = "pk", range = "sk"}, access = "read" | "write" (or a
--    function(values, options) returning one: a table written only with
--    some options; the tables a run writes are what --backup backs up),
--    default = ..., secret = true (kept out of reports), flag = "--source",
--    identity = false (not part of the run identity that names the state
--    file: options that change how a run goes, not what it does)}
-- Types: string, integer, number, boolean, table (a DynamoDB table name, or
-- NAME@profile=P,region=R for one in another account or region),
-- list (of strings: JSON array, or comma-separated on the command line).

local json = require "mighost.json"
local sys = require "mighost.sys"
local mh = require "mighost"

local M = {}

M.TYPES = {string = true, integer = true, number = true, boolean = true, table = true, list = true}

function M.flag_of(p)
  return p.flag or ("--" .. p.name:gsub("_", "-"))
end

local function config_keys(p)
  local keys = {p.name}
  if type(p.config) == "string" then keys[#keys + 1] = p.config
  elseif type(p.config) == "table" then for _, k in ipairs(p.config) do keys[#keys + 1] = k end end
  return keys
end
M.config_keys = config_keys

-- Converts a command-line or --set text to the parameter's type.
local function from_text(p, text)
  local t = p.type or "string"
  if t == "integer" then
    local n = math.tointeger(tonumber(text))
    if not n then return nil, ("%s must be a whole number, not '%s'"):format(M.flag_of(p), sys.shown(text)) end
    return n
  elseif t == "number" then
    local n = tonumber(text)
    if not n then return nil, ("%s must be a number, not '%s'"):format(M.flag_of(p), sys.shown(text)) end
    return n
  elseif t == "boolean" then
    if text == "true" or text == "yes" or text == "1" then return true end
    if text == "false" or text == "no" or text == "0" then return false end
    return nil, ("%s must be true or false, not '%s'"):format(M.flag_of(p), sys.shown(text))
  elseif t == "list" then
    local out = {}
    for v in text:gmatch("[^,]+") do out[#out + 1] = v:match("^%s*(.-)%s*$") end
    return out
  end
  if text == "" and t == "table" then return nil, M.flag_of(p) .. " needs a table name" end
  return text
end

-- Checks a value from the JSON config file.
local function from_json(p, v, key, file)
  local t = p.type or "string"
  local function bad(want)
    return nil, ("config %s: key \"%s\" (parameter %s) must be %s, not %s"):format(file, key,
      p.name, want, v == json.null and "null" or type(v))
  end
  if t == "integer" then
    if math.type(v) ~= "integer" then return bad("a whole number") end
  elseif t == "number" then
    if type(v) ~= "number" then return bad("a number") end
  elseif t == "boolean" then
    if type(v) ~= "boolean" then return bad("true or false") end
  elseif t == "list" then
    if type(v) == "string" then return from_text(p, v) end
    if type(v) ~= "table" then return bad("a list of strings") end
    for _, e in ipairs(v) do if type(e) ~= "string" then return bad("a list of strings") end end
  else
    if type(v) ~= "string" then return bad("a string") end
    if t == "table" and v == "" then return bad("a table name") end
  end
  return v
end

local function ignored_key(k)
  return k:match("^_comment") or k == "comments" or k == "_comments"
end

local function read_config(path, decls)
  local text, err = sys.read_file(path)
  if not text then return nil, ("cannot read the config file: %s"):format(err) end
  local ok, doc = pcall(json.decode, text)
  if not ok then
    return nil, ("the config file %s is not valid JSON: %s"):format(path, tostring(doc):gsub("^.-: ", ""))
  end
  if type(doc) ~= "table" or doc[1] ~= nil then
    return nil, ("the config file %s must hold a JSON object"):format(path)
  end
  local by_key = {}
  for _, p in ipairs(decls) do for _, k in ipairs(config_keys(p)) do by_key[k] = p end end
  local values = {}
  local keys = {}
  for k in pairs(doc) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local p = by_key[k]
    if p and doc[k] == json.null then
      -- null means "not set" (the reference configs ship nulls)
    elseif p then
      local v, e = from_json(p, doc[k], k, path)
      if v == nil then return nil, e end
      values[p.name] = v
    elseif not ignored_key(k) then
      mh.warn(("config %s: unknown key \"%s\" ignored"):format(path, k))
    end
  end
  return values
end

-- The runner's own options for `run`; everything else must be a parameter
-- flag. One line each: "KIND[ PLACEHOLDER]: help", KIND bool or value
-- (`mighost run --help` prints these lines; a test fails on an option
-- without help).
local RUNNER_FLAGS = {
  ["--config"] = "value FILE: JSON parameters (keys as the migration declares them; _comment* and comments keys are ignored)",
  ["--set"] = "value KEY=VALUE: one parameter (repeatable)",
  ["--stack"] = "value NAME: fill parameters from a CloudFormation stack (outputs, then resources of it and its nested stacks)",
  ["--dry-run"] = "bool: read for real, validate and record every write, send none",
  ["--verify-only"] = "bool: only the verification phases",
  ["--limit"] = "value N: stop after N source items per phase (a trial run)",
  ["--report"] = "value FILE: where to write the JSON report (default mighost-report-NAME-TIMESTAMP.json)",
  ["--resume"] = "bool: continue an interrupted run from its checkpoints",
  ["--fresh"] = "bool: start over even if an unfinished run exists",
  ["--state-dir"] = "value DIR: checkpoints (default $XDG_STATE_HOME/mighost or ~/.local/state/mighost)",
  ["--yes"] = "bool: do not ask for confirmation (needed without a terminal)",
  ["--quiet"] = "bool: no progress lines",
  ["--sample"] = "value N: (dry-run) show N source items and what would be written",
  ["--max-read-rate"] = "value N: hold reads to N capacity units per second",
  ["--max-write-rate"] = "value N: hold writes to N capacity units per second (with --coordinate: the total of all workers)",
  ["--source-dir"] = "value DIR: offline evaluation: read the tables from DynamoDB export files in DIR (implies --dry-run; no AWS access needed)",
  ["--output"] = "value FORMAT: text (default) or json: the end-of-run summary as the report's JSON on stdout",
  ["--backup"] = "bool: before the first write, an on-demand backup of each table the run writes, waited for until AVAILABLE",
  ["--require-backup"] = "bool: refuse a real run unless each table it writes has point-in-time recovery on or --backup is given",
  ["--backup-timeout"] = "value SECONDS: how long --backup waits for AVAILABLE (default 1800)",
  ["--history"] = "value TABLE: the history table, one item per run (default mighost-history, created on first use)",
  ["--no-history"] = "bool: do not record this run in the history table",
  ["--no-undo"] = "bool: keep no undo journal (the before-images of in-place writes)",
  ["--undo-to"] = "value URL: keep the undo journal in S3, at URL = s3://BUCKET/PREFIX (spooled beside the state, uploaded before each checkpoint; see docs/undo.md)",
  ["--coordinate"] = "value TABLE: run as one of several workers sharing this run through the DynamoDB table TABLE (created on first use): scan segments are leased, phases run in order (see docs/scale-out.md)",
  ["--worker-id"] = "value ID: with --coordinate: this worker's name in the table (default: host name and process id)",
  ["--lease-seconds"] = "value N: with --coordinate: how long a worker's lease on a segment lasts without renewal; another worker takes it over after that (default 30)",
  ["--max-failures"] = "value N: stop a phase after N failed items, exit 1, the rest left for --resume (default 100; 0: no limit)",
}
M.RUNNER_FLAGS = RUNNER_FLAGS

-- "value FILE: help" -> "value", "FILE", "help"; a bare "bool" has no help.
function M.flag_spec(spec)
  local kind, rest = spec:match("^(%a+)(.*)$")
  local arg, help = rest:match("^%s*([^:]-)%s*:%s*(.*)$")
  return kind, arg ~= "" and arg or nil, help
end

-- Every option name `run` accepts: the runner's, C's (cargs.c_options) and
-- the migration's parameters.
function M.run_option_names(mig, cargs)
  local names = {"--help"}
  for name in pairs(RUNNER_FLAGS) do names[#names + 1] = name end
  for _, o in ipairs(cargs and cargs.c_options or {}) do names[#names + 1] = o.name end
  for _, p in ipairs(mig and mig.params or {}) do names[#names + 1] = M.flag_of(p) end
  table.sort(names)
  return names
end

function M.parse_run_options(mig, argv, cargs)
  local decls = mig.params or {}
  local by_flag = {}
  for _, p in ipairs(decls) do by_flag[M.flag_of(p)] = p end
  local o = {flags = {}, sets = {}, segments = cargs.segments ~= 0 and cargs.segments or nil,
             concurrency = cargs.concurrency ~= 0 and cargs.concurrency or nil,
             dry_run = mh.dry_run, aws = cargs.aws, argv = cargs.argv}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name, inline = a:match("^(%-%-[^=]+)=(.*)$")
    name = name or a
    local kind = RUNNER_FLAGS[name] and M.flag_spec(RUNNER_FLAGS[name])
    local p = by_flag[name]
    local function value()
      if inline then return inline end
      i = i + 1
      if argv[i] == nil then error({usage = name .. " needs a value"}) end
      return argv[i]
    end
    if kind == "bool" then
      o[name:sub(3):gsub("%-", "_")] = true
    elseif kind == "value" then
      local v = value()
      if name == "--set" then
        local k, val = v:match("^([^=]+)=(.*)$")
        if not k then return nil, "--set expects KEY=VALUE, not '" .. sys.shown(v) .. "'" end
        o.sets[#o.sets + 1] = {k, val}
      else
        o[name:sub(3):gsub("%-", "_")] = v
      end
    elseif p then
      if (p.type or "string") == "boolean" and not inline and
         (argv[i + 1] == nil or argv[i + 1]:sub(1, 2) == "--" or
          not ({["true"] = 1, ["false"] = 1, yes = 1, no = 1})[argv[i + 1]]) then
        o.flags[p.name] = "true"
      elseif p.type == "list" and not inline then
        -- --users U1 U2 U3: every value up to the next option.
        local vals = {}
        while argv[i + 1] and argv[i + 1]:sub(1, 2) ~= "--" do
          i = i + 1
          vals[#vals + 1] = argv[i]
        end
        if #vals == 0 then return nil, name .. " needs at least one value" end
        o.flags[p.name] = table.concat(vals, ",")
      else
        o.flags[p.name] = value()
      end
    elseif a:sub(1, 2) == "--" then
      local near = sys.closest(name, M.run_option_names(mig, cargs))
      return nil, ("unknown option %s%s (see mighost describe %s and mighost run --help)"):format(
        sys.shown(name), near and (": did you mean " .. near .. "?") or "", mig.name or "")
    else
      return nil, ("unexpected argument '%s'"):format(sys.shown(a))
    end
    i = i + 1
  end
  if o.limit then
    o.limit = math.tointeger(tonumber(o.limit))
    if not o.limit or o.limit <= 0 then return nil, "--limit expects a positive whole number" end
  end
  if o.sample then
    o.sample = math.tointeger(tonumber(o.sample))
    if not o.sample or o.sample < 0 then return nil, "--sample expects a whole number" end
  end
  if o.max_failures then
    o.max_failures = math.tointeger(tonumber(o.max_failures))
    if not o.max_failures or o.max_failures < 0 then
      return nil, "--max-failures expects a whole number (0: no limit)"
    end
  else
    o.max_failures = 100
  end
  for _, k in ipairs{"max_read_rate", "max_write_rate"} do
    if o[k] then
      o[k] = tonumber(o[k])
      if not o[k] or o[k] <= 0 then
        return nil, ("--%s expects capacity units per second (a positive number)"):format(k:gsub("_", "-"))
      end
    end
  end
  if o.backup_timeout then
    o.backup_timeout = tonumber(o.backup_timeout)
    if not o.backup_timeout or o.backup_timeout <= 0 then
      return nil, "--backup-timeout expects seconds (a positive number)"
    end
  end
  if o.output and o.output ~= "text" and o.output ~= "json" then
    return nil, ("--output must be text or json, not '%s'"):format(sys.shown(o.output))
  end
  if o.lease_seconds then
    o.lease_seconds = math.tointeger(tonumber(o.lease_seconds))
    if not o.lease_seconds or o.lease_seconds < 2 then return nil, "--lease-seconds expects a whole number of seconds, 2 or more" end
  end
  if o.coordinate then
    for _, k in ipairs{"dry_run", "limit", "verify_only", "fresh", "backup", "source_dir"} do
      if o[k] then
        return nil, ("--coordinate and --%s exclude each other (a shared run is a real run; start a "
          .. "separate one with another table)"):format(k:gsub("_", "-"))
      end
    end
    if o.coordinate == "" then return nil, "--coordinate needs a table name" end
    if not o.no_undo then
      -- Each worker would journal only its own segments, on its own disk,
      -- with no state file for mighost undo to name: no undo at all.
      return nil, "--coordinate keeps no undo journal (the workers share no state file for "
        .. "mighost undo): add --no-undo, and take a backup of the tables first if you may need to go back"
    end
    o.worker_id = o.worker_id or require("mighost.runner.lease").default_worker_id()
  elseif o.worker_id or o.lease_seconds then
    return nil, "--worker-id and --lease-seconds go with --coordinate TABLE"
  end
  if o.undo_to then
    if o.no_undo then return nil, "--undo-to and --no-undo exclude each other" end
    local _, why = require("mighost.runner.journal").parse_url(o.undo_to)
    if why then return nil, "--undo-to: " .. why end
  end
  if o.resume and o.fresh then return nil, "--resume and --fresh exclude each other" end
  if o.verify_only and o.dry_run then return nil, "--verify-only and --dry-run exclude each other" end
  if o.source_dir and not o.dry_run then
    -- The C host sets the dry-run for --source-dir; a run that somehow is not one is refused.
    return nil, "--source-dir (offline evaluation) is a dry-run: add --dry-run"
  end
  if o.source_dir and o.verify_only then return nil, "--source-dir and --verify-only exclude each other" end
  return o
end

-- Resolves every parameter. `stack` (or nil) is a mighost.stack handle
-- for --stack. Returns the values and where each came from, or nil, a
-- message naming the fix and (for a failed stack read) the AWS error.
function M.resolve(mig, o, stack)
  local decls = mig.params or {}
  local values, from = {}, {}
  local config = {}
  if o.config then
    local c, err = read_config(o.config, decls)
    if not c then return nil, err end
    config = c
  end
  local by_name = {}
  for _, p in ipairs(decls) do by_name[p.name] = p end
  local sets = {}
  for _, kv in ipairs(o.sets) do
    local p = by_name[kv[1]]
    if not p then
      for _, q in ipairs(decls) do
        for _, k in ipairs(config_keys(q)) do if k == kv[1] then p = q end end
      end
    end
    if not p then return nil, ("--set %s: no such parameter (see mighost describe)"):format(sys.shown(kv[1])) end
    sets[p.name] = kv[2]
  end
  for _, p in ipairs(decls) do
    local v, err, source
    if o.flags[p.name] ~= nil then
      v, err = from_text(p, o.flags[p.name]); source = "option " .. M.flag_of(p)
    elseif sets[p.name] ~= nil then
      v, err = from_text(p, sets[p.name]); source = "--set"
    elseif config[p.name] ~= nil then
      v, source = config[p.name], "config"
    elseif stack and (p.stack_output or p.stack_resource or p.stack_retained_table) then
      local how, serr
      v, how, serr = require("mighost.stack").resolve(stack, p)
      if serr then
        return nil, ("--stack %s: parameter %s: %s"):format(stack.name, p.name, serr.message or tostring(serr)), serr
      end
      source = how and ("stack " .. how)
    end
    if not err and p.type == "table" and type(v) == "string" then
      local ok, why = pcall(require("mighost.dynamodb").table_name, v)
      if not ok then err = ("%s: %s"):format(M.flag_of(p), why)
      elseif not (why:match("^arn:") and #why <= 1024) and
             not (why:match("^[%w_.%-]+$") and #why >= 3 and #why <= 255) then
        err = ("%s: '%s' is not a DynamoDB table name (3 to 255 letters, digits, '_', '-' and "
          .. "'.', or a table ARN)"):format(M.flag_of(p), sys.shown(why))
      end
    end
    if err then return nil, err end
    if v == nil and p.default ~= nil then v, source = p.default, "default" end
    if v == nil and p.required then
      local ways = {M.flag_of(p) .. " VALUE"}
      if p.config then ways[#ways + 1] = ("\"%s\" in the --config file"):format(config_keys(p)[2]) end
      if p.stack_output or p.stack_resource or p.stack_retained_table then ways[#ways + 1] = "--stack NAME" end
      return nil, ("missing parameter %s (%s): give it with %s"):format(p.name, p.doc or p.type,
        table.concat(ways, ", or "))
    end
    values[p.name], from[p.name] = v, source
  end
  return values, from
end

return M
