-- The conversion facts of the reference (a probe of the
-- reference's pure functions), checked against vams._v24_convert. Rows
-- where mighost differs on purpose are checked twice: "reference" with
-- --reference-conversion where that option covers it, and "difference:"
-- for mighost's default. Prints each failure and "conversion facts: N
-- passed, N failed"; exits 1 on a failure.
local c = require "vams._v24_convert"
local item = require "mighost.item"
local passed, failed = 0, 0

local function check(name, got, want)
  if got == want then passed = passed + 1
  else failed = failed + 1; print(("FAIL %s\n  got  %s\n  want %s"):format(name, tostring(got), tostring(want))) end
end
local function v(text) return item.decode('{"x":' .. text .. '}').x end
local REF, MH = {mode = "reference"}, {mode = "mighost"}

local function field(rec, o)
  local r = {field = {S = "f"}, dataType = {S = "string"}}
  for k, x in pairs(rec) do r[k] = x end
  return c.schema_field(r, o, {})
end
local function lla(a, b, z, o)
  local r = {dataType = {S = "location"}}
  if a then r.latitudeField = {S = a} end
  if b then r.longitudeField = {S = b} end
  if z then r.zoomLevelField = {S = z} end
  return c.get(field(r, o or REF), "defaultMetadataFieldValue")
end
check("LLA 1.23e8", lla("1.23e8", "123123", "123123"), '{"lat": 123000000.0, "long": 123123.0, "alt": 123123.0}')
check("LLA 1e16", lla("1e16", "-0", " 5 "), '{"lat": 1e+16, "long": -0.0, "alt": 5.0}')
check("LLA underscores, Unicode digits, hex", lla("1_000.5", "١٢", "0x10"), '{"lat": 1000.5, "long": 12.0, "alt": 0.0}')
check("LLA names, empty, absent", lla("lat_field", "", nil), '{"lat": 0.0, "long": 0.0, "alt": 0.0}')
check("LLA shortest floats", lla("12.345678901234567", "0.1", "1e-7"), '{"lat": 12.345678901234567, "long": 0.1, "alt": 1e-07}')
-- The reference writes {"lat": NaN, "long": Infinity, "alt": -Infinity}: not JSON.
check("difference: LLA non-finite values written as 0.0", lla("nan", "inf", "-1e400"),
      '{"lat": 0.0, "long": 0.0, "alt": 0.0}')
check("difference: LLA non-finite with --reference-conversion too", lla("nan", "inf", "-1e400", REF),
      '{"lat": 0.0, "long": 0.0, "alt": 0.0}')

local function seq(x, o) return c.get(field({sequenceNumber = x}, o or REF), "sequence") end
local function seqtext(x, o) local s = seq(x, o); return s and s.text end
check("sequenceNumber N (reference)", seq(v'{"N":"3"}'), nil)
check("sequenceNumber S empty", seq(v'{"S":""}'), nil)
check("sequenceNumber S 3.0", seq(v'{"S":"3.0"}'), nil)
check("sequenceNumber BOOL", seq(v'{"BOOL":true}'), nil)
for _, t in ipairs{{"3", "3"}, {" +4 ", "4"}, {"-1", "-1"}, {"1_0", "10"}, {"٣", "3"}} do
  check("sequenceNumber S " .. t[1], seqtext({S = t[1]}), t[2])
end
check("difference: sequenceNumber N migrated", seqtext(v'{"N":"3"}', MH), "3")

local function ftype(t) local f = field({dataType = {S = t}}, REF); return f and c.get(f, "metadataFieldValueType") end
check("dataType STRING", ftype("STRING"), "string")
check("dataType TextArea", ftype("TextArea"), "multiline_string")
for _, t in ipairs{"controlled-list", "Controlled-List", "", "color", "inline_controlled_list", "multiline_string"} do
  check("dataType skipped: " .. t, ftype(t), nil)
end

local function keys(s)
  local f = field({dataType = {S = "inline-controlled-list"}, inlineControlledListValues = {S = s}}, REF)
  local k = c.get(f, "controlledListKeys")
  return k and c.dumps(k)
end
check("inline ' a , ,b,'", keys(" a , ,b,"), '["a", "b"]')
check("inline ',,,'", keys(",,,"), nil)
check("inline 'a,a'", keys("a,a"), '["a", "a"]')
check("inline 'café, über'", keys("café, über"), '["caf\\u00e9", "\\u00fcber"]')

local function req(x) return c.get(field({required = x}, REF), "required") end
check("required S true", req(v'{"S":"true"}'), false)
check("required N 1", req(v'{"N":"1"}'), false)
check("required absent", req(nil), false)
check("required BOOL true", req(v'{"BOOL":true}'), true)

local function deps(x, o) local d = c.get(field({dependsOn = x}, o or REF), "dependsOnFieldKeyName"); return d and c.dumps(d) end
check("dependsOn L of S (reference)", deps(v'{"L":[{"S":"a"},{"S":"b"}]}'), nil)
check("dependsOn SS (reference)", deps(v'{"SS":["a","b"]}'), nil)
check("dependsOn empty L", deps(v'{"L":[]}'), nil)
check("dependsOn odd M shape", deps(v'{"L":[{"M":{"S":{"S":"a"}}},{"M":{"x":{"S":"b"}}}]}'), '["a"]')
check("difference: dependsOn L of S migrated", deps(v'{"L":[{"S":"a"},{"S":"b"}]}', MH), '["a", "b"]')
check("difference: dependsOn SS migrated", deps(v'{"SS":["a","b"]}', MH), '["a", "b"]')
check("dependsOn empty L (mighost)", deps(v'{"L":[]}', MH), nil)

check("flatten", c.dumps(c.flatten(v'{"L":[{"M":{"a":{"S":"x"},"n":{"N":"1.50"},"b":{"BOOL":false},"nul":{"NULL":true},"ss":{"SS":["q"]},"m":{"M":{}},"u":{"S":"ü☃"}}}]}')),
      '[{"a": "x", "n": "1.50", "b": false, "u": "\\u00fc\\u2603"}]')
check("flatten bare S", c.dumps(c.flatten(v'{"L":[{"S":"bare"}]}')), "[]")
check("flatten non-L", c.dumps(c.flatten(v'{"S":"x"}')), "[]")
check("flatten absent", c.dumps(c.flatten(nil)), "[]")
check("escaping", c.dumps(c.list{'"\\\n\r\t\b\f\1/\127é𝄞'}), '["\\"\\\\\\n\\r\\t\\b\\f\\u0001/\\u007f\\u00e9\\ud834\\udd1e"]')

local rec = item.decode('{"databaseId":{"S":"d"},"assetId":{"S":"a"},"str":{"S":"s"},"empty":{"S":""},"num":{"N":"5"},'
  .. '"b":{"BOOL":true},"l":{"L":[{"S":"x"}]},"m":{"M":{"k":{"N":"1"}}},"ss":{"SS":["p"]},"with:colon":{"S":"c"},'
  .. '"unié":{"S":"☃"},"_hidden":{"S":"h"}}')
local function names(r)
  local out = {}
  for _, it in ipairs(r.items) do out[#out + 1] = it.metadataKey.S .. "=" .. it.metadataValueType.S .. ":" .. it.metadataValue.S end
  return table.concat(out, " ")
end
check("metadata record (reference)", names(c.metadata_items(rec, REF)), "str=string:s with:colon=string:c unié=string:☃")
check("difference: metadata non-string values migrated", names(c.metadata_items(rec, MH)),
      'str=string:s num=number:5 b=boolean:true l=json:["x"] m=json:{"k": 1} ss=json:["p"] with:colon=string:c unié=string:☃')
for _, t in ipairs{{"x1", "x1", "/"}, {"/x1/a/b.jpg", "x1", "a/b.jpg"}, {"/x1", "x1", ""}, {"/x1/", "x1", ""},
                   {"/", "", ""}, {"//f.jpg", "", "f.jpg"}, {"x1/a.jpg", "x1/a.jpg", "/"}, {"/x1/a//b", "x1", "a//b"}} do
  local a, p = c.split_asset(t[1])
  check("assetId " .. t[1], a .. "|" .. p, t[2] .. "|" .. t[3])
end
local slash = c.metadata_items(item.decode('{"databaseId":{"S":"d"},"assetId":{"S":"/x1/a/b"},"k":{"S":"v"}}'),
                               {mode = "mighost", leading_slash = true})
check("option: --file-path-leading-slash", slash.items[1]["databaseId:assetId:filePath"].S, "d:x1:/a/b")

local n = 0
local function clock() n = n + 1; return "t" .. n end
local function citems(text)
  local notes = {}
  local items, why = c.constraint_items(item.decode(text), clock, notes)
  if not items then return "error: " .. why end
  local out = {}
  for _, it in ipairs(items) do
    out[#out + 1] = it.constraintId.S .. (it.objectType and (" objectType=" .. it.objectType.S) or " (no objectType)")
      .. " groups=" .. it.groupPermissions.S
  end
  return table.concat(out, "; ")
end
check("difference: constraint c0, empty objectType left out",
      citems('{"entityType":{"S":"constraint"},"sk":{"S":"constraint#c0"},"constraintId":{"S":"c0"}}'),
      "c0 (no objectType) groups=[]")
check("constraint c1 groupIds N, empty, absent",
      citems('{"sk":{"S":"constraint#c1"},"constraintId":{"S":"c1"},"objectType":{"S":"asset"},"groupPermissions":{"L":[{"M":{"groupId":{"N":"42"}}},{"M":{"groupId":{"S":""}}},{"M":{"permission":{"S":"GET"}}}]}}'),
      'c1#group#42 objectType=asset groups=[{"groupId": "42"}, {"groupId": ""}, {"permission": "GET"}]')
check("difference: constraintId N falls back to sk",
      citems('{"sk":{"S":"constraint#cn"},"constraintId":{"N":"7"},"objectType":{"S":"asset"},"userPermissions":{"L":[{"M":{"userId":{"S":"u"}}}]}}'),
      'cn#user#u objectType=asset groups=[]')
check("difference: BOOL groupId refused for this constraint alone",
      citems('{"sk":{"S":"constraint#cb"},"constraintId":{"S":"cb"},"groupPermissions":{"L":[{"M":{"groupId":{"BOOL":true}}}]}}'),
      "error: groupPermissions[1].groupId is a BOOL, not a string")
check("two clock reads per migrated constraint", n, 6)

print(("conversion facts: %d passed, %d failed"):format(passed, failed))
if failed > 0 then os.exit(1) end
