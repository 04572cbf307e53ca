-- vams/_ab_stacks: pairs stack A's tables, buckets and user pool with
-- stack B's, by CDK construct id.

local M = {}

function M.pairs()
  return nil, "--from-stack/--to-stack: not available yet"
end

return M
