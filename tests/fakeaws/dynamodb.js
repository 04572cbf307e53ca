'use strict'
// DynamoDB: forwards signature-checked requests to an upstream dynalite and
// injects faults. Faults that stand for a failed request (500, 503,
// throttles, drop) are decided before forwarding, so a faulty write is never
// applied and the client's retry is the only copy that lands.

const http = require('http')
const { send, replyError } = require('./util')
const backups = require('./backups')

const PREFIX = 'DynamoDB_20120810.'
const WRITE_OPS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems'])
const FAULT_KINDS = ['500', '503', 'throttle', 'throttle-ex', 'drop', 'slow', 'unprocessed', 'crc']
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade',
  'expect', 'host', 'content-length', 'te', 'trailer'])

const ERRORS = {
  500: [500, 'com.amazon.coral.service#InternalFailure', 'injected'],
  503: [503, 'com.amazon.coral.service#ServiceUnavailableException', 'injected'],
  throttle: [400, 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', 'injected throttle'],
  'throttle-ex': [400, 'com.amazon.coral.availability#ThrottlingException', 'injected throttle']
}

// Picks the fault for one request: queued faults first (POST /__config
// {"fault_next": [...]}), then a random draw at fault_rate.
function pickFault (ctx, op) {
  const cfg = ctx.cfg
  if (cfg.fault_ops && !cfg.fault_ops.includes(op)) return null
  if (cfg.fault_next.length) return cfg.fault_next.shift()
  if (cfg.fault_rate > 0 && cfg.faults.length && ctx.rng() < cfg.fault_rate) {
    return cfg.faults[Math.floor(ctx.rng() * cfg.faults.length)]
  }
  return null
}

// --capacity N: a table provisioned for N requests per second (a token
// bucket holding one second's worth). Requests beyond it are throttled the
// way DynamoDB does, so a client's adaptive rate has something real to find.
function overCapacity (ctx) {
  const cap = ctx.cfg.capacity
  if (!cap) return false
  const now = Date.now() / 1000
  const b = ctx.bucket || (ctx.bucket = { tokens: cap, at: now })
  b.tokens = Math.min(cap, b.tokens + (now - b.at) * cap)
  b.at = now
  if (b.tokens < 1) return true
  b.tokens -= 1
  return false
}

// latency_ms: every DynamoDB request is answered that much later;
// client_in_flight: at most that many requests of one client (access key)
// are served at once, the others wait their turn, so a client cannot go
// faster by opening more connections (the scale-out benchmark's endpoint).
function handle (ctx, req, res, body, auth) {
  const cap = ctx.cfg.client_in_flight
  if (!cap && !ctx.cfg.latency_ms) return serve(ctx, req, res, body)
  const id = (auth && auth.accessKeyId) || '-'
  const c = ctx.clients.get(id) || { running: 0, queue: [] }
  ctx.clients.set(id, c)
  const start = () => {
    c.running++
    let released = false
    res.on('close', () => {
      if (released) return
      released = true
      c.running--
      const next = c.queue.shift()
      if (next) next()
    })
    setTimeout(() => serve(ctx, req, res, body), ctx.cfg.latency_ms)
  }
  if (!cap || c.running < cap) start()
  else c.queue.push(start)
}

function serve (ctx, req, res, body) {
  const op = req.fa.target.slice(PREFIX.length)
  if (!ctx.upstream) {
    return replyError(ctx, req, res, 400, 'UnknownOperationException', `Unknown operation ${op} (fakeaws runs without --upstream)`)
  }
  // The backup control plane is answered here (dynalite has none of it).
  if (backups.OPS.has(op)) return backups.handle(ctx, req, res, op, body)
  if (overCapacity(ctx)) {
    ctx.stats.faults.capacity = (ctx.stats.faults.capacity || 0) + 1
    const [status, type] = ERRORS.throttle
    return replyError(ctx, req, res, status, type.split('#')[1],
      'The level of configured provisioned throughput for the table was exceeded.', type)
  }
  let fault = pickFault(ctx, op)
  let split = null
  if (fault === 'unprocessed') {
    split = splitBatch(ctx, op, body)
    if (!split) fault = 'slow' // not a batch, or too small to split
  }
  if (fault) {
    ctx.stats.faults[fault] = (ctx.stats.faults[fault] || 0) + 1
    req.fa.record.fault = fault
    ctx.log(`fault ${fault} on ${op}`)
  }

  if (ERRORS[fault]) {
    const [status, type, message] = ERRORS[fault]
    return replyError(ctx, req, res, status, type.split('#')[1], message, type)
  }
  if (fault === 'drop') return req.socket.destroy() // no answer at all
  forward(ctx, req, res, op, split ? split.body : body, (status, headers, out) => {
    if (split && status === 200) out = mergeUnprocessed(op, out, split)
    if (op === 'DescribeTable' && status === 200 && ctx.cfg.fresh_table_stats) out = freshStats(out)
    const h = { 'Content-Type': headers['content-type'] || 'application/x-amz-json-1.0' }
    // A wrong checksum: the client must detect it and retry.
    if (fault === 'crc') h['x-amz-crc32'] = '1234567'
    // slow: the request is applied at once, only the answer is late (a
    // client that times out and retries sends it a second time, as on AWS).
    if (fault === 'slow') setTimeout(() => send(ctx, req, res, status, h, out), ctx.cfg.slow_ms)
    else send(ctx, req, res, status, h, out)
  })
}

// DescribeTable as real DynamoDB answers for a new table (its counts are
// refreshed about every six hours): ItemCount and TableSizeBytes 0.
function freshStats (out) {
  const doc = JSON.parse(out)
  if (doc.Table) { doc.Table.ItemCount = 0; doc.Table.TableSizeBytes = 0 }
  return JSON.stringify(doc)
}

// Items written per table (write_items in /__stats): what a test of a
// write rate measures at the endpoint.
function countWrites (ctx, op, body) {
  let input
  try { input = JSON.parse(body.toString('utf8')) } catch (e) { return }
  const add = (t, n) => { ctx.stats.write_items[t] = (ctx.stats.write_items[t] || 0) + n }
  if (op === 'BatchWriteItem') {
    for (const [t, list] of Object.entries(input.RequestItems || {})) add(t, Array.isArray(list) ? list.length : 0)
  } else if (input.TableName) add(input.TableName, 1)
}

function forward (ctx, req, res, op, body, done) {
  if (WRITE_OPS.has(op)) {
    ctx.stats.writes_forwarded++
    countWrites(ctx, op, body)
  }
  const up = ctx.upstream
  const headers = {}
  for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v
  headers.host = up.host
  headers['content-length'] = body.length
  let finished = false
  const attempt = (retried) => {
    const r = http.request({
      host: up.hostname, port: up.port, method: req.method, path: req.url, headers, agent: ctx.agent
    }, (ur) => {
      const chunks = []
      ur.on('data', (c) => chunks.push(c))
      ur.on('end', () => { if (!finished) { finished = true; done(ur.statusCode, ur.headers, Buffer.concat(chunks)) } })
      ur.on('error', fail)
    })
    function fail (err) {
      if (finished) return
      // A kept-alive socket the upstream closed meanwhile: one fresh try.
      if (!retried && r.reusedSocket && err.code === 'ECONNRESET') return attempt(true)
      finished = true
      ctx.stats.upstream_errors++
      ctx.log(`upstream error: ${err.message}`)
      replyError(ctx, req, res, 500, 'InternalFailure', `fakeaws: upstream error: ${err.message}`)
    }
    r.on('error', fail)
    r.end(body)
  }
  attempt(false)
}

// For BatchWriteItem / BatchGetItem: keeps a random non-empty proper subset
// of the request items to forward; the rest come back as unprocessed.
// Returns null when there are fewer than two items.
function splitBatch (ctx, op, body) {
  if (op !== 'BatchWriteItem' && op !== 'BatchGetItem') return null
  let input
  try { input = JSON.parse(body.toString('utf8')) } catch (e) { return null }
  const tables = input && input.RequestItems
  if (!tables || typeof tables !== 'object') return null
  const items = [] // [table, item]
  for (const [table, spec] of Object.entries(tables)) {
    const list = op === 'BatchWriteItem' ? spec : spec && spec.Keys
    if (!Array.isArray(list)) return null
    for (const it of list) items.push([table, it])
  }
  if (items.length < 2) return null

  // Choose k in [1, n-1] items to forward (partial Fisher-Yates on indexes).
  const n = items.length
  const k = 1 + Math.floor(ctx.rng() * (n - 1))
  const idx = items.map((_, i) => i)
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(ctx.rng() * (n - i))
    const t = idx[i]; idx[i] = idx[j]; idx[j] = t
  }
  const forwarded = new Set(idx.slice(0, k))
  const kept = {}
  const held = {}
  items.forEach(([table, it], i) => {
    const dest = forwarded.has(i) ? kept : held
    ;(dest[table] = dest[table] || []).push(it)
  })
  const wrap = (groups) => {
    if (op === 'BatchWriteItem') return groups
    const out = {}
    for (const [table, keys] of Object.entries(groups)) out[table] = Object.assign({}, tables[table], { Keys: keys })
    return out
  }
  const fwd = Object.assign({}, input, { RequestItems: wrap(kept) })
  return { body: Buffer.from(JSON.stringify(fwd)), held: wrap(held) }
}

// Adds the held-back items to what the upstream itself left unprocessed.
function mergeUnprocessed (op, body, split) {
  let out
  try { out = JSON.parse(body.toString('utf8')) } catch (e) { return body }
  const field = op === 'BatchWriteItem' ? 'UnprocessedItems' : 'UnprocessedKeys'
  const acc = out[field] || {}
  for (const [table, held] of Object.entries(split.held)) {
    if (op === 'BatchWriteItem') {
      acc[table] = (acc[table] || []).concat(held)
    } else {
      const prev = acc[table]
      acc[table] = Object.assign({}, held, { Keys: (prev && prev.Keys ? prev.Keys : []).concat(held.Keys) })
    }
  }
  out[field] = acc
  return Buffer.from(JSON.stringify(out))
}

module.exports = { PREFIX, FAULT_KINDS, handle }
