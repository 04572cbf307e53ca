-- The migration of test_backup: a copy whose destination is declared
-- written, and an `audit` table written by a later phase, declared written
-- only with --audit-declared (access as a function of the parameters).
-- --boom stops the run with a script error after the copy (a run to resume).
local ddb = require "mighost.dynamodb"

return {
  name = "tests/backup-copy",
  params = {
    {name = "source", type = "table", required = true, access = "read", key = {hash = "pk"}},
    {name = "destination", type = "table", required = true, access = "write", key = {hash = "pk"}},
    {name = "audit", type = "table", required = true, key = {hash = "pk"},
     access = function(p) return p.audit_declared and "write" or "read" end},
    {name = "audit_declared", type = "boolean", default = false},
    {name = "write_audit", type = "boolean", default = false, identity = false},
    {name = "boom", type = "boolean", default = false, identity = false},
  },
  phases = {
    {name = "copy", copy = {source = "source", destination = "destination"}},
    {name = "audit", when = function(p) return p.write_audit end, run = function(ctx)
      local ok, err = ddb.put{table = ctx.params.audit, item = {pk = {S = "copied"}}}
      if not ok then error(err) end
      ctx.counts.written = 1
    end},
    {name = "boom", run = function(ctx)
      if ctx.params.boom then error("stopped on purpose (--boom)") end
    end},
  },
}
