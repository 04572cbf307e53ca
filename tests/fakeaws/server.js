#!/usr/bin/env node
'use strict'
// fakeaws: a local stand-in for the AWS endpoints mighost talks to, with
// SigV4 checking and fault injection. See README.md for the options and the
// control endpoints. Prints "LISTENING <port>" on stdout once ready; nothing
// else ever goes to stdout.

const http = require('http')
const fs = require('fs')
const crypto = require('crypto')

const { verify, credentialScope, splitUrl } = require('./sigv4')
const { CredentialStore } = require('./creds')
const dynamodb = require('./dynamodb')
const services = require('./services')
const sso = require('./sso')
const s3 = require('./s3')
const { randomId, isoSeconds, send, replyError } = require('./util')

const MAX_BODY = 32 * 1024 * 1024
const MAX_RECORDS = 1000

/* ------------------------------------------------------------ configuration */

// Runtime settings: the CLI sets them at start, POST /__config changes them.
function defaultConfig () {
  return {
    fault_rate: 0,
    capacity: 0,
    faults: ['500', '503', 'throttle', 'drop', 'slow', 'unprocessed'],
    fault_ops: null,
    fault_next: [],
    slow_ms: 300,
    latency_ms: 0,
    client_in_flight: 0,
    seed: crypto.randomBytes(4).readUInt32LE(0),
    expire_after_ms: null,
    advertise_expiry_ms: null,
    clock_offset_ms: 0,
    stacks: {},
    stack_resource_page: 100,
    fresh_table_stats: false,
    web_identity_token: null,
    external_id: null,
    container_token: 'container-token',
    container_paths: ['/container-credentials'],
    imds_role: 'test-role',
    imds_region: 'us-east-1',
    ecs_running_polls: 0,
    ecs_throttle_next: 0,
    ecs_failures_next: [],
    ecs_errors_next: [],
    ecs_rate: 0,
    ecs_fault_rate: 0,
    ecs_burst: 100,
    ecs_embed_table: null,
    ecs_embed_fail: [],
    lambda_slow_ms: 3000,
    reindexer_failed: 0,
    pitr_tables: [],
    backup_creating_polls: 1,
    outage_ops: [],
    outage_after: 1,
    outage_ms: 0,
    cognito_users: [],
    cognito_user_count: 0,
    caller_account: null,
    sso_access_tokens: [],
    sso_refresh_token: null,
    sso_client_id: null,
    sso_client_secret: null,
    sso_expires_in: 28800,
    s3_faults_next: []
  }
}

function list (v) {
  if (Array.isArray(v)) return v.map(String)
  return String(v).split(',').map((s) => s.trim()).filter(Boolean)
}

function integer (v, min, what) {
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) throw new Error(`${what} must be an integer >= ${min}`)
  return n
}

function nullableString (v) { return v == null ? null : String(v) }

const SETTERS = {
  fault_rate (v) {
    const n = Number(v)
    if (!(n >= 0 && n <= 1)) throw new Error('fault_rate must be between 0 and 1')
    return n
  },
  capacity: (v) => integer(v, 0, 'capacity'),
  faults (v) { return faultList(v, 'faults') },
  fault_next (v) { return faultList(v, 'fault_next') },
  fault_ops (v) { return v == null ? null : list(v) },
  slow_ms: (v) => integer(v, 0, 'slow_ms'),
  latency_ms: (v) => integer(v, 0, 'latency_ms'),
  client_in_flight: (v) => integer(v, 0, 'client_in_flight'),
  caller_account: nullableString,
  sso_access_tokens: (v) => list(v),
  sso_refresh_token: nullableString,
  sso_client_id: nullableString,
  sso_client_secret: nullableString,
  sso_expires_in: (v) => integer(v, 1, 'sso_expires_in'),
  seed: (v) => integer(v, 0, 'seed'),
  expire_after_ms: (v) => v == null ? null : integer(v, 0, 'expire_after_ms'),
  advertise_expiry_ms: (v) => v == null ? null : integer(v, 0, 'advertise_expiry_ms'),
  clock_offset_ms: (v) => integer(v, -Number.MAX_SAFE_INTEGER, 'clock_offset_ms'),
  stacks (v) {
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('stacks must be an object')
    // Keys starting with "_" are a fixture's comments, not stacks.
    return Object.fromEntries(Object.entries(v).filter(([k]) => !k.startsWith('_')))
  },
  stack_resource_page: (v) => integer(v, 1, 'stack_resource_page'),
  fresh_table_stats: (v) => v === true || v === 'true',
  web_identity_token: nullableString,
  external_id: nullableString,
  container_token: (v) => v == null ? '' : String(v),
  container_paths: (v) => list(v),
  imds_role: String,
  imds_region: String,
  ecs_running_polls: (v) => integer(v, 0, 'ecs_running_polls'),
  ecs_throttle_next: (v) => integer(v, 0, 'ecs_throttle_next'),
  ecs_failures_next: (v) => list(v),
  ecs_errors_next: (v) => list(v),
  ecs_rate (v) {
    const n = Number(v)
    if (!(n >= 0)) throw new Error('ecs_rate must be a number >= 0')
    return n
  },
  ecs_burst: (v) => integer(v, 1, 'ecs_burst'),
  ecs_fault_rate (v) {
    const n = Number(v)
    if (!(n >= 0 && n <= 1)) throw new Error('ecs_fault_rate must be between 0 and 1')
    return n
  },
  ecs_embed_table: nullableString,
  ecs_embed_fail: (v) => list(v),
  lambda_slow_ms: (v) => integer(v, 0, 'lambda_slow_ms'),
  reindexer_failed: (v) => integer(v, 0, 'reindexer_failed'),
  pitr_tables: (v) => list(v),
  backup_creating_polls: (v) => integer(v, 0, 'backup_creating_polls'),
  outage_ops: (v) => list(v),
  outage_after: (v) => integer(v, 1, 'outage_after'),
  outage_ms: (v) => integer(v, 0, 'outage_ms'),
  cognito_users: (v) => list(v),
  cognito_user_count: (v) => integer(v, 0, 'cognito_user_count'),
  s3_faults_next (v) {
    const kinds = list(v)
    for (const k of kinds) if (k !== '500' && k !== 'slowdown') throw new Error(`s3_faults_next: unknown kind '${k}' (500, slowdown)`)
    return kinds
  }
}

function faultList (v, what) {
  const kinds = list(v)
  for (const k of kinds) {
    if (!dynamodb.FAULT_KINDS.includes(k)) throw new Error(`${what}: unknown fault kind '${k}' (known: ${dynamodb.FAULT_KINDS.join(', ')})`)
  }
  return kinds
}

// Validates all settings first so a bad request changes nothing.
function applyConfig (ctx, changes) {
  const next = {}
  for (const [k, v] of Object.entries(changes)) {
    if (!SETTERS[k]) throw new Error(`unknown setting '${k}'`)
    next[k] = SETTERS[k](v)
  }
  Object.assign(ctx.cfg, next)
  if ('seed' in next) ctx.rng = mulberry32(ctx.cfg.seed)
  if ('cognito_users' in next || 'cognito_user_count' in next) ctx.cognito = null
  if ('ecs_rate' in next || 'ecs_burst' in next) ctx.ecsBucket = null
  if ('outage_ops' in next || 'outage_after' in next || 'outage_ms' in next) ctx.outageSeen = 0
}

// An endpoint that stops answering: once the outage_after-th request for one
// of outage_ops arrives, every AWS request for outage_ms (that one
// included) has its connection cut before any answer. One-shot.
function inOutage (ctx, name) {
  const cfg = ctx.cfg
  if (ctx.outageUntil && Date.now() < ctx.outageUntil) return true
  if (cfg.outage_ms > 0 && cfg.outage_ops.some((op) => name === op || name.endsWith('.' + op))) {
    ctx.outageSeen = (ctx.outageSeen || 0) + 1
    if (ctx.outageSeen >= cfg.outage_after) {
      ctx.outageUntil = Date.now() + cfg.outage_ms
      cfg.outage_ms = 0
      return true
    }
  }
  return false
}

// CLI option -> setting (or special handling).
const OPTIONS = {
  '--access-key': 'access_key',
  '--secret': 'secret',
  '--upstream': 'upstream',
  '--s3-upstream': 's3_upstream',
  '--fault-rate': 'fault_rate',
  '--capacity': 'capacity',
  '--faults': 'faults',
  '--fault-ops': 'fault_ops',
  '--seed': 'seed',
  '--slow-ms': 'slow_ms',
  '--latency-ms': 'latency_ms',
  '--client-in-flight': 'client_in_flight',
  '--expire-after-ms': 'expire_after_ms',
  '--advertise-expiry-ms': 'advertise_expiry_ms',
  '--clock-offset-ms': 'clock_offset_ms',
  '--cognito-users': 'cognito_users',
  '--cognito-user-count': 'cognito_user_count',
  '--web-identity-token': 'web_identity_token',
  '--external-id': 'external_id',
  '--stacks-file': 'stacks_file',
  '--container-path': 'container_path',
  '--container-token': 'container_token',
  '--imds-role': 'imds_role',
  '--imds-region': 'imds_region',
  '--ecs-running-polls': 'ecs_running_polls',
  '--ecs-rate': 'ecs_rate',
  '--ecs-burst': 'ecs_burst',
  '--ecs-embed-table': 'ecs_embed_table',
  '--pitr-tables': 'pitr_tables',
  '--backup-creating-polls': 'backup_creating_polls'
}

function parseArgs (argv) {
  const out = { access_key: 'AKIDTEST', secret: 'test-secret', upstream: null, verbose: false, config: {} }
  const extraPaths = []
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]
    let value
    const eq = arg.indexOf('=')
    if (arg.startsWith('--') && eq > 0) { value = arg.slice(eq + 1); arg = arg.slice(0, eq) }
    if (arg === '--verbose') { out.verbose = true; continue }
    if (arg === '--help' || arg === '-h') {
      process.stderr.write('usage: node tests/fakeaws/server.js [options]; see tests/fakeaws/README.md\n')
      process.exit(0)
    }
    const key = OPTIONS[arg]
    if (!key) throw new Error(`unknown option ${arg}`)
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`)
      value = argv[++i]
    }
    if (key === 'access_key' || key === 'secret' || key === 'upstream' || key === 's3_upstream') out[key] = value
    else if (key === 'stacks_file') out.config.stacks = SETTERS.stacks(JSON.parse(fs.readFileSync(value, 'utf8')))
    else if (key === 'container_path') extraPaths.push(value)
    else out.config[key] = value
  }
  if (extraPaths.length) out.config.container_paths = ['/container-credentials'].concat(extraPaths)
  return out
}

// Small seedable PRNG: the same --seed gives the same fault sequence.
function mulberry32 (seed) {
  let a = seed >>> 0
  return function () {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function emptyStats () {
  return {
    requests: 0,
    by_target: {},
    by_status: {},
    faults: {},
    writes_forwarded: 0,
    write_items: {},
    signature_failures: 0,
    expired_tokens: 0,
    issued_credentials: 0,
    upstream_errors: 0
  }
}

/* ------------------------------------------------------------------ routing */

// Auth failure kinds (sigv4.js) -> [status, code] per protocol family.
const AUTH_ERRORS = {
  json: {
    missing: [400, 'MissingAuthenticationTokenException'],
    incomplete: [400, 'IncompleteSignatureException'],
    date: [403, 'InvalidSignatureException'],
    scope: [403, 'InvalidSignatureException'],
    signature: [403, 'InvalidSignatureException'],
    'unknown-key': [400, 'UnrecognizedClientException'],
    'token-invalid': [400, 'UnrecognizedClientException'],
    'token-expired': [400, 'ExpiredTokenException']
  },
  query: {
    missing: [403, 'MissingAuthenticationToken'],
    incomplete: [400, 'IncompleteSignature'],
    date: [403, 'SignatureDoesNotMatch'],
    scope: [403, 'SignatureDoesNotMatch'],
    signature: [403, 'SignatureDoesNotMatch'],
    'unknown-key': [403, 'InvalidClientTokenId'],
    'token-invalid': [403, 'InvalidClientTokenId'],
    'token-expired': [400, 'ExpiredToken']
  }
}

// Decides protocol, expected signing service and handler for an AWS request.
function classify (req, path, body, scope) {
  const target = req.headers['x-amz-target']
  const ctype = req.headers['content-type'] || ''
  if (target) {
    if (target.startsWith(dynamodb.PREFIX)) return { name: target, proto: 'json1.0', service: 'dynamodb', crc: true, handler: dynamodb.handle }
    if (target.startsWith(services.ECS_PREFIX)) return { name: target, proto: 'json1.1', service: 'ecs', handler: services.ecs }
    if (target.startsWith(services.COGNITO_PREFIX)) return { name: target, proto: 'json1.1', service: 'cognito-idp', handler: services.cognito }
    return { name: target, proto: ctype.includes('1.1') ? 'json1.1' : 'json1.0', service: null, handler: unknownOperation }
  }
  if (scope && scope.service === 's3') {
    return { name: 's3:' + s3.operation(req.method, path, splitUrl(req.url).query, req.headers), proto: 's3', service: 's3', handler: s3.handle }
  }
  if (path.startsWith('/2015-03-31/')) return { name: 'lambda:Invoke', proto: 'rest', service: 'lambda', handler: services.lambda }
  const { query } = splitUrl(req.url)
  if (ctype.startsWith('application/x-www-form-urlencoded') || /(^|&)Action=/.test(query)) {
    const params = new URLSearchParams(query)
    if (ctype.startsWith('application/x-www-form-urlencoded')) {
      for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.set(k, v)
    }
    const action = params.get('Action') || ''
    const service = action === 'AssumeRoleWithWebIdentity' ? 'sts'
      : scope && scope.service === 'cloudformation' ? 'cloudformation' : 'sts'
    const handler = service === 'sts' ? services.sts : services.cloudformation
    return {
      name: `${service}:${action}`,
      proto: 'query',
      service,
      params,
      unsigned: action === 'AssumeRoleWithWebIdentity', // STS accepts it without credentials
      handler: (ctx, req, res, b, auth) => handler(ctx, req, res, params, auth)
    }
  }
  return { name: 'unknown', proto: 'json1.0', service: null, handler: unknownOperation }
}

function unknownOperation (ctx, req, res) {
  replyError(ctx, req, res, 400, 'UnknownOperationException', `Unknown operation ${req.fa.target || req.method + ' ' + req.fa.path}`)
}

function route (ctx, req, res, body) {
  const { path, query } = splitUrl(req.url)
  req.fa = { requestId: randomId(), path, query, proto: 'json1.0', service: null, crc: false, record: null, region: 'us-east-1' }
  if (path.startsWith('/__')) return control(ctx, req, res, path, body)
  if (path.startsWith('/latest/')) return services.imds(ctx, req, res, path)
  if (ctx.cfg.container_paths.includes(path)) return services.containerCredentials(ctx, req, res)
  if (req.method === 'GET' && path === '/federation/credentials') return sso.getRoleCredentials(ctx, req, res, query)
  if (req.method === 'POST' && path === '/token') return sso.createToken(ctx, req, res, body)

  const scope = credentialScope(req)
  const c = classify(req, path, body, scope)
  Object.assign(req.fa, { proto: c.proto, service: c.service, crc: !!c.crc, target: c.name })
  const record = {
    time: isoSeconds(ctx.now()),
    method: req.method,
    path,
    query,
    headers: req.headers,
    body: body.toString('utf8'),
    target: c.name,
    service: scope ? scope.service : null,
    signature_ok: null, // null: route not signed (AssumeRoleWithWebIdentity)
    status: null,
    fault: null
  }
  req.fa.record = record
  ctx.records[ctx.recordNext++ % MAX_RECORDS] = record
  ctx.stats.requests++
  ctx.stats.by_target[c.name] = (ctx.stats.by_target[c.name] || 0) + 1
  if (inOutage(ctx, c.name)) {
    record.fault = 'outage'
    ctx.stats.faults.outage = (ctx.stats.faults.outage || 0) + 1
    return req.socket.destroy()
  }

  let auth = null
  if (!c.unsigned) {
    auth = verify(req, body, { now: ctx.now(), lookup: (id) => ctx.creds.lookup(id), service: c.service, s3: c.proto === 's3' })
    record.signature_ok = auth.ok
    if (!auth.ok) {
      ctx.stats.signature_failures++
      if (auth.kind === 'token-expired') ctx.stats.expired_tokens++
      record.signature_error = auth.message
      if (auth.canonicalRequest) {
        record.expected_canonical_request = auth.canonicalRequest
        ctx.log(`signature mismatch on ${c.name}; expected canonical request:\n${auth.canonicalRequest}\nstring to sign:\n${auth.stringToSign}`)
      } else {
        ctx.log(`auth failure (${auth.kind}) on ${c.name}: ${auth.message}`)
      }
      const [status, code] = AUTH_ERRORS[c.proto === 'query' || c.proto === 's3' ? 'query' : 'json'][auth.kind]
      return replyError(ctx, req, res, status, code, auth.message)
    }
    req.fa.region = auth.region
  }
  c.handler(ctx, req, res, body, auth)
}

/* --------------------------------------------------------- control endpoints */

function control (ctx, req, res, path, body) {
  const json = (status, obj) => send(ctx, req, res, status, { 'Content-Type': 'application/json' }, JSON.stringify(obj))
  const key = req.method + ' ' + path
  switch (key) {
    case 'GET /__stats':
      return json(200, ctx.stats)
    case 'POST /__reset':
      ctx.stats = emptyStats()
      ctx.records = []
      ctx.recordNext = 0
      ctx.ecsRunTasks = []
      return json(200, { ok: true })
    case 'GET /__config':
      return json(200, ctx.cfg)
    case 'POST /__config': {
      let changes
      try { changes = body.length ? JSON.parse(body.toString('utf8')) : {} } catch (e) {
        return json(400, { error: 'body is not JSON: ' + e.message })
      }
      if (!changes || typeof changes !== 'object' || Array.isArray(changes)) return json(400, { error: 'body must be a JSON object' })
      try { applyConfig(ctx, changes) } catch (e) { return json(400, { error: e.message }) }
      return json(200, ctx.cfg)
    }
    case 'GET /__requests': {
      const n = ctx.recordNext
      const out = n <= MAX_RECORDS ? ctx.records.slice(0, n)
        : ctx.records.slice(n % MAX_RECORDS).concat(ctx.records.slice(0, n % MAX_RECORDS))
      return json(200, out)
    }
    case 'GET /__ecs-runtasks':
      return json(200, ctx.ecsRunTasks)
    case 'GET /__ecs-tasks': {
      const out = []
      for (const [arn, t] of ctx.ecsTasks) {
        out.push({ taskArn: arn, cluster: t.cluster, clientToken: t.clientToken || null, polls: t.polls, stopped: !!t.stopped, botKey: t.bot || null })
      }
      return json(200, out)
    }
    case 'POST /__expire-credentials':
      return json(200, { expired: ctx.creds.expireAll() })
  }
  json(404, { error: `no control endpoint ${key}` })
}

/* --------------------------------------------------------------------- main */

function main () {
  let args
  try { args = parseArgs(process.argv.slice(2)) } catch (e) {
    process.stderr.write(`fakeaws: ${e.message}\n`)
    process.exit(2)
  }
  const ctx = {
    cfg: defaultConfig(),
    stats: emptyStats(),
    records: [],
    recordNext: 0,
    ecsTasks: new Map(),
    ecsRunTasks: [],
    clients: new Map(),
    imdsTokens: new Map(),
    ssoIssued: new Map(),
    cognito: null,
    upstream: args.upstream ? new URL(args.upstream) : null,
    s3Upstream: args.s3_upstream ? new URL(args.s3_upstream) : null,
    agent: new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, scheduling: 'lifo' }),
    log: args.verbose ? (msg) => process.stderr.write(`fakeaws: ${msg}\n`) : () => {},
    now: () => Date.now() + ctx.cfg.clock_offset_ms
  }
  try { applyConfig(ctx, args.config) } catch (e) {
    process.stderr.write(`fakeaws: ${e.message}\n`)
    process.exit(2)
  }
  ctx.rng = mulberry32(ctx.cfg.seed)
  ctx.creds = new CredentialStore(ctx, args.access_key, args.secret)

  const server = http.createServer({ keepAliveTimeout: 60000, noDelay: true }, (req, res) => {
    const chunks = []
    let size = 0
    req.on('data', (c) => {
      size += c.length
      if (size <= MAX_BODY) chunks.push(c)
    })
    req.on('end', () => {
      if (size > MAX_BODY) {
        res.writeHead(413, { 'Content-Length': 0 })
        return res.end()
      }
      try {
        route(ctx, req, res, Buffer.concat(chunks))
      } catch (e) {
        // A bug in the fake itself: always say so.
        process.stderr.write(`fakeaws: internal error on ${req.method} ${req.url}: ${e.stack}\n`)
        if (!res.headersSent) replyError(ctx, req, res, 500, 'InternalFailure', 'fakeaws internal error: ' + e.message)
      }
    })
  })
  server.keepAliveTimeout = 60000
  server.headersTimeout = 65000
  server.requestTimeout = 0

  server.on('error', (e) => {
    process.stderr.write(`fakeaws: ${e.message}\n`)
    process.exit(1)
  })
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`LISTENING ${server.address().port}\n`)
    // stdout belongs to the LISTENING line; anything else goes to stderr.
    console.log = console.error
    process.stdout.on('error', () => {})
    ctx.log(`listening on 127.0.0.1:${server.address().port}` + (ctx.upstream ? `, upstream ${ctx.upstream.href}` : ''))
  })
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
}

main()
