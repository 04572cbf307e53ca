-- mighost.runner.where: where a run acts, asked once per run. The account
-- and the principal come from STS GetCallerIdentity; the profile, region,
-- endpoints and the credential source from the host. Part of the run
-- identity (runner.state), shown in the confirmation and the report;
-- never holds a secret.

local sys = require "mighost.sys"
local aws = require "mighost.aws"
local xml = require "mighost.xml"

local M = {}

local function caller_identity()
  local body, err = aws.call("sts", "GetCallerIdentity", "", {max_attempts = 3})
  if not body then return nil, err end
  local doc, xerr = xml.decode(body)
  if not doc then return nil, xerr end
  local found = {}
  local function walk(e)
    if e.tag == "Account" or e.tag == "Arn" then found[e.tag] = e.text end
    for _, c in ipairs(e) do if type(c) == "table" then walk(c) end end
  end
  walk(doc)
  if not found.Account then return nil, "GetCallerIdentity answered without an Account" end
  return found
end

-- "URL (service, service)" for each endpoint that is not the region's
-- public one; the DynamoDB endpoint when all are public.
local function endpoints_text(list)
  local order, by_url = {}, {}
  for _, e in ipairs(list) do
    if e.custom then
      if not by_url[e.url] then order[#order + 1] = e.url; by_url[e.url] = {} end
      table.insert(by_url[e.url], e.service)
    end
  end
  if #order == 0 then
    for _, e in ipairs(list) do if e.service == "dynamodb" then return e.url end end
  end
  local out = {}
  for _, url in ipairs(order) do
    out[#out + 1] = ("%s (%s)"):format(url, table.concat(by_url[url], ", "))
  end
  return table.concat(out, "; ")
end

local cached

-- {account, principal, profile, region, endpoint, endpoints, credentials}
-- or nil, exit code, message. `account` is nil only when STS itself is a
-- local test endpoint that does not answer GetCallerIdentity (dynalite):
-- such a run is told apart by its endpoint.
function M.get()
  if cached then return cached end
  local creds, err = sys.credentials()
  if not creds then return nil, 2, tostring(err) end
  local list, eerr = sys.endpoints()
  if not list then return nil, 2, tostring(eerr) end
  local sts_local, keys = false, {}
  for _, e in ipairs(list) do
    keys[#keys + 1] = e.service .. "=" .. e.url
    if e.service == "sts" then sts_local = e.loopback end
  end
  table.sort(keys)
  local who, werr = caller_identity()
  if not who then
    local code = type(werr) == "table" and werr.code or ""
    local denied = code:match("Token") or code:match("Signature") or code:match("AccessDenied")
      or code:match("Credential") or code:match("UnrecognizedClient")
    -- A local emulator without STS (dynalite) answers anything else.
    if denied or not sts_local then
      return nil, denied and 2 or 3, ("cannot tell which account these credentials belong to "
        .. "(STS GetCallerIdentity): %s"):format(tostring(werr))
    end
  end
  local env_profile = sys.getenv("AWS_PROFILE")
  cached = {
    account = who and who.Account, principal = who and who.Arn,
    profile = creds.profile or (creds.source == "environment" and "(none)") or
      (env_profile ~= "" and env_profile) or "default",
    region = creds.region, credentials = creds.source,
    endpoint = table.concat(keys, " "), endpoints = endpoints_text(list),
  }
  return cached
end

-- One line for the confirmation and the start of a run.
function M.describe(w)
  if w.offline then return ("no AWS account (offline: reading %s)"):format(w.offline) end
  return ("account %s (%s), profile %s, region %s, endpoint %s, credentials from %s"):format(
    w.account or "unknown: local STS endpoint", w.principal or "no principal", w.profile, w.region,
    w.endpoints, w.credentials)
end

return M
