-- mighost.runner.lease: the checkpoint store of a run shared by several
-- workers (--coordinate TABLE), the way the Kinesis Client Library shares
-- shards: a DynamoDB table holds the run, one lease per unit of work and
-- one heartbeat per worker, and every change of a lease is a conditional
-- write (owner and version), so two workers never own a unit at once.
--
-- Items (pk = the run: "run#MIGRATION#<where hash>", sk =):
--   run                  identity, parameters, phase order, segments,
--                        max_write_rate, status, started
--   seg#PHASE#NNNNNN     a scan segment: owner, expires (epoch s), version,
--                        key (checkpoint, item JSON), done, scanned, by
--   phase#PHASE          a phase: done, counts, result (verification),
--                        data; and the lease of a phase run "once"
--   retry#PHASE          the lease of the one worker retrying failed keys
--   worker#ID            heartbeat (epoch s), status, counts, started
--   failed#PHASE#KEY     a failed item's key and reason
--   done#PHASE#KEY       a finished unit of an `each` phase
--
-- The store offers the local store's interface (runner.state) to the
-- runner, plus work_segments (lease, run and release segments until every
-- segment of the phase is done) and claim_phase (for phases that are not
-- segment-shaped). A lease is renewed while held (every third of its
-- length, by a task of its own) and moved past settled pages only, as the
-- local store's checkpoints are; a worker that stops renewing loses its
-- leases when they expire, and another takes them up from the checkpoint.
-- Lease times are wall-clock seconds: workers' clocks must agree to well
-- within a lease (NTP does).

local aws = require "mighost.aws"
local json = require "mighost.json"
local item = require "mighost.item"
local sys = require "mighost.sys"
local mh = require "mighost"

local M = {}
M.DEFAULT_LEASE = 30      -- seconds
M.LANES = 4               -- segments a worker works on at once

local function fail(code, message) error({exit = code, message = message}, 0) end

local function call(op, body)
  local text, meta = aws.call("dynamodb", op, json.encode(body))
  if not text then return nil, meta end
  return json.decode_ddb(text)
end

-- Like call, but an error other than a failed condition stops the run
-- (exit 3): the coordination table is not optional once a run uses it.
local function must(op, body)
  local resp, err = call(op, body)
  if resp then return resp end
  if err.code == "ConditionalCheckFailedException" then return nil, err end
  error({code = err.code or "CoordinationError", message = ("coordination table: %s: %s")
    :format(op, tostring(err.message or err)), outage = err.outage}, 0)
end

local function S(v) return {S = tostring(v)} end
local function N(v) return {N = tostring(math.floor(v))} end
local function str(a) return a and a.S end
local function num(a) return a and tonumber(a.N) end
local function decoded(a)
  local ok, v = pcall(json.decode, a and a.S or "null")
  return ok and v ~= json.null and v or nil
end
-- Attribute readers, for runner.lease_status.
M.str, M.num, M.decoded = str, num, decoded

-- The table: created on first use (on-demand capacity), else checked.
local function ensure_table(name)
  local d, err = call("DescribeTable", {TableName = name})
  if not d and err.code == "ResourceNotFoundException" then
    mh.info(("coordination table %s: creating it (on-demand capacity)"):format(name))
    local _, cerr = call("CreateTable", {TableName = name, BillingMode = "PAY_PER_REQUEST",
      AttributeDefinitions = {{AttributeName = "pk", AttributeType = "S"},
                              {AttributeName = "sk", AttributeType = "S"}},
      KeySchema = {{AttributeName = "pk", KeyType = "HASH"}, {AttributeName = "sk", KeyType = "RANGE"}}})
    if cerr and cerr.code ~= "ResourceInUseException" then
      fail(mh.EXIT.AWS, ("cannot create the coordination table %s: %s"):format(name, tostring(cerr)))
    end
    for _ = 1, 600 do
      d, err = call("DescribeTable", {TableName = name})
      if d and d.Table.TableStatus == "ACTIVE" then break end
      mh.sleep(0.1)
    end
  end
  if not d then fail(mh.EXIT.AWS, ("cannot describe the coordination table %s: %s"):format(name, tostring(err))) end
  local keys = {}
  for _, k in ipairs(d.Table.KeySchema or {}) do keys[k.KeyType] = k.AttributeName end
  if keys.HASH ~= "pk" or keys.RANGE ~= "sk" then
    fail(mh.EXIT.USAGE, ("%s is not a coordination table (its key is not pk, sk): pick another "
      .. "name for --coordinate"):format(name))
  end
end

local function run_key(name, where)
  local w = sys.sha256(table.concat({where.account or "", where.region or "", where.endpoint or ""}, "\n"))
  return ("run#%s#%s"):format(name, w:sub(1, 12))
end
M.run_key = run_key

-- This worker's default id: host name and process id.
function M.default_worker_id()
  local host = (sys.read_file("/proc/sys/kernel/hostname") or sys.getenv("HOSTNAME") or "host"):gsub("%s", "")
  local pid = (sys.read_file("/proc/self/stat") or ""):match("^(%d+)") or tostring(sys.time())
  return host .. "-" .. pid
end

local Store = {}
Store.__index = Store

-- Opens (or joins) the run. o: table, migration (name, phases), values
-- (identity parameters), params_identity, identity, where, worker_id,
-- segments (nil: the recorded value, else 4), lease_seconds,
-- max_write_rate. Raises {exit, message} on a conflict (exit 2).
function M.open(o)
  ensure_table(o.table)
  local phases = {}
  for i, ph in ipairs(o.migration.phases) do phases[i] = ph.name end
  local s = setmetatable({coordinated = true, tbl = o.table, pk = run_key(o.migration.name, o.where),
    worker = o.worker_id, lease = o.lease_seconds or M.DEFAULT_LEASE, held = {}, pending_failed = {},
    done_sets = {}, data = {migration = o.migration.name, params = o.values, phases = {}},
    dirty = false, existed = true, counts = {scanned = 0, written = 0}, failed_count = 0,
    instance = sys.sha256(M.default_worker_id() .. tostring(mh.clock())):sub(1, 16)}, Store)
  s.path, s.dir = nil, nil
  local run = {pk = S(s.pk), sk = S"run", migration = S(o.migration.name), identity = S(o.identity),
    params_identity = S(o.params_identity), params = S(json.encode(o.values)),
    where = S(json.encode(o.where)), phases = S(json.encode(phases)),
    segments = N(o.segments or 4), status = S"running", started = S(sys.utc()),
    started_epoch = N(sys.time()), created_by = S(s.worker)}
  if o.max_write_rate then run.max_write_rate = N(o.max_write_rate) end
  local ok = must("PutItem", {TableName = s.tbl, Item = run, ConditionExpression = "attribute_not_exists(pk)"})
  local got = ok and run or must("GetItem", {TableName = s.tbl, ConsistentRead = true,
    Key = {pk = S(s.pk), sk = S"run"}}).Item
  if not ok then
    local function refuse(what, theirs, mine)
      fail(mh.EXIT.USAGE, ("the run of %s in coordination table %s was started with %s %s; this "
        .. "worker has %s: start every worker with the same configuration (or use another "
        .. "table for a separate run)"):format(o.migration.name, s.tbl, what, theirs, mine))
    end
    if str(got.params_identity) ~= o.params_identity then
      refuse("other parameter values:", str(got.params), json.encode(o.values))
    end
    if str(got.phases) ~= json.encode(phases) then
      refuse("the phases", str(got.phases), json.encode(phases) .. " (another version of the migration?)")
    end
    if o.segments and num(got.segments) ~= o.segments then
      refuse("--segments", tostring(num(got.segments)), "--segments " .. o.segments)
    end
    if o.max_write_rate and num(got.max_write_rate) ~= o.max_write_rate then
      -- A worker that passes another total rate sets it for the whole run.
      must("UpdateItem", {TableName = s.tbl, Key = {pk = S(s.pk), sk = S"run"},
        UpdateExpression = "SET max_write_rate = :r", ExpressionAttributeValues = {[":r"] = N(o.max_write_rate)}})
      got.max_write_rate = N(o.max_write_rate)
    end
  end
  s.segments = num(got.segments)
  s.max_write_rate = num(got.max_write_rate)
  s.data.started = str(got.started)
  -- A worker id is one process at a time.
  local w = must("GetItem", {TableName = s.tbl, ConsistentRead = true,
    Key = {pk = S(s.pk), sk = S("worker#" .. s.worker)}}).Item
  if w and str(w.status) == "running" and (num(w.heartbeat) or 0) + s.lease > sys.time() then
    fail(mh.EXIT.USAGE, ("worker %s of this run is alive (heartbeat %d s ago): give every worker "
      .. "its own --worker-id"):format(s.worker, sys.time() - (num(w.heartbeat) or 0)))
  end
  s:heartbeat("running")
  s.keeper = mh.spawn(function() s:keep() end)
  return s
end

-- The store of a run with --coordinate (the runner's open_store): the
-- store, or nil and the exit code after saying why.
function M.open_run(mig, o, where, values, identity, params_identity)
  local ok, s = pcall(M.open, {table = o.coordinate, migration = mig, where = where,
    values = values, worker_id = o.worker_id, identity = identity, params_identity = params_identity,
    segments = o.segments, lease_seconds = o.lease_seconds, max_write_rate = o.max_write_rate})
  if not ok then
    io.stderr:write("mighost: ", type(s) == "table" and tostring(s.message) or tostring(s), "\n")
    return nil, type(s) == "table" and (s.exit or mh.EXIT.AWS) or mh.EXIT.SCRIPT
  end
  s.max_read_rate = o.max_read_rate
  o.segments = s.segments
  io.stderr:write(("mighost: worker %s of the run in coordination table %s (%d segments)\n")
    :format(s.worker, o.coordinate, s.segments))
  return s
end

-- Once the run starts: this worker's share of --max-write-rate, and the
-- report says which worker of which run it is.
function Store:started_run(rep)
  if self.max_write_rate then self:apply_rate() end
  rep:set_field("coordination", {table = self.tbl, worker_id = self.worker, run = self.pk,
                                 segments = self.segments})
end

-- Whose turn a phase is. A segment-shaped phase is shared by leases
-- (runner.units); any other runs on every worker (`always`, or coordinate
-- = "every") or once, its result stored (coordinate = "once", the
-- default): "run" for the worker that runs it, "done" for the others once
-- it is done (reported as skipped), with whether a stored verification failed.
function Store:turn(ph, rep)
  local segmented = ph.copy or ph.update or ph.delete or (ph.each and ph.each.scan)
  if segmented or ph.always or ph.coordinate == "every" then return "run" end
  local turn = self:claim_phase(ph.name, function() return sys.interrupted() > 0 end)
  if turn ~= "done" then return turn end
  local p = self:phase(ph.name)
  local result = p.result
  if type(result) == "table" and result.ok ~= nil then
    rep:phase_skipped(ph.name, ("verified by worker %s: %s"):format(tostring(p.by),
      result.ok and "ok" or "FAILED"), p.counts)
    return "done", result.ok == false
  end
  rep:phase_skipped(ph.name, ("done by worker %s"):format(tostring(p.by)), p.counts)
  return "done"
end

-- Worker heartbeat, lease renewal and the rate share, while the run goes on.
function Store:heartbeat(status)
  must("PutItem", {TableName = self.tbl, Item = {pk = S(self.pk), sk = S("worker#" .. self.worker),
    status = S(status), heartbeat = N(sys.time()), heartbeat_at = S(sys.utc()), instance = S(self.instance),
    scanned = N(self.counts.scanned + (self.live and self.live.scanned or 0)),
    written = N(self.counts.written + (self.live and (self.live.written + self.live.deleted) or 0)),
    phase = S(self.current or "-"), lease = N(self.lease),
    started = S(self.started_at or sys.utc())}})
  self.started_at = self.started_at or sys.utc()
end

-- --max-write-rate is the run's total: each live worker takes its share.
function Store:rate_share()
  local run = must("GetItem", {TableName = self.tbl, ConsistentRead = true,
    Key = {pk = S(self.pk), sk = S"run"}}).Item
  local total = run and num(run.max_write_rate)
  if not total then return nil end
  local live, now = 0, sys.time()
  for _, w in ipairs(self:query("worker#")) do
    if str(w.status) == "running" and (num(w.heartbeat) or 0) + self.lease > now then live = live + 1 end
  end
  return total / math.max(live, 1)
end

function Store:apply_rate()
  local share = self:rate_share()
  if share ~= self.share then
    self.share = share
    if share then mh.debug(("write rate share: %.1f units/s"):format(share)) end
    require("mighost.dynamodb").set_rate_limits{write = share, read = self.max_read_rate}
  end
end

function Store:keep()
  local every = math.max(self.lease / 3, 0.5)
  local next_beat = mh.clock() + every
  while not self.closed do
    mh.sleep(0.2)
    if not self.closed and mh.clock() >= next_beat then
      next_beat = mh.clock() + every
      local ok, err = pcall(function()
        self:heartbeat("running")
        self:save(true)
        if self.max_write_rate then self:apply_rate() end
      end)
      if not ok then mh.warn("coordination: " .. tostring(type(err) == "table" and err.message or err)) end
    end
  end
end

function Store:query(prefix)
  local out, start = {}, nil
  repeat
    local resp = must("Query", {TableName = self.tbl, ConsistentRead = true, ExclusiveStartKey = start,
      KeyConditionExpression = "pk = :pk AND begins_with(sk, :p)",
      ExpressionAttributeValues = {[":pk"] = S(self.pk), [":p"] = S(prefix)}})
    for _, it in ipairs(resp.Items or {}) do out[#out + 1] = it end
    start = resp.LastEvaluatedKey
  until not start
  return out
end

-- Leases ---------------------------------------------------------------------

-- One write at a time per lease (the version moves with every write).
local function locked(l, fn)
  while l.busy do
    l.waiters[#l.waiters + 1] = mh.current()
    mh.park()
  end
  l.busy = true
  local ok, err = pcall(fn)
  l.busy = false
  local ws = l.waiters
  l.waiters = {}
  for _, w in ipairs(ws) do mh.unpark(w) end
  if not ok then error(err, 0) end
end

-- Takes the lease sk (its item `it` as read, or nil when there is none
-- yet): the lease, or nil when another worker got there first.
function Store:take(sk, it)
  local version = it and num(it.version) or 0
  local cond, values = "attribute_not_exists(sk)", {[":me"] = S(self.worker), [":e"] = N(sys.time() + self.lease),
    [":v1"] = N(version + 1)}
  -- A unit that is done is never taken again.
  if it then cond, values[":v"] = "version = :v AND attribute_not_exists(done)", N(version) end
  local ok = must("UpdateItem", {TableName = self.tbl, Key = {pk = S(self.pk), sk = S(sk)},
    ConditionExpression = cond, ExpressionAttributeValues = values,
    UpdateExpression = "SET #o = :me, expires = :e, version = :v1, by_worker = :me",
    ExpressionAttributeNames = {["#o"] = "owner"}})
  if not ok then return nil end
  local l = {sk = sk, version = version + 1, key = it and str(it.key), scanned = it and num(it.scanned) or 0,
             data = it and decoded(it.data), waiters = {}, previous = it and str(it.by_worker),
             renewed = sys.time()}
  self.held[sk] = l
  return l
end

-- Writes a held lease: its checkpoint, counts and a new expiry; done
-- (the unit finished) or release (given back) end the holding. A failed
-- condition means the lease was lost (expired and taken): it is dropped.
function Store:write_lease(l, how)
  locked(l, function()
    if l.lost or not self.held[l.sk] then return end
    local values = {[":me"] = S(self.worker), [":v"] = N(l.version), [":v1"] = N(l.version + 1),
                    [":e"] = N(how == "release" and 0 or sys.time() + self.lease), [":n"] = N(l.scanned or 0)}
    local set = {"expires = :e", "version = :v1", "scanned = :n"}
    if l.key then set[#set + 1] = "#k = :k"; values[":k"] = S(l.key) end
    if l.data then set[#set + 1] = "#d = :d"; values[":d"] = S(json.encode(l.data)) end
    local names = {["#o"] = "owner"}
    for k, v in pairs(l.extra or {}) do
      set[#set + 1] = ("#x_%s = :x_%s"):format(k, k)
      values[":x_" .. k], names["#x_" .. k] = v, k
    end
    local expr = "SET " .. table.concat(set, ", ")
    if how == "done" then expr = expr .. ", done = :t REMOVE #o"; values[":t"] = {BOOL = true}
    elseif how == "release" then expr = expr .. " REMOVE #o" end
    if l.key then names["#k"] = "key" end
    if l.data then names["#d"] = "data" end
    local ok = must("UpdateItem", {TableName = self.tbl, Key = {pk = S(self.pk), sk = S(l.sk)},
      ConditionExpression = "#o = :me AND version = :v", UpdateExpression = expr,
      ExpressionAttributeValues = values, ExpressionAttributeNames = names})
    if not ok then
      l.lost = true
      self.held[l.sk] = nil
      mh.warn(("coordination: lost the lease on %s (it expired and another worker took it)"):format(l.sk))
      return
    end
    l.version, l.dirty, l.renewed = l.version + 1, false, sys.time()
    if how then self.held[l.sk] = nil end
  end)
end

-- Segments -------------------------------------------------------------------

local function seg_sk(phase, seg) return ("seg#%s#%06d"):format(phase, seg) end

function Store:leased(phase, seg) return self.held[seg_sk(phase, seg)] end

-- nil (from the start), {done = true}, or {key = <item>} to continue after.
function Store:segment(phase, seg)
  local l = self.held[seg_sk(phase, seg)]
  if not l then return nil end
  if l.done then return {done = true} end
  return l.key and {key = item.decode(l.key)} or nil
end

function Store:set_segment(phase, seg, last_key)
  local l = self.held[seg_sk(phase, seg)]
  if not l or l.lost then return end
  if last_key == nil then l.done = true else l.key = item.encode(last_key) end
  l.dirty, self.dirty = true, true
end

-- Leases the segments of phase one by one (at most LANES at once) and
-- runs run_segment(seg) on each, until every segment is done (others'
-- included: the next phase starts only then) or stop() says so.
function Store:work_segments(phase, total, run_segment, stop)
  local lanes = math.min(M.LANES, total)
  local running, tasks, first_err = 0, {}, nil
  local prefix = ("seg#%s#"):format(phase)
  -- Workers start at different segments, so they rarely race for one.
  local offset = tonumber(sys.sha256(self.worker):sub(1, 6), 16) % total
  while not stop() and not first_err do
    -- Every lane busy: wait for one to end before looking again.
    while running >= lanes and not first_err do mh.sleep(0.1) end
    local by_seg, all_done = {}, true
    for _, it in ipairs(self:query(prefix)) do by_seg[tonumber(str(it.sk):match("(%d+)$"))] = it end
    local now, took = sys.time(), false
    for i = 0, total - 1 do
      local seg = (i + offset) % total
      local it, sk = by_seg[seg], seg_sk(phase, seg)
      if not (it and it.done and it.done.BOOL) then all_done = false end
      local free = not (it and it.done and it.done.BOOL) and not self.held[sk] and
                   (not it or not it.owner or (num(it.expires) or 0) < now)
      if free and running < lanes and not stop() then
        local l = self:take(sk, it)
        if l then
          took = true
          if l.previous then
            mh.info(("%s: segment %d taken over from %s at its checkpoint"):format(phase, seg, l.previous))
            self:refresh_done(phase)
          end
          running = running + 1
          tasks[#tasks + 1] = mh.spawn(function()
            local ok, err = pcall(run_segment, seg)
            local finished = ok and l.done and not l.lost
            local wok, werr = pcall(self.write_lease, self, l, finished and "done" or "release")
            running = running - 1
            if not ok then first_err = first_err or err
            elseif not wok then first_err = first_err or werr end
          end)
        end
      end
    end
    if all_done and running == 0 then break end
    if not took then mh.sleep(math.min(1, self.lease / 4)) end
  end
  for _, t in ipairs(tasks) do pcall(t.wait, t) end
  if first_err ~= nil then error(first_err, 0) end
end

-- Phases ---------------------------------------------------------------------

local function phase_sk(name) return "phase#" .. name end

-- This worker's view of a phase, as the local store keeps it (data.phases).
Store.phase = require("mighost.runner.state").null("-", {}).phase

function Store:phase_item(name)
  return must("GetItem", {TableName = self.tbl, ConsistentRead = true,
    Key = {pk = S(self.pk), sk = S(phase_sk(name))}}).Item
end

function Store:phase_done(name)
  local p = self:phase(name)
  if p.done then return true end
  local it = self:phase_item(name)
  if it and it.done and it.done.BOOL then
    p.done, p.counts, p.data = true, decoded(it.counts) or {}, decoded(it.data) or {}
    p.result, p.by = decoded(it.result), str(it.by_worker)
  end
  return p.done
end

-- A phase that is not segment-shaped, run "once": "run" when this worker
-- holds its lease (the worker before it stopped: it runs again, as a
-- resumed run would), or "done" once another worker finished it (its
-- stored counts, data and result in store:phase(name)).
function Store:claim_phase(name, stop)
  local sk = phase_sk(name)
  local said = false
  while not stop() do
    if self:phase_done(name) then return "done" end
    local it = self:phase_item(name)
    local busy = it and it.owner and (num(it.expires) or 0) >= sys.time()
    if it and it.done then
      self:phase(name).done = false      -- done between the two reads: read it again
    elseif not busy then
      local l = self:take(sk, it)
      if l then
        if l.previous then mh.info(("%s: taken over from %s"):format(name, l.previous)) end
        self:phase(name).data = l.data or self:phase(name).data
        self:refresh_done(name)
        return "run"
      end
    elseif not said then
      mh.info(("%s: run by worker %s; waiting for it"):format(name, str(it.owner)))
      said = true
    end
    mh.sleep(math.min(1, self.lease / 4))
  end
  return "stopped"
end

-- The runner enters and leaves phases (for the heartbeat's counts).
function Store:entered_phase(name, counts) self.current, self.live = name, counts end
function Store:left_phase(ctx, verification)
  local c = ctx.counts
  self.counts.scanned = self.counts.scanned + c.scanned
  self.counts.written = self.counts.written + c.written + c.deleted
  self.live = nil
  if verification then self:set_result(ctx.phase.name, verification) end
end

-- Stores a once-phase's result (verification) before it is marked done.
function Store:set_result(name, result)
  local l = self.held[phase_sk(name)]
  if l then l.extra = l.extra or {}; l.extra.result = S(json.encode(result)) end
  self:phase(name).result = result
end

function Store:mark_phase_done(name, counts)
  local p = self:phase(name)
  self:save()
  if #self:query(("failed#%s#"):format(name)) > 0 then return end   -- not done: --resume retries them
  p.done, p.counts = true, counts or p.counts
  local l = self.held[phase_sk(name)]
  if l then
    l.data = p.data
    l.extra = l.extra or {}
    l.extra.counts = S(json.encode(p.counts or {}))
    self:write_lease(l, "done")
    if not l.lost then return end
  end
  must("UpdateItem", {TableName = self.tbl, Key = {pk = S(self.pk), sk = S(phase_sk(name))},
    UpdateExpression = "SET done = :t, counts = if_not_exists(counts, :c), by_worker = if_not_exists(by_worker, :me)",
    ExpressionAttributeValues = {[":t"] = {BOOL = true}, [":c"] = S(json.encode(p.counts or {})),
      [":me"] = S(self.worker)}})
end

-- Finished units of `each` phases ------------------------------------------

local function done_prefix(phase) return ("done#%s#"):format(phase) end

-- The set of units finished in this phase by any worker; kept up to date
-- when this worker takes over a unit another worker held.
function Store:done_units(phase)
  local set = self.done_sets[phase]
  if not set then
    set = {}
    self.done_sets[phase] = set
    self:refresh_done(phase)
  end
  return set
end

function Store:refresh_done(phase)
  local set = self.done_sets[phase]
  if not set then return end
  local n = #done_prefix(phase)
  for _, it in ipairs(self:query(done_prefix(phase))) do
    local ok, result = pcall(json.decode, str(it.result) or "true")
    set[str(it.sk):sub(n + 1)] = ok and result or true
  end
end

-- Records a finished unit (and what its function kept) before the run goes on.
function Store:unit_done(phase, k, result)
  must("PutItem", {TableName = self.tbl, Item = {pk = S(self.pk), sk = S(done_prefix(phase) .. k),
    by_worker = S(self.worker), result = result ~= nil and result ~= true and S(json.encode(result)) or nil}})
end

-- Failed keys ------------------------------------------------------------------

function Store:failed_path() return ("the coordination table %s (items failed#PHASE#KEY)"):format(self.tbl) end

function Store:record_failed(phase, key, reason)
  local ok, key_text = pcall(item.encode, key)
  if not ok or type(key) ~= "table" then return false end
  local fresh = self.fresh_failed or {}
  self.fresh_failed = fresh
  fresh[phase .. "\n" .. key_text] = true
  self.pending_failed[#self.pending_failed + 1] = {pk = S(self.pk), sk = S(("failed#%s#%s"):format(phase, key_text)),
    reason = S(tostring(reason or "")), by_worker = S(self.worker)}
  self.failed_count = self.failed_count + 1
  self.dirty = true
  return true
end

-- Only one worker retries a phase's failed keys (others get none).
function Store:failed_of(phase)
  local out = {}
  local prefix = ("failed#%s#"):format(phase)
  local list = self:query(prefix)
  if #list == 0 then return out end
  local sk = "retry#" .. phase
  local it = must("GetItem", {TableName = self.tbl, ConsistentRead = true, Key = {pk = S(self.pk), sk = S(sk)}}).Item
  if it and it.owner and (num(it.expires) or 0) >= sys.time() then return out end
  if not self:take(sk, it) then return out end
  for i, e in ipairs(list) do
    out[i] = {key = item.decode(str(e.sk):sub(#prefix + 1)), reason = str(e.reason)}
  end
  return out
end

function Store:settle_retried(phase, list)
  local fresh = self.fresh_failed or {}
  for _, e in ipairs(list) do
    local k = item.encode(e.key)
    if not fresh[phase .. "\n" .. k] then
      must("DeleteItem", {TableName = self.tbl, Key = {pk = S(self.pk), sk = S(("failed#%s#%s"):format(phase, k))}})
    end
  end
  local l = self.held["retry#" .. phase]
  if l then self:write_lease(l, "done") end
end

function Store:failed_total() return #self:query("failed#") end
function Store:phase_failed_count(phase) return #self:query(("failed#%s#"):format(phase)) end

-- Saving: failed keys first (a checkpoint never passes a failed item that
-- is not recorded), then the leases that moved; renew also renews the
-- leases that did not.
function Store:save(renew)
  local dirty = self.dirty
  local pending = self.pending_failed
  self.pending_failed = {}
  for _, it in ipairs(pending) do must("PutItem", {TableName = self.tbl, Item = it}) end
  -- (A list first: writes yield, and other tasks take leases meanwhile.)
  for _, l in ipairs(self:held_list()) do
    -- A once-phase's own progress (ctx:save) goes with its lease.
    local phase = l.sk:match("^phase#(.+)$")
    if phase and dirty then l.data, l.dirty = self:phase(phase).data, true end
    if l.dirty or (renew and sys.time() - l.renewed >= self.lease / 3) then self:write_lease(l) end
  end
  self.dirty = false
  return true
end

function Store:held_list()
  local list = {}
  for _, l in pairs(self.held) do list[#list + 1] = l end
  return list
end

function Store:unfinished() return false end
function Store:finished() return false end

-- The worker stops: leases given back, its heartbeat says how it ended,
-- and the run is finished once every phase is done.
function Store:ended(exit)
  self.closed = true
  local ok, err = pcall(function()
    self:save()
    for _, l in ipairs(self:held_list()) do self:write_lease(l, "release") end
    self:heartbeat(exit == 0 and "finished" or ("exit " .. exit))
    if exit == 0 then
      must("UpdateItem", {TableName = self.tbl, Key = {pk = S(self.pk), sk = S"run"},
        UpdateExpression = "SET #s = :f, finished_at = :at",
        ExpressionAttributeNames = {["#s"] = "status"},
        ExpressionAttributeValues = {[":f"] = S"finished", [":at"] = S(sys.utc())}})
    end
  end)
  if not ok then mh.warn("coordination: " .. tostring(type(err) == "table" and err.message or err)) end
  if self.keeper then pcall(self.keeper.wait, self.keeper) end
end

return M
