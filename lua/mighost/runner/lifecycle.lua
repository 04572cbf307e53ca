-- mighost.runner.lifecycle: what every migration run goes through.
--
--   parameters -> pre-flight (credentials, region, every table exists with
--   the declared key schema, item estimates) -> confirmation -> state ->
--   phases in order (copy, plain code, verification) -> report -> summary
--   -> exit code.
--
-- A phase: {name = "...", copy = {...}} (runner.copy), update = {...}
-- (runner.update), delete = {...} (runner.delete), each = {...}
-- (runner.each), or
-- {name = "...", run = function(ctx) ... end}, or
-- {name = "...", verify = function(ctx) return ok, checks end} (or just
-- `return checks`: then ok is every check's ok).
-- `reads`/`writes` on a phase name the table parameters it touches (for
-- describe and the confirmation; copy phases declare theirs).
-- `when = function(params, options)` skips a phase it returns false for;
-- `always = true` runs a phase in every mode and on every resume (lookups
-- that later phases and verification need).
-- A migration may define `check(params, options)` (return a message to
-- refuse the run, exit 2) and `confirm_notes(params, options, store)`
-- (lines added to the confirmation; the store has the checkpoints of an
-- earlier run, for totals that account for what is done). A phase may
-- raise {exit = N, message = ...} to stop the run with that exit code.

local ddb = require "mighost.dynamodb"
local json = require "mighost.json"
local sys = require "mighost.sys"
local mh = require "mighost"
local params = require "mighost.runner.params"
local state = require "mighost.runner.state"
local copy = require "mighost.runner.copy"
-- The phase kinds: declared as data, run by the runner on scan segments
-- (runner.units), plus plain code (run) and verification (verify).
local KIND_IMPL = {copy = copy, update = require "mighost.runner.update",
                   delete = require "mighost.runner.delete", each = require "mighost.runner.each"}
local KINDS = {"copy", "update", "delete", "each", "run", "verify"}
local verify_copy = require "mighost.runner.verify_copy"
local report = require "mighost.runner.report"
local backup = require "mighost.runner.backup"
local where = require "mighost.runner.where"
local lease = require "mighost.runner.lease"
local new_ctx = require("mighost.runner.ctx").new

local aws = require "mighost.aws"

local M = {}
local EXIT = mh.EXIT   -- defined once, in C (src/base/exit.h)
M.EXIT = EXIT

-- Structure checks: what `mighost check` reports.
function M.validate(mig)
  local problems = {}
  local function bad(fmt, ...) problems[#problems + 1] = fmt:format(...) end
  if type(mig.name) ~= "string" or mig.name == "" then bad("name: a non-empty string is required") end
  if mig.description ~= nil and type(mig.description) ~= "string" then bad("description: must be a string") end
  if type(mig.params or {}) ~= "table" then bad("params: must be a list") end
  local names = {}
  for i, p in ipairs(mig.params or {}) do
    if type(p) ~= "table" or type(p.name) ~= "string" or not p.name:match("^[%a_][%w_%-]*$") then
      bad("params[%d]: needs a name (letters, digits, _ and -)", i)
    else
      if names[p.name] then bad("params[%d]: %s is declared twice", i, p.name) end
      names[p.name] = true
      if p.type and not params.TYPES[p.type] then
        bad("params %s: unknown type '%s' (string, integer, number, boolean, table, list)", p.name, p.type)
      end
    end
  end
  if type(mig.phases) ~= "table" or #mig.phases == 0 then bad("phases: at least one phase is required") end
  local pnames = {}
  for i, ph in ipairs(type(mig.phases) == "table" and mig.phases or {}) do
    if type(ph) ~= "table" or type(ph.name) ~= "string" then
      bad("phases[%d]: needs a name", i)
    else
      if pnames[ph.name] then bad("phase %s: declared twice", ph.name) end
      pnames[ph.name] = true
      local kinds = 0
      for _, k in ipairs(KINDS) do if ph[k] ~= nil then kinds = kinds + 1 end end
      if kinds ~= 1 then
        bad("phase %s: needs exactly one of %s", ph.name, table.concat(KINDS, ", "))
      end
      local function need(kind, field, what)
        local spec = ph[kind]
        if type(spec) ~= "table" then return end
        local v = spec[field]
        if what == "function" then
          if v ~= nil and type(v) ~= "function" then bad("phase %s: %s.%s must be a function", ph.name, kind, field) end
        elseif v == nil then bad("phase %s: %s.%s is required", ph.name, kind, field) end
      end
      for _, k in ipairs{"copy", "update", "delete", "each"} do
        if ph[k] ~= nil and type(ph[k]) ~= "table" then bad("phase %s: %s must be a table", ph.name, k) end
      end
      need("copy", "source"); need("copy", "destination"); need("copy", "transform", "function")
      need("update", "table"); need("update", "change"); need("update", "change", "function")
      need("delete", "table"); need("delete", "select", "function")
      need("each", "fn"); need("each", "fn", "function"); need("each", "keys", "function")
      if type(ph.each) == "table" and (ph.each.scan == nil) == (ph.each.keys == nil) then
        bad("phase %s: each needs one of scan or keys", ph.name)
      end
      if ph.run and type(ph.run) ~= "function" then bad("phase %s: run must be a function", ph.name) end
      if ph.verify and type(ph.verify) ~= "function" and
         not (type(ph.verify) == "table" and type(ph.verify.copy) == "string") then
        bad("phase %s: verify must be a function or {copy = PHASE}", ph.name)
      end
    end
  end
  return problems
end

-- Table parameters a phase reads and writes.
local function phase_tables(ph)
  local reads, writes = {}, {}
  local function add(list, v) if type(v) == "string" then list[#list + 1] = v end end
  if ph.copy then add(reads, ph.copy.source); add(writes, ph.copy.destination) end
  if ph.update then add(reads, ph.update.table); add(writes, ph.update.table) end
  if ph.delete then add(reads, ph.delete.table); add(writes, ph.delete.table) end
  if ph.each and ph.each.scan then add(reads, ph.each.scan.table) end
  for _, v in ipairs(ph.reads or {}) do add(reads, v) end
  for _, v in ipairs(ph.writes or {}) do add(writes, v) end
  return reads, writes
end

-- What `mighost describe` shows, as data (its --output json).
function M.describe_data(mig)
  local json = require "mighost.json"
  local d = {name = mig.name, description = mig.description, parameters = json.array(),
             phases = json.array(), stack_fills = json.array()}
  for _, p in ipairs(mig.params or {}) do
    local keys = params.config_keys(p)
    table.remove(keys, 1)
    d.parameters[#d.parameters + 1] = {name = p.name, option = params.flag_of(p), type = p.type or "string",
      required = p.required or false, default = p.default, doc = p.doc,
      config_keys = json.array(keys), stack_output = p.stack_output, stack_resource = p.stack_resource,
      stack_retained_table = p.stack_retained_table, key = p.key}
    if p.stack_output or p.stack_resource or p.stack_retained_table then
      d.stack_fills[#d.stack_fills + 1] = p.name
    end
  end
  for i, ph in ipairs(mig.phases) do
    local reads, writes = phase_tables(ph)
    local kind = "run"
    for _, k in ipairs(KINDS) do if ph[k] ~= nil then kind = k end end
    d.phases[i] = {name = ph.name, kind = kind,
                   reads = json.array(reads), writes = json.array(writes), doc = ph.doc}
  end
  return d
end

function M.describe(mig)
  local d = M.describe_data(mig)
  local out = {}
  local function w(fmt, ...) out[#out + 1] = fmt:format(...) end
  w("%s\n", d.name)
  if d.description then w("\n%s\n", d.description) end
  w("\nparameters:\n")
  for _, p in ipairs(d.parameters) do
    local bits = {p.type}
    if p.required then bits[#bits + 1] = "required" end
    if p.default ~= nil then bits[#bits + 1] = "default " .. tostring(p.default) end
    w("  %-28s %s\n", p.option .. (p.type == "boolean" and "" or " VALUE"), table.concat(bits, ", "))
    if p.doc then w("      %s\n", p.doc) end
    if #p.config_keys > 0 then w("      config key: %s\n", table.concat(p.config_keys, ", ")) end
    if p.stack_output then w("      stack output: %s (with --stack)\n", p.stack_output) end
    if p.stack_resource then w("      stack resource: %s (with --stack, nested stacks included)\n", p.stack_resource) end
    if p.stack_retained_table then
      w("      table kept by the stack: STACK-%s…-… (with --stack)\n", (p.stack_retained_table:gsub("[^%w]", "")))
    end
    if p.key then
      w("      key schema: %s%s\n", p.key.hash, p.key.range and (", " .. p.key.range) or "")
    end
  end
  w("\nphases:\n")
  for i, ph in ipairs(d.phases) do
    w("  %d. %-24s %-7s", i, ph.name, ph.kind)
    if #ph.reads > 0 then w(" reads %s", table.concat(ph.reads, ", ")) end
    if #ph.writes > 0 then w(" writes %s", table.concat(ph.writes, ", ")) end
    w("\n")
    if ph.doc then w("      %s\n", ph.doc) end
  end
  if #d.stack_fills > 0 then w("\n--stack NAME fills: %s\n", table.concat(d.stack_fills, ", ")) end
  return table.concat(out)
end

-- Pre-flight ---------------------------------------------------------------

local function aws_failure(err)
  return type(err) == "table" and err.code ~= nil
end

local function preflight(mig, values, o)
  local info = {tables = {}}
  local creds, err
  if o.source_dir then
    -- Offline: no credentials, no region; the tables are the export files.
    creds = {source = "offline", access_key_id = "-", region = "offline (" .. o.source_dir .. ")"}
  else
    creds, err = sys.credentials()
    if not creds then return nil, EXIT.USAGE, tostring(err) end
  end
  info.credentials, info.region = creds, creds.region
  if o.source_dir then
    info.where = {offline = o.source_dir, profile = "(none)", region = creds.region,
                  endpoint = "offline", endpoints = "none (offline)", credentials = "none (offline)"}
  else
    local w, wcode, werr = where.get()
    if not w then return nil, wcode, werr end
    info.where = w
  end
  for _, p in ipairs(mig.params or {}) do
    local name = values[p.name]
    if p.type == "table" and name then
      local s, e = ddb.schema(name)
      if not s then
        if type(e) == "table" and e.exit then return nil, e.exit, e.message end
        if aws_failure(e) and e.code == "ResourceNotFoundException" then
          if o.source_dir then
            return nil, EXIT.USAGE, ("table %s (parameter %s) has no export in %s (%s.jsonl, "
              .. "%s.json.gz, ... or a folder %s/): check %s"):format(name, p.name, o.source_dir,
              name, name, name, params.flag_of(p))
          end
          return nil, EXIT.USAGE, ("table %s (parameter %s) does not exist in %s: check %s"):format(
            name, p.name, creds.region, params.flag_of(p))
        end
        return nil, EXIT.AWS, ("cannot describe table %s (parameter %s): %s"):format(name, p.name,
          tostring(e))
      end
      if p.key and (s.hash ~= p.key.hash or s.range ~= p.key.range) then
        local function show(h, r) return r and (h .. ", " .. r) or h end
        return nil, EXIT.USAGE, ("table %s (parameter %s) has the key (%s), but this migration "
          .. "expects (%s): is it the right table?"):format(name, p.name, show(s.hash, s.range),
          show(p.key.hash, p.key.range))
      end
      info.tables[#info.tables + 1] = {param = p.name, name = name, items = s.item_count,
                                       size = s.size_bytes, access = backup.access_of(p, values, o)}
    end
  end
  return info
end

-- A plain run finding an unfinished one: on a terminal, offer to resume
-- it; otherwise say how (exit 2).
local function offer_resume(mig, store, o)
  local failed = store.data.last_exit == EXIT.FAILED and store:failed_total() or 0
  local what = failed > 0
    and ("the last run of %s with these parameters ended with %d failed items (keys in %s)")
        :format(mig.name, failed, store:failed_path())
    or ("an unfinished run of %s with these parameters exists (started %s, state %s)")
        :format(mig.name, tostring(store.data.started), store.path)
  local how = failed > 0 and "--resume to retry exactly those items and verify" or
              "--resume to continue it"
  if not o.yes and sys.isatty(0) and sys.isatty(2) then
    io.stderr:write("mighost: ", what, "\n")
    local what_for = how:gsub("^%-%-resume to ", "")
    local answer = sys.prompt(("Resume it (%s)? [Y/n] "):format(what_for))
    if answer and not answer:lower():match("^n") then return true end
  end
  io.stderr:write(("mighost: %s: pass %s, or --fresh to start over\n"):format(what, how))
  return false
end

local function confirm(mig, values, info, o)
  if o.dry_run or o.verify_only or o.yes then
    -- What the prompt would have said is still said: where, and the
    -- destructive steps.
    io.stderr:write(("mighost: %s %s in %s\n"):format(o.dry_run and "dry-run of" or "running",
      mig.name, where.describe(info.where)))
    for _, note in ipairs(info.notes or {}) do io.stderr:write("mighost: ", note, "\n") end
    for _, line in ipairs(info.backup_lines or {}) do io.stderr:write(line, "\n") end
    return true
  end
  local lines = {("mighost: about to run %s in %s"):format(mig.name, where.describe(info.where))}
  for _, t in ipairs(info.tables) do
    lines[#lines + 1] = ("  %-6s %-40s ~%s items (%s)"):format(t.access or "", t.name,
      tostring(t.items or "?"), t.param)
  end
  for _, note in ipairs(info.notes or {}) do lines[#lines + 1] = "  " .. note end
  for _, line in ipairs(info.backup_lines or {}) do lines[#lines + 1] = line end
  io.stderr:write(table.concat(lines, "\n"), "\n")
  if not sys.isatty(0) and not sys.isatty(2) then
    io.stderr:write("mighost: this run writes to the tables above; without a terminal, pass --yes "
      .. "to confirm (or --dry-run first)\n")
    return false
  end
  local answer = sys.prompt("Proceed? [y/N] ")
  if sys.interrupted() > 0 then return nil, "interrupted" end
  return answer ~= nil and answer:lower():match("^y") ~= nil
end

-- Running ------------------------------------------------------------------

local function stats_sum()
  local sum = {retries = 0, throttles = 0, read_units = 0, write_units = 0, calls = 0}
  for _, s in pairs(ddb.stats()) do
    for k in pairs(sum) do sum[k] = sum[k] + (s[k] or 0) end
  end
  return sum
end

local function run_phase(ph, ctx)
  for kind, impl in pairs(KIND_IMPL) do
    if ph[kind] then return impl.run(ph, ctx) end
  end
  if ph.run then return ph.run(ctx) end
  local ok, checks
  if type(ph.verify) == "table" then ok, checks = verify_copy.run(ctx.migration, ph.verify, ctx)
  else ok, checks = ph.verify(ctx) end
  if type(ok) == "table" and checks == nil then
    checks, ok = ok, true
    for _, c in ipairs(checks) do ok = ok and c.ok ~= false end
  end
  ctx.verification = {ok = ok and true or false, checks = checks}
  if not ok then ctx.verify_failed = true end
end

-- The parameter values that name a run's state: all but those declared
-- identity = false (so --resume may change them).
local function identity_values(mig, values)
  local out = {}
  for _, p in ipairs(mig.params or {}) do
    if p.identity ~= false then out[p.name] = values[p.name] end
  end
  return out
end

-- Parameters (command line, config, --stack), the migration's own check,
-- the output paths, and the data source. Returns values, sources | nil, exit.
local function resolve_inputs(mig, o)
  local stack
  if o.stack then
    if not o.aws then
      io.stderr:write("mighost: --stack needs AWS access: pass --region or set AWS_REGION\n")
      return nil, EXIT.USAGE
    end
    stack = require("mighost.stack").open(o.stack)
    local outputs, err = stack:outputs()
    if not outputs then
      io.stderr:write(("mighost: cannot read stack %s: %s\n"):format(sys.shown(o.stack),
        tostring(err)))
      return nil, aws_failure(err) and err.code == "ValidationError" and EXIT.USAGE or EXIT.AWS
    end
  end
  local values, from_or_err, stack_err = params.resolve(mig, o, stack)
  if not values then
    io.stderr:write("mighost: ", from_or_err, "\n")
    return nil, aws_failure(stack_err) and stack_err.code ~= "Ambiguous" and EXIT.AWS or EXIT.USAGE
  end
  if mig.check then
    -- The migration's own rules about its parameters and options.
    local problem = mig.check(values, o)
    if problem then
      io.stderr:write("mighost: ", problem, "\n")
      return nil, EXIT.USAGE
    end
  end
  -- Every path the run will write, checked before it does anything.
  local outputs = {{o.report or "mighost-report.json", false, "--report"}}
  if not (o.dry_run or o.limit or o.verify_only) then
    outputs[#outputs + 1] = {o.state_dir or state.default_dir(), true, "--state-dir"}
  end
  for _, out in ipairs(outputs) do
    local ok, perr = sys.can_create(out[1], out[2], out[3])
    if not ok then
      io.stderr:write("mighost: ", perr, "\n")
      return nil, EXIT.USAGE
    end
  end
  if o.source_dir then
    local source, err = require("mighost.offline").new(o.source_dir)
    if not source then
      io.stderr:write("mighost: ", err, "\n")
      return nil, EXIT.USAGE
    end
    for _, p in ipairs(mig.params or {}) do
      if p.type == "table" and values[p.name] and p.key then
        source:declare(ddb.table_name(values[p.name]), p.key)
      end
    end
    ddb.set_offline(source)
    io.stderr:write(("mighost: offline evaluation: reading the tables from %s; no AWS access\n")
      :format(o.source_dir))
  elseif not o.aws then
    io.stderr:write("mighost: no AWS region: pass --region, set AWS_REGION, or set region in your profile\n")
    return nil, EXIT.USAGE
  end
  return values, from_or_err
end

-- The run's checkpoints: none for dry-runs or trial runs (--limit), which
-- must not touch a real run's progress. Returns the store | nil, exit.
local function open_store(mig, values, o, info)
  if o.coordinate then
    local idv = identity_values(mig, values)
    return lease.open_run(mig, o, info.where, idv, state.identity(mig.name, idv, info.where),
      state.params_identity(mig.name, idv))
  end
  if o.dry_run or o.limit or o.verify_only then return state.null(mig.name, values) end
  local ok, store = pcall(state.open, o.state_dir or state.default_dir(), mig.name,
                          identity_values(mig, values), info.where)
  if not ok then io.stderr:write("mighost: ", tostring(store), "\n"); return nil, EXIT.USAGE end
  if store:unfinished() and not o.resume and not o.fresh then
    if not offer_resume(mig, store, o) then return nil, EXIT.USAGE end
    o.resume = true
  end
  if o.fresh or (store:finished() and not o.resume) then store:reset() end
  if o.resume and not store.existed then
    io.stderr:write("mighost: ", state.no_match_message(store), "\n")
    return nil, EXIT.USAGE
  end
  -- For `mighost status`: how to run it again, and where.
  store.data.command = require("mighost.runner.cli").command_line(o.argv, mig)
  store.data.region = store.data.region or info.region
  return store
end

-- Whether a phase runs this time: nil to run it, false to pass over it
-- silently, or the reason (and the earlier counts) to report it skipped.
local function skip_reason(ph, values, o, store)
  local is_verify = ph.verify ~= nil
  if ph.when and not ph.when(values, o) then return false end
  if o.verify_only and not is_verify and not ph.always then return false end
  if o.dry_run and is_verify and not ph.dry_run then
    return "verification does not run in a dry-run (nothing was written)"
  end
  -- Verification is never "done": every run that gets there verifies
  -- everything again, a resumed one included.
  if store:phase_done(ph.name) and not ph.always and not is_verify then
    return "done in an earlier run", store:phase(ph.name).counts
  end
end

-- The exit code of a phase that raised (or gave up on an endpoint), after
-- saying why.
local function failed_phase_exit(ph, err, gave_up)
  if gave_up then
    io.stderr:write(("mighost: giving up in phase %s: %s; the state is saved: run again "
      .. "with --resume once it answers\n"):format(ph.name, gave_up))
    return EXIT.AWS
  elseif type(err) == "table" and err.exit then
    -- A phase refusing to go on (e.g. a decision the operator must make).
    io.stderr:write(("mighost: %s\n"):format(err.message))
    return err.exit
  elseif aws_failure(err) then
    io.stderr:write(("mighost: phase %s: %s\n"):format(ph.name, tostring(err)))
    return EXIT.AWS
  end
  io.stderr:write(("mighost: script error in phase %s: %s\n"):format(ph.name, tostring(err)))
  return EXIT.SCRIPT
end

-- One phase, start to checkpoint (run: the run's undo journal and live
-- control, or nil). Returns the run's exit code so far and whether the run
-- must stop here.
local function run_one(ph, mig, values, o, store, rep, info, exit, run)
  store.data.current_phase = ph.name
  local ctx = new_ctx{params = values, options = o, store = store, phase = ph, report = rep,
    migration = mig, dry_run = o.dry_run, data = store:phase(ph.name).data or {},
    journal = run.journal}
  if run.control then run.control.ctx = ctx end
  if store.coordinated then store:entered_phase(ph.name, ctx.counts) end
  local before = stats_sum()
  require("mighost.inflight").mark()
  local started, cpu_started = mh.clock(), os.clock()
  local progress = require("mighost.runner.progress").start(ctx, info, o)
  -- Each and run phases write through the bindings: journaled while they run.
  local watch = run.journal and not o.dry_run and (ph.each or ph.run) and
    run.journal:intercept(ph.name, ph.each and "each" or "run")
  local ok, err = xpcall(run_phase, function(e)
    if aws_failure(e) or (type(e) == "table" and e.exit) then return e end
    return debug.traceback(tostring(e), 2)
  end, ph, ctx)
  if watch then
    local wok, werr = pcall(watch.restore)
    if not wok and ok then ok, err = false, werr end
  end
  progress:stop()
  local after = stats_sum()
  local gave_up = aws.gave_up()
  if gave_up and sys.interrupted() > 0 then
    ok, err, gave_up = true, nil, nil    -- Ctrl-C while waiting: exit 130 below
  elseif gave_up then
    -- An endpoint stopped answering for longer than --max-outage: not
    -- the items' fault and not the script's. What was settled is
    -- checkpointed; the rest stays open for --resume.
    ok, err = false, {code = "EndpointUnavailable", message = gave_up, outage = true}
  end
  after.cpu_seconds, after.peak_rss = os.clock() - cpu_started, sys.peak_rss()
  rep:phase_done(ph.name, ctx, mh.clock() - started, before, after, ok and nil or err)
  if not ok then
    store:save()
    return failed_phase_exit(ph, err, gave_up), true
  end
  if sys.interrupted() > 0 then
    store:save()
    return EXIT.INTERRUPTED, true
  end
  if ctx.counts.failed > 0 and exit == EXIT.OK then exit = EXIT.FAILED end
  if ctx.verify_failed then exit = EXIT.FAILED end
  if ctx.halted then
    store:save()
    io.stderr:write(("mighost: phase %s stopped after %d failed items (--max-failures %d); "
      .. "the failed keys are in %s: fix the cause, then run again with --resume\n"):format(
      ph.name, ctx.counts.failed, o.max_failures, store:failed_path()))
    return EXIT.FAILED, true
  end
  -- A plain-code phase redoes its own open work when run again (it
  -- keeps its own progress in ctx.data): keys that failed in earlier
  -- runs and did not fail this time are settled.
  if ph.run and not ctx.stopping and sys.interrupted() == 0 then
    store:settle_retried(ph.name, store:failed_of(ph.name))
  end
  if store.coordinated then store:left_phase(ctx, ph.verify ~= nil and ctx.verification) end
  -- A phase with failed items stays open: --resume retries them.
  -- (Several workers: a verification's result is stored, once.)
  if not ctx.stopping and not ph.always and (ph.verify == nil or store.coordinated)
     and ctx.counts.failed == 0 then
    store:mark_phase_done(ph.name, ctx.counts)
  else
    store:save()
  end
  if ctx.stopping and not o.limit then return EXIT.INTERRUPTED, true end
  return exit, false
end

-- With the undo journal in S3 (--undo-to): a task that saves the state
-- (after uploading the journal: Store:save) and uploads what was journaled,
-- at most once a second. stop(exit) ends it; close(exit) uploads the rest
-- and meta.json at the end. An upload that fails stops further writes (the
-- journal refuses them) and makes the run's exit 3.
local function start_uploader(journal, store)
  local stopping, failed = false, nil
  store.before_save = function() journal:sync() end
  local function tick()
    local ok, err = pcall(function()
      if store.dirty then store:save() elseif journal.unsynced then journal:sync() end
    end)
    if not ok and not failed then
      failed = tostring(err)
      io.stderr:write("mighost: ", failed, "; no further write is sent: fix the cause, then "
        .. "run again with --resume\n")
    end
  end
  local task = mh.spawn(function()
    local last = mh.clock()
    while not stopping do
      mh.sleep(0.05)
      if not stopping and mh.clock() - last >= 1 then
        tick()
        last = mh.clock()
      end
    end
  end)
  local u = {}
  function u.stop(exit)
    stopping = true
    task:wait()
    if failed and (exit == EXIT.OK or exit == EXIT.FAILED) then return EXIT.AWS end
    return exit
  end
  -- The last save: when the journal cannot be uploaded the state stays
  -- as last saved (it covers only uploaded writes).
  function u.ended(exit)
    local ok, err = pcall(store.ended, store, exit)
    if ok then return exit end
    io.stderr:write("mighost: ", tostring(err), "\n")
    return (exit == EXIT.OK or exit == EXIT.FAILED) and EXIT.AWS or exit
  end
  function u.close(exit)
    local ok, err = pcall(journal.close, journal, exit == EXIT.OK)
    if not ok then
      io.stderr:write(("mighost: %s; the journal's parts stay in %s: mighost run --resume "
        .. "or mighost undo on this machine uploads them\n"):format(tostring(err), journal.dir))
      if exit == EXIT.OK or exit == EXIT.FAILED then return EXIT.AWS end
    end
    return exit
  end
  return u
end

-- A run: inputs -> pre-flight -> state -> backup -> confirmation -> the
-- phases in order -> report -> exit code.
function M.run(mig, o)
  local values, from_or_exit = resolve_inputs(mig, o)
  if not values then return from_or_exit end
  local info, code, msg = preflight(mig, values, o)
  if not info then
    io.stderr:write("mighost: ", msg, "\n")
    return code
  end
  local store, store_exit = open_store(mig, values, o, info)
  if not store then return store_exit end
  -- The undo journal of a run that keeps a state file; --undo-to: its
  -- S3 location must answer before anything is written.
  local journal = store.path and not o.no_undo and require("mighost.runner.journal").open(store, o)
  if journal then
    local reachable, why = journal:check_remote()
    if not reachable then
      io.stderr:write("mighost: ", why, "\n")
      return EXIT.USAGE
    end
  end
  if mig.confirm_notes then info.notes = mig.confirm_notes(values, o, store) end
  local history = require "mighost.runner.history"
  local hist = history.new(mig, values, o, info, store, history.tables_of(mig, values, phase_tables))
  if hist and not o.resume and o.script and
     o.script:sub(1, #sys.migrations_dir() + 1) == sys.migrations_dir() .. "/" then
    -- A packaged migration that already did its work here: running it
    -- again changes nothing, which the operator may not expect.
    local earlier = hist:finished_before()
    if earlier then
      info.notes = info.notes or {}
      table.insert(info.notes, 1, ("warning: %s already finished with exit 0 on these tables "
        .. "(%s, by %s; mighost history %s): running it again changes nothing%s"):format(mig.name,
        tostring(earlier.started), tostring(earlier.principal or earlier.user or "?"), mig.name,
        o.yes and "" or "; pass --yes to run it anyway"))
    end
  end
  local backed, bcode, bmsg = backup.prepare(mig, values, o, info, store)
  if not backed then
    io.stderr:write("mighost: ", bmsg, "\n")
    return bcode
  end
  local confirmed, why = confirm(mig, values, info, o)
  if not confirmed then
    io.stderr:write(("mighost: %s; nothing was changed\n"):format(why or "not confirmed"))
    return why and EXIT.INTERRUPTED or EXIT.USAGE
  end
  backup.record(store, info)
  -- The undo journal: a fresh run starts its own (once confirmed); a
  -- resumed one first seals (and uploads) what the stopped run left.
  if journal then
    local jok, jerr = pcall(function()
      if o.resume then journal:resume() else journal:reset() end
    end)
    if not jok then
      io.stderr:write("mighost: ", tostring(jerr), "; nothing was written\n")
      return EXIT.AWS
    end
  end
  local uploader = journal and journal.meta.remote and start_uploader(journal, store)

  ddb.set_rate_limits{read = o.max_read_rate, write = o.max_write_rate}
  require("mighost.inflight").set_cap(o.concurrency)
  info.sources = from_or_exit
  local rep = report.new(mig, values, o, info)
  -- Live control (mighost ctl) for runs that keep a state file.
  local control = store.path and require("mighost.runner.control").start(store, rep, o)
  if hist then hist:start(rep) end
  local exit = EXIT.OK
  if store.coordinated then store:started_run(rep) end
  for _, ph in ipairs(mig.phases) do
    local skip, counts = skip_reason(ph, values, o, store)
    if skip then rep:phase_skipped(ph.name, skip, counts) end
    if skip == nil and store.coordinated then
      -- Several workers: whose turn a phase is (runner.lease).
      local turn, verify_failed = store:turn(ph, rep)
      if turn == "stopped" then exit = EXIT.INTERRUPTED; break end
      if verify_failed then exit = EXIT.FAILED end
      if turn == "done" then skip = true end
    end
    if skip == nil then
      local stop
      exit, stop = run_one(ph, mig, values, o, store, rep, info, exit,
                           {journal = journal, control = control})
      if stop then break end
    end
  end
  -- Finished only with exit 0; after failed items, --resume retries exactly
  -- those (a plain run offers it). A report that cannot be written is no "ok".
  if control then control:stop() end
  if uploader then
    exit = uploader.close(uploader.ended(uploader.stop(exit)))
  else
    store:ended(exit)
  end
  if not rep:finish(exit, store) and exit == EXIT.OK then exit = EXIT.USAGE end
  if hist then
    hist:finish(rep, journal and next(journal.meta.phases) and (journal.meta.remote and
      require("mighost.runner.journal").url_of(journal.meta.remote) or journal.dir))
  end
  return exit
end

return M
