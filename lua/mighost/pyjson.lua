-- mighost.pyjson: JSON text exactly as Python's json.dumps writes it
-- (ensure_ascii, separators ", " and ": ", float repr, dict insertion
-- order). The reference scripts of the packaged migrations are Python;
-- where their output embeds JSON text (inside an S attribute, a container
-- command), byte-exact results need this writer.
--
-- Values for dumps(): strings, booleans, Lua integers (written as
-- integers), Lua floats (written as Python floats), M.list{...}, M.obj()
-- (an ordered object: M.set(o, k, v)), M.raw(text) (a number as text,
-- written as is) and M.null.

local M = {}

local LIST = {}
local OBJ = {}
local RAW = {}
M.null = setmetatable({}, {__name = "null"})

function M.list(t) return setmetatable(t or {}, LIST) end
function M.obj() return setmetatable({keys = {}, vals = {}}, OBJ) end
function M.raw(text) return setmetatable({text = text}, RAW) end

-- Python dict semantics: a new key goes last, an existing one keeps its place.
function M.set(o, k, v)
  if o.vals[k] == nil then o.keys[#o.keys + 1] = k end
  o.vals[k] = v
end

function M.get(o, k) return o.vals[k] end

-- Strings: json.dumps with ensure_ascii -----------------------------------

local SHORT = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
               ['\b'] = '\\b', ['\f'] = '\\f'}

local function escape_cp(cp)
  if cp < 0x80 then
    local c = string.char(cp)
    if SHORT[c] then return SHORT[c] end
    if cp < 0x20 or cp == 0x7f then return ("\\u%04x"):format(cp) end
    return c
  end
  if cp < 0x10000 then return ("\\u%04x"):format(cp) end
  cp = cp - 0x10000
  return ("\\u%04x\\u%04x"):format(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff))
end

function M.quote(s)
  if not s:find('[%z\1-\31"\\\127-\255]') then return '"' .. s .. '"' end
  local out = {'"'}
  local ok = pcall(function()
    for _, cp in utf8.codes(s) do out[#out + 1] = escape_cp(cp) end
  end)
  if not ok then
    -- Not UTF-8 (DynamoDB strings always are): one escape per byte.
    out = {'"'}
    for i = 1, #s do out[#out + 1] = escape_cp(s:byte(i)) end
  end
  out[#out + 1] = '"'
  return table.concat(out)
end

-- Floats: Python's repr (the shortest text that reads back) --------------

function M.float_repr(x)
  if x ~= x then return "NaN" end
  if x == math.huge then return "Infinity" end
  if x == -math.huge then return "-Infinity" end
  if x == 0 then return 1 / x < 0 and "-0.0" or "0.0" end
  local s
  for p = 0, 16 do
    s = ("%." .. p .. "e"):format(x)
    if tonumber(s) == x then break end
  end
  local sign, d1, rest, e = s:match("^(%-?)(%d)%.?(%d*)e([-+]%d+)$")
  local digits = (d1 .. rest):gsub("0+$", "")
  if digits == "" then digits = "0" end
  local exp = tonumber(e)
  if exp < -4 or exp >= 16 then
    local m = digits:sub(1, 1)
    if #digits > 1 then m = m .. "." .. digits:sub(2) end
    return ("%s%se%s%02d"):format(sign, m, exp < 0 and "-" or "+", math.abs(exp))
  end
  if exp >= 0 then
    local int, frac
    if #digits <= exp + 1 then
      int, frac = digits .. ("0"):rep(exp + 1 - #digits), "0"
    else
      int, frac = digits:sub(1, exp + 1), digits:sub(exp + 2)
    end
    return sign .. int .. "." .. frac
  end
  return sign .. "0." .. ("0"):rep(-exp - 1) .. digits
end

-- json.dumps(v) with the default separators ", " and ": ".
function M.dumps(v)
  local t = type(v)
  if t == "string" then return M.quote(v) end
  if t == "boolean" then return v and "true" or "false" end
  if t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return M.float_repr(v)
  end
  local mt = getmetatable(v)
  if v == M.null then return "null" end
  if mt == RAW then return v.text end
  if mt == OBJ then
    local parts = {}
    for i, k in ipairs(v.keys) do parts[i] = M.quote(k) .. ": " .. M.dumps(v.vals[k]) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  if mt == LIST then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = M.dumps(x) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  error("dumps: cannot encode a " .. t, 2)
end

return M
