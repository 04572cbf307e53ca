#!/usr/bin/env node
'use strict'
// outage.js: a TCP proxy to stop and start, to play an endpoint that stops
// answering. Prints "LISTENING <port>" on stdout once ready.
//
//   node tests/fakeaws/outage.js --upstream http://127.0.0.1:PORT
//
// SIGUSR1: the outage begins. Every open connection is cut and the port is
// closed, so new connections are refused, as when a server goes away.
// SIGUSR2: the outage ends: it listens again on the same port.
// SIGTERM / SIGINT: exit.

const net = require('net')

let upstream = null
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]
  if (a === '--upstream') upstream = new URL(process.argv[++i])
  else if (a.startsWith('--upstream=')) upstream = new URL(a.slice(11))
  else { process.stderr.write(`outage.js: unknown option ${a}\n`); process.exit(2) }
}
if (!upstream) { process.stderr.write('outage.js: --upstream URL is required\n'); process.exit(2) }

const sockets = new Set()
let port = 0
let server = null

function track (s) {
  sockets.add(s)
  s.on('close', () => sockets.delete(s))
  s.on('error', () => s.destroy())
}

function open (then) {
  server = net.createServer((client) => {
    const up = net.connect(Number(upstream.port), upstream.hostname)
    track(client)
    track(up)
    client.pipe(up)
    up.pipe(client)
    client.on('close', () => up.destroy())
    up.on('close', () => client.destroy())
  })
  server.on('error', (e) => { process.stderr.write(`outage.js: ${e.message}\n`); process.exit(1) })
  server.listen(port, '127.0.0.1', () => {
    port = server.address().port
    if (then) then()
  })
}

process.on('SIGUSR1', () => {
  if (!server) return
  server.close()
  server = null
  for (const s of sockets) s.destroy()
})
process.on('SIGUSR2', () => { if (!server) open() })
// Signal handlers do not keep Node running while the port is closed.
setInterval(() => {}, 1 << 30)
process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))

open(() => process.stdout.write(`LISTENING ${port}\n`))
