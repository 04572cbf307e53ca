'use strict'
// Checks sigv4.js against cases of the published AWS SigV4 test suite
// (expected signatures only; the requests are rebuilt here in wire form).
// Run: node tests/fakeaws/selftest.js  -> exit 0 and "selftest: N ok".

const { verify, sha256Hex, canonicalUri, canonicalQuery } = require('./sigv4')
const { crc32, tableCrc32 } = require('./util')

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
const NOW = Date.UTC(2015, 7, 30, 12, 36, 0)
const UNRESERVED = '-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const STS_TOKEN = 'AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=='

// [name, request line + headers (+ blank line + body), signature, options]
const CASES = [
  ['get-vanilla', 'GET /\nHost:example.amazonaws.com', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'],
  ['get-header-key-duplicate', 'GET /\nHost:example.amazonaws.com\nMy-Header1:value2\nMy-Header1:value2\nMy-Header1:value1',
    'c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea'],
  ['get-header-value-order', 'GET /\nHost:example.amazonaws.com\nMy-Header1:value4\nMy-Header1:value1\nMy-Header1:value3\nMy-Header1:value2',
    '08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01'],
  ['get-header-value-trim', 'GET /\nHost:example.amazonaws.com\nMy-Header1: value1\nMy-Header2: "a   b   c"',
    'acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736'],
  ['get-relative-normalized', 'GET /example/..\nHost:example.amazonaws.com', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'],
  ['get-relative-relative-normalized', 'GET /example1/example2/../..\nHost:example.amazonaws.com',
    '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'],
  ['get-slash-dot-slash-normalized', 'GET /./\nHost:example.amazonaws.com', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'],
  ['get-slash-normalized', 'GET //\nHost:example.amazonaws.com', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'],
  ['get-slash-pointless-dot-normalized', 'GET /./example\nHost:example.amazonaws.com',
    'ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5'],
  ['get-slashes-normalized', 'GET //example//\nHost:example.amazonaws.com', '9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84'],
  ['get-unreserved', `GET /${UNRESERVED}\nHost:example.amazonaws.com`, '07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f'],
  ['get-vanilla-empty-query-key', 'GET /?Param1=value1\nHost:example.amazonaws.com', 'a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb'],
  ['get-vanilla-query-order-encoded', 'GET /?Param-3=Value3&Param=Value2&%E1%88%B4=Value1\nHost:example.amazonaws.com',
    '371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac'],
  ['get-vanilla-query-order-key-case', 'GET /?Param2=value2&Param1=value1\nHost:example.amazonaws.com',
    'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500'],
  ['get-vanilla-query-unreserved', `GET /?${UNRESERVED}=${UNRESERVED}\nHost:example.amazonaws.com`,
    '9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197'],
  ['get-vanilla-utf8-query', 'GET /?%E1%88%B4=bar\nHost:example.amazonaws.com', '2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04'],
  ['get-vanilla-with-session-token', 'GET /\nHost:example.amazonaws.com', '07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8',
    { token: '6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267' }],
  ['post-header-key-sort', 'POST /\nHost:example.amazonaws.com\nMy-Header1:value1', 'c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c'],
  ['post-header-value-case', 'POST /\nHost:example.amazonaws.com\nMy-Header1:VALUE1', 'cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d'],
  ['post-sts-header-before', 'POST /\nHost:example.amazonaws.com', '85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead',
    { token: STS_TOKEN }],
  ['post-sts-header-after', 'POST /\nHost:example.amazonaws.com', '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b',
    { token: STS_TOKEN, omitToken: true }],
  ['post-vanilla', 'POST /\nHost:example.amazonaws.com', '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b'],
  ['post-vanilla-query', 'POST /?Param1=value1\nHost:example.amazonaws.com', '28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11'],
  ['post-x-www-form-urlencoded', 'POST /\nContent-Type:application/x-www-form-urlencoded\nHost:example.amazonaws.com\nContent-Length:13\n\nParam1=value1',
    'd3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b', { signBody: true }],
  ['post-x-www-form-urlencoded-parameters',
    'POST /\nContent-Type:application/x-www-form-urlencoded; charset=utf-8\nHost:example.amazonaws.com\nContent-Length:13\n\nParam1=value1',
    '328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422', { signBody: true }]
]

// Builds the wire form of a case: headers as listed, plus X-Amz-Date,
// optional token and body hash, and the Authorization header.
function wireRequest (text, signature, o) {
  const [head, body = ''] = text.split('\n\n')
  const lines = head.split('\n')
  const [method, url] = lines[0].split(' ')
  const raw = []
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':')
    raw.push(line.slice(0, c), line.slice(c + 1))
  }
  raw.push('X-Amz-Date', '20150830T123600Z')
  if (o.signBody) raw.push('X-Amz-Content-Sha256', sha256Hex(body))
  const names = new Set()
  for (let i = 0; i < raw.length; i += 2) names.add(raw[i].toLowerCase())
  if (o.token && !o.omitToken) names.add('x-amz-security-token')
  const signed = [...names].sort().join(';')
  if (o.token) raw.push('X-Amz-Security-Token', o.token)
  raw.push('Authorization', `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=${signed}, Signature=${signature}`)
  return { req: { method, url, rawHeaders: raw }, body: Buffer.from(body) }
}

let failures = 0
function check (cond, what) {
  if (!cond) { failures++; console.error('FAIL ' + what) }
}

for (const [name, text, signature, o = {}] of CASES) {
  const lookup = (id) => id === 'AKIDEXAMPLE' ? { secret: SECRET, token: o.token || null } : undefined
  const good = wireRequest(text, signature, o)
  const r = verify(good.req, good.body, { now: NOW, lookup, service: 'service' })
  check(r.ok, `${name}: ${r.kind} ${r.message}\n${r.canonicalRequest || ''}`)

  const bad = wireRequest(text, signature.replace(/^./, (c) => c === '0' ? '1' : '0'), o)
  check(verify(bad.req, bad.body, { now: NOW, lookup, service: 'service' }).kind === 'signature', `${name}: bad signature accepted`)
}

// Outcomes other than a match.
{
  const { req, body } = wireRequest('GET /\nHost:example.amazonaws.com', CASES[0][2], {})
  const lookup = (id) => id === 'AKIDEXAMPLE' ? { secret: SECRET } : undefined
  check(verify(req, body, { now: NOW + 6 * 60000, lookup }).kind === 'date', 'stale date accepted')
  check(/^Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z \(20150830T124200Z - 5 min.\)$/
    .test(verify(req, body, { now: NOW + 6 * 60000, lookup }).message), 'expired message shape')
  check(verify(req, body, { now: NOW - 6 * 60000, lookup }).kind === 'date', 'future date accepted')
  check(verify(req, body, { now: NOW, lookup: () => undefined }).kind === 'unknown-key', 'unknown key')
  check(verify(req, body, { now: NOW, lookup, service: 'dynamodb' }).kind === 'scope', 'wrong service accepted')
  const tokenKey = () => ({ secret: SECRET, token: 'T' })
  check(verify(req, body, { now: NOW, lookup: tokenKey }).kind === 'token-invalid', 'missing token accepted')
  const expired = () => ({ secret: SECRET, expiresAt: NOW - 1 })
  check(verify(req, body, { now: NOW, lookup: expired }).kind === 'token-expired', 'expired credentials accepted')
  check(verify({ method: 'GET', url: '/', rawHeaders: ['Host', 'x'] }, body, { now: NOW, lookup }).kind === 'missing', 'unsigned accepted')
}

// Wire paths are encoded once more; query pairs sorted after encoding.
check(canonicalUri('/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations') ===
  '/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A1%253Afunction%253Af/invocations', 'double encoding')
check(canonicalUri('') === '/', 'empty path')
check(canonicalQuery('b=2&a=%2f&a=1&c') === 'a=%2F&a=1&b=2&c=', 'query canonical form')

// The fallback CRC32 agrees with zlib's (and the classic check value).
check(tableCrc32(Buffer.from('123456789')) === 0xcbf43926, 'crc32 check value')
check(tableCrc32(Buffer.from('{"TableNames":[]}')) === crc32(Buffer.from('{"TableNames":[]}')), 'crc32 implementations agree')

if (failures) {
  console.error(`selftest: ${failures} failure(s)`)
  process.exit(1)
}
console.log(`selftest: ${CASES.length} vectors ok`)
