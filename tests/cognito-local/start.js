'use strict'
// Starts the pinned cognito-local (Cognito user pools) for the integration
// tests. Usage: node start.js DATA_DIR. It keeps its pools under
// DATA_DIR/.cognito (cognito-local reads that path relative to the current
// directory). Prints "LISTENING <port>" on stdout once ready; exits on SIGTERM.

const fs = require('fs')
const path = require('path')

const dir = process.argv[2]
if (!dir) {
  process.stderr.write('usage: node start.js DATA_DIR\n')
  process.exit(2)
}
fs.mkdirSync(path.join(dir, '.cognito', 'db'), { recursive: true })
process.chdir(dir)

// The AWS SDK v2 inside cognito-local prints an end-of-support note otherwise.
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1'
const { createDefaultServer } = require('cognito-local/lib/server')
const pino = require('pino')

// Quiet unless asked: the tests read only the LISTENING line.
const logger = pino({ level: process.env.COGNITO_LOCAL_DEBUG ? 'debug' : 'error' }, process.stderr)

createDefaultServer(logger)
  .then((server) => server.start({ hostname: '127.0.0.1', port: 0 }))
  .then((http) => {
    http.keepAliveTimeout = 60000
    http.headersTimeout = 65000
    process.stdout.write(`LISTENING ${http.address().port}\n`)
  })
  .catch((e) => {
    process.stderr.write(`cognito-local: ${e.message}\n`)
    process.exit(1)
  })
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
