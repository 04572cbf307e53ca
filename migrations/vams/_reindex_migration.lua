-- vams._reindex_migration: the migration behind vams/v2.2-to-v2.3 and
-- vams/reindex. VAMS v2.3 moves OpenSearch to a dual index (assets and
-- files); the upgrade is a full reindex by the stack's reindexer Lambda
-- function, which is also how VAMS is reindexed at any other time.
--
-- The reference's flags and config file are accepted as they are:
-- --function-name, --operation assets|files|both, --clear-indexes,
-- --limit, --async, --profile, --region, --log-level, --config (keys
-- function_name, operation, clear_indexes, dry_run, limit, aws_profile,
-- aws_region, log_level; _comment* and comments ignored). --dry-run is
-- mighost's: it checks the function (InvocationType DryRun) and shows the
-- payload, invoking nothing else; the reference's --dry-run, which asks the
-- reindexer itself for a dry run, is --reindexer-dry-run (config dry_run).

local reindexer = require "vams._reindex"
local config = require "vams._config"
local mh = require "mighost"

local PLACEHOLDER = "YOUR_REINDEXER_LAMBDA_FUNCTION_NAME"   -- the reference config template's value

-- The payload's limit: --limit, else the config file's (0 is sent as 0, as
-- the reference does; the reindexer reads it as no limit).
local function limit_of(p, o) return o.limit or p.config_limit end

local function payload_of(p, o)
  return reindexer.payload{operation = p.operation, dry_run = p.reindexer_dry_run,
                           clear_indexes = p.clear_indexes, limit = limit_of(p, o)}
end

local function check_phase(ctx)
  if ctx.options.source_dir then
    error({exit = mh.EXIT.USAGE, message = "the reindex needs the Lambda function: it cannot run offline (--source-dir)"})
  end
  reindexer.check_invocable(ctx.params.function_name,
    "check --function-name (function_name in the config, or the stack output ReindexerFunctionNameOutput)")
  ctx:note("function", ctx.params.function_name)
end

local function reindex_phase(ctx)
  local p = ctx.params
  local payload = payload_of(p, ctx.options)
  ctx:note("function", p.function_name)
  ctx:note("payload", payload)
  ctx:note("invocation_type", p.async and "Event" or "RequestResponse")
  if ctx.dry_run then
    mh.info(("dry-run: the function may be invoked; a run would invoke %s once (%s) with %s"):format(
      p.function_name, p.async and "Event" or "RequestResponse", payload))
    return
  end
  reindexer.invoke(ctx, p.function_name, payload, {event = p.async, timeout = p.reindex_timeout,
                                                   lambda_dry_run = p.reindexer_dry_run})
end

local function check(p, o)
  if p.function_name == "" or p.function_name == PLACEHOLDER then
    return "function_name is not set: pass --function-name (the stack output ReindexerFunctionNameOutput), "
      .. "or --stack NAME, or set it in the config file"
  end
  if not reindexer.OPERATIONS[p.operation] then
    return ("--operation must be assets, files or both, not '%s'"):format(p.operation)
  end
  if p.reindex_timeout < 1 then return "--reindex-timeout must be at least 1 second" end
  if p.config_limit and p.config_limit < 0 then return "the config file's limit must be 0 or more" end
  return config.region_mismatch(p, o)
end

local function confirm_notes(p, o)
  local notes = {("the reindexer %s is invoked once (%s) with %s"):format(p.function_name,
    p.async and "asynchronously" or "waiting for its answer", payload_of(p, o))}
  if p.clear_indexes then
    notes[#notes + 1] = "--clear-indexes: the reindexer first deletes every document of the asset "
      .. "and file indexes (search shows nothing until it has reindexed)"
  end
  if p.reindexer_dry_run then
    notes[#notes + 1] = "--reindexer-dry-run: the reindexer counts what it would reindex and changes nothing"
  end
  return notes
end

return function(name, description)
  return {
    name = name,
    description = description,
    params = config.with_params({
      {name = "function_name", type = "string", required = true, config = "function_name",
       stack_output = "ReindexerFunctionNameOutput",
       doc = "the reindexer Lambda function (name or ARN; stack output ReindexerFunctionNameOutput)"},
      {name = "operation", type = "string", default = "both", config = "operation",
       doc = "assets, files or both"},
      {name = "clear_indexes", type = "boolean", default = false, config = "clear_indexes",
       doc = "the reindexer deletes every document of both indexes first"},
      {name = "async", type = "boolean", default = false, identity = false,
       doc = "invoke asynchronously (Event: HTTP 202; the function's logs show the outcome)"},
      {name = "reindexer_dry_run", type = "boolean", default = false, config = "dry_run",
       doc = "send dry_run: true, so the reindexer counts what it would reindex and changes nothing "
          .. "(the reference's --dry-run)"},
      {name = "reindex_timeout", type = "integer", default = 900, identity = false,
       doc = "seconds to wait for a synchronous answer (the function's own limit is 15 minutes)"},
      {name = "config_limit", type = "integer", config = "limit", flag = "--config-limit",
       doc = "the config file's limit: the payload's limit when --limit is not given"},
    }),
    check = check,
    confirm_notes = confirm_notes,
    phases = {
      {name = "check", always = true, run = check_phase,
       doc = "the function exists and may be invoked (InvocationType DryRun)"},
      {name = "reindex", run = reindex_phase,
       doc = "the reindexer invoked once; its counts become the phase's"},
    },
  }
end
