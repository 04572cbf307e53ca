-- The scale-out tests' migration (several workers, --coordinate): an each
-- phase that starts one ECS task per 50th item (clientToken = the item,
-- so fakeaws counts a second call for one item as a replay), a copy of
-- every item but each 10th into the destination, stamped, and the
-- runner's verification of that copy.
local ecs = require "mighost.ecs"

return {
  name = "tests/scale-out",
  description = "RunTask per 50th item, a copy, its verification.",
  params = {
    {name = "table", type = "table", required = true, access = "read", key = {hash = "pk"}},
    {name = "dest", type = "table", required = true, access = "write", key = {hash = "pk"}},
    {name = "cluster", type = "string", default = "scale-test"},
    {name = "tasks", type = "boolean", default = true, doc = "run the each phase"},
    {name = "verify", type = "boolean", default = true, doc = "run the verification"},
  },
  phases = {
    {name = "start", when = function(p) return p.tasks end, each = {
      scan = {table = "table", filter = "n_mod_50 = :z", values = {[":z"] = {N = "0"}}},
      concurrency = 8,
      fn = function(it, ctx)
        local resp, err = ecs.run_task{cluster = ctx.params.cluster, taskDefinition = "worker:1",
          count = 1, clientToken = "u" .. it.pk.S,
          overrides = {containerOverrides = {{name = "w", command = {"work", it.pk.S}}}}}
        if not resp then return nil, err end
        return true
      end}},
    {name = "copy", copy = {source = "table", destination = "dest",
      transform = function(it)
        if tonumber(it.n.N) % 10 == 0 then return nil end
        it.copied = {BOOL = true}
        return it
      end}},
    {name = "verify", when = function(p) return p.verify end, verify = {copy = "copy"}},
  },
}
