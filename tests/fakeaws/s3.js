'use strict'
// S3 in front of s3rver (--s3-upstream URL): fakeaws checks the signature
// the way S3 does (path signed as sent, x-amz-content-sha256 required and
// matched), then forwards the request to s3rver unsigned. s3rver 3.7.1
// lacks two things mighost's S3 binding uses, and only those are done here:
//   - CopyObject's x-amz-tagging-directive COPY (s3rver copies the data and
//     metadata but not the tags): the tags are copied after the copy, and
//     CreateMultipartUpload's x-amz-tagging is applied on completion;
//   - UploadPartCopy (s3rver answers NotImplemented): the source range is
//     read from s3rver and uploaded as the part.
// `s3_faults_next` (POST /__config) answers the next S3 requests, one per
// entry, with "500" (InternalError) or "slowdown" (503 SlowDown) before
// forwarding.

const http = require('http')
const crypto = require('crypto')
const { send, replyError, xmlEscape } = require('./util')

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade',
  'te', 'trailer', 'expect'])
// Headers of the signature itself: s3rver gets the request unsigned.
const AUTH_HEADERS = new Set(['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'])

function queryMap (query) {
  const m = new Map()
  for (const part of query.split('&')) {
    if (!part) continue
    const eq = part.indexOf('=')
    m.set(decodeURIComponent(eq < 0 ? part : part.slice(0, eq)), eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1)))
  }
  return m
}

// The operation, from the method, the path and the query.
function operation (method, path, query, headers) {
  const q = queryMap(query)
  const hasKey = path.split('/').filter(Boolean).length > 1
  const copy = 'x-amz-copy-source' in headers
  if (!hasKey) {
    if (method === 'GET') return q.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects'
    if (method === 'PUT') return 'CreateBucket'
    if (method === 'HEAD') return 'HeadBucket'
    return method + 'Bucket'
  }
  if (q.has('tagging')) return method === 'GET' ? 'GetObjectTagging' : method === 'PUT' ? 'PutObjectTagging' : 'DeleteObjectTagging'
  if (q.has('uploads') && method === 'POST') return 'CreateMultipartUpload'
  if (q.has('uploadId')) {
    if (method === 'PUT') return copy ? 'UploadPartCopy' : 'UploadPart'
    if (method === 'POST') return 'CompleteMultipartUpload'
    if (method === 'DELETE') return 'AbortMultipartUpload'
  }
  if (method === 'PUT') return copy ? 'CopyObject' : 'PutObject'
  return { GET: 'GetObject', HEAD: 'HeadObject', DELETE: 'DeleteObject' }[method] || method + 'Object'
}

// One request to s3rver; done(status, headers, body).
function upstream (ctx, method, path, headers, body, done) {
  const up = ctx.s3Upstream
  const h = Object.assign({}, headers, { host: up.host, 'content-length': body.length })
  const r = http.request({ host: up.hostname, port: up.port, method, path, headers: h, agent: ctx.agent }, (ur) => {
    const chunks = []
    ur.on('data', (c) => chunks.push(c))
    ur.on('end', () => done(ur.statusCode, ur.headers, Buffer.concat(chunks)))
  })
  r.on('error', (e) => done(0, {}, Buffer.from(e.message)))
  r.end(body)
}

function relay (ctx, req, res, status, headers, body) {
  const out = {}
  // A HEAD answer keeps s3rver's Content-Length: it is the object's size.
  for (const [k, v] of Object.entries(headers)) {
    if (HOP_BY_HOP.has(k) || k === 'date' || (k === 'content-length' && req.method !== 'HEAD')) continue
    out[k === 'content-length' ? 'Content-Length' : k] = v
  }
  send(ctx, req, res, status, out, req.method === 'HEAD' ? null : body)
}

function upstreamFailed (ctx, req, res, status, body) {
  ctx.stats.upstream_errors++
  replyError(ctx, req, res, 500, 'InternalError', `fakeaws: s3rver answered ${status}: ${body.toString('utf8').slice(0, 200)}`)
}

// "/bucket/key" from x-amz-copy-source ("bucket/key" or "/bucket/key", encoded).
function sourcePath (header) {
  const s = header.startsWith('/') ? header : '/' + header
  return s.split('?')[0]
}

function sha256Hex (data) { return crypto.createHash('sha256').update(data).digest('hex') }

// S3 wants the payload hash, and checks it.
function payloadProblem (req, body) {
  const h = req.headers['x-amz-content-sha256']
  if (!h) return ['InvalidRequest', 'Missing required header for this request: x-amz-content-sha256']
  if (h !== 'UNSIGNED-PAYLOAD' && h !== sha256Hex(body)) {
    return ['XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed."]
  }
  return null
}

function handle (ctx, req, res, body) {
  if (!ctx.s3Upstream) return replyError(ctx, req, res, 501, 'NotImplemented', 'fakeaws: S3 needs --s3-upstream')
  const problem = payloadProblem(req, body)
  if (problem) return replyError(ctx, req, res, 400, problem[0], problem[1])
  const faults = ctx.cfg.s3_faults_next
  if (faults && faults.length) {
    const kind = faults.shift()
    ctx.stats.faults['s3-' + kind] = (ctx.stats.faults['s3-' + kind] || 0) + 1
    req.fa.record.fault = kind
    if (kind === 'slowdown') return replyError(ctx, req, res, 503, 'SlowDown', 'Please reduce your request rate.')
    return replyError(ctx, req, res, 500, 'InternalError', 'We encountered an internal error. Please try again.')
  }
  const headers = {}
  for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && !AUTH_HEADERS.has(k)) headers[k] = v
  const op = req.fa.target.slice(3)
  if (op === 'UploadPartCopy') return uploadPartCopy(ctx, req, res, headers)
  // s3rver reads x-amz-copy-source with decodeURI, which leaves %2B, %2C,
  // %3A ... encoded: give it the form decodeURI undoes.
  if (op === 'CopyObject') headers['x-amz-copy-source'] = encodeURI(decodeURIComponent(headers['x-amz-copy-source']))
  const after = {
    CopyObject: copyTags,
    CreateMultipartUpload: rememberTags,
    CompleteMultipartUpload: applyTags
  }[op]
  upstream(ctx, req.method, req.url, headers, body, (status, h, b) => {
    if (status === 0) return upstreamFailed(ctx, req, res, status, b)
    if (!after || status !== 200 || b.toString('utf8').includes('<Error>')) return relay(ctx, req, res, status, h, b)
    after(ctx, req, b, (err) => {
      if (err) return upstreamFailed(ctx, req, res, err.status, err.body)
      relay(ctx, req, res, status, h, b)
    })
  })
}

function putTagging (ctx, path, xml, done) {
  if (!xml || !xml.includes('<Tag>')) return done(null)
  upstream(ctx, 'PUT', path + '?tagging', { 'content-type': 'application/xml' }, Buffer.from(xml), (s, h, b) =>
    done(s === 200 ? null : { status: s, body: b }))
}

function copyTags (ctx, req, result, done) {
  if ((req.headers['x-amz-tagging-directive'] || 'COPY') !== 'COPY') return done(null)
  const src = sourcePath(req.headers['x-amz-copy-source'])
  upstream(ctx, 'GET', src + '?tagging', {}, Buffer.alloc(0), (s, h, b) => {
    if (s !== 200) return done({ status: s, body: b })
    putTagging(ctx, req.fa.path, b.toString('utf8'), done)
  })
}

// x-amz-tagging ("k=v&k2=v2") as a Tagging document.
function taggingXml (header) {
  const tags = []
  for (const [k, v] of queryMap(header)) tags.push(`<Tag><Key>${xmlEscape(k)}</Key><Value>${xmlEscape(v)}</Value></Tag>`)
  return `<Tagging><TagSet>${tags.join('')}</TagSet></Tagging>`
}

function rememberTags (ctx, req, result, done) {
  const m = /<UploadId>([^<]+)<\/UploadId>/.exec(result.toString('utf8'))
  if (m && req.headers['x-amz-tagging']) {
    ctx.s3UploadTags = ctx.s3UploadTags || new Map()
    ctx.s3UploadTags.set(m[1], taggingXml(req.headers['x-amz-tagging']))
  }
  done(null)
}

function applyTags (ctx, req, result, done) {
  const id = queryMap(req.fa.query).get('uploadId')
  const xml = ctx.s3UploadTags && ctx.s3UploadTags.get(id)
  if (!xml) return done(null)
  ctx.s3UploadTags.delete(id)
  putTagging(ctx, req.fa.path, xml, done)
}

function uploadPartCopy (ctx, req, res, headers) {
  const src = sourcePath(req.headers['x-amz-copy-source'])
  const range = req.headers['x-amz-copy-source-range']
  if (range && !/^bytes=\d+-\d+$/.test(range)) {
    return replyError(ctx, req, res, 400, 'InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last')
  }
  upstream(ctx, 'GET', src, range ? { range } : {}, Buffer.alloc(0), (s, h, data) => {
    if (s === 404) return replyError(ctx, req, res, 404, 'NoSuchKey', 'The specified key does not exist.')
    if (s !== 200 && s !== 206) return upstreamFailed(ctx, req, res, s, data)
    const match = req.headers['x-amz-copy-source-if-match']
    if (match && match.replace(/"/g, '') !== String(h.etag || '').replace(/"/g, '')) {
      return replyError(ctx, req, res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold')
    }
    upstream(ctx, 'PUT', req.url, { 'content-type': 'application/octet-stream' }, data, (ps, ph, pb) => {
      if (ps !== 200) return upstreamFailed(ctx, req, res, ps, pb)
      const body = '<?xml version="1.0" encoding="UTF-8"?>\n<CopyPartResult>' +
        `<LastModified>${new Date(ctx.now()).toISOString()}</LastModified>` +
        `<ETag>${xmlEscape(ph.etag || '')}</ETag></CopyPartResult>`
      send(ctx, req, res, 200, { 'Content-Type': 'application/xml' }, body)
    })
  })
}

module.exports = { handle, operation }
