-- vams/_ab_stacks: pairs stack A's tables, data buckets and user pool with
-- stack B's, by CDK construct id (mighost.stack), for vams/ab-deployment.
--
-- Tables: VAMS publishes no table outputs; its tables are resources of the
-- nested storage stack, so every AWS::DynamoDB::Table of A (nested stacks
-- followed) is looked up in B by its construct id (the logical id without
-- CDK's hash). Buckets: the asset buckets (outputs AssetS3BucketNameOutput0,
-- 1, ...) and the auxiliary bucket (AssetAuxiliaryS3BucketNameOutput); the
-- web app and artefacts buckets are not data and are left to B's
-- deployment. User pool: the output AuthCognito_UserPoolId. Whatever one
-- stack has and the other lacks is returned in `unpaired` (the migration
-- warns and skips it).

local stack = require "mighost.stack"

local M = {}

local TABLE = "AWS::DynamoDB::Table"
M.BUCKET_OUTPUTS = {"AssetAuxiliaryS3BucketNameOutput"}
M.NUMBERED_BUCKET_OUTPUTS = "AssetS3BucketNameOutput"
M.POOL_OUTPUT = "AuthCognito_UserPoolId"

local function fail(side, name, err)
  return nil, ("stack %s (%s): %s"):format(name, side, tostring(err))
end

-- {tables, buckets, pools, unpaired} or nil, message.
function M.pairs(name_a, name_b, route_a, route_b)
  local a, b = stack.open(name_a, route_a), stack.open(name_b, route_b)
  local plan = {tables = {}, buckets = {}, pools = {}, unpaired = {}}
  local ta, err = a:resources(TABLE)
  if not ta then return fail("A", name_a, err) end
  local tb
  tb, err = b:resources(TABLE)
  if not tb then return fail("B", name_b, err) end
  local paired = {}
  table.sort(ta, function(x, y) return x.construct < y.construct end)
  for _, r in ipairs(ta) do
    local other, found = b:resource(r.construct, TABLE)
    if not other and found then return fail("B", name_b, found) end   -- ambiguous
    if other then
      plan.tables[#plan.tables + 1] = {id = r.construct, from = r.physical, to = other}
      paired[found.logical] = true
    else
      plan.unpaired[#plan.unpaired + 1] = {kind = "table", id = r.construct, stack = "A (" .. name_a .. ")"}
    end
  end
  for _, r in ipairs(tb) do
    if not paired[r.logical] then
      plan.unpaired[#plan.unpaired + 1] = {kind = "table", id = r.construct, stack = "B (" .. name_b .. ")"}
    end
  end

  -- Outputs: one value per side, or a one-sided leftover.
  local function pair_output(kind, id, into)
    local va, ea = a:output(id)
    if ea then return fail("A", name_a, ea) end
    local vb, eb = b:output(id)
    if eb then return fail("B", name_b, eb) end
    if va and vb then into[#into + 1] = {id = id, from = va, to = vb}
    elseif va or vb then
      plan.unpaired[#plan.unpaired + 1] = {kind = kind, id = id,
        stack = va and ("A (" .. name_a .. ")") or ("B (" .. name_b .. ")")}
    end
    return true
  end
  local na, ea = a:numbered_outputs(M.NUMBERED_BUCKET_OUTPUTS)
  if not na then return fail("A", name_a, ea) end
  local nb, eb = b:numbered_outputs(M.NUMBERED_BUCKET_OUTPUTS)
  if not nb then return fail("B", name_b, eb) end
  for i = 1, math.max(#na, #nb) do
    local id = M.NUMBERED_BUCKET_OUTPUTS .. (i - 1)
    if na[i] and nb[i] then plan.buckets[#plan.buckets + 1] = {id = id, from = na[i], to = nb[i]}
    else plan.unpaired[#plan.unpaired + 1] = {kind = "bucket", id = id,
      stack = na[i] and ("A (" .. name_a .. ")") or ("B (" .. name_b .. ")")} end
  end
  for _, id in ipairs(M.BUCKET_OUTPUTS) do
    local ok, perr = pair_output("bucket", id, plan.buckets)
    if not ok then return nil, perr end
  end
  local ok, perr = pair_output("user pool", M.POOL_OUTPUT, plan.pools)
  if not ok then return nil, perr end
  return plan
end

return M
