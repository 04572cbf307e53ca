-- Prints items one per line in a canonical form (names sorted at every
-- level), sorted, for exact comparison: either a table's items (arg: the
-- table) or a file of expected items (arg: @FILE [DROP]: lines containing
-- DROP left out).
local ddb = require "mighost.dynamodb"
local item = require "mighost.item"

-- A copy has no recorded key order, so it encodes with sorted names.
local function copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return c
end

local rows = {}
if arg[1]:sub(1, 1) == "@" then
  for line in io.lines(arg[1]:sub(2)) do
    if line ~= "" and not (arg[2] and line:find(arg[2], 1, true)) then
      rows[#rows + 1] = item.encode(copy(item.decode(line)))
    end
  end
else
  for it in ddb.scan{table = arg[1], consistent = true} do rows[#rows + 1] = item.encode(copy(it)) end
end
table.sort(rows)
for _, r in ipairs(rows) do print(r) end
