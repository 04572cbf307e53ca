'use strict'
// IAM Identity Center: the portal's GetRoleCredentials and the OIDC
// CreateToken (refresh_token grant), in the real shapes. Neither call is
// signed: the portal takes the bearer token `aws sso login` cached, the
// OIDC endpoint takes the client's id and secret in the body.
//
// Settings (POST /__config): sso_access_tokens (the tokens the portal
// accepts, besides those CreateToken issued), sso_refresh_token,
// sso_client_id and sso_client_secret (what CreateToken accepts), and
// sso_expires_in (seconds, the lifetime of issued tokens).

const crypto = require('crypto')
const { ACCOUNT } = require('./creds')
const { send } = require('./util')

function json (ctx, req, res, status, obj, errorType) {
  const headers = { 'Content-Type': 'application/json' }
  if (errorType) headers['x-amzn-ErrorType'] = errorType
  send(ctx, req, res, status, headers, JSON.stringify(obj))
}

function count (ctx, name) {
  ctx.stats.by_target[name] = (ctx.stats.by_target[name] || 0) + 1
}

function tokenValid (ctx, token) {
  if (!token) return false
  if (ctx.cfg.sso_access_tokens.includes(token)) return true
  const exp = ctx.ssoIssued.get(token)
  return exp != null && exp > ctx.now()
}

// GET /federation/credentials?account_id=&role_name= with x-amz-sso_bearer_token.
function getRoleCredentials (ctx, req, res, query) {
  count(ctx, 'sso:GetRoleCredentials')
  const params = new URLSearchParams(query || '')
  const token = req.headers['x-amz-sso_bearer_token']
  if (!tokenValid(ctx, token)) {
    return json(ctx, req, res, 401, { message: 'Session token not found or invalid' }, 'UnauthorizedException')
  }
  const account = params.get('account_id')
  const role = params.get('role_name')
  if (!account || !role) {
    return json(ctx, req, res, 400, { message: 'account_id and role_name are required' }, 'InvalidRequestException')
  }
  const c = ctx.creds.issue({ roleArn: `arn:aws:iam::${ACCOUNT}:role/${role}`, sessionName: 'sso-user', durationMs: 3600 * 1000 })
  json(ctx, req, res, 200, {
    roleCredentials: {
      accessKeyId: c.accessKeyId,
      secretAccessKey: c.secretAccessKey,
      sessionToken: c.sessionToken,
      expiration: Date.parse(c.expiration) // milliseconds since the epoch
    }
  })
}

// POST /token {grantType: "refresh_token", clientId, clientSecret, refreshToken}.
function createToken (ctx, req, res, body) {
  count(ctx, 'sso-oidc:CreateToken')
  let r
  try { r = JSON.parse(body.toString('utf8')) } catch (e) { r = null }
  const cfg = ctx.cfg
  if (!r || r.grantType !== 'refresh_token' || !r.refreshToken) {
    return json(ctx, req, res, 400, { error: 'invalid_request', error_description: 'refresh_token grant expected' }, 'InvalidRequestException')
  }
  if (r.clientId !== cfg.sso_client_id || r.clientSecret !== cfg.sso_client_secret) {
    return json(ctx, req, res, 401, { error: 'invalid_client', error_description: 'Invalid client provided' }, 'InvalidClientException')
  }
  if (r.refreshToken !== cfg.sso_refresh_token) {
    return json(ctx, req, res, 400, { error: 'invalid_grant', error_description: 'Invalid refresh token provided' }, 'InvalidGrantException')
  }
  const accessToken = 'aoa' + crypto.randomBytes(24).toString('base64url')
  const refreshToken = 'aor' + crypto.randomBytes(24).toString('base64url')
  ctx.ssoIssued.set(accessToken, ctx.now() + cfg.sso_expires_in * 1000)
  cfg.sso_refresh_token = refreshToken // refresh tokens rotate
  json(ctx, req, res, 200, { accessToken, tokenType: 'Bearer', expiresIn: cfg.sso_expires_in, refreshToken })
}

module.exports = { getRoleCredentials, createToken }
