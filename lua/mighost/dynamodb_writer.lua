-- mighost.dynamodb_writer: the batch writer behind ddb.writer{...}.
--
--   local w = ddb.writer{table = "T", window = 16, max_attempts = 10}
--   w:put(item)      -- buffered; suspends the caller while the window is full
--   w:delete(key)
--   w:put(item, ticket)  -- ticket.pending is decremented, and ticket:settled()
--                        -- called at 0, once the write is accepted or failed
--                        -- (how checkpoints know a page is durably written);
--                        -- on_failure(f) gets the ticket as f.ticket
-- When the run gives up on an endpoint that stopped answering (err.outage),
-- the writes in flight are neither accepted nor failed: their tickets are
-- released with ticket.open = true (the work stays open for --resume) and
-- w.outage holds the error.
--   local counts = w:flush()   -- waits until everything sent is settled
--   ddb.writer{..., before_send = function(entries) end}  -- called with each
--     request's entries ({op, key, text, before, ticket}) before it is sent;
--     raising fails them unsent (how the undo journal gets there first)
--
-- Puts and deletes go out as BatchWriteItem requests of at most 25 items
-- and 16 MB, never two writes to one key in a request (the later replaces
-- the earlier while both wait in the buffer; a key already in flight holds
-- its next request back until it lands). At most `window` requests are in
-- flight (default: --concurrency); below that, the window of
-- BatchWriteItems in flight is learnt (mighost.inflight), and requests
-- are built only as far as that window needs.
-- UnprocessedItems are re-sent with backoff until accepted or
-- max_attempts rounds, then reported per item. A request DynamoDB rejects
-- as a whole (ValidationException) is split in halves until the bad item
-- is alone, so one malformed item fails alone. Counts are exact: `put` and
-- `deleted` are what DynamoDB accepted.

local item = require "mighost.item"
local json = require "mighost.json"
local plan = require "mighost.plan"
local mh = require "mighost"
local inflight = require "mighost.inflight"

local q = json.quote
local writer_entry = item._writer_entry
local is_lean = item.is_lean
local Writer = {}
Writer.__index = Writer

local MAX_FAILURES_KEPT = 1000

local function key_id(schema, it)
  local h = it[schema.hash]
  local id = item.encode_value(h)
  if schema.range then id = id .. "\0" .. item.encode_value(it[schema.range]) end
  return id
end

function Writer.new(ddb, o, internal)
  if type(o) ~= "table" or type(o.table) ~= "string" then
    error("writer{table = NAME, ...}: the table name is required", 3)
  end
  local w = setmetatable({
    ddb = ddb, call = internal.call, stats = internal.table_stats(o.table),
    table = o.table, wire_name = ddb.table_name(o.table),
    window = o.window or inflight.cap(), max_attempts = o.max_attempts or 10,
    on_failure = o.on_failure, schema = internal.must_schema(o.table),
    before_send = o.before_send,
    buffer = {}, buffer_bytes = 0, buffered = {}, in_flight = 0, flying = {},
    waiting = {},
    counts = {put = 0, deleted = 0, failed = 0, superseded = 0, requests = 0,
              unprocessed_retries = 0, split = 0},
    failures = {},
  }, Writer)
  return w
end

local function release(entry)
  local t = entry.ticket
  if not t then return end
  entry.ticket = nil
  t.pending = t.pending - 1
  if t.pending == 0 then t:settled() end
end
Writer.release = release

-- The failure is counted and reported before the entry's ticket settles,
-- so whoever waits on the ticket already sees it.
function Writer:fail(entry, reason)
  local c = self.counts
  c.failed = c.failed + 1
  self.stats.items_failed = self.stats.items_failed + 1
  local f = {op = entry.op, key = entry.key, reason = reason, ticket = entry.ticket}
  if #self.failures < MAX_FAILURES_KEPT then self.failures[#self.failures + 1] = f end
  if self.on_failure then self.on_failure(f) end
  release(entry)
end

local function wake_one(self)
  local t = table.remove(self.waiting, 1)
  if t then mh.unpark(t) end
end

local function wake_all(self)
  local ws = self.waiting
  self.waiting = {}
  for _, t in ipairs(ws) do mh.unpark(t) end
end

local function wait_turn(self)
  self.waiting[#self.waiting + 1] = mh.current()
  mh.park()
end

-- An entry goes out as PRE[op] .. entry.text .. "}}" (no per-entry copy
-- of the text: the request is concatenated once).
local PRE = {put = '{"PutRequest":{"Item":', delete = '{"DeleteRequest":{"Key":'}
local WIRE_EXTRA = {put = #PRE.put + 2, delete = #PRE.delete + 2}

local function request_body(self, entries)
  local parts, n = {'{"RequestItems":{', q(self.wire_name), ':['}, 3
  for i, e in ipairs(entries) do
    parts[n + 1], parts[n + 2], parts[n + 3], parts[n + 4] = i > 1 and "," or "", PRE[e.op], e.text, "}}"
    n = n + 4
  end
  parts[n + 1] = ']},"ReturnConsumedCapacity":"TOTAL"}'
  return table.concat(parts)
end

-- Sends entries until each is accepted or failed; runs in its own task.
local function settle(self, entries)
  local by_id = {}
  for _, e in ipairs(entries) do by_id[e.id] = e end
  local pending, round = entries, 0
  while #pending > 0 do
    round = round + 1
    self.counts.requests = self.counts.requests + 1
    local resp, err = self.call("BatchWriteItem", self.table, request_body(self, pending), "write",
                                #pending)
    if not resp then
      if err.outage then
        self.outage = err
        for _, e in ipairs(pending) do
          if e.ticket then e.ticket.open = true end
          release(e)
        end
        return
      end
      if err.code == "ValidationException" and #pending > 1 then
        -- One bad item fails the whole request: halve until it is alone.
        self.counts.split = self.counts.split + 1
        local half = #pending // 2
        settle(self, table.move(pending, 1, half, 1, {}))
        settle(self, table.move(pending, half + 1, #pending, 1, {}))
      else
        for _, e in ipairs(pending) do self:fail(e, tostring(err)) end
      end
      return
    end
    local un = resp.UnprocessedItems and resp.UnprocessedItems[self.wire_name] or {}
    local retry = {}
    for _, u in ipairs(un) do
      -- Matched by key (a request never holds one key twice): the service
      -- need not return attributes in the order they were sent.
      local it = u.PutRequest and u.PutRequest.Item or (u.DeleteRequest and u.DeleteRequest.Key)
      local e = it and by_id[key_id(self.schema, it)]
      if not e then error("BatchWriteItem returned an UnprocessedItem this writer did not send") end
      retry[#retry + 1] = e
    end
    local c = self.counts
    for _, e in ipairs(pending) do e.unprocessed = false end
    for _, e in ipairs(retry) do e.unprocessed = true end
    for _, e in ipairs(pending) do
      if not e.unprocessed then
        release(e)
        if e.op == "put" then
          c.put = c.put + 1
          self.stats.items_written = self.stats.items_written + 1
        else
          c.deleted = c.deleted + 1
          self.stats.items_deleted = self.stats.items_deleted + 1
        end
      end
    end
    if #retry > 0 then
      self.stats.unprocessed = self.stats.unprocessed + #retry
      if round >= self.max_attempts then
        for _, e in ipairs(retry) do
          self:fail(e, ("UnprocessedItems: not accepted after %d attempts"):format(round))
        end
        return
      end
      c.unprocessed_retries = c.unprocessed_retries + #retry
      mh.sleep(math.random() * math.min(5, 0.05 * 2 ^ round))
    end
    pending = retry
  end
end

-- A request's entries are no longer in flight: its slot is free.
local function landed(self, entries)
  for _, e in ipairs(entries) do
    local n = self.flying[e.id] - 1
    self.flying[e.id] = n > 0 and n or nil
  end
  self.in_flight = self.in_flight - 1
  wake_all(self)
end

local function run_request(self, entries)
  local ok, err = pcall(settle, self, entries)
  if not ok then
    for _, e in ipairs(entries) do
      if e.unprocessed ~= false then self:fail(e, "internal error: " .. tostring(err)) end
    end
  end
  landed(self, entries)
end

-- The request's own task: the undo journal's lines on disk first, then
-- the request. In a task of its own, not the producer's, so the journal
-- waits of many requests overlap and share one fsync (journal.lua's group
-- commit) while the producer goes on filling the next batch.
local function journal_then_send(self, entries)
  if self.before_send then
    -- When the journal cannot be written, nothing is sent and the writes
    -- fail (kept for --resume).
    local ok, err = pcall(self.before_send, entries)
    if not ok then
      for _, e in ipairs(entries) do self:fail(e, tostring(err)) end
      landed(self, entries)
      return
    end
  end
  run_request(self, entries)
end

local function in_flight_conflict(self, entries)
  for _, e in ipairs(entries) do
    if self.flying[e.id] then return true end
  end
  return false
end

-- Send what is buffered, waiting for a free slot in the window.
function Writer:send_buffer()
  if #self.buffer == 0 then return end
  local entries = self.buffer
  self.buffer, self.buffer_bytes, self.buffered = {}, 0, {}
  while self.in_flight >= math.min(self.window, inflight.ready("BatchWriteItem", self.table))
        or in_flight_conflict(self, entries) do
    wait_turn(self)
  end
  for _, e in ipairs(entries) do self.flying[e.id] = (self.flying[e.id] or 0) + 1 end
  self.in_flight = self.in_flight + 1
  mh.spawn(journal_then_send, self, entries)
end

function Writer:add(op, it, ticket, before)
  local schema = self.schema
  -- One C call for the text, the key's id and the size; nothing when the
  -- item does not encode (the separate calls below then say why).
  -- Protected: reading a lean item's key decodes it, and may find it
  -- malformed; that fails this write alone, like any other bad item.
  local ok, text, id, size = pcall(writer_entry, it, schema.hash, schema.range)
  local reason
  if ok then reason = self.ddb.validate(schema, it, op == "delete", size)
  else reason, text = tostring(text), nil end
  local key = ok and (type(it) == "table" or is_lean(it)) and it[schema.hash]
              and self.ddb.key_of(schema, it) or it
  local entry = {op = op, key = key, ticket = ticket, before = before}
  if ticket then ticket.pending = ticket.pending + 1 end
  if reason then
    self:fail(entry, reason)
    return false, reason
  end
  if not text then
    ok, text = pcall(item.encode, it)
    if not ok then
      self:fail(entry, tostring(text))
      return false, text
    end
    id = key_id(schema, it)
  end
  entry.id, entry.text, entry.wire_len = id, text, #text + WIRE_EXTRA[op]
  if mh.dry_run then
    plan.record(op == "put" and "PutItem" or "DeleteItem", self.table,
      '{"TableName":' .. q(self.wire_name) .. (op == "put" and ',"Item":' or ',"Key":') .. text .. '}')
    self.stats.dry_run_writes = self.stats.dry_run_writes + 1
    local c = self.counts
    if op == "put" then c.put = c.put + 1 else c.deleted = c.deleted + 1 end
    release(entry)
    return true
  end
  local at = self.buffered[entry.id]
  if at then
    -- The same key twice before sending: the later write is what a
    -- sequential run would leave, so it replaces the earlier.
    self.buffer_bytes = self.buffer_bytes - self.buffer[at].wire_len
    release(self.buffer[at])   -- the later write stands for it
    self.buffer[at] = entry
    self.counts.superseded = self.counts.superseded + 1
  else
    if self.buffer_bytes + entry.wire_len > self.ddb.MAX_REQUEST_BYTES - 65536 then
      self:send_buffer()
    end
    self.buffer[#self.buffer + 1] = entry
    self.buffered[entry.id] = #self.buffer
  end
  self.buffer_bytes = self.buffer_bytes + entry.wire_len
  if #self.buffer >= self.ddb.BATCH_WRITE_MAX then self:send_buffer() end
  return true
end

function Writer:put(it, ticket) return self:add("put", it, ticket) end
-- before: the item as read (the undo journal's before-image), optional.
function Writer:delete(key, ticket, before) return self:add("delete", key, ticket, before) end

-- Waits until everything handed to the writer is accepted or failed.
function Writer:flush()
  self:send_buffer()
  while self.in_flight > 0 do wait_turn(self) end
  local c = {}
  for k, v in pairs(self.counts) do c[k] = v end
  c.failures = self.failures
  return c
end

Writer.close = Writer.flush
Writer.__close = function(self) self:flush() end

return Writer
