-- vams/_v24_convert: the pure conversion rules of vams/v2.3-to-v2.4
-- (value extraction, constraints, metadata, schema fields; described in
-- docs/migrations/vams-v2.3-to-v2.4.md), byte for byte as the reference
-- writes them. No AWS access here; the migration and the tests
-- require it as "vams._v24_convert".
--
-- JSON values for dumps(): see mighost.pyjson.

local item = require "mighost.item"

local M = {}

-- JSON text as Python writes it (mighost.pyjson), under the names the
-- rules below and the tests use.
local pyjson = require "mighost.pyjson"
for _, k in ipairs{"null", "list", "obj", "raw", "set", "get", "quote", "float_repr", "dumps"} do
  M[k] = pyjson[k]
end

-- Value extraction and flattening -------------------------------------------

function M.s(v)
  if type(v) == "table" and type(v.S) == "string" then return v.S end
  return ""
end

function M.flatten(v)
  local out = M.list()
  if type(v) ~= "table" or type(v.L) ~= "table" then return out end
  for _, el in ipairs(v.L) do
    if type(el) == "table" and type(el.M) == "table" then
      local o = M.obj()
      for _, k in ipairs(item.keys(el.M)) do
        local x = el.M[k]
        if x.S ~= nil then M.set(o, k, x.S)
        elseif x.N ~= nil then M.set(o, k, x.N)
        elseif x.BOOL ~= nil then M.set(o, k, x.BOOL) end
      end
      out[#out + 1] = o
    end
  end
  return out
end

-- Python number parsing ------------------------------------------------------

-- Unicode whitespace as str.strip() sees it.
local WS = {}
for _, cp in ipairs{9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 0x85, 0xa0, 0x1680, 0x2028, 0x2029,
                    0x202f, 0x205f, 0x3000} do WS[cp] = true end
for cp = 0x2000, 0x200a do WS[cp] = true end
M.WHITESPACE = WS

-- The zero of every run of Unicode decimal digits (category Nd) in the
-- BMP and the common supplementary ones.
local ZEROS = {0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6,
  0xd66, 0xde6, 0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80,
  0x1a90, 0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0,
  0xff10, 0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0,
  0x11650, 0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0,
  0x16b50, 0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0}
local DIGIT = {}
for _, z in ipairs(ZEROS) do for d = 0, 9 do DIGIT[z + d] = d end end

-- The code points of s with surrounding Unicode whitespace removed, or nil.
local function stripped_cps(s)
  local cps = {}
  local ok = pcall(function() for _, cp in utf8.codes(s) do cps[#cps + 1] = cp end end)
  if not ok then return nil end
  local i, j = 1, #cps
  while i <= j and WS[cps[i]] do i = i + 1 end
  while j >= i and WS[cps[j]] do j = j - 1 end
  return table.move(cps, i, j, 1, {})
end

-- Digits with single underscores between them, from position i: the ASCII
-- digits and the next position, or nil.
local function digit_run(cps, i)
  local out = {}
  while true do
    local d = DIGIT[cps[i]]
    if not d then return nil end
    out[#out + 1] = tostring(d)
    i = i + 1
    if cps[i] == 95 then           -- "_" must be followed by a digit
      if not DIGIT[cps[i + 1]] then return nil end
      i = i + 1
    elseif not DIGIT[cps[i]] then
      return table.concat(out), i
    end
  end
end

-- int(str): the integer as normalised decimal text, or nil.
function M.py_int(s)
  local cps = stripped_cps(s)
  if not cps or #cps == 0 then return nil end
  local i, neg = 1, false
  if cps[1] == 43 or cps[1] == 45 then neg = cps[1] == 45; i = 2 end
  local digits, nexti = digit_run(cps, i)
  if not digits or nexti ~= #cps + 1 then return nil end
  digits = digits:gsub("^0+", "")
  if digits == "" then return "0" end
  return (neg and "-" or "") .. digits
end

-- float(str): a Lua float, or nil.
function M.py_float(s)
  local cps = stripped_cps(s)
  if not cps or #cps == 0 then return nil end
  local i, sign = 1, ""
  if cps[1] == 43 or cps[1] == 45 then sign = cps[1] == 45 and "-" or ""; i = 2 end
  local word = {}
  for k = i, #cps do
    if cps[k] > 127 then word = nil; break end
    word[#word + 1] = string.char(cps[k])
  end
  if word then
    local w = table.concat(word):lower()
    if w == "nan" then return 0 / 0 end
    if w == "inf" or w == "infinity" then return sign == "-" and -math.huge or math.huge end
  end
  local int, frac, exp = "", "", nil
  if DIGIT[cps[i]] then
    int, i = digit_run(cps, i)
    if not int then return nil end
  end
  if cps[i] == 46 then                      -- "."
    i = i + 1
    if DIGIT[cps[i]] then
      frac, i = digit_run(cps, i)
      if not frac then return nil end
    end
  end
  if int == "" and frac == "" then return nil end
  if cps[i] == 101 or cps[i] == 69 then     -- e / E
    i = i + 1
    local esign = ""
    if cps[i] == 43 or cps[i] == 45 then esign = cps[i] == 45 and "-" or ""; i = i + 1 end
    local e
    e, i = digit_run(cps, i)
    if not e then return nil end
    exp = esign .. e
  end
  if i ~= #cps + 1 then return nil end
  local text = sign .. (int ~= "" and int or "0") .. "." .. (frac ~= "" and frac or "0")
  if exp then text = text .. "e" .. exp end
  return tonumber(text)        -- a float: the text has a decimal point
end

-- Constraints --------------------------------------------------------------

-- Distinct non-empty values of `field` in flattened permissions, in order.
-- A value that is not a string (a BOOL) is returned as the second result.
local function distinct(perms, field)
  local seen, out = {}, {}
  for idx, p in ipairs(perms) do
    local v = p.vals[field]
    if v ~= nil and type(v) ~= "string" then return nil, ("%s[%d].%s is a BOOL, not a string")
      :format(field == "groupId" and "groupPermissions" or "userPermissions", idx, field) end
    if v and v ~= "" and not seen[v] then seen[v] = true; out[#out + 1] = v end
  end
  return out
end

-- A v2.3 constraint -> the v2.4 items, or nil and the reason it cannot be
-- migrated. `clock()` gives a timestamp text per call (two per constraint,
-- as the reference). `notes` collects what differs from a plain copy:
--   notes.id_from_sk, notes.id_mismatch, notes.empty_object_type.
function M.constraint_items(c, clock, notes)
  local base = M.s(c.constraintId)
  local from_sk = M.s(c.sk):match("^constraint#(.*)$")
  if base == "" then
    if not from_sk or from_sk == "" then
      return nil, "no constraintId attribute (string) and no id after constraint# in sk"
    end
    base = from_sk
    notes.id_from_sk = true
  elseif from_sk and from_sk ~= base then
    notes.id_mismatch = from_sk
  end
  local groups = M.flatten(c.groupPermissions)
  local users = M.flatten(c.userPermissions)
  local gids, gerr = distinct(groups, "groupId")
  if not gids then return nil, gerr end
  local uids, uerr = distinct(users, "userId")
  if not uids then return nil, uerr end
  local object_type = M.s(c.objectType)
  local shared = {
    name = {S = M.s(c.name)},
    description = {S = M.s(c.description)},
    criteriaAnd = {S = M.dumps(M.flatten(c.criteriaAnd))},
    criteriaOr = {S = M.dumps(M.flatten(c.criteriaOr))},
    groupPermissions = {S = M.dumps(groups)},
    userPermissions = {S = M.dumps(users)},
    createdBy = {S = "MIGRATION"},
    modifiedBy = {S = "MIGRATION"},
  }
  if object_type ~= "" then shared.objectType = {S = object_type}
  else notes.empty_object_type = true end
  shared.dateCreated = {S = clock()}
  shared.dateModified = {S = clock()}
  local out = {}
  local function emit(id, extra_name, extra)
    local it = {constraintId = {S = id}}
    for k, v in pairs(shared) do it[k] = v end
    if extra_name then it[extra_name] = {S = extra} end
    out[#out + 1] = it
  end
  for _, g in ipairs(gids) do emit(base .. "#group#" .. g, "groupId", g) end
  for _, u in ipairs(uids) do emit(base .. "#user#" .. u, "userId", u) end
  if #out == 0 then emit(base) end
  return out
end

-- Metadata --------------------------------------------------------------------

-- assetId value -> asset id, file path.
function M.split_asset(aid)
  if aid:sub(1, 1) == "/" then
    local rest = aid:sub(2)
    local at = rest:find("/", 1, true)
    if not at then return rest, "" end
    return rest:sub(1, at - 1), rest:sub(at + 1)
  end
  return aid, "/"
end

-- A DynamoDB value as a JSON value (for the v2.4 "json" metadata type);
-- nil for binary values.
local function plain(v)
  if v.S ~= nil then return v.S end
  if v.N ~= nil then return M.raw(v.N) end
  if v.BOOL ~= nil then return v.BOOL end
  if v.NULL ~= nil then return M.null end
  if v.L then
    local out = M.list()
    for i, x in ipairs(v.L) do
      local p = plain(x)
      if p == nil then return nil end
      out[i] = p
    end
    return out
  end
  if v.M then
    local o = M.obj()
    for _, k in ipairs(item.keys(v.M)) do
      local p = plain(v.M[k])
      if p == nil then return nil end
      M.set(o, k, p)
    end
    return o
  end
  if v.SS then return M.list(table.move(v.SS, 1, #v.SS, 1, {})) end
  if v.NS then
    local out = M.list()
    for i, n in ipairs(v.NS) do out[i] = M.raw(n) end
    return out
  end
  return nil
end

-- A metadata value -> v2.4 value and type; or nil and why not.
--   mode "reference": only non-empty S (the reference drops the rest);
--   otherwise N -> number, BOOL -> boolean, L/M/SS/NS -> json.
function M.metadata_value(v, mode)
  if type(v) ~= "table" then return nil, "not a value" end
  if v.S ~= nil then
    if v.S == "" then return nil, "empty" end
    return v.S, "string"
  end
  local kind = next(v)
  if mode == "reference" then return nil, "dropped", kind end
  if v.N ~= nil then return v.N, "number", "N" end
  if v.BOOL ~= nil then return v.BOOL and "true" or "false", "boolean", "BOOL" end
  if v.NULL ~= nil then return nil, "unmigratable", "NULL" end
  local p = plain(v)
  if p == nil then return nil, "unmigratable", kind end
  return M.dumps(p), "json", kind
end

-- A v2.3 metadata record -> {items = {...}, extras = {{name, kind}...},
-- dropped = {...}, unmigratable = {...}, empty = n}; or nil, reason.
function M.metadata_items(rec, o)
  local db, aid = M.s(rec.databaseId), M.s(rec.assetId)
  if db == "" or aid == "" then return nil, "databaseId or assetId is not a non-empty string" end
  local asset, path = M.split_asset(aid)
  if o.leading_slash and path ~= "/" and path ~= "" then path = "/" .. path end
  local k3, k2 = db .. ":" .. asset .. ":" .. path, db .. ":" .. asset
  local res = {items = {}, extras = {}, dropped = {}, unmigratable = {}, empty = 0,
               empty_path = path == "", k3 = k3}
  for _, name in ipairs(item.keys(rec)) do
    if name ~= "databaseId" and name ~= "assetId" and name:sub(1, 1) ~= "_" then
      local value, vtype, kind = M.metadata_value(rec[name], o.mode)
      if value then
        res.items[#res.items + 1] = {metadataKey = {S = name}, ["databaseId:assetId:filePath"] = {S = k3},
          ["databaseId:assetId"] = {S = k2}, metadataValue = {S = value},
          metadataValueType = {S = vtype}}
        if vtype ~= "string" then res.extras[#res.extras + 1] = {name = name, type = kind} end
      elseif vtype == "empty" then
        res.empty = res.empty + 1
      elseif vtype == "dropped" then
        res.dropped[#res.dropped + 1] = {name = name, type = kind}
      else
        res.unmigratable[#res.unmigratable + 1] = {name = name, type = kind}
      end
    end
  end
  return res
end

-- Metadata schema fields ------------------------------------------------------

local TYPES = {string = "string", textarea = "multiline_string", number = "number",
               boolean = "boolean", date = "date", ["inline-controlled-list"] = "inline_controlled_list",
               location = "lla"}

-- Python str.strip() for a piece of the inline list.
local function strip(s)
  local cps = stripped_cps(s)
  if not cps then return s:match("^%s*(.-)%s*$") end
  return utf8.char(table.unpack(cps))
end

-- Unicode-aware lower() is needed only to find the types above, which are
-- ASCII: a non-ASCII letter can never make one of them.
local function lower(s) return s:lower() end

-- A v2.3 field record -> a field object, or nil and the reason it is left
-- out. o.mode "reference": sequenceNumber only from S, dependsOn only from
-- the {"M":{"S":...}} shape; otherwise also N sequence numbers and L/SS of
-- strings (listed in `extras`).
function M.schema_field(rec, o, extras)
  local name = M.s(rec.field)
  local raw_type = M.s(rec.dataType)
  local t = TYPES[lower(raw_type)]
  if not t then
    if lower(raw_type) == "controlled-list" then
      return nil, "controlled-list has no v2.4 equivalent (kept in the v2.3 table)"
    end
    return nil, ("dataType '%s' is not a v2.3 type this migration converts (kept in the v2.3 table)")
      :format(raw_type)
  end
  local f = M.obj()
  M.set(f, "metadataFieldKeyName", name)
  M.set(f, "metadataFieldValueType", t)
  M.set(f, "required", type(rec.required) == "table" and rec.required.BOOL == true)
  local seq = M.s(rec.sequenceNumber)
  local n = seq ~= "" and M.py_int(seq) or nil
  if not n and o.mode ~= "reference" and type(rec.sequenceNumber) == "table" and rec.sequenceNumber.N then
    n = M.py_int(rec.sequenceNumber.N)
    if n then extras[#extras + 1] = {field = name, what = "sequenceNumber (N)"} end
  end
  if n then
    if n:sub(1, 1) == "-" then extras[#extras + 1] = {field = name, what = "negative sequence (kept)"} end
    M.set(f, "sequence", M.raw(n))
  end
  local deps = M.list()
  local dep = rec.dependsOn
  for _, x in ipairs(M.flatten(dep)) do
    local v = x.vals.S
    if v ~= nil then deps[#deps + 1] = v end
  end
  if #deps == 0 and o.mode ~= "reference" and type(dep) == "table" then
    local list = dep.SS or {}
    if dep.L then
      list = {}
      for _, el in ipairs(dep.L) do if type(el.S) == "string" then list[#list + 1] = el.S end end
    end
    for _, s in ipairs(list) do deps[#deps + 1] = s end
    if #deps > 0 then extras[#extras + 1] = {field = name, what = "dependsOn (list of strings)"} end
  end
  if #deps > 0 then M.set(f, "dependsOnFieldKeyName", deps) end
  if t == "inline_controlled_list" then
    local keys = M.list()
    for piece in (M.s(rec.inlineControlledListValues) .. ","):gmatch("([^,]*),") do
      local p = strip(piece)
      if p ~= "" then keys[#keys + 1] = p end
    end
    if #keys > 0 then M.set(f, "controlledListKeys", keys)
    else extras[#extras + 1] = {field = name, what = "inline list without values (no controlledListKeys)"} end
  end
  if t == "lla" then
    local lla = M.obj()
    for _, pair in ipairs{{"lat", "latitudeField"}, {"long", "longitudeField"}, {"alt", "zoomLevelField"}} do
      local v = M.py_float(M.s(rec[pair[2]])) or 0.0
      if v ~= v or v == math.huge or v == -math.huge then
        -- Never write NaN/Infinity (not JSON): as unparseable.
        extras[#extras + 1] = {field = name, what = ("non-finite %s (written as 0.0)"):format(pair[2])}
        v = 0.0
      end
      M.set(lla, pair[1], v)
    end
    M.set(f, "defaultMetadataFieldValue", M.dumps(lla))
  end
  return f
end

-- Field names of a schema's `fields` JSON text (any JSON: via mighost.json).
function M.field_names(fields_text)
  local json = require "mighost.json"
  local ok, doc = pcall(json.decode, fields_text)
  local names = {}
  if ok and type(doc) == "table" and type(doc.fields) == "table" then
    for _, f in ipairs(doc.fields) do
      if type(f) == "table" and type(f.metadataFieldKeyName) == "string" then
        names[f.metadataFieldKeyName] = true
      end
    end
  end
  return names
end

return M
