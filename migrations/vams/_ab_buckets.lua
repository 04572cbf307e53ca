-- vams/_ab_buckets: the S3 part of vams/ab-deployment. Copies every object
-- of bucket A into bucket B (server-side copies, current versions only),
-- and compares the two buckets object by object.
--
-- Units of work: each ListObjectsV2 page of A (up to 1,000 keys). For a
-- page, B is listed over the same key range, objects already in B with the
-- same size and ETag are skipped, the others are queued for a pool of
-- `window` copy tasks shared by all pages (a sliding window, not page by
-- page). The checkpoint (the continuation token after a page, and the
-- page's last key) moves only past pages whose every object was copied or
-- skipped; a page with a failed object holds it, so --resume redoes that
-- page (its copied objects are then skipped as equal).

local s3 = require "mighost.s3"
local sync = require "mighost.sync"
local sys = require "mighost.sys"

local M = {}

-- Two listings of one key: the same object? Sizes must match; ETags too,
-- unless one is a multipart ETag ("...-N") and the other not (a copy made
-- in parts from a single-part source, which only a multipart threshold
-- below 5 GiB can cause): then the size alone was compared ("size").
function M.same(a, b)
  if not a or not b or a.size ~= b.size then return false end
  if a.etag == b.etag then return true end
  local am, bm = a.etag and a.etag:find("-", 1, true), b.etag and b.etag:find("-", 1, true)
  if (am == nil) ~= (bm == nil) then return "size" end
  return false
end

-- B's objects with keys in (after, last], as key -> {size, etag}.
local function dest_range(to, after, last)
  local out, token = {}, nil
  repeat
    local page, err = s3.list_page{bucket = to, token = token, start_after = token == nil and after or nil}
    if not page then return nil, err end
    for _, o in ipairs(page.objects) do
      if o.key > last then return out end
      out[o.key] = o
    end
    token = page.next_token
  until not token
  return out
end

-- Copies bucket pair.from -> pair.to. ctx: the phase context; st: this
-- pair's persisted state ({token, after, done}); opt: {window, threshold,
-- part_size}.
function M.copy(pair, ctx, st, opt)
  local counts = ctx.counts
  local copies = sync.pool(opt.window)   -- shared by all pages: a sliding window
  local tickets = {}           -- pages in listing order, oldest first
  local frozen = false         -- a page failed: the checkpoint stays before it

  local function advance()
    local moved = false
    while tickets[1] and tickets[1].pending == 0 do
      local t = table.remove(tickets, 1)
      if t.failed > 0 then frozen = true end
      if not frozen then
        st.token, st.after = t.next_token, t.last_key
        moved = true
      end
    end
    if moved then ctx:bucket_checkpoint() end
  end

  local function settle(ticket)
    ticket.pending = ticket.pending - 1
    if ticket.pending == 0 then advance() end
  end

  local function copy_one(o, ticket)
    local res, err = s3.copy{from = pair.from, to = pair.to, key = o.key, size = o.size,
      storage_class = o.storage_class, threshold = opt.threshold, part_size = opt.part_size}
    if res then
      counts.written = counts.written + 1
      ctx:count("bytes_copied", o.size)
      if res.multipart then ctx:count("multipart_copies") end
    else
      ticket.failed = ticket.failed + 1
      ctx:fail(("s3://%s/%s"):format(s3.bucket_name(pair.from), o.key), "copy failed: " .. tostring(err))
    end
    settle(ticket)
  end

  local ok, perr = pcall(function()
    local token, after = st.token, st.after
    if st.done then return end
    repeat
      if sys.interrupted() > 0 then ctx.stopping = true; return end
      local page, err = s3.list_page{bucket = pair.from, token = token}
      if not page then error(err, 0) end
      local objects = page.objects
      local last = objects[#objects] and objects[#objects].key or after
      local ticket = {pending = 1, failed = 0, next_token = page.next_token, last_key = last}
      tickets[#tickets + 1] = ticket
      if #objects > 0 then
        local there, derr = dest_range(pair.to, after, last)
        if not there then error(derr, 0) end
        for _, o in ipairs(objects) do
          if opt.limit and counts.scanned >= opt.limit then ctx.stopping = true; break end
          counts.scanned = counts.scanned + 1
          ctx:count("bytes_listed", o.size)
          if M.same(o, there[o.key]) then
            ctx:skip("already in B with the same size and ETag")
          else
            -- Bounded memory: the lister waits while the window is full.
            ticket.pending = ticket.pending + 1
            if not copies:go(copy_one, o, ticket) then error(copies.err, 0) end
          end
        end
      end
      settle(ticket)
      token, after = page.next_token, last
    until not token or ctx.stopping
  end)
  local wok, werr = pcall(copies.wait, copies)
  if not ok then error(perr, 0) end
  if not wok then error(werr, 0) end
  if not ctx.stopping and not frozen and #tickets == 0 then st.done = true end
  ctx:bucket_checkpoint(true)
end

-- Lists both buckets in step and compares key, size and ETag of every
-- object of A. Returns a check for the report.
function M.verify(pair)
  local check = {name = ("bucket %s -> %s: every object, key, size and ETag"):format(pair.from, pair.to),
                 checked = 0, missing = 0, different = 0, size_only = 0, examples = {}}
  local function lister(bucket)
    local page, i, token, done = nil, 0, nil, false
    return function()
      while true do
        if page and i < #page.objects then i = i + 1; return page.objects[i] end
        if done then return nil end
        local err
        page, err = s3.list_page{bucket = bucket, token = token}
        if not page then error(err, 0) end
        i, token = 0, page.next_token
        done = token == nil
      end
    end
  end
  local next_a, next_b = lister(pair.from), lister(pair.to)
  local b = next_b()
  for a in next_a do
    check.checked = check.checked + 1
    while b and b.key < a.key do b = next_b() end
    local verdict = b and b.key == a.key and M.same(a, b)
    if not verdict then
      if b and b.key == a.key then check.different = check.different + 1
      else check.missing = check.missing + 1 end
      if #check.examples < 10 then check.examples[#check.examples + 1] = a.key end
    elseif verdict == "size" then
      check.size_only = check.size_only + 1
    end
  end
  check.ok = check.missing == 0 and check.different == 0
  return check
end

return M
