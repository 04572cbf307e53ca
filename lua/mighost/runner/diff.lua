-- mighost.runner.diff: what a transform changes in an item, readable.
--
--   + name: {"S":"new"}                 added
--   - name: {"N":"1"}                   removed
--   ~ name: {"S":"old"} -> {"S":"new"}  changed
--   = 5 attributes unchanged (a, b, c, ...)

local item = require "mighost.item"

local M = {}

local function show(v)
  local ok, text = pcall(item.encode_value, v)
  if not ok then return "(invalid: " .. tostring(text) .. ")" end
  if #text > 120 then text = text:sub(1, 117) .. "..." end
  return text
end

-- Lines describing how `after` differs from `before` (both items).
function M.lines(before, after)
  local names, seen = {}, {}
  for k in pairs(before) do names[#names + 1] = k; seen[k] = true end
  for k in pairs(after) do if not seen[k] then names[#names + 1] = k end end
  table.sort(names)
  local out, same = {}, {}
  for _, k in ipairs(names) do
    local a, b = before[k], after[k]
    if a == nil then out[#out + 1] = ("+ %s: %s"):format(k, show(b))
    elseif b == nil then out[#out + 1] = ("- %s: %s"):format(k, show(a))
    elseif not item.equal(a, b, "value") then
      out[#out + 1] = ("~ %s: %s -> %s"):format(k, show(a), show(b))
    else same[#same + 1] = k end
  end
  if #same > 0 then
    local shown = {}
    for i = 1, math.min(#same, 6) do shown[i] = same[i] end
    out[#out + 1] = ("= %d attribute%s unchanged (%s%s)"):format(#same, #same == 1 and "" or "s",
      table.concat(shown, ", "), #same > 6 and ", ..." or "")
  end
  return out
end

return M
