-- mighost.service: what the JSON-protocol service bindings (mighost.ecs,
-- mighost.cognito, ...) share: a call that decodes the answer, keeps
-- statistics, and refuses to reach AWS in an offline run.
--
--   local call, stats = require("mighost.service").new("ecs")
--   local resp, err = call("DescribeTasks", json_text)   -- resp: the decoded answer
--   call(op, json_text, {profile = P, region = R})       -- another account or region
--   stats() -> {calls, retries, throttles, errors, recorded} (a copy)
-- The binding counts what it records in a dry-run in stats.recorded.

local aws = require "mighost.aws"
local json = require "mighost.json"

local M = {}

local function offline()
  local ok, ddb = pcall(require, "mighost.dynamodb")
  return ok and ddb.offline and ddb.offline() ~= nil
end

function M.new(service)
  local counts = {calls = 0, retries = 0, throttles = 0, errors = 0, recorded = 0}

  local function call(op, body, route)
    if offline() then
      return nil, aws.error("Offline", op .. ": no AWS access in an offline run (--source-dir)", false)
    end
    local text, meta = aws.call(service, op, body, route)
    counts.calls = counts.calls + 1
    counts.retries = counts.retries + (meta.attempts > 0 and meta.attempts - 1 or 0)
    counts.throttles = counts.throttles + (meta.throttles or 0)
    if not text then
      counts.errors = counts.errors + 1
      meta.operation = op
      return nil, meta
    end
    local ok, resp = pcall(json.decode, text ~= "" and text or "{}")
    if not ok or type(resp) ~= "table" then
      counts.errors = counts.errors + 1
      return nil, aws.error("SerializationException", op .. ": the answer is not a JSON object", false)
    end
    return resp, meta
  end

  local function stats()
    local c = {}
    for k, v in pairs(counts) do c[k] = v end
    return c
  end

  return call, stats, counts
end

return M
