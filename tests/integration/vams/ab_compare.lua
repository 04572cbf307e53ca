-- Compares stack B with stack A after vams/ab-deployment, independently of
-- the migration's own verification: tables item by item, buckets object by
-- object (key, size, ETag, content type, metadata, tags), users with their
-- attributes (less sub) and groups. arg: PREFIX SIDE_A SIDE_B POOL_A
-- POOL_B (names as ab_fixture.lua makes them). Prints "EQUAL tables=N
-- objects=N users=N", or raises listing the differences.
local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local s3 = require "mighost.s3"
local cognito = require "mighost.cognito"
local mh = require "mighost"
local P, A, B, pa, pb = arg[1], arg[2], arg[3], arg[4], arg[5]
local diffs = {}
local function diff(fmt, ...) if #diffs < 20 then diffs[#diffs + 1] = fmt:format(...) end end

local TABLES = {"databaseStorageTable", "assetStorageTable", "commentStorageTable",
                "pipelineStorageTable", "metadataStorageTable"}
local function all_items(t)
  local s = assert(ddb.schema(t))
  local out, n = {}, 0
  for it in ddb.scan{table = t, consistent = true} do
    local k = item.encode_value(it[s.hash]) .. (s.range and ("\0" .. item.encode_value(it[s.range])) or "")
    out[k] = it
    n = n + 1
  end
  return out, n
end
local items = 0
for _, t in ipairs(TABLES) do
  local a, na = all_items(P .. "-" .. A .. "-" .. t)
  local b, nb = all_items(P .. "-" .. B .. "-" .. t)
  if na ~= nb then diff("%s: %d items in A, %d in B", t, na, nb) end
  for k, it in pairs(a) do
    if not b[k] or not item.equal(it, b[k]) then diff("%s: item %s differs", t, item.encode(it)) end
  end
  items = items + na
end

local function list_all(bucket)
  local out, token = {}, nil
  repeat
    local page = assert(s3.list_page{bucket = bucket, token = token})
    for _, o in ipairs(page.objects) do out[#out + 1] = o end
    token = page.next_token
  until not token
  return out
end
local objects = 0
for _, name in ipairs{"assets", "aux"} do
  local ba, bb = P .. "-" .. A .. "-" .. name, P .. "-" .. B .. "-" .. name
  local la, lb = list_all(ba), list_all(bb)
  if #la ~= #lb then diff("bucket %s: %d objects in A, %d in B", name, #la, #lb) end
  local byb = {}
  for _, o in ipairs(lb) do byb[o.key] = o end
  local function text(tags)
    local t = {}
    for i, x in ipairs(tags) do t[i] = x.key .. "=" .. x.value end
    table.sort(t)
    return table.concat(t, "&")
  end
  -- Each object's headers and tags on both sides, 16 objects at a time.
  local next_i, workers = 0, {}
  local function worker()
    while next_i < #la do
      next_i = next_i + 1
      local o = la[next_i]
      local c = byb[o.key]
      if not c or c.size ~= o.size or c.etag ~= o.etag then
        diff("%s: %s missing or different size/ETag", name, o.key)
      else
        local ha, hb = assert(s3.head{bucket = ba, key = o.key}), assert(s3.head{bucket = bb, key = o.key})
        for k, v in pairs(ha.headers) do
          if hb.headers[k] ~= v then diff("%s: %s header %s: %s vs %s", name, o.key, k, v, tostring(hb.headers[k])) end
        end
        local ta, tb = assert(s3.tagging{bucket = ba, key = o.key}), assert(s3.tagging{bucket = bb, key = o.key})
        if text(ta) ~= text(tb) then diff("%s: %s tags %s vs %s", name, o.key, text(ta), text(tb)) end
      end
      objects = objects + 1
    end
  end
  for i = 1, 16 do workers[i] = mh.spawn(worker) end
  for _, w in ipairs(workers) do w:wait() end
end

local function users(pool)
  local out, n = {}, 0
  for u in cognito.list_users{pool = pool} do out[u.Username] = u; n = n + 1 end
  return out, n
end
local function groups(pool, user)
  local resp = assert(cognito.request("AdminListGroupsForUser", {UserPoolId = pool, Username = user}))
  local g = {}
  for i, x in ipairs(resp.Groups or {}) do g[i] = x.GroupName end
  table.sort(g)
  return table.concat(g, ",")
end
local ua, na = users(pa)
local ub, nb = users(pb)
if na ~= nb then diff("users: %d in A, %d in B", na, nb) end
for name, u in pairs(ua) do
  local v = ub[name]
  if not v then diff("user %s missing", name)
  else
    for k, val in pairs(u.attributes) do
      if k ~= "sub" and v.attributes[k] ~= val then diff("user %s: %s = %s vs %s", name, k, val, tostring(v.attributes[k])) end
    end
    if groups(pa, name) ~= groups(pb, name) then diff("user %s: groups %s vs %s", name, groups(pa, name), groups(pb, name)) end
  end
end
if #diffs > 0 then error("B differs from A:\n  " .. table.concat(diffs, "\n  "), 0) end
print(("EQUAL tables=%d objects=%d users=%d"):format(items, objects, na))
