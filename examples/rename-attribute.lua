-- examples/rename-attribute: rename one attribute and retype another, in
-- place, on every item of a table.
--
--   status   (S)      -> state    (same value)
--   priority (S "3")  -> priority (N 3)
--
-- Each item gets ONE conditional UpdateItem, so a concurrent writer is never
-- overwritten: the condition says "the item still looks like what I read".
-- If it changed in between, the update is refused and the item is skipped
-- (run again to pick it up). Items already migrated do not match the scan
-- filter, so a second run writes nothing.
--
-- Copy this file, change the params' defaults (or pass --from/--to/...),
-- and edit `plan_update` if your change is different.
local ddb = require "mighost.dynamodb"

-- "3", " 12 ", "-1.5" -> the number's text; anything else -> nil.
local function number_text(s)
  s = s:match("^%s*(.-)%s*$")
  if s:match("^%-?%d+$") or s:match("^%-?%d+%.%d+$") then return s end
end

-- What one item needs, as an UpdateItem; nil + reason when nothing to do.
local function plan_update(it, p)
  local sets, removes, conds = {}, {}, {}
  local names, values = {}, {}
  if it[p.from] then
    -- if_not_exists: an item that already has `to` keeps it; `from` goes.
    names["#from"], names["#to"] = p.from, p.to
    sets[#sets + 1] = "#to = if_not_exists(#to, #from)"
    removes[#removes + 1] = "#from"
    conds[#conds + 1] = "attribute_exists(#from)"
  end
  local old = it[p.number] and it[p.number].S
  if old then
    local n = number_text(old)
    if not n then return nil, ("%s is not a number"):format(p.number) end
    names["#num"] = p.number
    values[":old"], values[":new"] = {S = old}, {N = n}
    sets[#sets + 1] = "#num = :new"
    conds[#conds + 1] = "#num = :old"          -- still the string we read
  end
  if #sets == 0 then return nil, "already migrated" end
  local expr = "SET " .. table.concat(sets, ", ")
  if #removes > 0 then expr = expr .. " REMOVE " .. table.concat(removes, ", ") end
  return {update = expr, condition = table.concat(conds, " AND "), names = names,
          values = next(values) and values or nil}
end

-- Only items that still need work: the old name, or the number as a string.
local function todo_filter(p)
  return {filter = "attribute_exists(#from) OR attribute_type(#num, :S)",
          names = {["#from"] = p.from, ["#num"] = p.number}, values = {[":S"] = {S = "S"}}}
end

local function scan_todo(ctx)
  local o = todo_filter(ctx.params)
  o.table, o.segments = ctx.params.table, ctx.options.segments or 4
  return ddb.scan(o)
end

-- The update phase's change: the UpdateItem as planned, or nil (skipped,
-- with the reason and the key).
local function change(it, ctx, key)
  local u, why = plan_update(it, ctx.params)
  if not u then ctx:skip(why, key) end
  return u
end

local function verify(ctx)
  local p = ctx.params
  local left, not_numbers = 0, 0
  for it in scan_todo(ctx) do
    if it[p.number] and it[p.number].S and not number_text(it[p.number].S) then
      not_numbers = not_numbers + 1      -- skipped on purpose, listed in the report
    else
      left = left + 1
    end
  end
  return left == 0, {{name = "no item left with " .. p.from .. " or a string " .. p.number,
                      left = left, not_numbers = not_numbers, ok = left == 0}}
end

return {
  name = "examples/rename-attribute",
  description = "Rename an attribute (status -> state) and make another a number "
    .. "(priority \"3\" -> 3), in place, with conditional updates.",
  params = {
    {name = "table", type = "table", required = true, access = "write",
     doc = "the table to change in place"},
    {name = "from", type = "string", default = "status", doc = "attribute to rename"},
    {name = "to", type = "string", default = "state", doc = "its new name"},
    {name = "number", type = "string", default = "priority",
     doc = "attribute stored as a string (S) that becomes a number (N)"},
    {name = "concurrency", type = "integer", default = 32, doc = "updates in flight at once"},
  },
  phases = {
    {name = "migrate", doc = "one conditional UpdateItem per item that still needs it",
     update = {table = "table", scan = todo_filter, change = change, concurrency = "concurrency",
               condition_failed = "changed while migrating (run again)"}},
    {name = "verify", verify = verify, reads = {"table"}},
  },
}
