-- An update phase with a secret parameter, for the history and undo
-- tests: doubled = 2n on every item; with --fail-every K the items whose
-- n is a multiple of K fail (exit 1; --resume without it retries them).
return {
  name = "tests/history",
  description = "doubled = 2n, in place.",
  params = {
    {name = "table", type = "table", required = true, access = "write", key = {hash = "pk"}},
    {name = "token", type = "string", secret = true, identity = false,
     doc = "a secret the history must not show"},
    {name = "fail_every", type = "integer", default = 0, identity = false,
     doc = "fail the items whose n is a multiple of this (0: none)"},
  },
  phases = {
    {name = "double", update = {table = "table",
      change = function(it, ctx)
        local n = tonumber(it.n.N)
        if ctx.params.fail_every > 0 and n % ctx.params.fail_every == 0 then
          return nil, "refused item " .. n
        end
        return {set = {doubled = {N = tostring(2 * n)}}}
      end}},
  },
}
