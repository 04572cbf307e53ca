-- mighost.offline: DynamoDB reads answered from export files, for offline
-- evaluation (`mighost run ... --source-dir DIR`, always a dry-run).
--
-- DIR holds one source per table, named after the table:
--   TABLE.jsonl, TABLE.json          JSON lines, one item each
--   TABLE.jsonl.gz, TABLE.json.gz    the same, gzip'd (an S3 export's files)
--   TABLE/                           a folder of such files (an S3 export:
--                                    its data/ folder if it has one; names
--                                    starting with "manifest" are skipped)
-- A line is an item in DynamoDB JSON, either as is ({"pk":{"S":"a"}}) or
-- wrapped as in S3 exports ({"Item":{"pk":{"S":"a"}}}); blank lines are
-- skipped. Items are numbered from 1 in file order (a folder's files in
-- name order).
--
-- Key schemas, first found: DIR/tables.json
--   {"TABLE": {"hash": "pk", "range": "sk", "types": {"pk": "S", "sk": "N"},
--              "indexes": {"NAME": {"hash": "...", "range": "..."}}}}
-- then the key a migration declares on the table's parameter (declare()),
-- then inferred (and said on stderr): the first item's "pk" (range "sk")
-- if it has one, else its first attribute, as the hash key alone. Types
-- not given are those of the first item that has the attribute (else S).
--
-- Operations: DescribeTable, ListTables, Scan (Segment/TotalSegments: item
-- N is in segment (N-1) mod TotalSegments; Limit; Select COUNT; IndexName),
-- Query (KeyConditionExpression on the table's or an index's key), GetItem,
-- BatchGetItem; FilterExpression and ConditionExpression-style filters with
-- = <> < <= > >= BETWEEN IN, AND OR NOT, parentheses, attribute_exists,
-- attribute_not_exists, attribute_type, begins_with, contains and size on
-- top-level attributes (#names and :values included); ProjectionExpression
-- of top-level attributes. Anything else is refused with a
-- ValidationException that names it. Positions (LastEvaluatedKey) are
-- {"__offline_line": {"N": "<item number>"}}.
--
-- Memory: scans stream (a page at a time); the first GetItem, BatchGetItem
-- or Query on a table loads that whole table into memory (an index by key).

local aws = require "mighost.aws"
local item = require "mighost.item"
local json = require "mighost.json"
local gz = require "mighost.gz"
local sys = require "mighost.sys"
local mh = require "mighost"

local M = {}
local Source = {}
Source.__index = Source

local PAGE_ITEMS = 1000             -- items examined per page at most
local PAGE_BYTES = 1024 * 1024      -- about DynamoDB's 1 MB per page
local POS = "__offline_line"

local function verr(msg) return aws.error("ValidationException", msg, false) end
local function notfound(t, dir)
  return aws.error("ResourceNotFoundException",
    ("Requested resource not found: Table: %s not found (offline: no export of it in %s)"):format(t, dir),
    false)
end

-- Raised inside an operation, returned by call() as nil, err.
local function refuse(msg) error({offline = verr(msg)}, 0) end

local function is_dir(path) return sys.list_dir(path) ~= nil end
local function is_file(path)
  if is_dir(path) then return false end
  local f = io.open(path, "rb")
  if f then f:close(); return true end
  return false
end

local function data_file(name)
  return (name:match("%.jsonl?%.gz$") or name:match("%.jsonl?$")) and not name:match("^manifest")
end

local function collect(dir, out, depth)
  local names = sys.list_dir(dir) or {}
  table.sort(names)
  for _, n in ipairs(names) do
    local p = dir .. "/" .. n
    if is_dir(p) then
      if depth < 6 then collect(p, out, depth + 1) end
    elseif data_file(n) then
      out[#out + 1] = p
    end
  end
end

-- new(dir) -> source | nil, message
function M.new(dir)
  if not is_dir(dir) then return nil, ("--source-dir %s: not a folder"):format(dir) end
  local self = setmetatable({dir = dir, tables = {}, declared = {}, cursors = {}, ncursors = 0,
                             given = {}}, Source)
  local text = sys.read_file(dir .. "/tables.json")
  if text then
    local ok, doc = pcall(json.decode, text)
    if not ok or type(doc) ~= "table" then
      return nil, ("%s/tables.json is not a JSON object: %s"):format(dir, tostring(doc))
    end
    for t, s in pairs(doc) do
      if type(s) ~= "table" or type(s.hash) ~= "string" then
        return nil, ("%s/tables.json: table %s needs at least {\"hash\": \"attribute\"}"):format(dir, t)
      end
      self.given[t] = s
    end
  end
  return self
end

-- The key a migration declares for a table (parameter key = {hash=, range=}).
function Source:declare(tname, key)
  if type(key) == "table" and type(key.hash) == "string" then self.declared[tname] = key end
end

-- The files of a table, or nil.
function Source:files(tname)
  for _, ext in ipairs{".jsonl", ".json", ".jsonl.gz", ".json.gz"} do
    local p = self.dir .. "/" .. tname .. ext
    if is_file(p) then return {p} end
  end
  local d = self.dir .. "/" .. tname
  if is_dir(d) then
    local out = {}
    collect(is_dir(d .. "/data") and d .. "/data" or d, out, 0)
    return out
  end
end

function Source:list_tables()
  local names, seen = {}, {}
  for _, n in ipairs(sys.list_dir(self.dir) or {}) do
    local t = n:match("^(.-)%.jsonl?%.gz$") or n:match("^(.-)%.jsonl?$") or
      (is_dir(self.dir .. "/" .. n) and n)
    if t and t ~= "tables" and not seen[t] then seen[t] = true; names[#names + 1] = t end
  end
  table.sort(names)
  return names
end

local function decode_line(line, where)
  if line:find('^%s*{%s*"Item"%s*:') then
    local ok, r = pcall(json.decode_ddb, line)
    if ok and type(r) == "table" and type(r.Item) == "table" then return r.Item end
  end
  local ok, it = pcall(item.decode, line)
  if ok and type(it) == "table" then return it end
  refuse(("%s: not an item in DynamoDB JSON: %s"):format(where, tostring(it)))
end

-- Iterator over a table's items: n, line, where (where = "file:line").
local function records(files)
  local fi, reader, lineno, n = 0, nil, 0, 0
  return function()
    while true do
      if not reader then
        fi = fi + 1
        if not files[fi] then return nil end
        local r, err = gz.lines(files[fi])
        if not r then refuse("offline: " .. tostring(err)) end
        reader, lineno = r, 0
      end
      local ok, line = pcall(reader)
      if not ok then
        -- A damaged export is the operator's to fix, not a script error.
        local e = aws.error("OfflineUnreadable", ("offline: %s cannot be read (%s): replace the "
          .. "file with a good copy of the export"):format(files[fi],
          tostring(line):gsub("^.-gzip read: ", ""):gsub("^" .. files[fi]:gsub("%p", "%%%0") .. ": ", "")),
          false)
        e.exit = 2
        error({offline = e}, 0)
      end
      if not line then
        reader = nil
      else
        lineno = lineno + 1
        if line:find("%S") then
          n = n + 1
          return n, line, files[fi], lineno
        end
      end
    end
  end
end

-- Table state: {files, schema, count, index}
function Source:table(tname)
  local t = self.tables[tname]
  if t then return t end
  local files = self:files(tname)
  if not files then return nil end
  t = {name = tname, files = files}
  self.tables[tname] = t
  return t
end

-- The first items of a table (for types and inference).
local function first_items(t, max)
  local out = {}
  for _, line, f, ln in records(t.files) do
    out[#out + 1] = decode_line(line, f .. ":" .. ln)
    if #out >= max then break end
  end
  return out
end

local function type_of(v)
  if type(v) ~= "table" then return nil end
  for _, tag in ipairs{"S", "N", "B"} do if v[tag] ~= nil then return tag end end
end

function Source:schema(t)
  if t.schema then return t.schema end
  local given, declared = self.given[t.name], self.declared[t.name]
  local s = {hash = nil, range = nil, types = {}, indexes = {}}
  local sample = first_items(t, 200)
  if given then
    s.hash, s.range = given.hash, given.range
    for k, v in pairs(given.types or {}) do s.types[k] = v end
    for name, ix in pairs(given.indexes or {}) do
      s.indexes[name] = {hash = ix.hash, range = ix.range}
    end
  elseif declared then
    s.hash, s.range = declared.hash, declared.range
  else
    local first = sample[1]
    if first and first.pk then
      s.hash = "pk"
      if first.sk then s.range = "sk" end
    elseif first then
      s.hash = item.keys(first)[1]
    end
    if not s.hash then
      refuse(("offline: table %s: no key schema given and no items to infer one from "
        .. "(add it to %s/tables.json)"):format(t.name, self.dir))
    end
  end
  local function typed(a)
    if not a or s.types[a] then return end
    for _, it in ipairs(sample) do
      local ty = type_of(it[a])
      if ty then s.types[a] = ty; return end
    end
    s.types[a] = "S"
  end
  typed(s.hash); typed(s.range)
  for _, ix in pairs(s.indexes) do typed(ix.hash); typed(ix.range) end
  if not given and not declared then
    mh.warn(("offline: table %s: no key schema given; assuming hash key '%s' (%s)%s from the "
      .. "first item (give it in %s/tables.json)"):format(t.name, s.hash, s.types[s.hash],
      s.range and (", range key '" .. s.range .. "' (" .. s.types[s.range] .. ")") or "", self.dir))
  end
  t.schema = s
  return s
end

-- Expressions -----------------------------------------------------------

local KEYWORDS = {AND = true, OR = true, NOT = true, BETWEEN = true, IN = true}

local function tokenize(src, what)
  local toks, i = {}, 1
  while i <= #src do
    local c = src:sub(i, i)
    if c:match("%s") then i = i + 1
    else
      local s, e = src:find("^[#:][%w_]+", i)
      if not s then s, e = src:find("^[%a_][%w_]*", i) end
      if not s then s, e = src:find("^<>", i) end
      if not s then s, e = src:find("^[<>]=?", i) end
      if not s then s, e = src:find("^[=(),]", i) end
      if not s then
        refuse(("offline: %s '%s': '%s' is not supported offline (top-level attributes only)")
          :format(what, src, src:sub(i)))
      end
      toks[#toks + 1] = src:sub(s, e)
      i = e + 1
    end
  end
  return toks
end

-- Parses an expression into a tree of nodes.
local function parse(src, what)
  local toks, p = tokenize(src, what), 1
  local function peek() return toks[p] end
  local function upper(t) return t and t:upper() end
  local function take(want)
    local t = toks[p]
    if want and (t == nil or (t ~= want and upper(t) ~= want)) then
      refuse(("offline: %s '%s': expected %s near '%s'"):format(what, src, want, tostring(t)))
    end
    p = p + 1
    return t
  end
  local expr
  local function operand()
    local t = take()
    if not t then refuse(("offline: %s '%s': ends too early"):format(what, src)) end
    if t:sub(1, 1) == ":" then return {k = "value", name = t} end
    if t:sub(1, 1) == "#" then return {k = "path", ref = t} end
    if t == "size" and peek() == "(" then
      take("("); local a = operand(); take(")")
      return {k = "size", arg = a}
    end
    if t:match("^[%a_]") and not KEYWORDS[t:upper()] then return {k = "path", name = t} end
    refuse(("offline: %s '%s': unexpected '%s'"):format(what, src, t))
  end
  local FUNCS = {attribute_exists = 1, attribute_not_exists = 1, attribute_type = 2,
                 begins_with = 2, contains = 2}
  local function primary()
    local t = peek()
    if t == "(" then
      take("("); local e = expr(); take(")")
      return e
    end
    if t and FUNCS[t] and toks[p + 1] == "(" then
      take(); take("(")
      local args = {operand()}
      while peek() == "," do take(","); args[#args + 1] = operand() end
      take(")")
      if #args ~= FUNCS[t] then refuse(("offline: %s '%s': %s takes %d arguments"):format(what, src, t, FUNCS[t])) end
      return {k = "func", name = t, args = args}
    end
    local a = operand()
    local op = peek()
    if op == "=" or op == "<>" or op == "<" or op == "<=" or op == ">" or op == ">=" then
      take()
      return {k = "cmp", op = op, a = a, b = operand()}
    end
    if upper(op) == "BETWEEN" then
      take(); local lo = operand(); take("AND"); local hi = operand()
      return {k = "between", a = a, lo = lo, hi = hi}
    end
    if upper(op) == "IN" then
      take(); take("(")
      local list = {operand()}
      while peek() == "," do take(","); list[#list + 1] = operand() end
      take(")")
      return {k = "in", a = a, list = list}
    end
    refuse(("offline: %s '%s': expected a comparison near '%s'"):format(what, src, tostring(op)))
  end
  local function unary()
    if upper(peek()) == "NOT" then take(); return {k = "not", a = unary()} end
    return primary()
  end
  local function conj()
    local a = unary()
    while upper(peek()) == "AND" do take(); a = {k = "and", a = a, b = unary()} end
    return a
  end
  function expr()
    local a = conj()
    while upper(peek()) == "OR" do take(); a = {k = "or", a = a, b = conj()} end
    return a
  end
  local tree = expr()
  if p <= #toks then
    refuse(("offline: %s '%s': unexpected '%s'"):format(what, src, toks[p]))
  end
  return tree
end

local function resolve_name(node, names, what)
  if node.ref then
    local n = names and names[node.ref]
    if not n then refuse(("offline: %s: %s is not in ExpressionAttributeNames"):format(what, node.ref)) end
    return n
  end
  return node.name
end

local function num(v) return tonumber(v) end

local function value_equal(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  local ta, tb = next(a), next(b)
  if ta ~= tb then return false end
  if ta == "N" then return num(a.N) == num(b.N) end
  if ta == "S" or ta == "B" or ta == "BOOL" or ta == "NULL" then return a[ta] == b[tb] end
  return item.encode_value(a) == item.encode_value(b)
end

local function compare(a, b)   -- -1/0/1, or nil when not comparable
  if type(a) ~= "table" or type(b) ~= "table" then return nil end
  local ta, tb = type_of(a), type_of(b)
  if not ta or ta ~= tb then return nil end
  local x, y = a[ta], b[tb]
  if ta == "N" then x, y = num(x), num(y) end
  if x < y then return -1 elseif x > y then return 1 else return 0 end
end

local function size_of(v)
  if type(v) ~= "table" then return nil end
  local tag, x = next(v)
  if tag == "S" or tag == "B" then return #x end
  if tag == "L" or tag == "SS" or tag == "NS" or tag == "BS" then return #x end
  if tag == "M" then local n = 0; for _ in pairs(x) do n = n + 1 end; return n end
end

local function evaluate(node, it, names, values, what)
  local function val(o)
    if o.k == "value" then
      local v = values and values[o.name]
      if v == nil then refuse(("offline: %s: %s is not in ExpressionAttributeValues"):format(what, o.name)) end
      return v
    elseif o.k == "size" then
      local n = size_of(val(o.arg))
      return n and {N = tostring(n)} or nil
    end
    return it[resolve_name(o, names, what)]
  end
  local function ev(n)
    local k = n.k
    if k == "and" then return ev(n.a) and ev(n.b) end
    if k == "or" then return ev(n.a) or ev(n.b) end
    if k == "not" then return not ev(n.a) end
    if k == "cmp" then
      local a, b = val(n.a), val(n.b)
      if n.op == "=" then return value_equal(a, b) end
      if n.op == "<>" then return not value_equal(a, b) end
      local c = compare(a, b)
      if c == nil then return false end
      if n.op == "<" then return c < 0 elseif n.op == "<=" then return c <= 0
      elseif n.op == ">" then return c > 0 else return c >= 0 end
    end
    if k == "between" then
      local a = val(n.a)
      local lo, hi = compare(a, val(n.lo)), compare(a, val(n.hi))
      return lo ~= nil and hi ~= nil and lo >= 0 and hi <= 0
    end
    if k == "in" then
      local a = val(n.a)
      for _, o in ipairs(n.list) do if value_equal(a, val(o)) then return true end end
      return false
    end
    if k == "func" then
      local f, args = n.name, n.args
      if f == "attribute_exists" then return val(args[1]) ~= nil end
      if f == "attribute_not_exists" then return val(args[1]) == nil end
      local a, b = val(args[1]), val(args[2])
      if a == nil then return false end
      if f == "attribute_type" then return type(b) == "table" and b.S ~= nil and a[b.S] ~= nil end
      if f == "begins_with" then
        local ta = type_of(a)
        return (ta == "S" or ta == "B") and b[ta] ~= nil and a[ta]:sub(1, #b[ta]) == b[ta]
      end
      if f == "contains" then
        local tag, x = next(a)
        if tag == "S" and b.S then return x:find(b.S, 1, true) ~= nil end
        if tag == "SS" or tag == "NS" or tag == "BS" or tag == "L" then
          for _, e in ipairs(x) do
            if type(e) == "table" then if value_equal(e, b) then return true end
            else
              local et = tag:sub(1, 1)
              if value_equal({[et] = e}, b) then return true end
            end
          end
        end
        return false
      end
    end
    refuse(("offline: %s: cannot evaluate a %s here"):format(what, k))
  end
  return ev(node)
end

-- A request's names and typed values.
local function expr_context(req)
  local values
  if req.ExpressionAttributeValues then
    local ok, v = pcall(function() return item.decode(json.encode(req.ExpressionAttributeValues)) end)
    if not ok then refuse("offline: ExpressionAttributeValues: " .. tostring(v)) end
    values = v
  end
  return req.ExpressionAttributeNames, values
end

local function projector(expr, names)
  if not expr then return nil end
  local attrs = {}
  for part in (expr .. ","):gmatch("([^,]*),") do
    local a = part:match("^%s*(.-)%s*$")
    if a:match("^#[%w_]+$") then
      local n = names and names[a]
      if not n then refuse(("offline: ProjectionExpression: %s is not in ExpressionAttributeNames"):format(a)) end
      attrs[n] = true
    elseif a:match("^[%a_][%w_]*$") then
      attrs[a] = true
    else
      refuse(("offline: ProjectionExpression '%s': '%s' is not supported offline (top-level "
        .. "attributes only)"):format(expr, a))
    end
  end
  return function(it)
    local out, order = {}, {}
    for _, k in ipairs(item.keys(it)) do
      if attrs[k] then out[k] = it[k]; order[#order + 1] = k end
    end
    item.set_order(out, order)
    return out
  end
end

local function filter_of(req)
  local names, values = expr_context(req)
  local tree = req.FilterExpression and parse(req.FilterExpression, "FilterExpression")
  local project = projector(req.ProjectionExpression, names)
  return function(it)
    if tree and not evaluate(tree, it, names, values, "FilterExpression '" .. req.FilterExpression .. "'") then
      return nil
    end
    return project and project(it) or it
  end, names, values
end

local function capacity(t) return {TableName = t, CapacityUnits = 0} end

-- Operations -----------------------------------------------------------------

local function key_text(v)
  local tag = type_of(v)
  if not tag then return nil end
  if tag == "N" then return "N:" .. tostring(num(v.N)) end
  return tag .. ":" .. v[tag]
end

-- {by_key = {text -> item}, by_hash = {index name or "" -> {hash text -> {items}}}}
function Source:index(t)
  if t.index then return t.index end
  local s = self:schema(t)
  local ix = {by_key = {}, by_hash = {[""] = {}}, n = 0}
  for name in pairs(s.indexes) do ix.by_hash[name] = {} end
  local missing = 0
  for _, line, f, ln in records(t.files) do
    local it = decode_line(line, f .. ":" .. ln)
    ix.n = ix.n + 1
    local h = key_text(it[s.hash])
    local r = s.range and key_text(it[s.range]) or ""
    if not h or not r then
      missing = missing + 1
    else
      ix.by_key[h .. "\0" .. r] = it
      local list = ix.by_hash[""][h] or {}
      ix.by_hash[""][h] = list
      list[#list + 1] = it
    end
    for name, x in pairs(s.indexes) do
      local ih = key_text(it[x.hash])
      if ih and (not x.range or it[x.range]) then
        local l = ix.by_hash[name][ih] or {}
        ix.by_hash[name][ih] = l
        l[#l + 1] = it
      end
    end
  end
  if missing > 0 then
    mh.warn(("offline: table %s: %d items lack the key (%s%s) and cannot be looked up"):format(
      t.name, missing, s.hash, s.range and (", " .. s.range) or ""))
  end
  t.count = ix.n
  t.index = ix
  return ix
end

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

function Source:cursor(key, t, start)
  local c = self.cursors[key]
  if c then
    self.cursors[key] = nil
    self.ncursors = self.ncursors - 1
    return c
  end
  local next_record = records(t.files)
  c = {next = next_record, at = 0}
  while c.at < start do
    if not next_record() then break end
    c.at = c.at + 1
  end
  return c
end

function Source:park_cursor(key, c)
  if self.ncursors >= 256 then self.cursors, self.ncursors = {}, 0 end
  self.cursors[key] = c
  self.ncursors = self.ncursors + 1
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
      local it = decode_line(line, f .. ":" .. ln)
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

-- call(op, table, body) -> the decoded response | nil, err (as aws.call +
-- json.decode_ddb would give).
function Source:call(op, tname, body)
  local f = ops[op]
  if not f then
    return nil, aws.error("OfflineUnsupported", ("%s is not available offline (--source-dir)"):format(op), false)
  end
  local ok, req = pcall(json.decode_ddb, body or "{}")
  if not ok then return nil, verr(tostring(req)) end
  local ok2, resp, err = pcall(f, self, req)
  if not ok2 then
    if type(resp) == "table" and resp.offline then return nil, resp.offline end
    error(resp, 0)
  end
  return resp, err
end

-- The number of items of a table if known (after a full scan or a lookup).
function Source:item_count(tname)
  local t = self.tables[tname]
  return t and t.count
end

M.Source = Source
return M
