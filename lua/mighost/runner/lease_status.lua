-- mighost.runner.lease_status: `mighost status --coordinate TABLE [NAME]`,
-- the runs shared through a coordination table (runner.lease): per run its
-- status and parameters, per phase the segments done, leased and free (or
-- who ran it and the verification's result), the workers with their
-- heartbeats and counts, the items per second of all workers together,
-- and the failed items kept for a retry.

local aws = require "mighost.aws"
local json = require "mighost.json"
local sys = require "mighost.sys"

local M = {}

local function call(op, body)
  local text, err = aws.call("dynamodb", op, json.encode(body))
  if not text then return nil, err end
  return json.decode_ddb(text)
end

local lease = require "mighost.runner.lease"
local str, num, decoded = lease.str, lease.num, lease.decoded

local function all(op, body)
  local out, start = {}, nil
  repeat
    body.ExclusiveStartKey = start
    local resp, err = call(op, body)
    if not resp then return nil, err end
    for _, it in ipairs(resp.Items or {}) do out[#out + 1] = it end
    start = resp.LastEvaluatedKey
  until not start
  return out
end

-- One run's picture from its items.
local function run_view(run, items, now, lease)
  local v = {run = str(run.pk), migration = str(run.migration), status = str(run.status),
    started = str(run.started), finished = str(run.finished_at), segments = num(run.segments),
    parameters = decoded(run.params), max_write_rate = num(run.max_write_rate),
    phases = json.array(), workers = json.array(), failed_items = 0}
  local by_phase, order = {}, decoded(run.phases) or {}
  for _, name in ipairs(order) do by_phase[name] = {name = name, done = 0, leased = 0, free = 0, total = 0} end
  local scanned, last_beat = 0, num(run.started_epoch) or now
  for _, it in ipairs(items) do
    local sk = str(it.sk)
    local seg_phase = sk:match("^seg#(.+)#%d+$")
    local phase = sk:match("^phase#(.+)$")
    local p = by_phase[seg_phase or phase or ""]
    if seg_phase and p then
      p.total = p.total + 1
      if it.done and it.done.BOOL then p.done = p.done + 1
      elseif it.owner and (num(it.expires) or 0) >= now then p.leased = p.leased + 1
      else p.free = p.free + 1 end
    elseif phase and p then
      p.phase_done = it.done and it.done.BOOL or false
      p.by = str(it.by_worker)
      p.owner = it.owner and (num(it.expires) or 0) >= now and str(it.owner) or nil
      local r = decoded(it.result)
      if type(r) == "table" then p.verification = r.ok and "ok" or "FAILED" end
    elseif sk:match("^worker#") then
      local beat = num(it.heartbeat) or 0
      local status = str(it.status)
      if status == "running" and beat + (num(it.lease) or lease) < now then status = "lost (no heartbeat)" end
      v.workers[#v.workers + 1] = {id = sk:sub(8), status = status, heartbeat = str(it.heartbeat_at),
        seconds_ago = now - beat, phase = str(it.phase), scanned = num(it.scanned) or 0,
        written = num(it.written) or 0}
      scanned = scanned + (num(it.scanned) or 0)
      last_beat = math.max(last_beat, beat)
    elseif sk:match("^failed#") then
      v.failed_items = v.failed_items + 1
    end
  end
  for _, name in ipairs(order) do v.phases[#v.phases + 1] = by_phase[name] end
  local elapsed = (v.status == "finished" and last_beat or now) - (num(run.started_epoch) or now)
  v.items_per_second = elapsed > 0 and math.floor(scanned / elapsed + 0.5) or nil
  table.sort(v.workers, function(a, b) return a.id < b.id end)
  return v
end

local function text(views, tbl)
  if #views == 0 then return ("no runs in coordination table %s\n"):format(tbl) end
  local out = {}
  local function w(fmt, ...) out[#out + 1] = fmt:format(...) end
  for _, v in ipairs(views) do
    w("%s  %s  started %s%s\n", v.migration, (v.status or "?"):upper(), v.started or "-",
      v.finished and (", finished " .. v.finished) or "")
    w("  run %s, %d segments%s\n", v.run, v.segments or 0,
      v.max_write_rate and (", --max-write-rate " .. v.max_write_rate .. " in total") or "")
    for _, p in ipairs(v.phases) do
      if p.total > 0 then
        w("  %s: %d of %d segments done, %d leased, %d free\n", p.name, p.done, p.total, p.leased, p.free)
      elseif p.phase_done then
        w("  %s: done by %s%s\n", p.name, p.by or "?", p.verification and ("; verification: " .. p.verification) or "")
      elseif p.owner then
        w("  %s: running on %s\n", p.name, p.owner)
      else
        w("  %s: not started\n", p.name)
      end
    end
    w("  workers:\n")
    for _, wk in ipairs(v.workers) do
      w("    %-24s %-20s heartbeat %s (%d s ago), phase %s, scanned %d, written %d\n", wk.id,
        wk.status or "?", wk.heartbeat or "-", wk.seconds_ago, wk.phase or "-", wk.scanned, wk.written)
    end
    if v.items_per_second then w("  items per second, all workers: %d\n", v.items_per_second) end
    if v.failed_items > 0 then
      w("  failed items: %d (a worker run with --resume retries them)\n", v.failed_items)
    end
  end
  return table.concat(out)
end

-- Prints the runs (of migration `name`, or all); returns the exit code.
function M.show(tbl, name, output)
  local runs, err = all("Scan", {TableName = tbl, FilterExpression = "sk = :r",
    ExpressionAttributeValues = {[":r"] = {S = "run"}}})
  if not runs then
    io.stderr:write(("mighost: status: coordination table %s: %s\n"):format(tbl, tostring(err)))
    return err.code == "ResourceNotFoundException" and 2 or 3
  end
  local views, now = {}, sys.time()
  for _, run in ipairs(runs) do
    if not name or str(run.migration) == name then
      local items, qerr = all("Query", {TableName = tbl, ConsistentRead = true,
        KeyConditionExpression = "pk = :pk", ExpressionAttributeValues = {[":pk"] = run.pk},
        ProjectionExpression = "sk, done, #o, expires, by_worker, #r, heartbeat, heartbeat_at, "
          .. "#s, phase, scanned, written, lease",
        ExpressionAttributeNames = {["#o"] = "owner", ["#r"] = "result", ["#s"] = "status"}})
      if not items then
        io.stderr:write(("mighost: status: %s\n"):format(tostring(qerr)))
        return 3
      end
      views[#views + 1] = run_view(run, items, now, 30)
    end
  end
  table.sort(views, function(a, b) return (a.started or "") > (b.started or "") end)
  if output == "json" then print(json.encode({coordination_table = tbl, runs = json.array(views)}))
  else io.stdout:write(text(views, tbl)) end
  return 0
end

return M
