'use strict'
// The keys the fake server accepts: one long-term pair from the command
// line, plus every temporary credential it has issued itself (STS, IMDS,
// container endpoint).

const crypto = require('crypto')
const { randomKeyChars, isoSeconds } = require('./util')

const ACCOUNT = '123456789012'

class CredentialStore {
  constructor (ctx, accessKeyId, secret) {
    this.ctx = ctx
    this.keys = new Map()
    this.keys.set(accessKeyId, {
      secret,
      token: null,
      expiresAt: null,
      arn: `arn:aws:iam::${ACCOUNT}:user/test`,
      userId: 'AIDA' + randomKeyChars(17)
    })
  }

  lookup (accessKeyId) { return this.keys.get(accessKeyId) }

  /* Issues and registers temporary credentials. durationMs is the lifetime
   * the caller asked for; --expire-after-ms overrides it, and
   * --advertise-expiry-ms changes only the Expiration shown to the client
   * (to test both proactive refresh and refresh after ExpiredToken). */
  issue ({ roleArn, sessionName, durationMs }) {
    const cfg = this.ctx.cfg
    const now = this.ctx.now()
    const expiresAt = now + (cfg.expire_after_ms != null ? cfg.expire_after_ms : durationMs)
    const shownAt = cfg.advertise_expiry_ms != null ? now + cfg.advertise_expiry_ms : expiresAt
    const roleName = roleArn.split('/').pop()
    const roleId = 'AROA' + randomKeyChars(17)
    const cred = {
      accessKeyId: 'ASIA' + randomKeyChars(16),
      secretAccessKey: crypto.randomBytes(30).toString('base64'),
      // Real tokens are long base64 with '+', '/' and '=': clients must encode them.
      sessionToken: 'FwoGZXIvYXdzE' + crypto.randomBytes(96).toString('base64'),
      expiration: isoSeconds(shownAt),
      roleArn,
      arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${roleName}/${sessionName}`,
      assumedRoleId: `${roleId}:${sessionName}`
    }
    this.keys.set(cred.accessKeyId, {
      secret: cred.secretAccessKey,
      token: cred.sessionToken,
      expiresAt,
      arn: cred.arn,
      userId: cred.assumedRoleId
    })
    this.ctx.stats.issued_credentials++
    return cred
  }

  // Makes every issued credential expired now; returns how many.
  expireAll () {
    let n = 0
    const now = this.ctx.now()
    for (const key of this.keys.values()) {
      if (key.token) { key.expiresAt = now; n++ }
    }
    return n
  }
}

module.exports = { CredentialStore, ACCOUNT }
