-- mighost.runner.progress: what a phase shows while it runs. On a terminal
-- a live line redrawn twice a second; otherwise (or with --log-format json)
-- a timestamped line every 10 s and one when the phase ends, so every phase
-- leaves at least one.
--
-- Items move in every phase kind: a copy counts the source items it scans,
-- any other phase (verify, run) the items its reads return. The ETA comes
-- from the best estimate of the total there is:
--   1. the table's ItemCount, when DescribeTable gives one (it is 0 for a
--      new table and lags up to six hours on real DynamoDB);
--   2. the count of a table an earlier phase of this run scanned whole;
--   3. the scan segments: items per finished segment times the segments;
--   4. before a segment is finished, one small segment (1/64) counted;
--   5. the table's TableSizeBytes against the bytes read so far.
-- For the tables a phase scans, the share of their items seen so far is
-- its share done (its other reads, such as gets, scale with it).
-- Retries, throttles and a silent endpoint are on the line as they happen.

local mh = require "mighost"
local sys = require "mighost.sys"
local json = require "mighost.json"

local M = {}

local function ddb_totals()
  local t = {items = 0, bytes = 0}
  local ok, ddb = pcall(require, "mighost.dynamodb")
  if not ok then return t end
  for _, s in pairs(ddb.stats()) do
    t.items = t.items + (s.items_read or 0)
    t.bytes = t.bytes + (s.bytes_received or 0)
  end
  return t
end

local function aws_totals()
  local s = require("mighost.aws").stats() or {}
  return {retries = s.retries or 0, throttles = s.throttles or 0}
end

-- The phase's main table in the pre-flight list: a copy's source, or the
-- first table the phase declares it reads.
local function main_table(ctx, info)
  local name
  local ph = ctx.phase
  if ph.copy then
    name = require("mighost.runner.copy").tables(ph.copy, ctx.params)
  elseif ph.update or ph.delete then
    name = require("mighost.runner.units").resolve((ph.update or ph.delete).table, ctx.params)
  elseif ph.each and ph.each.scan then
    name = require("mighost.runner.units").resolve(ph.each.scan.table, ctx.params)
  elseif type(ctx.phase.reads) == "table" and ctx.phase.reads[1] then
    name = ctx.params[ctx.phase.reads[1]]
  end
  for _, t in ipairs(info.tables or {}) do if t.name == name then return t end end
end

-- Tables whose every segment was scanned in this run: their item count.
local counted = {}

-- How many items a scanned table holds, best estimate first; and how.
-- tbl: its DescribeTable figures from the pre-flight (or nil); scan: the
-- tracker of its parallel scan; probe: a sampled count (or nil).
local function table_total(tbl, scan, probe)
  if tbl and (tbl.items or 0) > 0 then return tbl.items, "ItemCount" end
  if counted[scan.table] then return counted[scan.table], "count of an earlier phase" end
  if scan.done > 0 then
    return math.max(scan.items_seen, scan.items_done / scan.done * scan.total), "segments done"
  end
  if probe then return math.max(scan.items_seen, probe), "sampled segment" end
end

-- The phase's estimated total of items and how it was estimated, or nil.
-- n: items so far; scans: dynamodb.scan_progress(); tables: name -> the
-- pre-flight's {items, size}; probes: name -> sampled count; main: the
-- phase's main table {items, size} when it has no tracked scan; bytes:
-- bytes read so far.
function M.estimate(n, scans, tables, probes, main, bytes)
  local seen, expected, how = 0, 0, nil
  for _, scan in pairs(scans) do
    local total, why = table_total(tables[scan.table], scan, probes[scan.table])
    if total and total > 0 then
      seen, expected, how = seen + scan.items_seen, expected + total, how or why
    end
  end
  if expected > 0 then
    -- Items of the phase (gets included) scale with the scans' share done.
    local share = math.min(1, seen / expected)
    if share <= 0 then return nil end
    return math.max(n, math.floor(n / share + 0.5)), how
  end
  if main and (main.items or 0) > 0 then return math.max(n, main.items), "ItemCount" end
  if main and (main.size or 0) > 0 and bytes > 0 and n > 0 then
    return math.max(n, math.floor(main.size * n / bytes + 0.5)), "TableSizeBytes"
  end
end

-- Segment 0 of PROBE_SEGMENTS, counted: about 1/64 of a table, read once
-- per table with no count of its own (a new table's ItemCount is 0).
local PROBE_SEGMENTS = 64
local WINDOW = 5   -- seconds of recent progress the ETA's rate is taken over

local function probe(name)
  local ok, n = pcall(require("mighost.dynamodb").count, {table = name, segment = 0,
    total_segments = PROBE_SEGMENTS, prefetch = 1})
  if ok and math.type(n) == "integer" and n > 0 then return n * PROBE_SEGMENTS end
end

local function clock_text(s)
  s = math.floor(s + 0.5)
  if s >= 3600 then return ("%d:%02d:%02d"):format(s // 3600, s % 3600 // 60, s % 60) end
  return ("%d:%02d"):format(s // 60, s % 60)
end

function M.start(ctx, info, o)
  local p = {running = true}
  if o.quiet then function p.stop() end return p end
  local as_json = mh.log_json
  local tty = sys.isatty(2) and not as_json
  local tbl = main_table(ctx, info)
  local started = mh.clock()
  local base_ddb, base_aws = ddb_totals(), aws_totals()
  pcall(function() require("mighost.dynamodb").reset_scan_progress() end)
  local last_n, last_change = -1, started
  local by_name, probes, probing, samples = {}, {}, {}, {}
  for _, t in ipairs(info.tables or {}) do by_name[t.name] = t end

  -- The phase's scans; a sampled count for a scanned table with no other.
  local function watch()
    local scans = require("mighost.dynamodb").scan_progress()
    for _, scan in pairs(scans) do
      if scan.done == scan.total then counted[scan.table] = scan.items_done end
      local t = by_name[scan.table]
      if probes[scan.table] == nil and not (t and (t.items or 0) > 0) and not counted[scan.table]
         and not o.limit then   -- a trial run stops long before a probe would end
        probes[scan.table] = false   -- asked once
        probing[#probing + 1] = mh.spawn(function() probes[scan.table] = probe(scan.table) or false end)
      end
    end
    return scans
  end

  local function state()
    local now = mh.clock()
    local d, a = ddb_totals(), aws_totals()
    local n = math.max(ctx.counts.scanned, d.items - base_ddb.items)
    if n ~= last_n then last_n, last_change = n, now end
    local dt = now - started
    local s = {phase = ctx.phase.name, items = n, elapsed = dt, rate = dt > 0 and n / dt or 0,
               retries = a.retries - base_aws.retries, throttles = a.throttles - base_aws.throttles,
               failed = ctx.counts.failed, quiet_for = now - last_change}
    s.in_flight, s.in_flight_window = require("mighost.inflight").now()
    s.written = ctx.writer and ctx.writer.counts.put or ctx.counts.written
    local scans = watch()
    local known = {}
    for k, v in pairs(probes) do if v then known[k] = v end end
    s.total, s.estimate = M.estimate(n, scans, by_name, known, tbl, d.bytes - base_ddb.bytes)
    -- A copy is done when its writes are: items count as done once their
    -- writes are confirmed (or they were skipped or failed).
    local done = n
    if ctx.writer then
      done = math.min(n, s.written + (ctx.counts.skipped_total or 0) + ctx.counts.failed)
    end
    -- The rate of the last seconds: writes start late and scans end early.
    samples[#samples + 1] = {now, done}
    while #samples > 2 and now - samples[2][1] >= WINDOW do table.remove(samples, 1) end
    local t0, d0 = samples[1][1], samples[1][2]
    local done_rate = now - t0 >= 1 and (done - d0) / (now - t0) or (dt > 0 and done / dt or 0)
    if s.total and done_rate > 0 and done < s.total then s.eta = (s.total - done) / done_rate end
    return s
  end

  local function text(s, final)
    -- A phase that counts in its own units (objects and bytes) says so.
    if ctx.progress_line and not final then return ctx.progress_line() end
    local out = ("[%s] %d items"):format(s.phase, s.items)
    if s.total and s.total > 0 then
      out = out .. (" of ~%d (%d%%, by %s)"):format(s.total, math.min(100, s.items * 100 // s.total),
        s.estimate)
    end
    if not final then
      out = out .. (s.eta and (", ETA " .. clock_text(s.eta)) or ", ETA unknown")
    end
    out = out .. (", %.0f items/s, written %d, failed %d"):format(s.rate, s.written, s.failed)
    if s.in_flight_window > 0 and not final then
      out = out .. (", %d in flight (window %d)"):format(s.in_flight, s.in_flight_window)
    end
    if s.retries > 0 or s.throttles > 0 then
      out = out .. (", %d retries (%d throttled)"):format(s.retries, s.throttles)
    end
    -- An endpoint that stopped answering is waited out (runner: outages):
    -- say what for, since when and when the next probe goes.
    local w = not final and require("mighost.aws").waiting()
    if w then
      out = out .. ("; waiting for %s since %s, next try in %d s"):format(w.endpoint,
        sys.utc(math.floor(w.since), "%H:%M:%S"), math.ceil(w.next_try))
    elseif not final and s.quiet_for >= 5 then
      out = out .. (", waiting %ds for an answer"):format(math.floor(s.quiet_for))
    end
    if final then out = out .. (", %s, done"):format(clock_text(s.elapsed)) end
    return out
  end

  local function emit(final)
    local s = state()
    if as_json then
      local e = {time = sys.utc(), level = "info", event = final and "phase_end" or "progress",
                 msg = text(s, final)}
      for _, k in ipairs{"phase", "items", "total", "estimate", "written", "failed", "retries",
                         "throttles", "in_flight", "in_flight_window"} do e[k] = s[k] end
      e.items_per_second = math.floor(s.rate * 10 + 0.5) / 10
      e.eta_seconds = s.eta and math.floor(s.eta + 0.5)
      io.stderr:write(json.encode(e), "\n")
    elseif tty then
      io.stderr:write("\r", text(s, final), "\27[K", final and "\n" or "")
    else
      io.stderr:write(sys.utc(), " ", text(s, final), "\n")
    end
  end

  local task = mh.spawn(function()
    local last, drawn = mh.clock(), mh.clock()
    while p.running do
      mh.sleep(0.1)   -- short naps: stopping must not wait for a long one
      if not p.running then break end
      local now = mh.clock()
      watch()
      if tty and now - drawn >= 0.5 then
        emit(false)
        drawn = now
      elseif not tty and now - last >= 10 then
        emit(false)
        last = now
      end
    end
  end)
  function p.stop()
    p.running = false
    task:wait()
    for _, t in ipairs(probing) do t:wait() end
    emit(true)
  end
  return p
end

return M
