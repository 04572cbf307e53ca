'use strict'
// Starts the pinned dynalite (in-memory DynamoDB) for the integration tests.
// Prints "LISTENING <port>" on stdout once ready; exits on SIGTERM.

const dynalite = require('dynalite')

// Tables become ACTIVE at once, so tests never wait on CREATING.
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })

// fakeaws keeps upstream connections alive; a longer timeout than node's 5 s
// avoids racing a server-side close on a reused socket.
server.keepAliveTimeout = 60000
server.headersTimeout = 65000

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
