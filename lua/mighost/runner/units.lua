-- mighost.runner.units: scan segments as units of work, shared by every
-- phase kind that reads a table (copy, update, delete, each).
--
-- Every scan segment is a task reading its pages in order. Each page gets
-- a ticket; each item of the page gets a ticket of its own, which the
-- phase kind closes once the item's work has settled: written and
-- confirmed, skipped on purpose, or failed with its key kept in the
-- failed-keys file. When a page and every page before it in its segment
-- are settled, the segment's checkpoint moves to that page's
-- LastEvaluatedKey. A ticket left open (work neither done nor recorded as
-- failed: the endpoint stopped answering, too many failed keys) holds the
-- checkpoint. So a resumed run never skips an item that was not done: it
-- first retries the recorded keys, then redoes at most the pages that were
-- open when it stopped (so each kind's work must be safe to redo).
--
-- A phase kind gives:
--   source      the table to scan
--   scan        Scan options (filter, projection, names, values, consistent)
--   handle      function(item, ticket, how): start the item's work (how.page:
--               its page's ticket; how.retry: a failed key read again); the work
--               must end with units.close(ticket), and a failure with
--               ctx:fail (units.fail does both)
--   stopped     function() -> true when the kind cannot go on (optional)
--   finish      function(): wait for the work in flight (after the scan)
--   passed      function(page): a page the checkpoint has moved past (optional)
--   push        function(): send what waits in a buffer (optional; a leased
--               segment waits for its own pages before it is given back)

local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local sys = require "mighost.sys"
local mh = require "mighost"
local aws = require "mighost.aws"

local M = {}

-- A parameter name, a literal table name, or function(params).
function M.resolve(v, params)
  if type(v) == "function" then return v(params) end
  if type(v) == "string" then return params[v] or v end
  return v
end

-- One item's ticket, inside its page's. `source` is the item's key in the
-- scanned table: what a failure records, so --resume re-reads it by key.
-- (settled is a method shared by all, not a closure per item).
local ItemTicket = {}
ItemTicket.__index = ItemTicket
function ItemTicket.settled(t)
  local page = t.page_ticket
  if t.open then page.open = true end
  page.pending = page.pending - 1
  if page.pending == 0 then page:settled() end
end

local function item_ticket(page, source)
  page.pending = page.pending + 1
  return setmetatable({pending = 1, source = source, seg = page.seg, page_ticket = page}, ItemTicket)
end
M.item_ticket = item_ticket

-- Closes one hold on a ticket (the writer holds a ticket once per write).
function M.close(t)
  t.pending = t.pending - 1
  if t.pending == 0 then t:settled() end
end

-- Records a failure of the ticket's item; the ticket stays open when it
-- could not be recorded (no failed-keys file space, the run gave up).
function M.fail(ctx, ticket, reason)
  if not ctx:fail(ticket.source, reason) then ticket.open = true end
end

-- --resume: the items that failed in earlier runs, read again from the
-- source by key (BatchGetItem, consistent) and handled before the scan
-- goes on. Those that fail again are recorded again; one deleted from the
-- source since is skipped, with its key listed.
local function retry_failed(ctx, o)
  local failed = ctx.store:failed_of(ctx.phase.name)
  if #failed == 0 then return end
  mh.info(("%s: retrying the %d items that failed in an earlier run"):format(ctx.phase.name,
    #failed))
  local schema = ctx.source_schema
  local page = {pending = 1, seg = "retry", settled = function(t) t.done = true end}
  for first = 1, #failed, ddb.BATCH_GET_MAX do
    if sys.interrupted() > 0 or aws.gave_up() or ctx.halted then page.open = true; break end
    local keys = {}
    for i = first, math.min(#failed, first + ddb.BATCH_GET_MAX - 1) do keys[#keys + 1] = failed[i].key end
    local found, err = ddb.batch_get{table = o.source, keys = keys, consistent = true}
    local by_key = {}
    for _, it in ipairs(found or {}) do by_key[item.encode(ddb.key_of(schema, it))] = it end
    for _, key in ipairs(keys) do
      ctx.counts.scanned = ctx.counts.scanned + 1
      ctx.counts.retried = (ctx.counts.retried or 0) + 1
      local ticket = item_ticket(page, key)
      local it = by_key[item.encode(key)]
      if it then o.handle(it, ticket, {retry = true, page = page})
      else
        if err then M.fail(ctx, ticket, "reading it again: " .. tostring(err))
        else ctx:skip("failed earlier, deleted from the source since", key) end
        M.close(ticket)
      end
    end
  end
  M.close(page)
  o.finish()
  -- Keys whose retry did not settle (interrupted, endpoint gone) stay.
  if page.done and not page.open then ctx.store:settle_retried(ctx.phase.name, failed) end
  ctx.store:save()
end

-- Runs the scan of a phase kind; ctx is the phase context.
function M.run(ctx, o)
  local spec = o.spec or {}
  local total = spec.segments or ctx.options.segments or 4
  if ctx.options.limit then total = 1 end       -- a trial run reads from the start, in order
  local store, name = ctx.store, ctx.phase.name
  local saved = store:phase(name).segments
  -- A resumed run keeps the segmentation it started with.
  local saved_total = store:phase(name).total_segments
  if saved_total and next(saved) then total = saved_total end
  store:phase(name).total_segments = total
  local counts = ctx.counts
  local limit = ctx.options.limit
  local stopped = o.stopped or function() return false end
  ctx.source_schema = ddb.schema(o.source)
  retry_failed(ctx, o)

  local function segment(seg)
    local pos = store:segment(name, seg)
    if pos and pos.done then return end
    -- Several workers (runner.lease): this segment is leased; a lost lease stops it.
    local lease = store.coordinated and store:leased(name, seg)
    local order = {}          -- tickets of this segment, oldest first
    local function advance()
      local moved = false
      -- A page with work left open holds the checkpoint where it is.
      while order[1] and order[1].done and not order[1].open do
        local t = table.remove(order, 1)
        store:set_segment(name, seg, t.key)
        if o.passed then o.passed(t) end
        moved = true
      end
      if moved then ctx:checkpoint_moved() end
    end
    -- Pages of 1,000 items (not DynamoDB's 1 MB) so checkpoints come often:
    -- a resumed run redoes at most the pages that were in flight.
    local so = {table = o.source, segment = seg, total_segments = total, prefetch = 1, raw_items = true,
                start_key = pos and pos.key, limit = spec.page_size or 1000}
    for k, v in pairs(o.scan or {}) do so[k] = v end
    for page in ddb.scan_pages(so) do
      if sys.interrupted() > 0 or ctx.stopping or ctx.halted or stopped() or (lease and lease.lost) then
        break
      end
      if lease then lease.scanned = lease.scanned + page.n end
      local ticket = {pending = 1, key = page.last_key, seg = seg,
                      settled = function(t) t.done = true; advance() end}
      order[#order + 1] = ticket
      -- Decoded a hundred at a time as they are handed out: memory follows
      -- the items in flight, not the page size.
      for it in ddb.page_items(page, spec.lean) do
        if limit and counts.scanned >= limit then ctx.stopping = true; break end
        -- Stopped by --max-failures: the rest of the page stays open.
        if ctx.halted then ticket.open = true; break end
        counts.scanned = counts.scanned + 1
        o.handle(it, item_ticket(ticket, ddb.key_of(ctx.source_schema, it)), {page = ticket})
      end
      M.close(ticket)
      if ctx.stopping then break end
    end
    -- A leased segment is given back (or marked done) when this returns:
    -- first its pages in flight settle, unless one is held open for good.
    while lease and order[1] and not (order[1].done and order[1].open) and not lease.lost do
      if o.push then o.push() end
      mh.sleep(0.02)
    end
  end

  -- Every segment runs to its end (or its error) before the phase ends, so
  -- no segment fails later with nobody to report it.
  if store.coordinated then
    local ok, err = pcall(store.work_segments, store, name, total, segment, function()
      return sys.interrupted() > 0 or ctx.stopping or ctx.halted or stopped()
    end)
    o.finish()
    if not ok then error(err, 0) end
    return
  end
  local tasks, first_err = {}, nil
  for seg = 0, total - 1 do tasks[#tasks + 1] = mh.spawn(segment, seg) end
  for _, t in ipairs(tasks) do
    local ok, err = pcall(t.wait, t)
    if not ok and (first_err == nil or (type(err) == "table" and err.outage)) then first_err = err end
  end
  o.finish()
  if first_err ~= nil then error(first_err, 0) end
end

return M
