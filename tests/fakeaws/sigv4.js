'use strict'
// SigV4 verification, rebuilt from the request exactly as it came off the
// wire (raw path, raw query, raw header list), so a client that signs
// something other than what it sends is caught.
//
// verify() is a pure function of the request, the body, a clock and a key
// lookup, so selftest.js can run it against the published test vectors.

const crypto = require('crypto')

const ALGORITHM = 'AWS4-HMAC-SHA256'
const MAX_SKEW_MS = 5 * 60 * 1000

const MSG = {
  missing: 'Request is missing Authentication Token',
  invalidToken: 'The security token included in the request is invalid.',
  expiredToken: 'The security token included in the request is expired',
  badSignature: 'The request signature we calculated does not match the signature you provided. ' +
    'Check your AWS Secret Access Key and signing method.'
}

function sha256Hex (data) { return crypto.createHash('sha256').update(data).digest('hex') }
function hmac (key, data) { return crypto.createHmac('sha256', key).update(data).digest() }

// Derived keys change once a day per (secret, region, service); caching them
// saves four HMACs per request.
const keyCache = new Map()
function signingKey (secret, date, region, service) {
  const id = secret + '\n' + date + '\n' + region + '\n' + service
  let key = keyCache.get(id)
  if (!key) {
    if (keyCache.size > 4096) keyCache.clear()
    key = hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), 'aws4_request')
    keyCache.set(id, key)
  }
  return key
}

function isUnreserved (b) {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) ||
    b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e
}

const HEX = '0123456789ABCDEF'
// RFC 3986 encoding of raw bytes; '/' kept when keepSlash.
function encodeBytes (bytes, keepSlash) {
  let out = ''
  for (const b of bytes) {
    if (isUnreserved(b) || (keepSlash && b === 0x2f)) out += String.fromCharCode(b)
    else out += '%' + HEX[b >> 4] + HEX[b & 15]
  }
  return out
}

// %XX sequences to bytes; anything else kept as is ('+' stays '+': AWS
// decodes only percent escapes when it canonicalizes a query).
function percentDecode (s) {
  const bytes = []
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      const cp = s.codePointAt(i)
      if (cp > 0xffff) i++
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) bytes.push(b)
    }
  }
  return Buffer.from(bytes)
}

// Remove '.', '..' and empty segments, keeping a trailing slash, like the
// SDKs' path normalization for every service but S3.
function normalizePath (path) {
  const segments = []
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') segments.pop()
    else segments.push(seg)
  }
  let out = '/' + segments.join('/')
  if (path.endsWith('/') && out !== '/') out += '/'
  return out
}

// The path as received is encoded once more: '%3A' becomes '%253A'.
function canonicalUri (rawPath) {
  return encodeBytes(Buffer.from(normalizePath(rawPath || '/'), 'utf8'), true)
}

// S3 signs the path as sent: no normalizing, no second encoding (only
// bytes a client left unencoded get encoded).
function s3CanonicalUri (rawPath) {
  return encodeBytes(percentDecode(rawPath || '/'), true)
}

function canonicalQuery (rawQuery, dropSignature) {
  if (!rawQuery) return ''
  const pairs = []
  for (const part of rawQuery.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = encodeBytes(percentDecode(eq < 0 ? part : part.slice(0, eq)), false)
    const value = encodeBytes(percentDecode(eq < 0 ? '' : part.slice(eq + 1)), false)
    if (dropSignature && name === 'X-Amz-Signature') continue
    pairs.push([name, value])
  }
  pairs.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0)
  return pairs.map((p) => p[0] + '=' + p[1]).join('&')
}

// rawHeaders ([name, value, name, value...]) to lowercase name -> [values],
// duplicates kept in order.
function headerLists (rawHeaders) {
  const map = new Map()
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase()
    let list = map.get(name)
    if (!list) map.set(name, (list = []))
    list.push(rawHeaders[i + 1])
  }
  return map
}

function firstHeader (headers, name) {
  const list = headers.get(name)
  return list ? list[0] : undefined
}

function splitUrl (url) {
  const q = url.indexOf('?')
  return q < 0 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) }
}

// Query parameter values decoded the way a form decoder would.
function queryParams (rawQuery) {
  const out = new Map()
  for (const [k, v] of new URLSearchParams(rawQuery)) if (!out.has(k)) out.set(k, v)
  return out
}

// The signing fields from an Authorization header or a presigned query, or
// null when the request carries neither.
function authFields (headers, rawQuery) {
  const auth = firstHeader(headers, 'authorization')
  if (auth !== undefined) {
    const space = auth.indexOf(' ')
    const algorithm = space < 0 ? auth : auth.slice(0, space)
    const fields = { presigned: false, algorithm }
    for (const part of (space < 0 ? '' : auth.slice(space + 1)).split(',')) {
      const eq = part.indexOf('=')
      if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim()
    }
    return fields
  }
  if (rawQuery.includes('X-Amz-Algorithm=')) {
    const q = queryParams(rawQuery)
    return {
      presigned: true,
      algorithm: q.get('X-Amz-Algorithm'),
      Credential: q.get('X-Amz-Credential'),
      SignedHeaders: q.get('X-Amz-SignedHeaders'),
      Signature: q.get('X-Amz-Signature'),
      date: q.get('X-Amz-Date'),
      expires: q.get('X-Amz-Expires'),
      token: q.get('X-Amz-Security-Token')
    }
  }
  return null
}

// Credential scope of a request without verifying it (the router needs the
// service to pick a query-protocol handler). null when unsigned.
function credentialScope (req) {
  const { query } = splitUrl(req.url)
  const fields = authFields(headerLists(req.rawHeaders), query)
  if (!fields || !fields.Credential) return null
  const parts = fields.Credential.split('/')
  return { accessKeyId: parts[0], date: parts[1], region: parts[2], service: parts[3] }
}

// RFC 1123 Date header to 20150830T123600Z.
function basicFromHttpDate (value) {
  const t = Date.parse(value)
  return Number.isNaN(t) ? value : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '')
}

function parseBasicDate (s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '')
  return m ? Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : NaN
}

function basicDate (ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '')
}

function fail (kind, message, extra) { return Object.assign({ ok: false, kind, message }, extra) }

/*
 * req:  {method, url, rawHeaders}
 * body: Buffer
 * opts: {now: ms, lookup(accessKeyId) -> {secret, token, expiresAt} | undefined,
 *        service: expected signing name or null for any,
 *        s3: sign the path as S3 does}
 * Returns {ok: true, accessKeyId, key, region, service} or
 * {ok: false, kind, message, ...} where kind is one of missing, incomplete,
 * date, scope, unknown-key, signature, token-invalid, token-expired.
 */
function verify (req, body, opts) {
  const { path, query } = splitUrl(req.url)
  const headers = headerLists(req.rawHeaders)
  const f = authFields(headers, query)
  if (!f) return fail('missing', MSG.missing)
  if (f.algorithm !== ALGORITHM) {
    return fail('incomplete', `Unsupported AWS 'algorithm': '${f.algorithm}' (only ${ALGORITHM} for now).`)
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((k) => !f[k])
  if (missing.length) {
    return fail('incomplete', missing.map((k) => `Authorization header requires '${k}' parameter.`).join(' '))
  }

  let date = f.presigned ? f.date : firstHeader(headers, 'x-amz-date')
  if (date === undefined && !f.presigned && firstHeader(headers, 'date') !== undefined) {
    date = basicFromHttpDate(firstHeader(headers, 'date'))
  }
  if (!date) {
    return fail('incomplete', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
  }
  const when = parseBasicDate(date)
  if (Number.isNaN(when)) {
    return fail('incomplete', `Date must be in ISO-8601 'basic format'. Got '${date}'. See http://en.wikipedia.org/wiki/ISO_8601`)
  }
  const now = opts.now
  if (f.presigned) {
    const expires = Number(f.expires || 0)
    if (when - now > MAX_SKEW_MS) {
      return fail('date', `Signature not yet current: ${date} is still later than ${basicDate(now + MAX_SKEW_MS)} (${basicDate(now)} + 5 min.)`)
    }
    if (now > when + expires * 1000) {
      return fail('date', `Signature expired: ${date} is now earlier than ${basicDate(now - expires * 1000)} (${basicDate(now)} - ${expires} sec.)`)
    }
  } else if (when < now - MAX_SKEW_MS) {
    return fail('date', `Signature expired: ${date} is now earlier than ${basicDate(now - MAX_SKEW_MS)} (${basicDate(now)} - 5 min.)`)
  } else if (when > now + MAX_SKEW_MS) {
    return fail('date', `Signature not yet current: ${date} is still later than ${basicDate(now + MAX_SKEW_MS)} (${basicDate(now)} + 5 min.)`)
  }

  const scope = f.Credential.split('/')
  if (scope.length !== 5) {
    return fail('incomplete', `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${f.Credential}'`)
  }
  const [accessKeyId, scopeDate, region, service, terminator] = scope
  const where = { accessKeyId, region, service }
  const problems = []
  if (!region) problems.push("Credential should be scoped to a valid region, not ''.")
  if (opts.service && service !== opts.service) problems.push(`Credential should be scoped to correct service: '${opts.service}'.`)
  if (terminator !== 'aws4_request') problems.push(`Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'.`)
  if (scopeDate !== date.slice(0, 8)) {
    problems.push(`Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${date.slice(0, 8)}', from '${date}'.`)
  }
  const signedNames = f.SignedHeaders.split(';')
  if (!signedNames.includes('host')) problems.push("'Host' must be a 'SignedHeader' in the AWS Authorization.")
  if (problems.length) return fail('scope', problems.join(' '), where)

  const key = opts.lookup(accessKeyId)
  if (!key) return fail('unknown-key', MSG.invalidToken, where)

  let canonicalHeaders = ''
  for (const name of signedNames) {
    const values = headers.get(name) || []
    canonicalHeaders += name + ':' + values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',') + '\n'
  }
  const payloadHash = firstHeader(headers, 'x-amz-content-sha256') || sha256Hex(body)
  const canonicalRequest = [
    req.method, opts.s3 ? s3CanonicalUri(path) : canonicalUri(path), canonicalQuery(query, f.presigned),
    canonicalHeaders, f.SignedHeaders, payloadHash
  ].join('\n')
  const credScope = [scopeDate, region, service, 'aws4_request'].join('/')
  const stringToSign = [ALGORITHM, date, credScope, sha256Hex(canonicalRequest)].join('\n')
  const expected = crypto.createHmac('sha256', signingKey(key.secret, scopeDate, region, service))
    .update(stringToSign).digest('hex')
  if (expected !== f.Signature) {
    return fail('signature', MSG.badSignature, Object.assign({ canonicalRequest, stringToSign }, where))
  }

  const token = f.presigned ? f.token : firstHeader(headers, 'x-amz-security-token')
  if ((key.token || '') !== (token || '')) return fail('token-invalid', MSG.invalidToken, where)
  if (key.expiresAt && now >= key.expiresAt) return fail('token-expired', MSG.expiredToken, where)
  return { ok: true, accessKeyId, key, region, service, canonicalRequest }
}

module.exports = { verify, credentialScope, canonicalUri, canonicalQuery, normalizePath, splitUrl, headerLists, sha256Hex }
