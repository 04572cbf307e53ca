-- mighost.offline.ops: the DynamoDB operations answered from export files
-- (DescribeTable, ListTables, Scan, GetItem, BatchGetItem, Query), each a
-- function(source, request) -> response | nil, err. The source
-- (mighost.offline) reads the files; mighost.offline.expr evaluates.
local item = require "mighost.item"
local json = require "mighost.json"
local expr = require "mighost.offline.expr"

local notfound, refuse, type_of, key_text, num = expr.notfound, expr.refuse, expr.type_of, expr.key_text, expr.num
local parse, evaluate, resolve_name = expr.parse, expr.evaluate, expr.resolve_name
local value_equal, compare = expr.value_equal, expr.compare
local expr_context, projector, filter_of = expr.expr_context, expr.projector, expr.filter_of

local POS = "__offline_line"          -- the position key of LastEvaluatedKey
local PAGE_ITEMS = 1000             -- items examined per page at most
local PAGE_BYTES = 1024 * 1024      -- about DynamoDB's 1 MB per page

local function capacity(t) return {TableName = t, CapacityUnits = 0} end

local function lookup_key(self, t, key)
  local s = self:schema(t)
  if type(key) ~= "table" then refuse("The provided key element does not match the schema") end
  local h = key_text(key[s.hash])
  local r = s.range and key_text(key[s.range]) or ""
  local n = 0
  for _ in pairs(key) do n = n + 1 end
  if not h or not r or n ~= (s.range and 2 or 1) then
    refuse("The provided key element does not match the schema")
  end
  return self:index(t).by_key[h .. "\0" .. r]
end

local ops = {}

function ops.DescribeTable(self, req)
  local t = self:table(req.TableName)
  if not t then return nil, notfound(req.TableName, self.dir) end
  local s = self:schema(t)
  local defs, seen = {}, {}
  local function def(a)
    if a and not seen[a] then seen[a] = true; defs[#defs + 1] = {AttributeName = a, AttributeType = s.types[a]} end
  end
  local function keys(h, r)
    def(h); def(r)
    local k = {{AttributeName = h, KeyType = "HASH"}}
    if r then k[2] = {AttributeName = r, KeyType = "RANGE"} end
    return k
  end
  local desc = {TableName = t.name, TableStatus = "ACTIVE", KeySchema = keys(s.hash, s.range),
                ItemCount = t.count or 0, TableSizeBytes = 0}
  local names = {}
  for name in pairs(s.indexes) do names[#names + 1] = name end
  table.sort(names)
  if #names > 0 then
    desc.GlobalSecondaryIndexes = {}
    for _, name in ipairs(names) do
      local x = s.indexes[name]
      desc.GlobalSecondaryIndexes[#desc.GlobalSecondaryIndexes + 1] = {IndexName = name,
        KeySchema = keys(x.hash, x.range), IndexStatus = "ACTIVE", Projection = {ProjectionType = "ALL"}}
    end
  end
  desc.AttributeDefinitions = defs
  return {Table = desc}
end

function ops.ListTables(self)
  return {TableNames = self:list_tables()}
end

local function position(req, what)
  local k = req.ExclusiveStartKey
  if not k then return 0 end
  local v = k[POS]
  local n = v and math.tointeger(tonumber(v.N))
  if not n then refuse(("offline: %s: ExclusiveStartKey is not an offline position (%s)"):format(
    what, item.encode(k))) end
  return n
end

function ops.Scan(self, req)
  local t = self:table(req.TableName)
  if not t then return nil, notfound(req.TableName, self.dir) end
  local s = self:schema(t)
  local seg, total = req.Segment or 0, req.TotalSegments or 1
  if total < 1 or seg < 0 or seg >= total then
    refuse("Segment must be less than TotalSegments, and TotalSegments at least 1")
  end
  local ix
  if req.IndexName then
    ix = s.indexes[req.IndexName]
    if not ix then refuse(("offline: table %s has no index %s (indexes come from tables.json)"):format(
      t.name, req.IndexName)) end
  end
  local start = position(req, "Scan")
  local ckey = table.concat({t.name, seg, total, req.IndexName or ""}, "\0")
  local c = self:cursor(ckey .. "\0" .. start, t, start)
  local keep, _ = filter_of(req)
  local count_only = req.Select == "COUNT"
  local limit = req.Limit
  local items, count, scanned, bytes, last = {}, 0, 0, 0, nil
  local examined = 0
  while true do
    local n, line, f, ln = c.next()
    if not n then t.count = t.count or c.at; break end
    c.at = n
    if (n - 1) % total == seg then
      local it = self:decode(line, f .. ":" .. ln)
      examined = examined + 1
      bytes = bytes + #line
      if not ix or (it[ix.hash] and (not ix.range or it[ix.range])) then
        scanned = scanned + 1
        local out = keep(it)
        if out then
          count = count + 1
          if not count_only then items[#items + 1] = out end
        end
      end
      if (limit and scanned >= limit) or examined >= PAGE_ITEMS or bytes >= PAGE_BYTES then
        last = n
        break
      end
    end
  end
  local resp = {Count = count, ScannedCount = scanned, ConsumedCapacity = capacity(t.name)}
  if not count_only then resp.Items = items end
  if last then
    resp.LastEvaluatedKey = {[POS] = {N = tostring(last)}}
    self:park_cursor(ckey .. "\0" .. last, c)
  end
  return resp
end

function ops.GetItem(self, req)
  local t = self:table(req.TableName)
  if not t then return nil, notfound(req.TableName, self.dir) end
  local it = lookup_key(self, t, req.Key)
  local resp = {ConsumedCapacity = capacity(t.name)}
  if it then
    local project = projector(req.ProjectionExpression, req.ExpressionAttributeNames)
    resp.Item = project and project(it) or it
  end
  return resp
end

function ops.BatchGetItem(self, req)
  local resp = {Responses = {}, UnprocessedKeys = {}, ConsumedCapacity = {}}
  for tname, r in pairs(req.RequestItems or {}) do
    local t = self:table(tname)
    if not t then return nil, notfound(tname, self.dir) end
    local project = projector(r.ProjectionExpression, r.ExpressionAttributeNames)
    local found = {}
    for _, k in ipairs(r.Keys or {}) do
      local it = lookup_key(self, t, k)
      if it then found[#found + 1] = project and project(it) or it end
    end
    resp.Responses[tname] = found
    resp.ConsumedCapacity[#resp.ConsumedCapacity + 1] = capacity(tname)
  end
  return resp
end

-- The hash value a key condition fixes: the `=` on the hash attribute.
local function hash_value(tree, hash, names, values, what)
  local function find(n)
    if n.k == "and" then return find(n.a) or find(n.b) end
    if n.k == "cmp" and n.op == "=" then
      for _, pair in ipairs{{n.a, n.b}, {n.b, n.a}} do
        local a, b = pair[1], pair[2]
        if a.k == "path" and resolve_name(a, names, what) == hash and b.k == "value" then
          return values and values[b.name]
        end
      end
    end
  end
  return find(tree)
end

function ops.Query(self, req)
  local t = self:table(req.TableName)
  if not t then return nil, notfound(req.TableName, self.dir) end
  local s = self:schema(t)
  local key = s
  if req.IndexName then
    key = s.indexes[req.IndexName]
    if not key then refuse(("offline: table %s has no index %s (indexes come from tables.json)"):format(
      t.name, req.IndexName)) end
  end
  local kce = req.KeyConditionExpression
  if not kce then refuse("Query: KeyConditionExpression is required") end
  local what = "KeyConditionExpression '" .. kce .. "'"
  local names, values = expr_context(req)
  local tree = parse(kce, "KeyConditionExpression")
  local hv = hash_value(tree, key.hash, names, values, what)
  if not hv then refuse(("offline: %s: needs %s = :value"):format(what, key.hash)) end
  local ix = self:index(t)
  local list = ix.by_hash[req.IndexName or ""][key_text(hv) or ""] or {}
  local matching = {}
  for _, it in ipairs(list) do
    if evaluate(tree, it, names, values, what) then matching[#matching + 1] = it end
  end
  if key.range then
    local r = key.range
    local order = {}
    for i, it in ipairs(matching) do order[it] = i end
    table.sort(matching, function(a, b)
      local c = compare(a[r], b[r])
      if c and c ~= 0 then return c < 0 end
      return order[a] < order[b]
    end)
  end
  if req.ScanIndexForward == false then
    local rev = {}
    for i = #matching, 1, -1 do rev[#rev + 1] = matching[i] end
    matching = rev
  end
  local start = position(req, "Query")
  local keep = filter_of(req)
  local limit = req.Limit or PAGE_ITEMS
  local items, count, scanned, last = {}, 0, 0, nil
  for i = start + 1, #matching do
    scanned = scanned + 1
    local out = keep(matching[i])
    if out then
      count = count + 1
      if req.Select ~= "COUNT" then items[#items + 1] = out end
    end
    if scanned >= limit and i < #matching then last = i; break end
  end
  local resp = {Count = count, ScannedCount = scanned, ConsumedCapacity = capacity(t.name)}
  if req.Select ~= "COUNT" then resp.Items = items end
  if last then resp.LastEvaluatedKey = {[POS] = {N = tostring(last)}} end
  return resp
end

return ops
