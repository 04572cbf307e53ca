-- mighost.offline.expr: the DynamoDB expression language, as far as
-- offline evaluation supports it (see mighost.offline): tokenizer, parser
-- and evaluator of filter and condition expressions, key-condition parts,
-- projections, and the typed-value helpers the operations share.
local aws = require "mighost.aws"
local item = require "mighost.item"
local json = require "mighost.json"

local M = {}

local function verr(msg) return aws.error("ValidationException", msg, false) end
M.verr = verr

-- Raised inside an operation; mighost.offline's call() returns it as nil, err.
local function refuse(msg) error({offline = verr(msg)}, 0) end
M.refuse = refuse

function M.notfound(t, dir)
  return aws.error("ResourceNotFoundException",
    ("Requested resource not found: Table: %s not found (offline: no export of it in %s)"):format(t, dir),
    false)
end

local function num(v) return tonumber(v) end

local function type_of(v)
  if type(v) ~= "table" then return nil end
  for _, tag in ipairs{"S", "N", "B"} do if v[tag] ~= nil then return tag end end
end
M.type_of = type_of

local function key_text(v)
  local tag = type_of(v)
  if not tag then return nil end
  if tag == "N" then return "N:" .. tostring(num(v.N)) end
  return tag .. ":" .. v[tag]
end

-- {by_key = {text -> item}, by_hash = {index name or "" -> {hash text -> {items}}}}
M.key_text = key_text

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

M.parse, M.evaluate, M.resolve_name = parse, evaluate, resolve_name
M.num, M.value_equal, M.compare = num, value_equal, compare
M.expr_context, M.projector, M.filter_of = expr_context, projector, filter_of
return M
