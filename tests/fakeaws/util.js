'use strict'
// Small helpers shared by the fake AWS server's modules: CRC32, ids, dates,
// XML escaping, the one function that writes every response, and fakeaws's
// own requests to the upstream dynalite.

const crypto = require('crypto')
const http = require('http')
const zlib = require('zlib')

// zlib.crc32 exists from node 20.15 / 22.2; keep a table version for older nodes.
let crcTable = null
function tableCrc32 (buf) {
  if (!crcTable) {
    crcTable = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      crcTable[n] = c >>> 0
    }
  }
  let crc = 0xffffffff
  for (let i = 0; i < buf.length; i++) crc = crcTable[(crc ^ buf[i]) & 0xff] ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}
const crc32 = typeof zlib.crc32 === 'function' ? (buf) => zlib.crc32(buf) : tableCrc32

function randomId () { return crypto.randomUUID() }

function randomHex (bytes) { return crypto.randomBytes(bytes).toString('hex') }

// Upper-case letters and digits 2-7, like real access key ids.
function randomKeyChars (n) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  const bytes = crypto.randomBytes(n)
  let s = ''
  for (let i = 0; i < n; i++) s += alphabet[bytes[i] & 31]
  return s
}

// ISO 8601 without milliseconds, as AWS prints expirations.
function isoSeconds (ms) { return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') }

const XML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }
function xmlEscape (s) { return String(s).replace(/[&<>"']/g, (c) => XML_ESCAPES[c]) }

// Writes a complete response with the headers every AWS response carries.
// req.fa holds per-request state set by the router (request id, record,
// whether the route wants x-amz-crc32).
function send (ctx, req, res, status, headers, body) {
  if (body == null) body = Buffer.alloc(0)
  else if (!Buffer.isBuffer(body)) body = Buffer.from(body)
  const fa = req.fa || {}
  const h = {
    'x-amzn-RequestId': fa.requestId || randomId(),
    Date: new Date(ctx.now()).toUTCString(),
    'Content-Length': body.length
  }
  if (fa.crc) h['x-amz-crc32'] = String(crc32(body))
  Object.assign(h, headers)
  if (fa.record) { // AWS routes only: control and metadata answers are not counted
    fa.record.status = status
    ctx.stats.by_status[status] = (ctx.stats.by_status[status] || 0) + 1
  }
  if (res.destroyed) return
  res.writeHead(status, h)
  res.end(body)
}

const CONTENT_TYPES = {
  'json1.0': 'application/x-amz-json-1.0',
  'json1.1': 'application/x-amz-json-1.1',
  rest: 'application/json'
}

const XML_NAMESPACES = {
  sts: 'https://sts.amazonaws.com/doc/2011-06-15/',
  cloudformation: 'http://cloudformation.amazonaws.com/doc/2010-05-15/'
}

function replyJson (ctx, req, res, status, obj, headers) {
  const body = obj === undefined ? '' : JSON.stringify(obj)
  send(ctx, req, res, status, Object.assign({ 'Content-Type': CONTENT_TYPES[req.fa.proto] || 'application/json' }, headers), body)
}

// An error in the shape of the route's protocol: JSON {"__type", "message"}
// (namespaced for JSON 1.0 like DynamoDB, bare for JSON 1.1), REST-JSON
// {"Type", "message"}, or the query protocol's XML ErrorResponse. The code is
// also in x-amzn-ErrorType. `type` overrides the JSON __type.
function replyError (ctx, req, res, status, code, message, type) {
  const fa = req.fa
  if (fa.record) fa.record.error = code
  if (fa.proto === 's3') {
    const body = req.method === 'HEAD' ? null : '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message>` +
      `<RequestId>${fa.requestId}</RequestId></Error>`
    return send(ctx, req, res, status, { 'Content-Type': 'application/xml' }, body)
  }
  if (fa.proto === 'query') {
    const ns = XML_NAMESPACES[fa.service] || XML_NAMESPACES.sts
    const body = `<ErrorResponse xmlns="${ns}"><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type>` +
      `<Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error>` +
      `<RequestId>${fa.requestId}</RequestId></ErrorResponse>`
    return send(ctx, req, res, status, { 'Content-Type': 'text/xml', 'x-amzn-ErrorType': code }, body)
  }
  const obj = fa.proto === 'rest'
    ? { Type: status >= 500 ? 'Service' : 'User', message }
    : { __type: type || (fa.proto === 'json1.0' ? 'com.amazon.coral.service#' + code : code), message }
  replyJson(ctx, req, res, status, obj, { 'x-amzn-ErrorType': code })
}

// <ActionResponse><ActionResult>inner</ActionResult><ResponseMetadata>...
function replyXml (ctx, req, res, action, inner) {
  const ns = XML_NAMESPACES[req.fa.service] || XML_NAMESPACES.sts
  const body = `<${action}Response xmlns="${ns}">\n  <${action}Result>\n${inner}  </${action}Result>\n` +
    `  <ResponseMetadata>\n    <RequestId>${req.fa.requestId}</RequestId>\n  </ResponseMetadata>\n</${action}Response>\n`
  send(ctx, req, res, 200, { 'Content-Type': 'text/xml' }, body)
}

// One DynamoDB request of fakeaws's own to the upstream dynalite (which
// wants a signature header and checks none). Resolves to {status, body}
// with body parsed, or {status: 0} on a transport error (counted).
function upstreamCall (ctx, op, input) {
  const body = Buffer.from(JSON.stringify(input))
  const up = ctx.upstream
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
  return new Promise((resolve) => {
    const r = http.request({
      host: up.hostname,
      port: up.port,
      method: 'POST',
      path: '/',
      agent: ctx.agent,
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.' + op,
        'x-amz-date': amzDate,
        authorization: `AWS4-HMAC-SHA256 Credential=AKIDTEST/${amzDate.slice(0, 8)}/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0`,
        'content-length': body.length
      }
    }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        let parsed = null
        try { parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch (e) {}
        if (res.statusCode !== 200) ctx.stats.upstream_errors++
        resolve({ status: res.statusCode, body: parsed })
      })
    })
    r.on('error', (e) => { ctx.stats.upstream_errors++; ctx.log(`upstream ${op}: ${e.message}`); resolve({ status: 0 }) })
    r.end(body)
  })
}

module.exports = {
  crc32, tableCrc32, randomId, randomHex, randomKeyChars, isoSeconds, xmlEscape,
  send, replyJson, replyError, replyXml, upstreamCall
}
