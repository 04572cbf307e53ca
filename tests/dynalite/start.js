'use strict'
// Starts the pinned dynalite (in-memory DynamoDB) for the integration tests.
// Prints "LISTENING <port>" on stdout once ready; exits on SIGTERM.
//
//   node tests/dynalite/start.js [--latency-ms N] [--throttle-every N]
//
// --latency-ms N: every request waits N ms before dynalite sees it, as if
//   the server were a network round trip away (real DynamoDB is 5-30 ms).
// --throttle-every N: every Nth request is answered with a throttling
//   error instead (N = 0: never; SIGUSR1 toggles it at run time).
// With either option, GET /_stats answers {"requests", "throttled",
// "in_flight", "max_in_flight"} counted here, at the endpoint.

const dynalite = require('dynalite')

let latency = 0
let throttleEvery = 0
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]
  if (a === '--latency-ms') latency = Number(process.argv[++i])
  else if (a === '--throttle-every') throttleEvery = Number(process.argv[++i])
  else { process.stderr.write(`start.js: unknown option ${a}\n`); process.exit(2) }
}

// Tables become ACTIVE at once, so tests never wait on CREATING.
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })

// fakeaws keeps upstream connections alive; a longer timeout than node's 5 s
// avoids racing a server-side close on a reused socket.
server.keepAliveTimeout = 60000
server.headersTimeout = 65000

if (latency > 0 || throttleEvery > 0) {
  const handlers = server.listeners('request')
  server.removeAllListeners('request')
  const stats = { requests: 0, throttled: 0, in_flight: 0, max_in_flight: 0 }
  let throttling = throttleEvery > 0
  const every = throttleEvery > 0 ? throttleEvery : 5
  process.on('SIGUSR1', () => { throttling = !throttling })
  server.on('request', (req, res) => {
    if (req.method === 'GET' && req.url === '/_stats') {
      res.setHeader('Content-Type', 'application/json')
      res.end(JSON.stringify(stats))
      return
    }
    stats.requests++
    stats.in_flight++
    stats.max_in_flight = Math.max(stats.max_in_flight, stats.in_flight)
    res.on('close', () => { stats.in_flight-- })
    const throttle = throttling && stats.requests % every === 0
    const go = () => {
      if (!throttle) { for (const h of handlers) h.call(server, req, res); return }
      stats.throttled++
      req.resume()
      req.on('end', () => {
        res.statusCode = 400
        res.setHeader('Content-Type', 'application/x-amz-json-1.0')
        res.end(JSON.stringify({
          __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
          message: 'The level of configured provisioned throughput for the table was exceeded.'
        }))
      })
    }
    // The body is read by dynalite after the wait; the socket holds it.
    if (latency > 0) setTimeout(go, latency)
    else go()
  })
}

server.on('error', (e) => {
  process.stderr.write(`dynalite: ${e.message}\n`)
  process.exit(1)
})
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`)
  console.log = console.error
  process.stdout.on('error', () => {})
})
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
