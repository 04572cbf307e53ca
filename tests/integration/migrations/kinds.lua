-- One phase of each declarative kind, for the runner's tests: --kind picks
-- it. copy: into the log table, stamped, every 10th left out, and the
-- runner's verification of it; update: doubled = 2n, junk removed; delete: the items whose n is a
-- multiple of 4; each: per item, ADD 1 to calls and SET n in the log table
-- (the calls attribute counts how often the function ran for an item).
local ddb = require "mighost.dynamodb"

local function kind(name) return function(p) return p.kind == name end end

return {
  name = "tests/kinds",
  description = "One phase of each kind (update, delete, each).",
  params = {
    {name = "table", type = "table", required = true, access = "write", key = {hash = "pk"}},
    {name = "log", type = "table", access = "write", key = {hash = "pk"},
     doc = "the each kind's call log"},
    {name = "kind", type = "string", required = true, doc = "copy, update, delete or each"},
    {name = "fail_every", type = "integer", default = 0, identity = false,
     doc = "each/update: fail the items whose n is a multiple of this (0: none)"},
  },
  phases = {
    {name = "update", when = kind("update"), update = {table = "table",
      change = function(it, ctx)
        local n = tonumber(it.n.N)
        if ctx.params.fail_every > 0 and n % ctx.params.fail_every == 0 then
          error("refused item " .. n)
        end
        return {set = {doubled = {N = tostring(2 * n)}}, remove = {"junk"}}
      end}},
    {name = "delete", when = kind("delete"), delete = {table = "table",
      select = function(it) return tonumber(it.n.N) % 4 == 0 end}},
    {name = "copy", when = kind("copy"), copy = {source = "table", destination = "log",
      transform = function(it)
        if tonumber(it.n.N) % 10 == 0 then return nil end
        it.copied = {BOOL = true}
        return it
      end}},
    {name = "verify", when = kind("copy"), verify = {copy = "copy"}},
    {name = "each", when = kind("each"), writes = {"log"}, each = {scan = {table = "table"},
      concurrency = 16,
      fn = function(it, ctx)
        local ok, err = ddb.update{table = ctx.params.log, key = {pk = it.pk},
          update = "ADD calls :one SET n = :n", values = {[":one"] = {N = "1"}, [":n"] = it.n}}
        if not ok then return nil, err end
        return true
      end}},
  },
}
