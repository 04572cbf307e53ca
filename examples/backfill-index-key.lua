-- examples/backfill-index-key: fill a new index key on every item, derived
-- from other attributes, e.g. gsi1pk = "<tenant>#<type>", before a GSI on
-- gsi1pk is created (or while it is being backfilled).
--
-- One UpdateItem per item with `ConditionExpression attribute_exists(pk)`:
-- an item deleted between the scan and the update is NOT recreated as a
-- stub holding only its key and gsi1pk (an unconditional UpdateItem would).
-- At most `concurrency` updates are in flight. Items whose key is already
-- right are skipped, so a second run writes nothing.
local ddb = require "mighost.dynamodb"
local mh = require "mighost"

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

-- fn(item) for every item, at most `limit` at once (each in its own task).
local function for_each_parallel(items, limit, fn)
  local in_flight, waiting = 0, nil
  local function one(it)
    fn(it)
    in_flight = in_flight - 1
    if waiting then local w = waiting; waiting = nil; mh.unpark(w) end
  end
  for it in items do
    while in_flight >= limit do waiting = mh.current(); mh.park() end
    in_flight = in_flight + 1
    mh.spawn(one, it)
  end
  while in_flight > 0 do waiting = mh.current(); mh.park() end
end

local function backfill(ctx)
  local p = ctx.params
  local schema = ddb.schema(p.table)
  for_each_parallel(ddb.scan{table = p.table, segments = ctx.options.segments or 4},
                    p.concurrency, function(it)
    if ctx:interrupted() then return end
    ctx.counts.scanned = ctx.counts.scanned + 1
    local key = ddb.key_of(schema, it)
    local want, why = derive(it, p)
    if not want then ctx:skip(why, key); return end
    if it[p.key] and it[p.key].S == want then ctx:skip("already set"); return end
    local ok, err = ddb.update{table = p.table, key = key,
      update = "SET #k = :v", condition = "attribute_exists(#pk)",
      names = {["#k"] = p.key, ["#pk"] = schema.hash}, values = {[":v"] = {S = want}}}
    if ok then ctx.counts.written = ctx.counts.written + 1
    elseif ok == false then ctx:skip("deleted while migrating (not recreated)", key)
    else ctx:fail(key, tostring(err)) end
  end)
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
    {name = "backfill", run = backfill, writes = {"table"}},
    {name = "verify", verify = verify, reads = {"table"}},
  },
}
