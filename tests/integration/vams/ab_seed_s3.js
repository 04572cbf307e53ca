'use strict'
// Fills stack A's buckets for the vams/ab-deployment test, straight into
// s3rver (unsigned requests, which s3rver serves as anonymous ones).
// usage: node ab_seed_s3.js S3RVER_URL PREFIX SIDE [empty]
// Creates PREFIX-SIDE-assets (2,001 objects, one of them 12 MiB) and
// PREFIX-SIDE-aux (300), or two empty buckets with "empty". Objects have metadata, a content
// type, and (most of them) tags; keys include spaces, '+', unicode and
// nested prefixes. Prints "OBJECTS <count> <bytes>".

const http = require('http')

const [base, prefix, side, mode] = process.argv.slice(2)
const url = new URL(base)
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 })

function request (method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: url.hostname, port: url.port, method, path, headers: Object.assign({ 'content-length': body ? body.length : 0 }, headers), agent }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => res.statusCode === 200 ? resolve() : reject(new Error(`${method} ${path}: ${res.statusCode} ${Buffer.concat(chunks)}`)))
    })
    r.on('error', reject)
    r.end(body)
  })
}

function encodeKey (key) { return key.split('/').map(encodeURIComponent).join('/') }

async function main () {
  let count = 0
  let bytes = 0
  for (const b of ['assets', 'aux']) await request('PUT', `/${prefix}-${side}-${b}`, {}, null)
  const objects = []
  if (mode === 'empty') { process.stdout.write('OBJECTS 0 0\n'); agent.destroy(); return }
  for (let n = 0; n < 2000; n++) {
    const key = n % 10 === 0 ? `db-${n % 7}/x${n} with space/file+${n}.glb`
      : n % 10 === 1 ? `db-${n % 7}/模型-${n}/préview ${n}.png` : `db-${n % 7}/x${String(n).padStart(5, '0')}/f${n}.bin`
    objects.push({ bucket: `${prefix}-${side}-assets`, key, size: 100 + (n * 37) % 5000, n })
  }
  for (let n = 0; n < 300; n++) objects.push({ bucket: `${prefix}-${side}-aux`, key: `previews/x${n}/thumb.jpg`, size: 50 + n, n })
  objects.push({ bucket: `${prefix}-${side}-assets`, key: 'db-big/large model.glb', size: 12 * 1024 * 1024, n: 7 })
  let next = 0
  async function worker () {
    while (next < objects.length) {
      const o = objects[next++]
      const body = Buffer.alloc(o.size)
      for (let i = 0; i < o.size; i += 64) body.write(`${o.key}:${i};`, i)
      const path = `/${o.bucket}/${encodeKey(o.key)}`
      await request('PUT', path, {
        'content-type': o.n % 3 ? 'application/octet-stream' : 'model/gltf-binary',
        'x-amz-meta-assetid': `x${o.n}`,
        'x-amz-meta-databaseid': `db-${o.n % 7}`
      }, body)
      if (o.n % 4 !== 3) {
        const tags = `<Tagging><TagSet><Tag><Key>vams</Key><Value>asset ${o.n}</Value></Tag>` +
          (o.n % 2 ? '<Tag><Key>stage</Key><Value>raw</Value></Tag>' : '') + '</TagSet></Tagging>'
        await request('PUT', path + '?tagging', { 'content-type': 'application/xml' }, Buffer.from(tags))
      }
      count++
      bytes += o.size
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
  process.stdout.write(`OBJECTS ${count} ${bytes}\n`)
  agent.destroy()
}

main().catch((e) => { process.stderr.write(`ab_seed_s3: ${e.message}\n`); process.exit(1) })
