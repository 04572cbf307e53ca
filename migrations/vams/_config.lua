-- vams._config: the keys every VAMS reference config file carries besides
-- its own (aws_profile, aws_region, log_level), accepted as they are, and
-- the one of them mighost checks: aws_region must be the region in use.

local M = {}

-- The three parameter declarations, for a migration's params list.
function M.params()
  return {
    -- None of them changes what a run reads or writes: not in the run's
    -- identity (the profile and region in use are, by their account and
    -- region).
    {name = "aws_profile", type = "string", identity = false,
     config = "aws_profile", flag = "--config-aws-profile",
     doc = "the config file's AWS profile, used unless --profile is given"},
    {name = "aws_region", type = "string", identity = false,
     config = "aws_region", flag = "--config-aws-region",
     doc = "the config file's region: must match the region in use"},
    {name = "log_level", type = "string", identity = false,
     config = "log_level", flag = "--config-log-level",
     doc = "accepted and ignored, as by the reference (use --log-level)"},
  }
end

-- Adds them to a params list; returns the list.
function M.with_params(list)
  for _, p in ipairs(M.params()) do list[#list + 1] = p end
  return list
end

-- A message when the config file's aws_region is not the region in use.
function M.region_mismatch(p, o)
  if not p.aws_region or o.source_dir then return nil end
  local creds = require("mighost.sys").credentials()
  if creds and creds.region ~= p.aws_region then
    return ("the config file says \"aws_region\": \"%s\" but the region in use is %s: pass "
      .. "--region %s"):format(p.aws_region, creds.region, p.aws_region)
  end
end

return M
