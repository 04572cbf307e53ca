-- examples/backfill-index-key: fill a new index key on every item, derived
-- from other attributes, e.g. gsi1pk = "<tenant>#<type>", before a GSI on
-- gsi1pk is created (or while it is being backfilled).
--
-- An update phase: one UpdateItem per item, with the runner's default
-- condition attribute_exists(<hash key>), so an item deleted between the
-- scan and the update is NOT recreated as a stub holding only its key and
-- gsi1pk. At most `concurrency` updates are in flight; scan segments are
-- checkpointed, so --resume goes on where a run stopped.
local ddb = require "mighost.dynamodb"

-- The key value for an item, or nil + reason. Edit this for your key.
local function derive(it, p)
  local parts = {}
  for name in p.from:gmatch("[^,%s]+") do
    local v = it[name] and (it[name].S or it[name].N)
    if not v or v == "" then return nil, "no " .. name end
    parts[#parts + 1] = v
  end
  return table.concat(parts, p.separator)
end

-- The change for one item: SET the key, or nil (skipped, with the reason)
-- when a part is missing or the key is already right, so a second run
-- writes nothing.
local function change(it, ctx, key)
  local p = ctx.params
  local want, why = derive(it, p)
  if not want then ctx:skip(why, key); return nil end
  if it[p.key] and it[p.key].S == want then ctx:skip("already set"); return nil end
  return {set = {[p.key] = {S = want}}}
end

-- Every item that has the parts has the right key.
local function verify(ctx)
  local p = ctx.params
  local checked, wrong = 0, 0
  for it in ddb.scan{table = p.table, segments = 4, consistent = true} do
    local want = derive(it, p)
    if want then
      checked = checked + 1
      if not (it[p.key] and it[p.key].S == want) then wrong = wrong + 1 end
    end
  end
  return wrong == 0, {{name = p.key .. " matches " .. p.from, checked = checked, wrong = wrong,
                       ok = wrong == 0}}
end

return {
  name = "examples/backfill-index-key",
  description = "Set an index key (gsi1pk = tenant#type) on every item, never recreating "
    .. "deleted items.",
  params = {
    {name = "table", type = "table", required = true, access = "write",
     doc = "the table to backfill in place"},
    {name = "key", type = "string", default = "gsi1pk", doc = "the attribute to set"},
    {name = "from", type = "string", default = "tenant,type",
     doc = "attributes it is made of, comma-separated, in order"},
    {name = "separator", type = "string", default = "#", doc = "put between the parts"},
    {name = "concurrency", type = "integer", default = 32, doc = "updates in flight at once"},
  },
  phases = {
    {name = "backfill", update = {table = "table", change = change, concurrency = "concurrency"}},
    {name = "verify", verify = verify, reads = {"table"}},
  },
}
