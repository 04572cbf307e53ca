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
-- its segment are settled (accepted, or failed with the source key kept in
-- the failed-keys file), the segment's checkpoint moves to that page's
-- LastEvaluatedKey. A page with a write neither accepted nor recorded
-- (the endpoint stopped answering, too many failed keys) holds the
-- checkpoint. So a resumed run never skips an item that was not written:
-- it first retries the recorded keys, then redoes at most the pages that
-- were open when it stopped (writes are idempotent puts).

local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local sys = require "mighost.sys"
local mh = require "mighost"
local aws = require "mighost.aws"

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

-- One source item's writes: a ticket the writer settles; it settles its
-- page's ticket in turn. `source` is the item's key in the source table:
-- what a failure records, so --resume re-reads the item by it.
local function item_ticket(page, source)
  page.pending = page.pending + 1
  return {pending = 1, source = source, settled = function(t)
    if t.open then page.open = true end
    page.pending = page.pending - 1
    if page.pending == 0 then page:settled() end
  end}
end

local function close_ticket(t)
  t.pending = t.pending - 1
  if t.pending == 0 then t:settled() end
end

-- Transform one source item and hand its outputs to the writer.
local function copy_item(ctx, it, ticket, transform, sample)
  local me = mh.current()
  ctx.skip_marks[me] = nil
  -- Transforms may change the item in place: keep the source as read.
  local sampling = sample > 0 and (ctx.sampled or 0) < sample
  local before = sampling and item.decode(item.encode(it))
  local ok, result = pcall(transform, it, ctx)
  if not ok then
    if not ctx:fail(ticket.source, "transform error: " .. tostring(result)) then ticket.open = true end
  else
    local outs = outputs_of(result)
    if #outs == 0 and not ctx.skip_marks[me] then ctx:skip("transform returned nothing") end
    if sampling then ctx:show_sample(before, outs) end
    for _, out in ipairs(outs) do ctx.writer:put(out, ticket) end
  end
  close_ticket(ticket)
end

-- --resume: the items that failed in earlier runs, read again from the
-- source by key (BatchGetItem, consistent) and copied before the scan goes
-- on. Those that fail again are recorded again; one deleted from the
-- source since is skipped, with its key listed.
local function retry_failed(ctx, src, transform)
  local failed = ctx.store:failed_of(ctx.phase.name)
  if #failed == 0 then return end
  mh.info(("%s: retrying the %d items that failed in an earlier run"):format(ctx.phase.name,
    #failed))
  local schema = ctx.source_schema
  local page = {pending = 1, settled = function(t) t.done = true end}
  for first = 1, #failed, ddb.BATCH_GET_MAX do
    if sys.interrupted() > 0 or aws.gave_up() then page.open = true; break end
    local keys = {}
    for i = first, math.min(#failed, first + ddb.BATCH_GET_MAX - 1) do keys[#keys + 1] = failed[i].key end
    local found, err = ddb.batch_get{table = src, keys = keys, consistent = true}
    local by_key = {}
    for _, it in ipairs(found or {}) do by_key[item.encode(ddb.key_of(schema, it))] = it end
    for _, key in ipairs(keys) do
      ctx.counts.scanned = ctx.counts.scanned + 1
      ctx.counts.retried = (ctx.counts.retried or 0) + 1
      local ticket = item_ticket(page, key)
      local it = by_key[item.encode(key)]
      if it then copy_item(ctx, it, ticket, transform, 0)
      else
        if err then
          if not ctx:fail(key, "reading it again: " .. tostring(err)) then ticket.open = true end
        else ctx:skip("failed earlier, deleted from the source since", key) end
        close_ticket(ticket)
      end
    end
  end
  close_ticket(page)
  ctx.writer:flush()
  -- Keys whose retry did not settle (interrupted, endpoint gone) stay.
  if page.done and not page.open then ctx.store:settle_retried(ctx.phase.name, failed) end
  ctx.store:save()
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
    on_failure = function(f)
      local t = f.ticket
      if not ctx:fail(t and t.source or f.key, f.reason) and t then t.open = true end
    end}
  ctx.writer = writer
  local limit = ctx.options.limit
  local transform = spec.transform or function(it) return it end
  local sample = ctx.options.sample or 0
  ctx.source_schema = ddb.schema(src)
  retry_failed(ctx, src, transform)

  local function segment(seg)
    local pos = store:segment(name, seg)
    if pos and pos.done then return end
    local order = {}          -- tickets of this segment, oldest first
    local function advance()
      local moved = false
      -- A page with work left open (not written and not recorded as
      -- failed) holds the checkpoint where it is.
      while order[1] and order[1].done and not order[1].open do
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
      if sys.interrupted() > 0 or ctx.stopping or writer.outage then break end
      local ticket = {pending = 1, key = page.last_key,
                      settled = function(t) t.done = true; advance() end}
      order[#order + 1] = ticket
      for _, it in ipairs(page.items) do
        if limit and counts.scanned >= limit then ctx.stopping = true; break end
        counts.scanned = counts.scanned + 1
        copy_item(ctx, it, item_ticket(ticket, ddb.key_of(ctx.source_schema, it)), transform, sample)
      end
      close_ticket(ticket)
      if ctx.stopping then break end
    end
  end

  -- Every segment runs to its end (or its error) before the phase ends, so
  -- no segment fails later with nobody to report it.
  local tasks, first_err = {}, nil
  for seg = 0, total - 1 do tasks[#tasks + 1] = mh.spawn(segment, seg) end
  for _, t in ipairs(tasks) do
    local ok, err = pcall(t.wait, t)
    if not ok and (first_err == nil or (type(err) == "table" and err.outage)) then first_err = err end
  end
  local c = writer:flush()
  counts.written = counts.written + c.put
  counts.deleted = counts.deleted + c.deleted
  counts.superseded = (counts.superseded or 0) + c.superseded
  if first_err ~= nil then error(first_err, 0) end
end

return M
