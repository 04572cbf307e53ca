-- mighost.ids: the clock and the id source for values a migration creates
-- (dateCreated, generated ids), injectable so that tests compare exact items.
--
--   local ids = require "mighost.ids"
--   local t = ids.now()          -- {sec = epoch seconds, usec = 0..999999}
--   ids.isoformat(t)             -- Python's datetime.now(timezone.utc).isoformat():
--                                -- "2025-01-15T12:00:00.000001+00:00"; no fraction when usec is 0
--   ids.utc_isoformat()          -- ids.isoformat(ids.now())
--   ids.uuid4()                  -- a random version-4 UUID, lowercase 8-4-4-4-12
--
-- Injection, through the environment (read at the first call):
--   MIGHOST_FAKE_CLOCK=2025-01-15T12:00:00[.ffffff][Z|+00:00]
--       the first ids.now() returns that instant, and every further call
--       MIGHOST_FAKE_CLOCK_STEP_US microseconds (default 1) later;
--   MIGHOST_FAKE_UUID=N
--       ids.uuid4() returns 00000000-0000-4000-8000-NNNNNNNNNNNN (N in hex,
--       12 digits) for N, N+1, ...
-- Neither is meant for real runs: each use is said once on stderr.

local mh = require "mighost"
local sys = require "mighost.sys"

local M = {}

local fake_clock, fake_step, fake_uuid
local loaded = false

-- Days since 1970-01-01 of a civil date (proleptic Gregorian).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- "YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+00:00]" -> {sec, usec}, or nil.
function M.parse(text)
  local y, mo, d, h, mi, s, rest = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  local frac, zone = rest:match("^%.(%d+)(.*)$")
  if not frac then frac, zone = "0", rest end
  if zone ~= "" and zone ~= "Z" and zone ~= "+00:00" then return nil end
  local usec = math.tointeger(tonumber((frac .. "000000"):sub(1, 6)))
  local days = days_from_civil(tonumber(y), tonumber(mo), tonumber(d))
  return {sec = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s), usec = usec}
end

local function load()
  if loaded then return end
  loaded = true
  local c = sys.getenv("MIGHOST_FAKE_CLOCK")
  if c and c ~= "" then
    local t = M.parse(c)
    if not t then error("MIGHOST_FAKE_CLOCK: expected YYYY-MM-DDTHH:MM:SS[.ffffff], not " .. c, 0) end
    fake_clock = t.sec * 1000000 + t.usec
    fake_step = math.tointeger(tonumber(sys.getenv("MIGHOST_FAKE_CLOCK_STEP_US") or "1")) or 1
    mh.warn(("MIGHOST_FAKE_CLOCK: timestamps start at %s and advance %d µs per read (tests only)")
      :format(c, fake_step))
  end
  local u = sys.getenv("MIGHOST_FAKE_UUID")
  if u and u ~= "" then
    fake_uuid = math.tointeger(tonumber(u))
    if not fake_uuid then error("MIGHOST_FAKE_UUID: expected a whole number, not " .. u, 0) end
    mh.warn("MIGHOST_FAKE_UUID: ids are 00000000-0000-4000-8000-... from " .. u .. " (tests only)")
  end
end

function M.now()
  load()
  if fake_clock then
    local t = fake_clock
    fake_clock = fake_clock + fake_step
    return {sec = t // 1000000, usec = t % 1000000}
  end
  return M.parse(mh.now())
end

function M.isoformat(t)
  local base = os.date("!%Y-%m-%dT%H:%M:%S", t.sec)
  if t.usec == 0 then return base .. "+00:00" end
  return ("%s.%06d+00:00"):format(base, t.usec)
end

function M.utc_isoformat() return M.isoformat(M.now()) end

local function random_bytes(n)
  local f = io.open("/dev/urandom", "rb")
  local b = f and f:read(n)
  if f then f:close() end
  if b and #b == n then return b end
  local t = {}
  for i = 1, n do t[i] = string.char(math.random(0, 255)) end
  return table.concat(t)
end

function M.uuid4()
  load()
  if fake_uuid then
    local n = fake_uuid
    fake_uuid = fake_uuid + 1
    return ("00000000-0000-4000-8000-%012x"):format(n)
  end
  local b = {random_bytes(16):byte(1, 16)}
  b[7] = (b[7] & 0x0f) | 0x40
  b[9] = (b[9] & 0x3f) | 0x80
  local hex = ("%02x"):rep(16):format(table.unpack(b))
  return ("%s-%s-%s-%s-%s"):format(hex:sub(1, 8), hex:sub(9, 12), hex:sub(13, 16), hex:sub(17, 20),
    hex:sub(21, 32))
end

return M
