-- mighost.runner.backup: what protects the tables a run writes before its
-- first write.
--
-- Pre-flight, for every table the run writes, updates or deletes in:
-- point-in-time recovery (DescribeContinuousBackups) and the newest
-- on-demand backup (ListBackups), shown in the confirmation and kept in the
-- report. --backup makes an on-demand backup of each (CreateBackup) and
-- waits until each is AVAILABLE (DescribeBackup) before the confirmation,
-- so the prompt lists their ARNs; the ARNs are recorded in the state file
-- once the run is confirmed, so a resumed run does not back up again.
-- --require-backup refuses a real run (exit 2, before anything is written)
-- unless every such table has PITR on or a backup from --backup.
--
-- The tables a run writes come from the migration's declarations (see
-- M.written); with --backup or --require-backup a write to any other table
-- is refused by the DynamoDB binding, so no table is written unprotected.

local aws = require "mighost.aws"
local ddb = require "mighost.dynamodb"
local json = require "mighost.json"
local sys = require "mighost.sys"
local mh = require "mighost"

local M = {}

M.DEFAULT_TIMEOUT = 1800   -- seconds to wait for AVAILABLE (--backup-timeout)

-- A parameter's access for these values: "read", "write", or what its
-- `access` function returns (a table written only with some options).
function M.access_of(p, values, o)
  if type(p.access) == "function" then return p.access(values, o) end
  return p.access
end

-- The table parameters the run writes, in declaration order: parameters
-- whose access is "write", the destinations of copy phases and the
-- `writes` of phases, of the phases this run would run (`when`).
function M.written(mig, values, o)
  local wanted = {}
  for _, p in ipairs(mig.params or {}) do
    if p.type == "table" and M.access_of(p, values, o) == "write" then wanted[p.name] = true end
  end
  for _, ph in ipairs(mig.phases or {}) do
    if not ph.when or ph.when(values, o) then
      if ph.copy and type(ph.copy.destination) == "string" then wanted[ph.copy.destination] = true end
      for _, w in ipairs(ph.writes or {}) do wanted[w] = true end
    end
  end
  local out, seen = {}, {}
  for _, p in ipairs(mig.params or {}) do
    local ref = values[p.name]
    if wanted[p.name] and p.type == "table" and ref and not seen[ref] then
      seen[ref] = true
      out[#out + 1] = {param = p.name, ref = ref, table = ddb.table_name(ref)}
    end
  end
  return out
end

-- Backup names allow [A-Za-z0-9_.-], 3 to 255 characters.
function M.backup_name(migration, tname, stamp)
  local function clean(s) return (s:gsub("[^%w_.%-]", "-")) end
  local head, tail = "mighost-" .. clean(migration) .. "-", "-" .. stamp
  return head .. clean(tname):sub(1, 255 - #head - #tail) .. tail
end

local function call(t, op, body)
  local text, meta = aws.call("dynamodb", op, json.encode(body), ddb.table_route(t.ref))
  if not text then return nil, meta end
  return json.decode(text)
end

local function when(epoch)
  return type(epoch) == "number" and sys.utc(math.floor(epoch)) or "?"
end

-- PITR status and the newest on-demand backup of one table.
local function status(t)
  local r, err = call(t, "DescribeContinuousBackups", {TableName = t.table})
  if r then
    local d = (r.ContinuousBackupsDescription or {}).PointInTimeRecoveryDescription or {}
    t.pitr = {status = d.PointInTimeRecoveryStatus or "DISABLED",
              earliest = d.EarliestRestorableDateTime and when(d.EarliestRestorableDateTime),
              latest = d.LatestRestorableDateTime and when(d.LatestRestorableDateTime)}
  else
    t.pitr = {status = "UNKNOWN", error = tostring(err)}
  end
  local newest, count, start = nil, 0, nil
  for _ = 1, 20 do   -- 20 pages of 100: enough to find the newest of a busy table
    local page, lerr = call(t, "ListBackups", {TableName = t.table, BackupType = "ALL",
                                               ExclusiveStartBackupArn = start})
    if not page then t.backups_error = tostring(lerr); break end
    for _, b in ipairs(page.BackupSummaries or {}) do
      count = count + 1
      if not newest or (b.BackupCreationDateTime or 0) > (newest.BackupCreationDateTime or 0) then newest = b end
    end
    start = page.LastEvaluatedBackupArn
    if not start then break end
  end
  t.backups_listed = count
  if newest then
    t.newest_backup = {name = newest.BackupName, arn = newest.BackupArn, status = newest.BackupStatus,
                       type = newest.BackupType, created = when(newest.BackupCreationDateTime)}
  end
end

local function describe_line(t)
  local p = t.pitr
  local s
  if p.status == "ENABLED" then
    s = ("PITR on (restorable %s .. %s)"):format(p.earliest or "?", p.latest or "?")
  elseif p.status == "UNKNOWN" then
    s = "PITR unknown (" .. p.error .. ")"
  else
    s = "PITR off"
  end
  if t.newest_backup then
    local b = t.newest_backup
    s = s .. ("; newest backup %s, %s (%s)"):format(b.name, b.created, b.status)
  elseif t.backups_error then
    s = s .. "; backups unknown (" .. t.backups_error .. ")"
  else
    s = s .. "; no on-demand backup"
  end
  return ("    %-28s %s: %s"):format(t.table, t.param, s)
end

-- CreateBackup for each table without one; then DescribeBackup until all
-- are AVAILABLE, with a line per round, or the timeout, or Ctrl-C.
-- Returns true, or nil, message, exit code.
local function create_and_wait(list, o)
  for _, t in ipairs(list) do
    if not t.created then
      local r, err = call(t, "CreateBackup", {TableName = t.table, BackupName = t.backup_name})
      if not r then
        return nil, ("cannot back up table %s (%s): %s; nothing was written"):format(t.table, t.param,
          tostring(err)), 3
      end
      local d = r.BackupDetails or {}
      t.created = {arn = d.BackupArn, name = d.BackupName or t.backup_name, status = d.BackupStatus,
                   created = when(d.BackupCreationDateTime)}
      mh.info(("backup of %s requested: %s (%s)"):format(t.table, tostring(d.BackupArn), tostring(d.BackupStatus)))
    end
  end
  local started, pause = mh.clock(), 0.5
  local timeout = o.backup_timeout or M.DEFAULT_TIMEOUT
  while true do
    local waiting = {}
    for _, t in ipairs(list) do
      if t.created.status ~= "AVAILABLE" then
        local r, err = call(t, "DescribeBackup", {BackupArn = t.created.arn})
        if not r then
          return nil, ("cannot follow the backup %s of table %s: %s; nothing was written"):format(
            t.created.arn, t.table, tostring(err)), 3
        end
        t.created.status = ((r.BackupDescription or {}).BackupDetails or {}).BackupStatus
        if t.created.status == "DELETED" then
          return nil, ("the backup %s of table %s was deleted while being made; nothing was written")
            :format(t.created.arn, t.table), 3
        end
        if t.created.status ~= "AVAILABLE" then waiting[#waiting + 1] = t.table end
      end
    end
    local elapsed = mh.clock() - started
    if #waiting == 0 then
      mh.info(("%d backup(s) AVAILABLE after %.0f s"):format(#list, elapsed))
      return true
    end
    if elapsed >= timeout then
      return nil, ("the backups of %s are not AVAILABLE after %d s (--backup-timeout): nothing was "
        .. "written; they go on being made; run again once they are AVAILABLE"):format(
        table.concat(waiting, ", "), timeout), 3
    end
    if sys.interrupted() > 0 then
      return nil, ("interrupted while waiting for the backups of %s: nothing was written; they go on "
        .. "being made"):format(table.concat(waiting, ", ")), 130
    end
    if not o.quiet then
      io.stderr:write(("mighost: waiting for the backups of %s to be AVAILABLE (%.0f s)\n"):format(
        table.concat(waiting, ", "), elapsed))
    end
    mh.sleep(math.min(pause, timeout - elapsed))
    pause = math.min(pause * 2, 10)
  end
end

-- Refuses writes to tables the run did not declare (and so did not back up).
local function guard(list)
  local ok = {}
  for _, t in ipairs(list) do ok[t.ref] = true end
  ddb.set_write_guard(function(ref)
    if not ok[ref] then
      error(("a write to table %s, which this migration does not declare as written, so "
        .. "--backup/--require-backup did not cover it: declare it (access = \"write\" on its "
        .. "parameter, or in the phase's writes); nothing was sent to it"):format(tostring(ref)), 0)
    end
  end)
end

-- Before the confirmation. Adds info.backup (the report's `backups`) and
-- info.backup_lines (the confirmation's). Returns true, or nil, exit
-- code, message.
function M.prepare(mig, values, o, info, store)
  if o.verify_only then
    if o.backup or o.require_backup then mh.warn("--verify-only writes nothing: no backup is made") end
    return true
  end
  local list = M.written(mig, values, o)
  local lines = {}
  local stamp = sys.utc(nil, "%Y%m%dT%H%M%SZ")
  local earlier = store.existed and store.data.backups or {}
  for _, t in ipairs(list) do
    t.backup_name = M.backup_name(mig.name, t.table, stamp)
    t.created = earlier[t.ref]
    t.earlier = t.created ~= nil
  end
  if #list == 0 then
    if o.backup or o.require_backup then lines[1] = "  this run writes no DynamoDB table: nothing to back up" end
  elseif o.source_dir then
    lines[1] = "  backups and point-in-time recovery: not checked offline (--source-dir)"
    for _, t in ipairs(list) do t.pitr = {status = "UNKNOWN", error = "offline"} end
  else
    lines[1] = "  backups of the tables this run writes:"
    for _, t in ipairs(list) do
      status(t)
      lines[#lines + 1] = describe_line(t)
    end
  end
  local report = {backup = o.backup or false, require_backup = o.require_backup or false,
                  tables = json.array()}
  info.backup, info.backup_lines = report, lines
  if o.backup or o.require_backup then guard(list) end

  local unprotected = {}
  for _, t in ipairs(list) do
    if t.pitr.status ~= "ENABLED" and not t.created and not o.backup then
      unprotected[#unprotected + 1] = ("%s (%s)"):format(t.table, t.param)
    end
  end
  if o.require_backup and #unprotected > 0 then
    local msg = ("--require-backup: %s %s neither point-in-time recovery nor a backup: pass --backup, "
      .. "or turn PITR on for %s"):format(table.concat(unprotected, ", "),
      #unprotected == 1 and "has" or "have", #unprotected == 1 and "it" or "them")
    if not o.dry_run then return nil, 2, msg .. "; nothing was written" end
    lines[#lines + 1] = "  a real run would be refused: " .. msg
  end

  -- Without a terminal and without --yes the confirmation refuses: no backups for a run that will not go on.
  local can_confirm = o.yes or sys.isatty(0) or sys.isatty(2)
  if o.backup and (o.dry_run or not can_confirm) then
    for _, t in ipairs(list) do
      if not t.created then lines[#lines + 1] = ("  --backup would create %s"):format(t.backup_name) end
    end
  elseif o.backup and #list > 0 then
    local ok, err, code = create_and_wait(list, o)
    for _, t in ipairs(list) do
      if t.created then lines[#lines + 1] = ("  backup of %s: %s (%s)"):format(t.table, t.created.arn, t.created.status) end
    end
    if not ok then return nil, code, err end
  end
  for _, t in ipairs(list) do
    if t.earlier then
      lines[#lines + 1] = ("  backup of %s made before this run's first write: %s"):format(t.table, t.created.arn)
    end
    report.tables[#report.tables + 1] = {param = t.param, table = t.ref, pitr = t.pitr,
      newest_backup = t.newest_backup, backups_listed = t.backups_listed, backups_error = t.backups_error,
      backup = t.created, backup_from_earlier_run = t.earlier or nil}
  end
  info.backup_created = {}
  for _, t in ipairs(list) do if t.created then info.backup_created[t.ref] = t.created end end
  return true
end

-- After the confirmation, before the first write: the backups go into the
-- state file, so --resume does not make them again.
function M.record(store, info)
  if not info.backup_created or not next(info.backup_created) then return end
  store.data.backups = info.backup_created
  store.dirty = true
  store:save()
end

return M
