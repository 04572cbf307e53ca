-- mighost.route: "NAME@profile=P,region=R" references (either key may be
-- left out), which name a table or a bucket in another account or region.
-- Neither DynamoDB table names nor S3 bucket names can contain '@', so the
-- suffix is unambiguous.
--
--   local r = route.parse("t@region=eu-west-1", "table")
--   r.name ("t"), r.route ({region = "eu-west-1"}, or nil for a plain NAME)
-- A malformed reference raises "WHAT 'REF': expected ...". Parsed
-- references are cached.

local M = {}

local cache = {}

function M.parse(ref, what)
  local r = cache[ref]
  if r then return r end
  local function bad()
    error(("%s '%s': expected NAME@profile=PROFILE,region=REGION (either part optional)")
          :format(what or "name", require("mighost.sys").shown(ref)), 0)
  end
  local name, rest = ref:match("^([^@]*)@(.*)$")
  if not name then
    r = {name = ref}
  else
    r = {name = name, route = {}}
    for part in rest:gmatch("[^,]+") do
      local k, v = part:match("^%s*(%a+)%s*=%s*(.-)%s*$")
      if (k ~= "profile" and k ~= "region") or v == "" or r.route[k] then bad() end
      r.route[k] = v
    end
    if name == "" or not next(r.route) then bad() end
  end
  cache[ref] = r
  return r
end

return M
