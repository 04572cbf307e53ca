'use strict'
// Canned AWS services: ECS, Cognito user pools, Lambda invoke, STS,
// CloudFormation DescribeStacks (all signature-checked by the router), and
// the unsigned credential sources: EC2 IMDSv2 and the ECS container
// credentials endpoint.

const crypto = require('crypto')
const { ACCOUNT } = require('./creds')
const { randomHex, xmlEscape, isoSeconds, send, replyJson, replyError, replyXml } = require('./util')
const models = require('./models')
const embedding = require('./embedding')

function parseJsonBody (body) {
  if (!body.length) return {}
  const v = JSON.parse(body.toString('utf8'))
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object')
  return v
}

function missingMember (name) {
  return `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`
}

/* ---------------------------------------------------------------- ECS */

const ECS_PREFIX = 'AmazonEC2ContainerServiceV20141113.'
const ECS_FAULTS = ['throttle', '500', 'failure', 'lost']

function ecs (ctx, req, res, body) {
  const op = req.fa.target.slice(ECS_PREFIX.length)
  let input
  try { input = parseJsonBody(body) } catch (e) {
    return replyError(ctx, req, res, 400, 'SerializationException', 'Malformed JSON body')
  }
  const region = req.fa.region
  if (op === 'RunTask') {
    if (!input.taskDefinition) return replyError(ctx, req, res, 400, 'InvalidParameterException', 'taskDefinition can not be blank.')
    if (!input.cluster) return replyError(ctx, req, res, 400, 'InvalidParameterException', 'cluster can not be blank.')
    const count = input.count == null ? 1 : input.count
    if (!Number.isInteger(count) || count < 1 || count > 10) {
      return replyError(ctx, req, res, 400, 'InvalidParameterException', 'count must be between 1 and 10.')
    }
    const bad = models.check('ecs', op, input)
    if (bad) return replyError(ctx, req, res, 400, bad[0], bad[1])
    // Every RunTask that passed validation, for the tests (GET /__ecs-runtasks).
    ctx.ecsRunTasks.push({ bot: embedding.botKey(input), clientToken: input.clientToken || null })
    if (runTaskThrottled(ctx)) return replyError(ctx, req, res, 400, 'ThrottlingException', 'Rate exceeded')
    // ecs_fault_rate: a random fault of ECS_FAULTS (faults.ecs-random).
    let fault = null
    if (ctx.cfg.ecs_fault_rate > 0 && ctx.rng() < ctx.cfg.ecs_fault_rate) {
      fault = ECS_FAULTS[Math.floor(ctx.rng() * ECS_FAULTS.length)]
      ctx.stats.faults['ecs-random'] = (ctx.stats.faults['ecs-random'] || 0) + 1
    }
    if (fault === 'throttle') return replyError(ctx, req, res, 400, 'ThrottlingException', 'Rate exceeded')
    if (fault === '500') return replyError(ctx, req, res, 500, 'ServerException', 'injected server error')
    const injected = ctx.cfg.ecs_errors_next.length ? ctx.cfg.ecs_errors_next.shift() : 'ok'
    if (injected !== 'ok') {
      ctx.stats.faults['ecs-error'] = (ctx.stats.faults['ecs-error'] || 0) + 1
      return replyError(ctx, req, res, 400, injected, 'injected error')
    }
    const cluster = String(input.cluster).split('/').pop()
    // clientToken: the same token and parameters in a cluster get the
    // first answer again and start nothing (ConflictException if the
    // parameters differ), as ECS does.
    const tokens = ctx.ecsTokens || (ctx.ecsTokens = new Map())
    const tokenKey = input.clientToken != null ? cluster + '\n' + input.clientToken : null
    const params = JSON.stringify(Object.assign({}, input, { clientToken: undefined }))
    if (tokenKey && tokens.has(tokenKey)) {
      const first = tokens.get(tokenKey)
      if (first.params !== params) {
        return replyError(ctx, req, res, 400, 'ConflictException', 'The client token was used with different parameters.')
      }
      ctx.stats.ecs_token_replays = (ctx.stats.ecs_token_replays || 0) + 1
      return replyJson(ctx, req, res, 200, first.response)
    }
    if (ctx.cfg.ecs_failures_next.length || fault === 'failure') {
      // No task started; the token stays unused (a retry may succeed).
      const reason = fault === 'failure' ? 'RESOURCE:MEMORY' : ctx.cfg.ecs_failures_next.shift()
      ctx.stats.faults['ecs-failure'] = (ctx.stats.faults['ecs-failure'] || 0) + 1
      return replyJson(ctx, req, res, 200, {
        tasks: [],
        failures: [{ arn: `arn:aws:ecs:${region}:${ACCOUNT}:container-instance/${cluster}/${randomHex(16)}`, reason }]
      })
    }
    const td = String(input.taskDefinition)
    const tdArn = td.startsWith('arn:') ? td
      : `arn:aws:ecs:${region}:${ACCOUNT}:task-definition/${td.includes(':') ? td : td + ':1'}`
    const tasks = []
    const writes = []
    for (let i = 0; i < count; i++) {
      const taskId = randomHex(16)
      const taskArn = `arn:aws:ecs:${region}:${ACCOUNT}:task/${cluster}/${taskId}`
      // Task definitions named fail-* stop with exit code 1.
      const exitCode = td.split('/').pop().startsWith('fail-') ? 1 : 0
      const sim = embedding.started(ctx, input, taskId)
      writes.push(sim.done)
      ctx.ecsTasks.set(taskArn, { polls: 0, exitCode, cluster, tdArn, clientToken: input.clientToken, bot: embedding.botKey(input), embedKey: sim.key })
      tasks.push(ecsTask(taskArn, cluster, tdArn, region, 'PROVISIONING', null, input))
    }
    ctx.stats.ecs_tasks_started = (ctx.stats.ecs_tasks_started || 0) + count
    const response = { tasks, failures: [] }
    if (tokenKey) tokens.set(tokenKey, { params, response })
    // 'lost': the task starts, but the answer is a 500 (the client's retry
    // with the same token gets the task back).
    if (fault === 'lost') {
      return Promise.all(writes).then(() => replyError(ctx, req, res, 500, 'ServerException', 'injected: answer lost'))
    }
    return Promise.all(writes).then(() => replyJson(ctx, req, res, 200, response))
  }
  if (op === 'DescribeTasks') {
    if (!Array.isArray(input.tasks) || input.tasks.length === 0) {
      return replyError(ctx, req, res, 400, 'ClientException', 'Tasks cannot be empty.')
    }
    if (input.tasks.length > 100) return replyError(ctx, req, res, 400, 'InvalidParameterException', 'Tasks cannot contain more than 100 elements.')
    const bad = models.check('ecs', op, input)
    if (bad) return replyError(ctx, req, res, 400, bad[0], bad[1])
    const cluster = String(input.cluster || 'default').split('/').pop()
    const writes = []
    const states = input.tasks.map((t) => {
      t = String(t)
      const arn = t.startsWith('arn:') ? t : `arn:aws:ecs:${region}:${ACCOUNT}:task/${cluster}/${t}`
      const known = ctx.ecsTasks.get(arn)
      if (!known) return { arn }
      known.polls++
      const running = known.polls <= ctx.cfg.ecs_running_polls
      if (!running && !known.stopped) {
        known.stopped = true
        writes.push(embedding.stopped(ctx, known, arn.split('/').pop()))
      }
      return { arn, known, running }
    })
    return Promise.all(writes).then(() => {
      const tasks = states.map(({ arn, known, running }) => known
        ? ecsTask(arn, known.cluster, known.tdArn, region, running ? 'RUNNING' : 'STOPPED', running ? null : known.exitCode, {})
        : ecsTask(arn, cluster, null, region, 'STOPPED', 0, {}))
      replyJson(ctx, req, res, 200, { tasks, failures: [] })
    })
  }
  replyError(ctx, req, res, 400, 'UnknownOperationException', `Unknown operation ${op}`)
}

// RunTask's rate: `ecs_throttle_next` requests refused first, then a token
// bucket of `ecs_burst` refilled at `ecs_rate` per second (0: no limit).
function runTaskThrottled (ctx) {
  const cfg = ctx.cfg
  const count = (kind) => { ctx.stats.faults[kind] = (ctx.stats.faults[kind] || 0) + 1; return true }
  if (cfg.ecs_throttle_next > 0) { cfg.ecs_throttle_next--; return count('ecs-throttle') }
  if (!cfg.ecs_rate) return false
  const now = Date.now() / 1000
  const b = ctx.ecsBucket || (ctx.ecsBucket = { tokens: cfg.ecs_burst, at: now })
  b.tokens = Math.min(cfg.ecs_burst, b.tokens + (now - b.at) * cfg.ecs_rate)
  b.at = now
  if (b.tokens < 1) return count('ecs-rate')
  b.tokens -= 1
  return false
}

function ecsTask (taskArn, cluster, tdArn, region, status, exitCode, input) {
  const stopped = status === 'STOPPED'
  const container = { name: 'main', lastStatus: status === 'PROVISIONING' ? 'PENDING' : status }
  if (stopped) container.exitCode = exitCode
  const task = {
    taskArn,
    clusterArn: `arn:aws:ecs:${region}:${ACCOUNT}:cluster/${cluster}`,
    taskDefinitionArn: tdArn || `arn:aws:ecs:${region}:${ACCOUNT}:task-definition/unknown:1`,
    lastStatus: status,
    desiredStatus: stopped ? 'STOPPED' : 'RUNNING',
    launchType: input.launchType || 'FARGATE',
    containers: [container]
  }
  if (input.overrides) task.overrides = input.overrides
  if (input.startedBy) task.startedBy = input.startedBy
  if (stopped) {
    task.stopCode = 'EssentialContainerExited'
    task.stoppedReason = 'Essential container in task exited'
  }
  return task
}

/* ------------------------------------------------------------ Cognito */

const COGNITO_PREFIX = 'AWSCognitoIdentityProviderService.'

function cognitoState (ctx) {
  if (!ctx.cognito) {
    const names = [...ctx.cfg.cognito_users]
    for (let i = 1; i <= ctx.cfg.cognito_user_count; i++) names.push('user-' + String(i).padStart(5, '0'))
    const created = Math.floor(ctx.now() / 1000) - 86400
    const users = names.map((Username, i) => ({
      Username,
      sub: uuidFrom('sub:' + Username),
      email: `${Username}@example.com`,
      created: created + i
    }))
    ctx.cognito = { users, byName: new Map(users.map((u) => [u.Username, u])), groups: new Map() }
  }
  return ctx.cognito
}

function uuidFrom (seed) {
  const h = crypto.createHash('sha256').update(seed).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
}

function cognitoUser (u, attributesToGet) {
  let attrs = [
    { Name: 'sub', Value: u.sub },
    { Name: 'email', Value: u.email },
    { Name: 'email_verified', Value: 'true' }
  ]
  if (Array.isArray(attributesToGet)) attrs = attrs.filter((a) => attributesToGet.includes(a.Name))
  return {
    Username: u.Username,
    Attributes: attrs,
    UserCreateDate: u.created,
    UserLastModifiedDate: u.created,
    Enabled: true,
    UserStatus: 'CONFIRMED'
  }
}

// Filter syntax: `attribute = "value"` or `attribute ^= "prefix"`.
function cognitoFilter (filter) {
  if (!filter) return () => true
  const m = /^\s*(\w+)\s*(\^?=)\s*"(.*)"\s*$/.exec(filter)
  if (!m) return null
  const pick = { username: (u) => u.Username, email: (u) => u.email, sub: (u) => u.sub }[m[1]]
  if (!pick) return null
  return m[2] === '=' ? (u) => pick(u) === m[3] : (u) => pick(u).startsWith(m[3])
}

// Pagination tokens are opaque to clients; here they carry the offset.
function pageToken (offset) { return Buffer.from(JSON.stringify({ offset })).toString('base64') }
function pageOffset (token) {
  if (token == null) return 0
  try {
    const { offset } = JSON.parse(Buffer.from(String(token), 'base64').toString('utf8'))
    return Number.isInteger(offset) && offset > 0 ? offset : -1
  } catch (e) { return -1 }
}

function cognito (ctx, req, res, body) {
  const op = req.fa.target.slice(COGNITO_PREFIX.length)
  let input
  try { input = parseJsonBody(body) } catch (e) {
    return replyError(ctx, req, res, 400, 'SerializationException', 'Malformed JSON body')
  }
  const state = cognitoState(ctx)
  const err = (code, msg) => replyError(ctx, req, res, 400, code, msg)
  const bad = models.check('cognito', op, input)
  if (bad) return err(bad[0], bad[1])
  for (const member of ['UserPoolId'].concat({
    AdminAddUserToGroup: ['Username', 'GroupName'],
    AdminRemoveUserFromGroup: ['Username', 'GroupName'],
    ListUsersInGroup: ['GroupName']
  }[op] || [])) {
    if (input[member] == null) return err('InvalidParameterException', missingMember(member[0].toLowerCase() + member.slice(1)))
  }

  const page = (users, tokenIn, tokenName) => {
    const limit = input.Limit == null ? 60 : input.Limit
    if (!Number.isInteger(limit) || limit < 0 || limit > 60) {
      err('InvalidParameterException', `1 validation error detected: Value '${limit}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 60`)
      return
    }
    const offset = pageOffset(tokenIn)
    if (offset < 0) { err('InvalidParameterException', 'Invalid pagination token.'); return }
    const n = limit === 0 ? 60 : limit
    const out = { Users: users.slice(offset, offset + n).map((u) => cognitoUser(u, input.AttributesToGet)) }
    if (offset + n < users.length) out[tokenName] = pageToken(offset + n)
    replyJson(ctx, req, res, 200, out)
  }

  switch (op) {
    case 'ListUsers': {
      const match = cognitoFilter(input.Filter)
      if (!match) return err('InvalidParameterException', 'Error while parsing filter.')
      return page(state.users.filter(match), input.PaginationToken, 'PaginationToken')
    }
    case 'AdminAddUserToGroup':
    case 'AdminRemoveUserFromGroup': {
      if (!state.byName.has(input.Username)) return err('UserNotFoundException', 'User does not exist.')
      let group = state.groups.get(input.GroupName)
      if (!group) state.groups.set(input.GroupName, (group = new Set()))
      if (op === 'AdminAddUserToGroup') group.add(input.Username)
      else group.delete(input.Username)
      return replyJson(ctx, req, res, 200, {})
    }
    case 'ListUsersInGroup': {
      const group = state.groups.get(input.GroupName) || new Set()
      return page(state.users.filter((u) => group.has(u.Username)), input.NextToken, 'NextToken')
    }
  }
  err('UnknownOperationException', `Unknown operation ${op}`)
}

/* ------------------------------------------------------------- Lambda */

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/

function lambda (ctx, req, res, body) {
  const m = INVOKE_PATH.exec(req.fa.path)
  if (!m || req.method !== 'POST') {
    return replyError(ctx, req, res, 404, 'ResourceNotFoundException', `No route for ${req.method} ${req.fa.path}`)
  }
  let name
  try { name = decodeURIComponent(m[1]) } catch (e) {
    return replyError(ctx, req, res, 400, 'InvalidParameterValueException', 'Function name is not valid UTF-8.')
  }
  // A full ARN names the function in its 7th field.
  const shortName = name.startsWith('arn:') ? (name.split(':')[6] || '') : name
  const region = req.fa.region
  if (shortName.startsWith('missing-')) {
    return replyError(ctx, req, res, 404, 'ResourceNotFoundException',
      `Function not found: arn:aws:lambda:${region}:${ACCOUNT}:function:${shortName}`)
  }
  const type = req.headers['x-amz-invocation-type'] || 'RequestResponse'
  if (!['RequestResponse', 'Event', 'DryRun'].includes(type)) {
    return replyError(ctx, req, res, 400, 'InvalidParameterValueException', `Invalid invocation type: ${type}`)
  }
  let payload = null
  if (body.length) {
    try { payload = JSON.parse(body.toString('utf8')) } catch (e) {
      return replyError(ctx, req, res, 400, 'InvalidRequestContentException', `Could not parse request body into json: ${e.message}`)
    }
  }
  if (type === 'Event') return send(ctx, req, res, 202, {}, '')
  if (type === 'DryRun') return send(ctx, req, res, 204, {}, '')
  const headers = { 'X-Amz-Executed-Version': '$LATEST' }
  if (req.headers['x-amz-log-type'] === 'Tail') {
    headers['X-Amz-Log-Result'] = Buffer.from(`START RequestId: ${req.fa.requestId}\nEND\n`).toString('base64')
  }
  if (name.startsWith('fail-') || shortName.startsWith('fail-')) {
    headers['X-Amz-Function-Error'] = 'Unhandled'
    return replyJson(ctx, req, res, 200, { errorMessage: 'injected failure', errorType: 'Error' }, headers)
  }
  // A handler that reports its own failure in the payload (no function error).
  if (shortName.startsWith('error500-')) {
    return replyJson(ctx, req, res, 200, { statusCode: 500, body: JSON.stringify({ error: 'injected handler error' }) }, headers)
  }
  // A handler that answers as the VAMS reindexer does.
  if (shortName.startsWith('reindex-')) {
    const results = { assets: { total: 2, success: 2, failed: 0 }, files: { total: 3, success: 3, failed: 0 } }
    return replyJson(ctx, req, res, 200, { statusCode: 200, body: JSON.stringify({ message: 'Reindexing completed', results }) }, headers)
  }
  // A handler that answers as the deployed VAMS reindexer does, from the payload.
  if (shortName.startsWith('vams-reindexer-')) {
    return replyJson(ctx, req, res, 200, { statusCode: 200, body: JSON.stringify({ message: 'Reindexing completed', results: reindexerResults(ctx, payload || {}) }) }, headers)
  }
  // A function that runs for ctx.cfg.lambda_slow_ms before answering.
  if (shortName.startsWith('slow-')) {
    return setTimeout(() => replyJson(ctx, req, res, 200, { ok: true, function: name, payload }, headers),
      ctx.cfg.lambda_slow_ms || 3000)
  }
  replyJson(ctx, req, res, 200, { ok: true, function: name, payload }, headers)
}

// The VAMS reindexer's results for a direct invocation: 5 assets and 7
// files (`limit` caps each), `reindexer_failed` of each failing, index
// clearing when asked. A dry run counts without changing anything.
function reindexerResults (ctx, event) {
  const now = new Date(ctx.now()).toISOString()
  const operation = event.operation || 'both'
  const limit = event.limit || null
  const part = (n, extra) => {
    const total = limit ? Math.min(n, limit) : n
    const failed = event.dry_run ? 0 : Math.min(ctx.cfg.reindexer_failed, total)
    const errors = []
    for (let i = 0; i < failed; i++) errors.push({ error: `injected failure ${i + 1}`, type: 'item' })
    return Object.assign({ success_count: total - failed, failed_count: failed, total_count: total }, extra,
      { errors, start_time: now, end_time: now })
  }
  const results = {}
  if (event.clear_indexes) {
    results.clear_indexes = {
      asset_index: { name: 'vams-assets', deleted_count: 5, success: true },
      file_index: { name: 'vams-files', deleted_count: 7, success: true }
    }
  }
  if (operation === 'assets' || operation === 'both') results.assets = part(5, {})
  if (operation === 'files' || operation === 'both') results.files = part(7, { buckets_processed: 1, objects_scanned: 9 })
  return results
}

/* --------------------------------------------------------- STS (query) */

const ROLE_ARN = /^arn:[\w-]+:iam::\d{12}:role\/[\w+=,.@/-]+$/
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/

function credentialsXml (c) {
  return '    <Credentials>\n' +
    `      <AccessKeyId>${c.accessKeyId}</AccessKeyId>\n` +
    `      <SecretAccessKey>${xmlEscape(c.secretAccessKey)}</SecretAccessKey>\n` +
    `      <SessionToken>${xmlEscape(c.sessionToken)}</SessionToken>\n` +
    `      <Expiration>${c.expiration}</Expiration>\n` +
    '    </Credentials>\n' +
    '    <AssumedRoleUser>\n' +
    `      <AssumedRoleId>${xmlEscape(c.assumedRoleId)}</AssumedRoleId>\n` +
    `      <Arn>${xmlEscape(c.arn)}</Arn>\n` +
    '    </AssumedRoleUser>\n'
}

function sts (ctx, req, res, params, auth) {
  const action = params.get('Action')
  const err = (status, code, msg) => replyError(ctx, req, res, status, code, msg)
  if (action === 'GetCallerIdentity') {
    // caller_account: the keys belong to another account (run identity tests).
    const account = ctx.cfg.caller_account || ACCOUNT
    const arn = auth.key.arn.replace(`::${ACCOUNT}:`, `::${account}:`)
    return replyXml(ctx, req, res, action,
      `    <Arn>${xmlEscape(arn)}</Arn>\n    <UserId>${xmlEscape(auth.key.userId)}</UserId>\n    <Account>${account}</Account>\n`)
  }
  if (action !== 'AssumeRole' && action !== 'AssumeRoleWithWebIdentity') {
    return err(400, 'InvalidAction', `Could not find operation ${action} for version ${params.get('Version') || '2011-06-15'}`)
  }
  const required = ['RoleArn', 'RoleSessionName'].concat(action === 'AssumeRoleWithWebIdentity' ? ['WebIdentityToken'] : [])
  for (const p of required) {
    if (!params.get(p)) return err(400, 'ValidationError', missingMember(p[0].toLowerCase() + p.slice(1)))
  }
  const roleArn = params.get('RoleArn')
  const session = params.get('RoleSessionName')
  if (!ROLE_ARN.test(roleArn)) return err(400, 'ValidationError', `${roleArn} is invalid`)
  if (!SESSION_NAME.test(session)) {
    return err(400, 'ValidationError', `1 validation error detected: Value '${session}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`)
  }
  const duration = params.has('DurationSeconds') ? Number(params.get('DurationSeconds')) : 3600
  if (!Number.isInteger(duration) || duration < 900 || duration > 43200) {
    return err(400, 'ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.')
  }
  let extra = ''
  if (action === 'AssumeRole') {
    if (ctx.cfg.external_id != null && params.get('ExternalId') !== ctx.cfg.external_id) {
      return err(403, 'AccessDenied', `User: ${auth.key.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`)
    }
  } else {
    const token = params.get('WebIdentityToken')
    if (ctx.cfg.web_identity_token != null && token !== ctx.cfg.web_identity_token) {
      return err(400, 'InvalidIdentityToken', 'Couldn\'t retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements')
    }
    extra = '    <SubjectFromWebIdentityToken>system:serviceaccount:default:mighost</SubjectFromWebIdentityToken>\n' +
      '    <Audience>sts.amazonaws.com</Audience>\n' +
      '    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.example.com</Provider>\n'
  }
  const cred = ctx.creds.issue({ roleArn, sessionName: session, durationMs: duration * 1000 })
  replyXml(ctx, req, res, action, credentialsXml(cred) + extra)
}

/* ----------------------------------------- CloudFormation (query) */

// A stack in the `stacks` setting is either {OutputKey: OutputValue} or
// {Outputs: {...}, Resources: [{LogicalResourceId, ResourceType,
// PhysicalResourceId}], Comment: "..."}. A resource of type
// AWS::CloudFormation::Stack names another entry of `stacks`, its nested
// stack; it is answered with that stack's ARN, as CloudFormation does.
const NESTED_STACK = 'AWS::CloudFormation::Stack'
const RESOURCE_PAGE = 100

function stackShape (entry) {
  if (entry && (typeof entry.Outputs === 'object' || Array.isArray(entry.Resources))) {
    return { outputs: entry.Outputs || {}, resources: entry.Resources || [] }
  }
  return { outputs: entry || {}, resources: [] }
}

function stackArn (region, name) {
  return `arn:aws:cloudformation:${region}:${ACCOUNT}:stack/${name}/${uuidFrom('stack:' + name)}`
}

function cloudformation (ctx, req, res, params) {
  const action = params.get('Action')
  const handlers = { DescribeStacks: describeStacks, ListStackResources: listStackResources, DescribeStackResource: describeStackResource }
  if (!handlers[action]) {
    return replyError(ctx, req, res, 400, 'InvalidAction', `Could not find operation ${action} for version ${params.get('Version') || '2010-05-15'}`)
  }
  const stacks = ctx.cfg.stacks || {}
  const wanted = params.get('StackName')
  // Accepts a name or a stack ARN (arn:...:stack/NAME/uuid).
  const name = wanted && wanted.startsWith('arn:') ? (wanted.split('/')[1] || '') : wanted
  if (wanted && !Object.prototype.hasOwnProperty.call(stacks, name)) {
    return replyError(ctx, req, res, 400, 'ValidationError', `Stack with id ${wanted} does not exist`)
  }
  if (!wanted && action !== 'DescribeStacks') {
    return replyError(ctx, req, res, 400, 'ValidationError', '1 validation error detected: Value null at \'stackName\' failed to satisfy constraint: Member must not be null')
  }
  handlers[action](ctx, req, res, params, stacks, name)
}

function parentOf (stacks, child) {
  for (const [name, entry] of Object.entries(stacks)) {
    for (const r of stackShape(entry).resources) {
      if (r.ResourceType === NESTED_STACK && r.PhysicalResourceId === child) return name
    }
  }
  return null
}

function describeStacks (ctx, req, res, params, stacks, name) {
  const names = name ? [name] : Object.keys(stacks)
  const region = req.fa.region
  let xml = '    <Stacks>\n'
  for (const n of names) {
    const parent = parentOf(stacks, n)
    let root = parent
    for (let p = parent, depth = 0; p && depth < 20; p = parentOf(stacks, p), depth++) root = p
    xml += '      <member>\n' +
      `        <StackId>${xmlEscape(stackArn(region, n))}</StackId>\n` +
      `        <StackName>${xmlEscape(n)}</StackName>\n` +
      (parent ? `        <ParentId>${xmlEscape(stackArn(region, parent))}</ParentId>\n` +
                `        <RootId>${xmlEscape(stackArn(region, root))}</RootId>\n` : '') +
      '        <CreationTime>2024-01-01T00:00:00.000Z</CreationTime>\n' +
      '        <StackStatus>CREATE_COMPLETE</StackStatus>\n' +
      '        <Outputs>\n'
    for (const [k, v] of Object.entries(stackShape(stacks[n]).outputs)) {
      xml += `          <member>\n            <OutputKey>${xmlEscape(k)}</OutputKey>\n` +
        `            <OutputValue>${xmlEscape(v)}</OutputValue>\n          </member>\n`
    }
    xml += '        </Outputs>\n      </member>\n'
  }
  xml += '    </Stacks>\n'
  replyXml(ctx, req, res, 'DescribeStacks', xml)
}

function physicalId (region, r) {
  return r.ResourceType === NESTED_STACK ? stackArn(region, r.PhysicalResourceId) : r.PhysicalResourceId
}

function resourceFields (region, r) {
  return `        <LogicalResourceId>${xmlEscape(r.LogicalResourceId)}</LogicalResourceId>\n` +
    `        <PhysicalResourceId>${xmlEscape(physicalId(region, r))}</PhysicalResourceId>\n` +
    `        <ResourceType>${xmlEscape(r.ResourceType)}</ResourceType>\n` +
    '        <LastUpdatedTimestamp>2024-01-01T00:00:00.000Z</LastUpdatedTimestamp>\n' +
    '        <ResourceStatus>CREATE_COMPLETE</ResourceStatus>\n' +
    '        <DriftInformation>\n          <StackResourceDriftStatus>NOT_CHECKED</StackResourceDriftStatus>\n        </DriftInformation>\n'
}

// Pages of `stack_resource_page` (default 100) with an opaque NextToken.
function listStackResources (ctx, req, res, params, stacks, name) {
  const all = stackShape(stacks[name]).resources
  const size = ctx.cfg.stack_resource_page || RESOURCE_PAGE
  let start = 0
  const token = params.get('NextToken')
  if (token) {
    const m = /^page-(\d+)-(.+)$/.exec(Buffer.from(token, 'base64').toString('utf8'))
    if (!m || m[2] !== name) return replyError(ctx, req, res, 400, 'ValidationError', 'Invalid NextToken')
    start = Number(m[1])
  }
  const page = all.slice(start, start + size)
  let xml = '    <StackResourceSummaries>\n'
  for (const r of page) xml += '      <member>\n' + resourceFields(req.fa.region, r) + '      </member>\n'
  xml += '    </StackResourceSummaries>\n'
  if (start + size < all.length) {
    xml += `    <NextToken>${Buffer.from(`page-${start + size}-${name}`).toString('base64')}</NextToken>\n`
  }
  replyXml(ctx, req, res, 'ListStackResources', xml)
}

function describeStackResource (ctx, req, res, params, stacks, name) {
  const logical = params.get('LogicalResourceId')
  const r = stackShape(stacks[name]).resources.find((x) => x.LogicalResourceId === logical)
  if (!r) {
    return replyError(ctx, req, res, 400, 'ValidationError', `Resource ${logical} does not exist for stack ${name}`)
  }
  const region = req.fa.region
  const xml = '    <StackResourceDetail>\n' +
    `        <StackName>${xmlEscape(name)}</StackName>\n` +
    `        <StackId>${xmlEscape(stackArn(region, name))}</StackId>\n` +
    resourceFields(region, r) +
    '    </StackResourceDetail>\n'
  replyXml(ctx, req, res, 'DescribeStackResource', xml)
}

/* ------------------------------------------------- EC2 IMDSv2 (unsigned) */

const IMDS_CREDS = '/latest/meta-data/iam/security-credentials/'

function imds (ctx, req, res, path) {
  const count = (what) => { ctx.stats.by_target['imds:' + what] = (ctx.stats.by_target['imds:' + what] || 0) + 1 }
  const text = (status, body, headers) => send(ctx, req, res, status, Object.assign({ 'Content-Type': 'text/plain' }, headers), body)
  const now = ctx.now()
  if (path === '/latest/api/token') {
    count('token')
    if (req.method !== 'PUT') return text(405, '')
    const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds'])
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return text(400, '')
    if (ctx.imdsTokens.size > 10000) ctx.imdsTokens.clear()
    const token = 'imds-' + crypto.randomBytes(32).toString('base64url')
    ctx.imdsTokens.set(token, now + ttl * 1000)
    return text(200, token, { 'X-aws-ec2-metadata-token-ttl-seconds': String(ttl) })
  }
  if (req.method !== 'GET') { count('other'); return text(405, '') }
  const token = req.headers['x-aws-ec2-metadata-token']
  if (!token || !(ctx.imdsTokens.get(token) > now)) { count('401'); return text(401, '') }
  const role = ctx.cfg.imds_role
  if (path === IMDS_CREDS) { count('role'); return text(200, role) }
  if (path === IMDS_CREDS + role) {
    count('credentials')
    const c = ctx.creds.issue({ roleArn: `arn:aws:iam::${ACCOUNT}:role/${role}`, sessionName: 'i-0123456789abcdef0', durationMs: 6 * 3600 * 1000 })
    return text(200, JSON.stringify({
      Code: 'Success',
      LastUpdated: isoSeconds(now),
      Type: 'AWS-HMAC',
      AccessKeyId: c.accessKeyId,
      SecretAccessKey: c.secretAccessKey,
      Token: c.sessionToken,
      Expiration: c.expiration
    }, null, 2))
  }
  if (path === '/latest/meta-data/placement/region') { count('region'); return text(200, ctx.cfg.imds_region) }
  if (path === '/latest/dynamic/instance-identity/document') {
    count('identity')
    return text(200, JSON.stringify({ accountId: ACCOUNT, region: ctx.cfg.imds_region, instanceId: 'i-0123456789abcdef0' }))
  }
  count('other')
  text(404, '')
}

/* ------------------------------------ ECS container credentials (unsigned) */

function containerCredentials (ctx, req, res) {
  ctx.stats.by_target['container:credentials'] = (ctx.stats.by_target['container:credentials'] || 0) + 1
  const json = (status, obj) => send(ctx, req, res, status, { 'Content-Type': 'application/json' }, JSON.stringify(obj))
  if (req.method !== 'GET') return json(405, { code: 'MethodNotAllowed', message: 'GET only' })
  const want = ctx.cfg.container_token
  if (want && req.headers.authorization !== want) {
    return json(401, { code: 'Unauthorized', message: 'invalid authorization token' })
  }
  const roleArn = `arn:aws:iam::${ACCOUNT}:role/${ctx.cfg.imds_role}`
  const c = ctx.creds.issue({ roleArn, sessionName: 'ecs-task', durationMs: 6 * 3600 * 1000 })
  json(200, {
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    Token: c.sessionToken,
    Expiration: c.expiration,
    RoleArn: roleArn
  })
}

module.exports = {
  ECS_PREFIX, COGNITO_PREFIX, ecs, cognito, lambda, sts, cloudformation, imds, containerCredentials
}
