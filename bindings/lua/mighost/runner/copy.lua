-- mighost.runner.copy: the declarative copy/backfill phase.
--
--   {name = "copy", copy = {
--      source = "source_table",          -- a parameter name, or function(params)
--      destination = "dest_table",       -- likewise
--      scan = {filter =, projection =, names =, values =, consistent =},
--      transform = function(item, ctx) return item end,  -- nil, an item, or a list
--   }}
--
-- Every scan segment is a task reading its pages in order. Each page gets
-- a ticket counting its writes; when a page and every page before it in
-- its segment are settled (accepted, or failed and reported), the
-- segment's checkpoint moves to that page's LastEvaluatedKey. So a resumed
-- run never skips an item that was not written, and redoes at most the
-- pages in flight when it stopped (writes are idempotent puts).

local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local sys = require "mighost.sys"
local mh = require "mighost"

local M = {}

local function resolve(v, params)
  if type(v) == "function" then return v(params) end
  if type(v) == "string" then return params[v] or v end
  return v
end
M.resolve = resolve

local function outputs_of(result)
  if result == nil or result == false then return {} end
  if type(result) ~= "table" then error("transform must return nil, an item or a list of items", 0) end
  if result[1] ~= nil then return result end
  if next(result) == nil then return {} end
  return {result}
end

function M.tables(spec, params)
  return resolve(spec.source, params), resolve(spec.destination, params)
end

-- Runs the phase; ctx is the phase context from the lifecycle.
function M.run(phase, ctx)
  local spec = phase.copy
  local src, dst = M.tables(spec, ctx.params)
  local scan = type(spec.scan) == "function" and spec.scan(ctx.params) or spec.scan or {}
  local total = spec.segments or ctx.options.segments or 4
  if ctx.options.limit then total = 1 end       -- a trial run reads from the start, in order
  local store, name = ctx.store, phase.name
  local saved = store:phase(name).segments
  -- A resumed run keeps the segmentation it started with.
  local saved_total = store:phase(name).total_segments
  if saved_total and next(saved) then total = saved_total end
  store:phase(name).total_segments = total
  local counts = ctx.counts
  local writer = ddb.writer{table = dst, window = spec.window or 16,
    on_failure = function(f) ctx:fail(f.key, f.reason) end}
  ctx.writer = writer
  local limit = ctx.options.limit
  local transform = spec.transform or function(it) return it end
  local sample = ctx.options.sample or 0

  local function segment(seg)
    local pos = store:segment(name, seg)
    if pos and pos.done then return end
    local order = {}          -- tickets of this segment, oldest first
    local function advance()
      local moved = false
      while order[1] and order[1].done do
        local t = table.remove(order, 1)
        store:set_segment(name, seg, t.key)
        moved = true
      end
      if moved then ctx:checkpoint_moved() end
    end
    -- Pages of 1,000 items (not DynamoDB's 1 MB) so checkpoints come often:
    -- a resumed run redoes at most the pages that were in flight.
    local o = {table = src, segment = seg, total_segments = total, prefetch = 2,
               start_key = pos and pos.key, limit = spec.page_size or 1000}
    for k, v in pairs(scan) do o[k] = v end
    for page in ddb.scan_pages(o) do
      if sys.interrupted() > 0 or ctx.stopping then break end
      local ticket = {pending = 1, key = page.last_key,
                      settled = function(t) t.done = true; advance() end}
      order[#order + 1] = ticket
      for _, it in ipairs(page.items) do
        if limit and counts.scanned >= limit then ctx.stopping = true; break end
        counts.scanned = counts.scanned + 1
        local me = mh.current()
        ctx.skip_marks[me] = nil
        -- Transforms may change the item in place: keep the source as read.
        local sampling = sample > 0 and (ctx.sampled or 0) < sample
        local before = sampling and item.decode(item.encode(it))
        local ok, result = pcall(transform, it, ctx)
        if not ok then
          ctx:fail(ddb.key_of(ctx.source_schema, it), "transform error: " .. tostring(result))
        else
          local outs = outputs_of(result)
          if #outs == 0 and not ctx.skip_marks[me] then ctx:skip("transform returned nothing") end
          if sampling then ctx:show_sample(before, outs) end
          for _, out in ipairs(outs) do writer:put(out, ticket) end
        end
      end
      ticket.pending = ticket.pending - 1
      if ticket.pending == 0 then ticket:settled() end
      if ctx.stopping then break end
    end
  end

  ctx.source_schema = ddb.schema(src)
  local tasks = {}
  for seg = 0, total - 1 do tasks[#tasks + 1] = mh.spawn(segment, seg) end
  -- Every segment is waited for, so one failing does not leave the others'
  -- errors unreported; the first one stops the phase.
  local first_err
  for _, t in ipairs(tasks) do
    local ok, e = pcall(t.wait, t)
    if not ok and first_err == nil then first_err = e end
  end
  if first_err ~= nil then error(first_err, 0) end
  local c = writer:flush()
  counts.written = counts.written + c.put
  counts.deleted = counts.deleted + c.deleted
  counts.superseded = (counts.superseded or 0) + c.superseded
end

return M
