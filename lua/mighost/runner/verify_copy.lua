-- mighost.runner.verify_copy: the declarative verification of a copy
-- phase.
--
--   {name = "verify", verify = {copy = "copy_phase_name"}}
--
-- Scans the copy's source again (consistent reads, parallel segments, the
-- copy's own scan options), runs its transform on every item and fetches
-- what the transform says should be in the destination with BatchGetItem
-- (100 keys a request, a window of requests in flight: mighost.inflight), comparing each item
-- typed (item.equal: attributes and map entries in any order, sets as
-- sets, numbers by value, as DynamoDB may return them). Items the transform skips are not
-- expected. A transform that raises counts as a difference (the copy
-- recorded that item as failed). The checks: `missing` and `different`,
-- with the first keys of each listed.

local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local sync = require "mighost.sync"
local units = require "mighost.runner.units"
local inflight = require "mighost.inflight"
local json = require "mighost.json"

local M = {}

local LISTED = 20

local function outputs_of(result)
  if result == nil or result == false then return {} end
  if result[1] ~= nil then return result end
  if next(result) == nil then return {} end
  return {result}
end

-- verify = {copy = NAME}: returns ok, checks (as a verify function does).
function M.run(mig, spec, ctx)
  local copy_phase
  for _, ph in ipairs(mig.phases) do
    if ph.name == spec.copy and ph.copy then copy_phase = ph end
  end
  if not copy_phase then
    error(("verify.copy: no copy phase named %s"):format(tostring(spec.copy)), 0)
  end
  local c = copy_phase.copy
  local src = units.resolve(c.source, ctx.params)
  local dst = units.resolve(c.destination, ctx.params)
  local dst_schema = ddb.schema(dst)
  local transform = c.transform or function(it) return it end
  local scan = type(c.scan) == "function" and c.scan(ctx.params) or c.scan or {}
  -- Pages of 1,000 items, not DynamoDB's 1 MB: the scan's queue is what
  -- the verification holds in memory, besides the batches in flight.
  local so = {table = src, segments = spec.segments or ctx.options.segments or 4, consistent = true,
              limit = 1000}
  for k, v in pairs(scan) do so[k] = v end

  local checked, missing, different = 0, 0, 0
  local missing_keys, different_keys = json.array(), json.array()   -- [] in the report when empty
  -- A sink for what transforms note while verifying (skips, failures):
  -- they are the copy's business, not the verification's.
  local quiet = setmetatable({skip = function() end, fail = function() return true end,
    orphan = function() end, count = function() end, note = function() end,
    list = function() end}, {__index = ctx})

  local function compare(batch)
    local keys = {}
    for i, e in ipairs(batch) do keys[i] = e.key end
    local found, err = ddb.batch_get{table = dst, keys = keys, consistent = true, lean = true}
    if not found then error(err, 0) end
    local by_key = {}
    for _, it in ipairs(found) do by_key[item.encode(ddb.key_of(dst_schema, it))] = it end
    for _, e in ipairs(batch) do
      checked = checked + 1
      local got = by_key[item.encode(e.key)]
      if not got then
        missing = missing + 1
        if #missing_keys < LISTED then missing_keys[#missing_keys + 1] = e.key end
      elseif not item.equal(got, item.decode_lean(e.want)) then
        different = different + 1
        if #different_keys < LISTED then different_keys[#different_keys + 1] = e.key end
      end
    end
  end

  local pool = sync.pool(spec.window or inflight.cap())
  pool.ready = function() return inflight.ready("BatchGetItem", dst) end
  pool.queue = 2    -- batches waiting for a worker (memory: each holds 100 items)
  local batch = {}
  for it in ddb.scan(so) do
    if ctx:interrupted() then break end
    ctx.counts.scanned = ctx.counts.scanned + 1
    local ok, result = pcall(transform, it, quiet)
    if not ok then
      different = different + 1
    else
      for _, out in ipairs(outputs_of(result)) do
        -- What should be there, as text until compared (a third of a table's size).
        local want = item.encode(out)
        batch[#batch + 1] = {key = ddb.key_of(dst_schema, out), want = want}
        if #batch == ddb.BATCH_GET_MAX then pool:go(compare, batch); batch = {} end
      end
    end
  end
  if #batch > 0 then pool:go(compare, batch) end
  pool:wait()
  local ok = missing == 0 and different == 0
  return ok, {{name = ("every item %s writes is in %s, as written"):format(spec.copy, dst),
               checked = checked, missing = missing, different = different, ok = ok,
               missing_keys = missing_keys, different_keys = different_keys}}
end

return M
