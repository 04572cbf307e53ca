-- examples/ttl-from-date: set a TTL attribute (N, epoch seconds) from an
-- ISO-8601 date attribute plus a retention in days:
--   createdAt = "2024-03-01T10:00:00Z", retention 30 days
--   -> expiresAt = 1711879200 (2024-03-31T10:00:00Z)
-- Items without a parseable date are skipped and listed in the report.
--
-- An update phase: one conditional UpdateItem (SET of the TTL only) per
-- item, so a change an application makes to other attributes meanwhile is
-- kept, and an item deleted meanwhile is not recreated. Items whose TTL is
-- already right are skipped by the runner: a second run writes nothing.
--
-- DynamoDB's TTL must also be enabled on the table for `ttl_attr`
-- (UpdateTimeToLive); this migration only fills the attribute.

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
-- days_from_civil). Computed by hand because os.time() reads its argument
-- as LOCAL time, which would shift every TTL by the host's UTC offset.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12                         -- March = 0
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- "2024-03-01", "2024-03-01T10:00:00Z", "2024-03-01T10:00:00.123+02:00"
-- -> epoch seconds (UTC), or nil. A time without a zone is taken as UTC.
local function parse_iso(s)
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 or d > 31 then return nil end
  local h, mi, sec, offset = 0, 0, 0, 0
  if rest ~= "" then
    local hh, mm, ss, zone = rest:match("^[T ](%d%d):(%d%d):(%d%d)%.?%d*(.*)$")
    if not hh then return nil end
    h, mi, sec = tonumber(hh), tonumber(mm), tonumber(ss)
    if h > 23 or mi > 59 or sec > 60 then return nil end
    if zone ~= "" and zone ~= "Z" then
      local sign, oh, om = zone:match("^([+-])(%d%d):?(%d%d)$")
      if not sign then return nil end
      offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "+" and 1 or -1)
    end
  end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset
end

-- key: the item's key, which the report lists with a skip.
local function change(it, ctx, key)
  local p = ctx.params
  local date = it[p.date_attr] and it[p.date_attr].S
  local at = date and parse_iso(date)
  if not at then
    ctx:skip(date and "unparseable " .. p.date_attr or "no " .. p.date_attr, key)
    return nil
  end
  return {set = {[p.ttl_attr] = {N = tostring(at + p.retention_days * 86400)}}}
end

local ddb = require "mighost.dynamodb"

local function verify(ctx)
  local p = ctx.params
  local checked, wrong = 0, 0
  for it in ddb.scan{table = p.table, segments = 4, consistent = true} do
    local at = it[p.date_attr] and it[p.date_attr].S and parse_iso(it[p.date_attr].S)
    if at then
      checked = checked + 1
      local want = tostring(at + p.retention_days * 86400)
      if not (it[p.ttl_attr] and it[p.ttl_attr].N == want) then wrong = wrong + 1 end
    end
  end
  return wrong == 0, {{name = p.ttl_attr .. " = " .. p.date_attr .. " + retention",
                       checked = checked, wrong = wrong, ok = wrong == 0}}
end

return {
  name = "examples/ttl-from-date",
  description = "Set a TTL attribute (epoch seconds) from an ISO date plus a retention in days.",
  params = {
    {name = "table", type = "table", required = true, access = "write", key = {hash = "pk"},
     doc = "the table to change in place"},
    {name = "date_attr", type = "string", default = "createdAt", doc = "ISO-8601 date attribute (S)"},
    {name = "ttl_attr", type = "string", default = "expiresAt", doc = "TTL attribute to set (N)"},
    {name = "retention_days", type = "integer", default = 90, doc = "days to keep after the date"},
  },
  check = function(p)
    if p.retention_days < 0 then return "--retention-days must be 0 or more" end
  end,
  phases = {
    {name = "set_ttl", update = {table = "table", change = change}},
    {name = "verify", verify = verify, reads = {"table"}},
  },
}
