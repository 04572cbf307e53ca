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


local expr = require "mighost.offline.expr"
local ops = require "mighost.offline.ops"

local verr, refuse, type_of, key_text = expr.verr, expr.refuse, expr.type_of, expr.key_text

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

function Source:decode(line, where) return decode_line(line, where) end

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
        e.exit = mh.EXIT.USAGE
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
