-- Copies one table into another with a transform: the shape of most
-- migrations. Used for the dry-run test (no write may reach the server).
local ddb = require "mighost.dynamodb"
local mh = require "mighost"
local src, dst = arg[1], arg[2]
local w = ddb.writer{table = dst}
local n = 0
for it in ddb.scan{table = src, segments = 4} do
  it.copied = {BOOL = true}
  w:put(it)
  n = n + 1
end
local c = w:flush()
local plan, total = require("mighost.plan").counts()
print(("scanned=%d put=%d failed=%d dry_run=%s planned=%d"):format(n, c.put, c.failed,
  tostring(mh.dry_run), total))
-- A non-read generic request is refused in a dry-run.
if mh.dry_run then
  local ok, err = ddb.request("DeleteTable", {TableName = src})
  assert(not ok and err.code == "DryRun")
  print("generic write refused")
end
