-- mighost.s3: Amazon S3 (REST-XML) for scripts, on mighost.aws.rest.
--
--   local page, err = s3.list_page{bucket = B, token = T, start_after = K, max_keys = 1000}
--       -- {objects = {{key, size, etag, storage_class}, ...}, next_token}
--   local obj, err  = s3.head{bucket = B, key = K}
--       -- {size, etag, metadata = {name = value}, headers = {...}, parts}
--   local tags, err = s3.tagging{bucket = B, key = K}   -- {{key =, value =}, ...}
--   local ok, err   = s3.put{bucket = B, key = K, body = TEXT}     -- PutObject
--   local body, err = s3.get{bucket = B, key = K}                 -- GetObject
--   local res, err  = s3.copy{from = A, to = B, key = K, size = N,
--                             storage_class = SC, threshold = T, part_size = P}
--       -- {etag, multipart}
--
-- A bucket is "NAME" or "NAME@profile=P,region=R" (as tables are), to reach
-- it with another profile or in another region. A copy is sent to the
-- destination's client, which reads the source itself (S3 copies server
-- side): its credentials need read access to the source bucket.
--
-- copy keeps the object's metadata and tags (the COPY directives) and its
-- storage class; it sends no encryption headers, so the copy takes the
-- destination bucket's default encryption (a KMS-encrypted source needs
-- kms:Decrypt on the source key). Without a version id the current version
-- is copied. Objects larger than `threshold` (5 GiB, CopyObject's limit,
-- by default) go through a multipart copy: CreateMultipartUpload with the
-- source's metadata, tags and storage class, UploadPartCopy per range,
-- CompleteMultipartUpload (AbortMultipartUpload on failure). When the
-- source was itself uploaded in parts, its part size is reused, so the
-- copy gets the same ETag.
--
-- AWS errors come back as values (nil, err); CopyObject's and
-- CompleteMultipartUpload's "200 with an <Error> body" counts as an error.
-- In a dry-run copies are recorded in the plan ({"op":"CopyObject",
-- "table":"s3:BUCKET",...}) and not sent.

local aws = require "mighost.aws"
local xml = require "mighost.xml"
local json = require "mighost.json"
local plan = require "mighost.plan"
local route = require "mighost.route"
local mh = require "mighost"

local M = {}
M.COPY_MAX = 5 << 30                  -- CopyObject's largest object
M.PART_SIZE = 512 << 20               -- default part of a multipart copy
M.PART_MIN = 5 << 20                  -- S3's smallest part (all but the last)
M.PARTS_MAX = 10000
M.PART_WINDOW = 8                     -- parts of one object copied at once

local counts = {calls = 0, retries = 0, throttles = 0, errors = 0, recorded = 0}
-- "NAME@profile=P,region=R" -> NAME, {profile =, region =} or nil.
local function parse_ref(b)
  local r = route.parse(b, "bucket")
  return r.name, r.route
end
M.bucket_name = function(b) return (parse_ref(b)) end

local function need(o, field, what)
  if type(o) ~= "table" or o[field] == nil or o[field] == "" then
    error(("option '%s' (%s) is required"):format(field, what), 3)
  end
  return o[field]
end

local function unquote(etag) return etag and (etag:gsub('"', "")) or nil end

-- First child element named tag, and its text.
local function child(el, tag)
  for _, c in ipairs(el or {}) do if c.tag == tag then return c end end
end
local function text(el, tag)
  local c = child(el, tag)
  return c and c.text or nil
end

local function request(bucket, r)
  local name, route = parse_ref(bucket)
  local path = r.key and ("/" .. aws.uri_encode(r.key, true)) or "/"
  local body, meta = aws.rest("s3", {method = r.method, bucket = name, path = path,
                                     query = r.query, headers = r.headers, body = r.body}, route)
  counts.calls = counts.calls + 1
  counts.retries = counts.retries + (meta.attempts > 0 and meta.attempts - 1 or 0)
  counts.throttles = counts.throttles + (meta.throttles or 0)
  if not body then
    counts.errors = counts.errors + 1
    meta.operation = r.op
    return nil, meta
  end
  if not r.xml then return body, meta end
  local doc, perr = xml.decode(body ~= "" and body or "<Empty/>")
  if not doc then
    counts.errors = counts.errors + 1
    return nil, aws.error("SerializationException", r.op .. ": " .. perr, false)
  end
  if doc.tag == "Error" then
    -- S3 may answer 200 and report the failure in the body.
    counts.errors = counts.errors + 1
    local code = text(doc, "Code") or "InternalError"
    return nil, aws.error(code, r.op .. ": " .. (text(doc, "Message") or code),
                          code == "InternalError" or code == "SlowDown")
  end
  return doc, meta
end

local function query_of(params)
  local parts = {}
  for _, p in ipairs(params) do
    parts[#parts + 1] = p[2] == nil and p[1] or (p[1] .. "=" .. aws.uri_encode(tostring(p[2])))
  end
  return table.concat(parts, "&")
end

-- ListObjectsV2, one page.
function M.list_page(o)
  local bucket = need(o, "bucket", "the bucket")
  local q = {{"list-type", "2"}, {"max-keys", o.max_keys or 1000}}
  if o.token then q[#q + 1] = {"continuation-token", o.token} end
  if o.prefix then q[#q + 1] = {"prefix", o.prefix} end
  if o.start_after then q[#q + 1] = {"start-after", o.start_after} end
  local doc, err = request(bucket, {op = "ListObjectsV2", method = "GET", query = query_of(q), xml = true})
  if not doc then return nil, err end
  local page = {objects = {}}
  for _, c in ipairs(doc) do
    if c.tag == "Contents" then
      page.objects[#page.objects + 1] = {key = text(c, "Key"), size = tonumber(text(c, "Size")) or 0,
        etag = unquote(text(c, "ETag")), storage_class = text(c, "StorageClass") or "STANDARD"}
    end
  end
  if text(doc, "IsTruncated") == "true" then
    page.next_token = text(doc, "NextContinuationToken")
    if not page.next_token or page.next_token == "" then
      return nil, aws.error("SerializationException",
        "ListObjectsV2: a truncated page without NextContinuationToken", false)
    end
  end
  return page
end

-- The headers a multipart copy must repeat (UploadPartCopy carries none).
local KEPT_HEADERS = {"content-type", "cache-control", "content-disposition", "content-encoding",
                      "content-language", "expires", "x-amz-website-redirect-location"}

-- HeadObject; part_number asks for one part's size (of a multipart upload).
function M.head(o)
  local bucket, key = need(o, "bucket", "the bucket"), need(o, "key", "the object key")
  local q = o.part_number and query_of{{"partNumber", o.part_number}} or nil
  local _, meta = request(bucket, {op = "HeadObject", method = "HEAD", key = key, query = q})
  if not _ then return nil, meta end
  local h = meta.headers or {}
  local obj = {size = tonumber(h["content-length"]) or 0, etag = unquote(h["etag"]), metadata = {},
               headers = {}, parts = tonumber(h["x-amz-mp-parts-count"]),
               storage_class = h["x-amz-storage-class"] or "STANDARD"}
  for name, v in pairs(h) do
    local m = name:match("^x%-amz%-meta%-(.+)$")
    if m then obj.metadata[m] = v; obj.headers[name] = v end
  end
  for _, name in ipairs(KEPT_HEADERS) do obj.headers[name] = h[name] end
  return obj
end

-- GetObjectTagging: the tag set as a list, in S3's order.
function M.tagging(o)
  local bucket, key = need(o, "bucket", "the bucket"), need(o, "key", "the object key")
  local doc, err = request(bucket, {op = "GetObjectTagging", method = "GET", key = key,
                                    query = "tagging", xml = true})
  if not doc then return nil, err end
  local tags = {}
  for _, t in ipairs(child(doc, "TagSet") or {}) do
    if t.tag == "Tag" then tags[#tags + 1] = {key = text(t, "Key"), value = text(t, "Value") or ""} end
  end
  return tags
end

-- PutObject of a string (the undo journal's parts); true or nil, err.
-- In a dry-run it is recorded in the plan and not sent.
function M.put(o)
  local bucket, key = need(o, "bucket", "the bucket"), need(o, "key", "the object key")
  if type(o.body) ~= "string" then error("option 'body' (a string) is required", 2) end
  if mh.dry_run then
    plan.record("PutObject", "s3:" .. parse_ref(bucket),
      json.encode{Bucket = parse_ref(bucket), Key = key, Size = #o.body})
    counts.recorded = counts.recorded + 1
    return true
  end
  local sent, err = request(bucket, {op = "PutObject", method = "PUT", key = key, body = o.body,
    headers = {["content-type"] = o.content_type or "application/octet-stream"}})
  if not sent then return nil, err end
  return true
end

-- GetObject: the object's bytes, or nil, err (err.code "NoSuchKey" when absent).
function M.get(o)
  local bucket, key = need(o, "bucket", "the bucket"), need(o, "key", "the object key")
  return request(bucket, {op = "GetObject", method = "GET", key = key})
end

local function copy_source(from, key)
  return "/" .. aws.uri_encode(parse_ref(from), false) .. "/" .. aws.uri_encode(key, true)
end

local function copy_whole(o)
  local headers = {["x-amz-copy-source"] = copy_source(o.from, o.key),
                   ["x-amz-metadata-directive"] = "COPY", ["x-amz-tagging-directive"] = "COPY"}
  if o.storage_class and o.storage_class ~= "STANDARD" then
    headers["x-amz-storage-class"] = o.storage_class
  end
  local doc, err = request(o.to, {op = "CopyObject", method = "PUT", key = o.key,
                                  headers = headers, xml = true})
  if not doc then return nil, err end
  return {etag = unquote(text(doc, "ETag")), multipart = false}
end

-- The part size: the source's own when it was uploaded in parts (same
-- ETag), else o.part_size, grown so the object fits in 10,000 parts.
local function part_size_for(o, src)
  if src.parts and src.parts > 1 then
    local first, err = M.head{bucket = o.from, key = o.key, part_number = 1}
    if not first then return nil, err end
    if first.size > 0 then return first.size end
  end
  local size = math.max(o.part_size or M.PART_SIZE, M.PART_MIN)
  while size * M.PARTS_MAX < src.size do size = size * 2 end
  return size
end

local function copy_parts(o)
  local src, err = M.head{bucket = o.from, key = o.key}
  if not src then return nil, err end
  local tags
  tags, err = M.tagging{bucket = o.from, key = o.key}
  if not tags then return nil, err end
  local part_size
  part_size, err = part_size_for(o, src)
  if not part_size then return nil, err end
  local headers = {}
  for k, v in pairs(src.headers) do headers[k] = v end
  if src.storage_class ~= "STANDARD" then headers["x-amz-storage-class"] = src.storage_class end
  if #tags > 0 then
    local q = {}
    for i, t in ipairs(tags) do q[i] = {t.key, t.value} end
    headers["x-amz-tagging"] = query_of(q)
  end
  local doc
  doc, err = request(o.to, {op = "CreateMultipartUpload", method = "POST", key = o.key,
                            query = "uploads", headers = headers, xml = true})
  if not doc then return nil, err end
  local upload = text(doc, "UploadId")
  local source = copy_source(o.from, o.key)
  local etags, failure = {}, nil
  local nparts = math.max(1, math.ceil(src.size / part_size))
  -- Parts go in a bounded window of tasks; the first failure stops the rest.
  local next_part = 1
  local function worker()
    while not failure and next_part <= nparts do
      local n = next_part
      next_part = next_part + 1
      local first = (n - 1) * part_size
      local last = math.min(src.size, n * part_size) - 1
      local pdoc, perr = request(o.to, {op = "UploadPartCopy", method = "PUT", key = o.key,
        query = query_of{{"partNumber", n}, {"uploadId", upload}},
        headers = {["x-amz-copy-source"] = source,
                   ["x-amz-copy-source-range"] = ("bytes=%d-%d"):format(first, last),
                   ["x-amz-copy-source-if-match"] = '"' .. src.etag .. '"'}, xml = true})
      etags[n] = pdoc and text(pdoc, "ETag")
      if not etags[n] then
        failure = perr or aws.error("SerializationException", "UploadPartCopy: no ETag in the answer", false)
      end
    end
  end
  local workers = {}
  for i = 1, math.min(M.PART_WINDOW, nparts) do workers[i] = mh.spawn(worker) end
  for _, w in ipairs(workers) do w:wait() end
  if not failure then
    local body = {"<CompleteMultipartUpload>"}
    for n = 1, nparts do
      body[#body + 1] = ("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>"):format(n,
        (etags[n]:gsub("&", "&amp;"):gsub("<", "&lt;"):gsub('"', "&quot;")))
    end
    body[#body + 1] = "</CompleteMultipartUpload>"
    doc, failure = request(o.to, {op = "CompleteMultipartUpload", method = "POST", key = o.key,
      query = query_of{{"uploadId", upload}}, body = table.concat(body), xml = true})
    if doc then return {etag = unquote(text(doc, "ETag")), multipart = true, parts = nparts} end
  end
  -- Leave no half-finished upload behind (it would be billed).
  request(o.to, {op = "AbortMultipartUpload", method = "DELETE", key = o.key,
                 query = query_of{{"uploadId", upload}}})
  return nil, failure
end

function M.copy(o)
  need(o, "from", "the source bucket")
  local to = need(o, "to", "the destination bucket")
  local key = need(o, "key", "the object key")
  local size = need(o, "size", "the object's size")
  local threshold = o.threshold or M.COPY_MAX
  local multipart = size > threshold
  if mh.dry_run then
    plan.record(multipart and "MultipartCopy" or "CopyObject", "s3:" .. parse_ref(to),
      json.encode{Bucket = parse_ref(to), Key = key, CopySource = copy_source(o.from, key), Size = size})
    counts.recorded = counts.recorded + 1
    return {dry_run = true, multipart = multipart}
  end
  if multipart then return copy_parts(o) end
  return copy_whole(o)
end

function M.stats()
  local c = {}
  for k, v in pairs(counts) do c[k] = v end
  return c
end

return M
