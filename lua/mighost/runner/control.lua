-- mighost.runner.control: live control of a running migration (`mighost
-- ctl RUN COMMAND`), over a Unix socket beside the state file (mode 0600)
-- or, where sockets cannot be used, a flag file: the command written to
-- RUN.ctl, the answer left in RUN.ctl.reply.
--
--   pause | resume | status | stop
--   set max-write-rate N | set max-read-rate N | set concurrency N
--
-- A paused run sends no new DynamoDB request; those in flight finish
-- (mighost.dynamodb's gate). `stop` is Ctrl-C: what is in flight lands,
-- the state is saved, exit 130. Rates are the same buckets as
-- --max-read-rate / --max-write-rate, changed in place (a request waits at
-- most 0.2 s before it sees a new rate). Each command is recorded in the
-- report's `control` list with the time and the answer.

local ctl = require "mighost.ctl"
local ddb = require "mighost.dynamodb"
local json = require "mighost.json"
local sys = require "mighost.sys"
local mh = require "mighost"

local M = {}
local Control = {}
Control.__index = Control

M.POLL_SECONDS = 0.2

-- The files of a run's control, from its state file's path.
function M.paths(state_path)
  local base = state_path:gsub("%.json$", "")
  return {socket = base .. ".ctl.sock", flag = base .. ".ctl", reply = base .. ".ctl.reply"}
end

local SETTINGS = {["max-write-rate"] = "write", ["max-read-rate"] = "read", concurrency = "concurrency"}

function Control:status()
  local g = ddb.control_state()
  local ctx, s = self.ctx, {}
  if ctx then
    s.phase = ctx.phase.name
    for _, k in ipairs{"scanned", "written", "deleted", "failed"} do s[k] = ctx.counts[k] end
    -- A kind with a batch writer counts its writes at the end: its own
    -- counts meanwhile.
    if ctx.writer then
      s.written = s.written + ctx.writer.counts.put
      s.deleted = s.deleted + ctx.writer.counts.deleted
    end
  end
  s.paused, s.in_flight, s.concurrency = g.paused, g.in_flight, g.limit
  s.max_write_rate, s.max_read_rate = self.o.max_write_rate, self.o.max_read_rate
  return s
end

-- Runs one command line; returns the answer (a JSON object).
function Control:execute(line)
  local words = {}
  for w in line:gmatch("%S+") do words[#words + 1] = w end
  local cmd, answer = words[1], nil
  if cmd == "pause" then
    ddb.control{paused = true}
    answer = {ok = true, message = "paused: requests in flight finish, no new ones are sent"}
  elseif cmd == "resume" then
    ddb.control{paused = false}
    answer = {ok = true, message = "resumed"}
  elseif cmd == "status" then
    answer = {ok = true, status = self:status()}
  elseif cmd == "stop" then
    ctl.interrupt()
    answer = {ok = true, message = "stopping: what is in flight lands, the state is saved, exit 130"}
  elseif cmd == "set" and SETTINGS[words[2] or ""] and tonumber(words[3] or "") and
         tonumber(words[3]) > 0 then
    local what, n = SETTINGS[words[2]], tonumber(words[3])
    if what == "concurrency" then
      n = math.tointeger(n)
      if not n then return {ok = false, message = "set concurrency: a whole number"} end
      ddb.control{limit = n}
      require("mighost.inflight").set_cap(n)   -- the learnt windows stay under it
    else
      ddb.set_rate_limit(what, n)
      self.o["max_" .. what .. "_rate"] = n
    end
    answer = {ok = true, message = ("%s set to %s"):format(words[2], tostring(n))}
  else
    return {ok = false, message = "unknown command: " .. line .. " (pause, resume, status, stop, "
      .. "set max-write-rate N, set max-read-rate N, set concurrency N)"}
  end
  if cmd == "status" then return answer end
  local list = self.rep.data.control or json.array()
  self.rep.data.control = list
  list[#list + 1] = {at = sys.utc(), command = line, answer = answer.message}
  mh.info(("control: %s: %s"):format(line, answer.message))
  return answer
end

function Control:poll()
  if self.fd then
    while true do
      local line, conn = ctl.accept(self.fd)
      if not line then break end
      ctl.reply(conn, json.encode(self:execute(line)) .. "\n")
    end
  end
  if sys.exists(self.paths.flag) then
    local text = sys.read_file(self.paths.flag) or ""
    os.remove(self.paths.flag)
    local answers = {}
    for line in text:gmatch("[^\n]+") do answers[#answers + 1] = json.encode(self:execute(line)) end
    sys.write_file(self.paths.reply, table.concat(answers, "\n") .. "\n")
  end
end

-- Starts listening for a run whose state file is store.path; rep is the
-- report, o the run's options (their rates change with the commands).
function M.start(store, rep, o)
  local c = setmetatable({paths = M.paths(store.path), rep = rep, o = o, running = true}, Control)
  sys.mkdirs(store.dir)
  os.remove(c.paths.flag)   -- a command left for an earlier process is not for this one
  local fd, err = ctl.listen(c.paths.socket)
  if not fd then mh.warn(("live control through %s only (%s)"):format(c.paths.flag, err)) end
  c.fd = fd
  c.task = mh.spawn(function()
    while c.running do
      local ok, perr = pcall(c.poll, c)
      if not ok then mh.warn("live control: " .. tostring(perr)) end
      mh.sleep(M.POLL_SECONDS)
    end
  end)
  return c
end

function Control:stop()
  self.running = false
  self.task:wait()
  if self.fd then ctl.close(self.fd, self.paths.socket) end
  self.fd = nil
  ddb.control{paused = false}
end

-- The client: `mighost ctl RUN COMMAND...`, waiting at most timeout
-- seconds (default 5) for the answer. Returns the answer (a table), or nil
-- and a message.
function M.send(state_path, line, use_flag_file, timeout)
  timeout = timeout or 5
  local p = M.paths(state_path)
  if not use_flag_file then
    local reply, err = ctl.send(p.socket, line, timeout)
    if reply then
      local ok, a = pcall(json.decode, reply)
      if ok and type(a) == "table" then return a end
      return nil, "unreadable answer: " .. reply
    end
    if sys.exists(p.socket) then return nil, err end
  end
  os.remove(p.reply)
  local ok, werr = sys.write_file(p.flag, line .. "\n")
  if not ok then return nil, tostring(werr) end
  local deadline = mh.clock() + timeout
  while mh.clock() < deadline do
    local text = sys.read_file(p.reply)
    if text and text:match("\n$") then
      os.remove(p.reply)
      local dok, a = pcall(json.decode, text:match("^[^\n]*"))
      if dok and type(a) == "table" then return a end
      return nil, "unreadable answer: " .. text
    end
    mh.sleep(0.1)
  end
  os.remove(p.flag)
  return nil, ("no answer within %g s through %s: is the run still going? (a slowed run may need "
    .. "a longer --timeout)"):format(timeout, p.flag)
end

return M
