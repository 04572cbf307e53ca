'use strict'
// Starts the pinned s3rver (S3 on the local file system) for the
// integration tests. Usage: node --openssl-legacy-provider start.js DATA_DIR
// (s3rver makes ListObjectsV2's continuation tokens with DES, which Node 17+
// only has with OpenSSL's legacy provider). Objects live under
// DATA_DIR. Prints "LISTENING <port>" on stdout once ready; exits on SIGTERM.
// Requests without a signature are served as anonymous ones; signed ones
// must be signed with s3rver's key pair S3RVER / S3RVER.

const crypto = require('crypto')
const S3rver = require('s3rver')

if (!crypto.getCiphers().includes('des')) {
  process.stderr.write('s3rver: DES is unavailable (its listings need it): run node --openssl-legacy-provider start.js\n')
  process.exit(2)
}

const dir = process.argv[2]
if (!dir) {
  process.stderr.write('usage: node start.js DATA_DIR\n')
  process.exit(2)
}

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: dir,
  // Path-style addressing only: the tests use 127.0.0.1, never bucket
  // host names.
  vhostBuckets: false,
})
server
  .run()
  .then(({ port }) => {
    process.stdout.write(`LISTENING ${port}\n`)
  })
  .catch((e) => {
    process.stderr.write(`s3rver: ${e.message}\n`)
    process.exit(1)
  })
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
