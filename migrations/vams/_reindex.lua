-- vams._reindex: the VAMS reindexer Lambda function, shared by
-- vams/v2.3-to-v2.4 (its reindex phase), vams/v2.2-to-v2.3 (the upgrade to
-- the OpenSearch dual index is a reindex and nothing else) and vams/reindex
-- (the same, for reindexing at any time).
--
-- Kept from the reference utility: the payload, member for member and in
-- its order, as Python's json.dumps writes it ({"operation": ..., "dry_run":
-- ..., "clear_indexes": ...[, "limit": N]}); RequestResponse, or Event with
-- --async; the function name from the stack output ReindexerFunctionNameOutput.
-- Fixed: the function is checked first (InvocationType DryRun), so a wrong
-- name or a missing permission stops the run before anything happens; it
-- is invoked once (the SDK's 60 s read timeout and retries re-ran a long
-- reindex up to five times); a function error, a statusCode other than 200,
-- an `error` in the body, failed items or a failed index clearing are
-- failures (exit 1), where the reference printed them and exited 0.

local aws = require "mighost.aws"
local json = require "mighost.json"
local pyjson = require "mighost.pyjson"
local mh = require "mighost"

local M = {}

M.OPERATIONS = {assets = true, files = true, both = true}

-- The payload text: o.operation, o.dry_run, o.clear_indexes, o.limit (nil: left out).
function M.payload(o)
  local pl = pyjson.obj()
  pyjson.set(pl, "operation", o.operation)
  pyjson.set(pl, "dry_run", o.dry_run)
  pyjson.set(pl, "clear_indexes", o.clear_indexes)
  if o.limit then pyjson.set(pl, "limit", o.limit) end
  return pyjson.dumps(pl)
end

-- InvocationType DryRun: the function exists and this caller may invoke
-- it. Raises {exit =, message =} (a usage error for a missing function or
-- permission, an AWS error otherwise) with `fix` appended.
function M.check_invocable(fn, fix)
  local body, err = aws.invoke(fn, "", {invocation_type = "DryRun"})
  if not body then
    error({exit = (err.status == 404 or err.status == 403) and mh.EXIT.USAGE or mh.EXIT.AWS, message =
      ("the reindexer function %s cannot be invoked (%s): %s"):format(fn, tostring(err), fix)})
  end
end

-- The reindexer's results: its counts into the phase's (scanned = items
-- it found, written = items reindexed, failed = items it could not
-- reindex), failures listed with the reindexer's own error texts.
local function take_results(ctx, fn, results, lambda_dry_run)
  local lines, would = {}, 0
  for _, part in ipairs{"assets", "files"} do
    local r = results[part]
    if type(r) == "table" then
      local key = {FunctionName = {S = fn}, operation = {S = part}}
      local total, ok, failed = r.total_count or 0, r.success_count or 0, r.failed_count or 0
      ctx.counts.scanned = ctx.counts.scanned + total
      if lambda_dry_run then would = would + ok
      else ctx.counts.written = ctx.counts.written + ok end
      local listed = 0
      for _, e in ipairs(type(r.errors) == "table" and r.errors or {}) do
        local text = type(e) == "table" and (e.error or json.encode(e)) or tostring(e)
        if type(e) == "table" and e.type == "fatal" then
          ctx:fail(key, "the reindexer stopped: " .. tostring(text))
        elseif listed < failed then
          listed = listed + 1
          ctx:fail(key, "not reindexed: " .. tostring(text))
        end
      end
      ctx.counts.failed = ctx.counts.failed + (failed - listed)
      local line = ("%s %d of %d %s (%d failed)"):format(part, ok, total,
        lambda_dry_run and "would be reindexed" or "reindexed", failed)
      if part == "files" then
        line = line .. (", %s bucket(s), %s object(s) scanned"):format(tostring(r.buckets_processed or 0),
          tostring(r.objects_scanned or 0))
      end
      lines[#lines + 1] = line
    end
  end
  local clear = results.clear_indexes
  local key = {FunctionName = {S = fn}, operation = {S = "clear_indexes"}}
  if results.clear_indexes_error then
    ctx:fail(key, "clearing the indexes failed: " .. tostring(results.clear_indexes_error))
  elseif type(clear) == "table" then
    if clear.error then ctx:fail(key, "clearing the indexes failed: " .. tostring(clear.error)) end
    for _, idx in ipairs{"asset_index", "file_index"} do
      local c = clear[idx]
      if type(c) == "table" then
        if c.success == false and not clear.error then
          ctx:fail(key, ("clearing the %s %s failed"):format(idx:gsub("_", " "), tostring(c.name)))
        end
        lines[#lines + 1] = ("%s: %s documents deleted"):format(idx:gsub("_", " "), tostring(c.deleted_count or 0))
      end
    end
  end
  if lambda_dry_run then ctx:note("would_reindex", would) end
  if #lines > 0 then mh.info(("reindexer %s: %s"):format(fn, table.concat(lines, "; "))) end
end

-- Invokes fn once with payload; o.event (asynchronous), o.timeout (seconds
-- to wait for a synchronous answer), o.lambda_dry_run (the payload asks
-- the reindexer for a dry run). The outcome goes into ctx (notes, counts,
-- failures).
function M.invoke(ctx, fn, payload, o)
  local key = {FunctionName = {S = fn}}
  -- Once: no automatic re-send (max_attempts 1). Only a throttle, which
  -- means the function did not start, is tried again.
  local opts = {invocation_type = o.event and "Event" or "RequestResponse", max_attempts = 1,
                timeout = o.event and 60 or o.timeout}
  local body, meta
  for attempt = 1, 6 do
    body, meta = aws.invoke(fn, payload, opts)
    if body or not (meta.status == 429 or meta.code == "TooManyRequestsException") then break end
    mh.sleep(math.min(30, 2 ^ attempt))
  end
  if not body then
    if meta.function_error then
      ctx:fail(key, ("the function failed (%s): %s"):format(meta.function_error, tostring(meta.body)))
    elseif meta.retryable then
      ctx:fail(key, ("%s: the function was invoked once and may still be running; check its logs "
        .. "(mighost does not invoke it again)"):format(tostring(meta)))
    else
      ctx:fail(key, tostring(meta))
    end
    return
  end
  ctx:note("status", meta.status)
  if o.event then
    mh.info(("reindexer %s accepted the request (HTTP %d): reindexing runs in the background; "
      .. "its logs show the outcome"):format(fn, meta.status))
    return
  end
  local ok, doc = pcall(json.decode, body)
  if not ok or type(doc) ~= "table" then
    ctx:note("response", body)
    return
  end
  local inner = doc.body
  if type(inner) == "string" then
    local ok2, d2 = pcall(json.decode, inner)
    if ok2 then inner = d2 end
  end
  local status = doc.statusCode
  local err = type(inner) == "table" and inner.error or doc.error or doc.errorMessage
  if (status ~= nil and status ~= 200) or err then
    ctx:fail(key, ("the reindexer answered %s: %s"):format(tostring(status or "an error"),
      type(err) == "string" and err or body))
    return
  end
  if type(inner) == "table" and type(inner.results) == "table" then
    ctx:note("results", inner.results)
    take_results(ctx, fn, inner.results, o.lambda_dry_run)
  end
  mh.info(("reindexer %s finished: %s"):format(fn, #body > 300 and body:sub(1, 300) .. "..." or body))
end

return M
