-- A copy migration for the run-safety tests: copies `source` into
-- `destination`, then stops with a script error while the source still
-- holds an item marked "bad" (so a run is left unfinished, to be
-- resumed), and removes the folder `remove_dir` at the end (so the report
-- cannot be written).
local ddb = require "mighost.dynamodb"
local mh = require "mighost"

local function hold(ctx)
  io.stderr:write("holding\n")
  local deadline = mh.clock() + ctx.params.hold
  while mh.clock() < deadline do mh.sleep(0.05) end
end

return {
  name = "tests/safety-copy",
  description = "Copy a table, stopping at bad items.",
  params = {
    {name = "source", type = "table", required = true, key = {hash = "pk"}, access = "read"},
    {name = "destination", type = "table", required = true, key = {hash = "pk"}, access = "write"},
    {name = "stamp", type = "string", default = "v2"},
    -- How a run goes, not what it does: not part of the run identity.
    {name = "log_level", type = "string", config = "log_level", identity = false},
    {name = "batch_size", type = "integer", default = 25, config = "batch_size", identity = false},
    {name = "aws_profile", type = "string", config = "aws_profile", identity = false},
    {name = "remove_dir", type = "string", identity = false},
    -- Seconds the phase "hold" (before the copy, or after it with
    -- hold_after) runs, deaf to a first Ctrl-C: time for a second one.
    {name = "hold", type = "number", identity = false},
    {name = "hold_after", type = "boolean", default = false, identity = false},
  },
  phases = {
    {name = "hold", run = hold, when = function(p) return p.hold and not p.hold_after end},
    {name = "copy", copy = {
      source = "source", destination = "destination",
      transform = function(it, ctx)
        it.bad = nil
        it.version = {S = ctx.params.stamp}
        return it
      end,
    }},
    {name = "gate", reads = {"source"}, run = function(ctx)
      for it in ddb.scan{table = ctx.params.source} do
        if it.bad then error("bad item " .. it.pk.S) end
      end
    end},
    {name = "hold_after", run = hold, when = function(p) return p.hold and p.hold_after end},
    {name = "cleanup", run = function(ctx)
      if ctx.params.remove_dir then assert(os.remove(ctx.params.remove_dir)) end
    end},
  },
}
