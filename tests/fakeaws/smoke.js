'use strict'
// End-to-end check of a running fakeaws (with a dynalite upstream), using a
// small SigV4 signer of its own. Run by tests/integration/test_fakeaws.c:
//   node tests/fakeaws/smoke.js http://127.0.0.1:PORT
// Exits 0 and prints "smoke: N checks ok", or lists the failures.

const http = require('http')
const crypto = require('crypto')
const { canonicalUri, canonicalQuery, sha256Hex } = require('./sigv4')
const { crc32 } = require('./util')

const BASE = new URL(process.argv[2] || 'http://127.0.0.1:8000')
const agent = new http.Agent({ keepAlive: true })
const LONG_TERM = { akid: 'AKIDTEST', secret: 'test-secret' }
const TABLE = 'smoke-' + crypto.randomBytes(4).toString('hex')

let checks = 0
let failures = 0
function check (cond, what, detail) {
  checks++
  if (!cond) {
    failures++
    console.error(`FAIL ${what}${detail !== undefined ? ': ' + (typeof detail === 'string' ? detail : JSON.stringify(detail)) : ''}`)
  }
}

function amz (ms) { return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '') }

// Signs the wire form of a request; returns the headers to send (or, with
// presign, the query string to send).
function sign ({ method, path, query = '', headers = {}, body = '', service, creds = LONG_TERM, when = Date.now(), presign = false }) {
  const date = amz(when)
  const scope = `${date.slice(0, 8)}/us-east-1/${service}/aws4_request`
  const h = Object.assign({ host: BASE.host }, headers)
  if (!presign) {
    h['x-amz-date'] = date
    if (creds.token) h['x-amz-security-token'] = creds.token
  }
  const names = Object.keys(h).map((k) => k.toLowerCase()).sort()
  const lower = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), String(v)]))
  const signedHeaders = names.join(';')
  if (presign) {
    const extra = [['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'], ['X-Amz-Credential', `${creds.akid}/${scope}`],
      ['X-Amz-Date', date], ['X-Amz-Expires', '300'], ['X-Amz-SignedHeaders', signedHeaders]]
    if (creds.token) extra.push(['X-Amz-Security-Token', creds.token])
    query = [query].concat(extra.map(([k, v]) => `${k}=${encodeURIComponent(v)}`)).filter(Boolean).join('&')
  }
  const creq = [method, canonicalUri(path), canonicalQuery(query, false),
    names.map((n) => `${n}:${lower[n].trim()}\n`).join(''), signedHeaders, sha256Hex(body)].join('\n')
  const sts = ['AWS4-HMAC-SHA256', date, scope, sha256Hex(creq)].join('\n')
  let key = 'AWS4' + creds.secret
  for (const part of [date.slice(0, 8), 'us-east-1', service, 'aws4_request']) key = crypto.createHmac('sha256', key).update(part).digest()
  const sig = crypto.createHmac('sha256', key).update(sts).digest('hex')
  if (presign) return { headers: h, query: query + '&X-Amz-Signature=' + sig }
  h.authorization = `AWS4-HMAC-SHA256 Credential=${creds.akid}/${scope}, SignedHeaders=${signedHeaders}, Signature=${sig}`
  return { headers: h, query }
}

function request ({ method = 'POST', path = '/', query = '', headers = {}, body = '' }) {
  return new Promise((resolve) => {
    const r = http.request({ host: BASE.hostname, port: BASE.port, method, path: path + (query ? '?' + query : ''), headers, agent },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => {
          const raw = Buffer.concat(chunks)
          let json = null
          try { json = JSON.parse(raw.toString()) } catch (e) {}
          resolve({ status: res.statusCode, headers: res.headers, raw, text: raw.toString(), json })
        })
      })
    r.on('error', (err) => resolve({ status: 0, error: err, headers: {}, text: '', json: null }))
    r.end(body)
  })
}

function signed (opts) {
  const s = sign(opts)
  return request({ method: opts.method, path: opts.path, query: s.query, headers: s.headers, body: opts.body })
}

function ddb (op, input, creds) {
  return signed({
    method: 'POST', path: '/', service: 'dynamodb', creds,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.' + op },
    body: JSON.stringify(input)
  })
}

function json11 (service, target, input, creds) {
  return signed({
    method: 'POST', path: '/', service, creds,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
    body: JSON.stringify(input)
  })
}

function query (service, params, creds) {
  return signed({
    method: 'POST', path: '/', service, creds,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: new URLSearchParams(params).toString()
  })
}

const control = (method, path, obj) => request({ method, path, body: obj ? JSON.stringify(obj) : '' })
const stats = async () => (await control('GET', '/__stats')).json
const xml = (text, tag) => { const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(text); return m ? m[1] : null }

async function dynamodbChecks () {
  let r = await ddb('CreateTable', {
    TableName: TABLE,
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST'
  })
  check(r.status === 200, 'CreateTable', r.text)
  check(r.headers['x-amz-crc32'] === String(crc32(r.raw)), 'x-amz-crc32 is the body CRC32')
  check(!!r.headers['x-amzn-requestid'] && !!r.headers.date, 'request id and Date headers')
  // dynalite turns a table ACTIVE on a timer, even at createTableMs 0: a
  // write sent at once can find it still CREATING.
  for (let i = 0; i < 100; i++) {
    r = await ddb('DescribeTable', { TableName: TABLE })
    if (r.json && r.json.Table && r.json.Table.TableStatus === 'ACTIVE') break
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  check(r.json && r.json.Table && r.json.Table.TableStatus === 'ACTIVE', 'table ACTIVE', r.text)

  r = await ddb('PutItem', { TableName: TABLE, Item: { pk: { S: 'a' }, v: { N: '1' } } })
  check(r.status === 200, 'PutItem', r.text)
  r = await ddb('GetItem', { TableName: TABLE, Key: { pk: { S: 'a' } } })
  check(r.json && r.json.Item && r.json.Item.v.N === '1', 'GetItem through the proxy', r.text)

  // Error faults are decided before forwarding: the write never lands.
  const before = (await stats()).writes_forwarded
  for (const [kind, status, type] of [['500', 500, 'InternalFailure'], ['503', 503, 'ServiceUnavailableException'],
    ['throttle', 400, 'ProvisionedThroughputExceededException'], ['throttle-ex', 400, 'ThrottlingException']]) {
    await control('POST', '/__config', { fault_next: [kind] })
    r = await ddb('PutItem', { TableName: TABLE, Item: { pk: { S: 'fault-' + kind } } })
    check(r.status === status && r.json && r.json.__type.endsWith('#' + type), `fault ${kind}`, r.text)
    check(r.headers['x-amzn-errortype'] === type, `fault ${kind} x-amzn-ErrorType`, r.headers)
    check(r.headers['x-amz-crc32'] === String(crc32(r.raw)), `fault ${kind} crc`)
  }
  check((await stats()).writes_forwarded === before, 'faulted writes not forwarded')
  r = await ddb('Scan', { TableName: TABLE })
  check(r.json && r.json.Count === 1, 'faulted writes not applied', r.text)

  await control('POST', '/__config', { fault_next: ['drop'] })
  r = await ddb('PutItem', { TableName: TABLE, Item: { pk: { S: 'dropped' } } })
  check(r.status === 0 && r.error, 'drop closes the connection', r.status)

  await control('POST', '/__config', { fault_next: ['crc'] })
  r = await ddb('GetItem', { TableName: TABLE, Key: { pk: { S: 'a' } } })
  check(r.status === 200 && r.headers['x-amz-crc32'] !== String(crc32(r.raw)), 'crc fault sends a wrong checksum')

  await control('POST', '/__config', { fault_next: ['slow'], slow_ms: 200 })
  let t0 = Date.now()
  r = await ddb('GetItem', { TableName: TABLE, Key: { pk: { S: 'a' } } })
  check(r.status === 200 && Date.now() - t0 >= 190, 'slow fault delays the answer', Date.now() - t0)

  // unprocessed: a proper non-empty subset is applied, the rest returned.
  const items = []
  for (let i = 0; i < 6; i++) items.push({ PutRequest: { Item: { pk: { S: 'b' + i } } } })
  await control('POST', '/__config', { fault_next: ['unprocessed'] })
  r = await ddb('BatchWriteItem', { RequestItems: { [TABLE]: items } })
  const left = r.json && r.json.UnprocessedItems && r.json.UnprocessedItems[TABLE] ? r.json.UnprocessedItems[TABLE] : []
  check(r.status === 200 && left.length >= 1 && left.length <= 5, 'unprocessed BatchWriteItem', r.text)
  r = await ddb('Scan', { TableName: TABLE })
  check(r.json && r.json.Count === 1 + 6 - left.length, 'only the forwarded subset was written', r.text)
  r = await ddb('BatchWriteItem', { RequestItems: { [TABLE]: left } })
  check(r.status === 200 && Object.keys(r.json.UnprocessedItems).length === 0, 'retrying the unprocessed items', r.text)

  const keys = []
  for (let i = 0; i < 6; i++) keys.push({ pk: { S: 'b' + i } })
  await control('POST', '/__config', { fault_next: ['unprocessed'] })
  r = await ddb('BatchGetItem', { RequestItems: { [TABLE]: { Keys: keys, ConsistentRead: true } } })
  const got = r.json && r.json.Responses && r.json.Responses[TABLE] ? r.json.Responses[TABLE].length : -1
  const rest = r.json && r.json.UnprocessedKeys && r.json.UnprocessedKeys[TABLE] ? r.json.UnprocessedKeys[TABLE] : { Keys: [] }
  check(r.status === 200 && got >= 1 && got + rest.Keys.length === 6 && rest.ConsistentRead === true, 'unprocessed BatchGetItem', r.text)

  // A random fault rate with a fixed seed, restricted to one operation.
  await control('POST', '/__config', { fault_rate: 1, faults: ['throttle'], fault_ops: ['DeleteItem'] })
  r = await ddb('GetItem', { TableName: TABLE, Key: { pk: { S: 'a' } } })
  check(r.status === 200, 'fault_ops limits faults to the listed operations')
  r = await ddb('DeleteItem', { TableName: TABLE, Key: { pk: { S: 'a' } } })
  check(r.status === 400, 'fault_rate 1 faults every listed operation')
  await control('POST', '/__config', { fault_rate: 0, fault_ops: null })
  r = await control('POST', '/__config', { faults: ['bogus'] })
  check(r.status === 400, '/__config rejects unknown fault kinds')
}

async function authChecks () {
  // Wrong secret, stale date, unknown key, wrong service scope.
  let r = await ddb('ListTables', {}, { akid: 'AKIDTEST', secret: 'wrong' })
  check(r.status === 403 && r.json.message.startsWith('The request signature we calculated does not match'), 'bad signature', r.text)
  r = await signed({
    method: 'POST', path: '/', service: 'dynamodb', when: Date.now() - 10 * 60000,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' }, body: '{}'
  })
  check(r.status === 403 && /^Signature expired: \d{8}T\d{6}Z is now earlier than/.test(r.json.message), 'stale X-Amz-Date', r.text)
  check(Math.abs(Date.parse(r.headers.date) - Date.now()) < 5000, 'Date header is the server clock')
  r = await ddb('ListTables', {}, { akid: 'AKIDNOPE', secret: 'x' })
  check(r.status === 400 && r.json.__type.endsWith('UnrecognizedClientException'), 'unknown key', r.text)
  r = await json11('dynamodb', 'AmazonEC2ContainerServiceV20141113.RunTask', { cluster: 'c', taskDefinition: 'td' })
  check(r.status === 403 && /scoped to correct service: 'ecs'/.test(r.json.message), 'service scope checked', r.text)

  // Lambda: the function ARN is encoded in the path, encoded again when signed.
  const arn = 'arn:aws:lambda:us-east-1:123456789012:function:my-fn'
  r = await signed({ method: 'POST', path: `/2015-03-31/functions/${encodeURIComponent(arn)}/invocations`, service: 'lambda', body: '{"x":1}' })
  check(r.status === 200 && r.json.function === arn && r.json.payload.x === 1, 'lambda invoke by ARN', r.text)
  r = await signed({ method: 'POST', path: '/2015-03-31/functions/fn/invocations', service: 'lambda', headers: { 'x-amz-invocation-type': 'Event' }, body: '{}' })
  check(r.status === 202 && r.text === '', 'lambda Event invocation')
  r = await signed({ method: 'POST', path: '/2015-03-31/functions/fail-x/invocations', service: 'lambda', body: '{}' })
  check(r.status === 200 && r.headers['x-amz-function-error'] === 'Unhandled' && r.json.errorMessage === 'injected failure', 'lambda function error', r.text)
  r = await signed({ method: 'GET', path: '/2015-03-31/nothing', service: 'lambda' })
  check(r.status === 404 && r.headers['x-amzn-errortype'] === 'ResourceNotFoundException', 'lambda unknown path')

  // STS: AssumeRole, then use the temporary credentials.
  r = await query('sts', { Action: 'AssumeRole', Version: '2011-06-15', RoleArn: 'arn:aws:iam::123456789012:role/deploy', RoleSessionName: 'mig' })
  check(r.status === 200 && xml(r.text, 'AccessKeyId').startsWith('ASIA'), 'AssumeRole', r.text)
  const temp = { akid: xml(r.text, 'AccessKeyId'), secret: xml(r.text, 'SecretAccessKey'), token: xml(r.text, 'SessionToken') }
  r = await query('sts', { Action: 'GetCallerIdentity', Version: '2011-06-15' }, temp)
  check(r.status === 200 && xml(r.text, 'Arn') === 'arn:aws:sts::123456789012:assumed-role/deploy/mig', 'GetCallerIdentity with temporary credentials', r.text)
  r = await query('sts', { Action: 'GetCallerIdentity', Version: '2011-06-15' }, Object.assign({}, temp, { token: undefined }))
  check(r.status === 403 && xml(r.text, 'Code') === 'InvalidClientTokenId', 'temporary key without its token', r.text)
  r = await ddb('ListTables', {}, temp)
  check(r.status === 200, 'temporary credentials work for DynamoDB', r.text)
  let s = sign({ method: 'GET', path: '/', query: 'Action=GetCallerIdentity&Version=2011-06-15', service: 'sts', presign: true, creds: temp })
  r = await request({ method: 'GET', path: '/', query: s.query, headers: s.headers })
  check(r.status === 200 && xml(r.text, 'Account') === '123456789012', 'presigned GetCallerIdentity', r.text)

  r = await control('POST', '/__expire-credentials')
  check(r.json.expired >= 1, '/__expire-credentials')
  r = await ddb('ListTables', {}, temp)
  check(r.status === 400 && r.json.__type.endsWith('#ExpiredTokenException'), 'expired token (JSON)', r.text)
  r = await query('sts', { Action: 'GetCallerIdentity', Version: '2011-06-15' }, temp)
  check(r.status === 400 && xml(r.text, 'Code') === 'ExpiredToken', 'expired token (XML)', r.text)

  // CloudFormation, routed by the credential scope's service.
  await control('POST', '/__config', { stacks: { app: { TableName: 'tbl', FnArn: 'arn:x' } } })
  r = await query('cloudformation', { Action: 'DescribeStacks', Version: '2010-05-15', StackName: 'app' })
  check(r.status === 200 && /<OutputKey>TableName<\/OutputKey>\s*<OutputValue>tbl<\/OutputValue>/.test(r.text), 'DescribeStacks', r.text)
  r = await query('cloudformation', { Action: 'DescribeStacks', Version: '2010-05-15', StackName: 'nope' })
  check(r.status === 400 && xml(r.text, 'Code') === 'ValidationError' && xml(r.text, 'Message') === 'Stack with id nope does not exist', 'unknown stack', r.text)

  // Resources in pages, a nested stack answered by its ARN.
  const resources = []
  for (let i = 0; i < 5; i++) resources.push({ LogicalResourceId: `Table${i}ABCDEF0${i}`, ResourceType: 'AWS::DynamoDB::Table', PhysicalResourceId: `tbl-${i}` })
  resources.push({ LogicalResourceId: 'StorageNestedStackResource1234ABCD', ResourceType: 'AWS::CloudFormation::Stack', PhysicalResourceId: 'app-Storage-XYZ' })
  await control('POST', '/__config', {
    stack_resource_page: 2,
    stacks: { app: { Outputs: {}, Resources: resources }, 'app-Storage-XYZ': { Resources: [{ LogicalResourceId: 'InnerTable0A1B2C3D', ResourceType: 'AWS::DynamoDB::Table', PhysicalResourceId: 'inner' }] } }
  })
  const seen = []
  let token = null
  let pages = 0
  do {
    const q = { Action: 'ListStackResources', Version: '2010-05-15', StackName: 'app' }
    if (token) q.NextToken = token
    r = await query('cloudformation', q)
    check(r.status === 200, 'ListStackResources page', r.text)
    for (const m of r.text.matchAll(/<PhysicalResourceId>([^<]*)<\/PhysicalResourceId>/g)) seen.push(m[1])
    token = xml(r.text, 'NextToken')
    pages++
  } while (token && pages < 10)
  check(pages === 3 && seen.length === 6 && seen[0] === 'tbl-0', 'ListStackResources pages with NextToken', seen.join(','))
  const nestedArn = seen[5]
  check(/^arn:aws:cloudformation:us-east-1:123456789012:stack\/app-Storage-XYZ\/[0-9a-f-]{36}$/.test(nestedArn), 'nested stack as an ARN', nestedArn)
  r = await query('cloudformation', { Action: 'ListStackResources', Version: '2010-05-15', StackName: nestedArn })
  check(r.status === 200 && xml(r.text, 'PhysicalResourceId') === 'inner' && !xml(r.text, 'NextToken'), 'ListStackResources by nested ARN', r.text)
  r = await query('cloudformation', { Action: 'DescribeStacks', Version: '2010-05-15', StackName: nestedArn })
  check(r.status === 200 && /stack\/app\//.test(xml(r.text, 'ParentId')), 'nested stack has a ParentId', r.text)
  r = await query('cloudformation', { Action: 'DescribeStackResource', Version: '2010-05-15', StackName: 'app', LogicalResourceId: 'Table3ABCDEF03' })
  check(r.status === 200 && xml(r.text, 'PhysicalResourceId') === 'tbl-3' && xml(r.text, 'ResourceType') === 'AWS::DynamoDB::Table', 'DescribeStackResource', r.text)
  r = await query('cloudformation', { Action: 'DescribeStackResource', Version: '2010-05-15', StackName: 'app', LogicalResourceId: 'Missing' })
  check(r.status === 400 && xml(r.text, 'Message') === 'Resource Missing does not exist for stack app', 'DescribeStackResource of a missing resource', r.text)
  await control('POST', '/__config', { stack_resource_page: 100 })
}

async function ecsCognitoChecks () {
  let r = await json11('ecs', 'AmazonEC2ContainerServiceV20141113.RunTask', { cluster: 'arn:aws:ecs:us-east-1:123456789012:cluster/main', taskDefinition: 'migrate:3' }, undefined)
  const arn = r.json && r.json.tasks && r.json.tasks[0].taskArn
  check(r.status === 200 && /^arn:aws:ecs:us-east-1:123456789012:task\/main\/[0-9a-f]{32}$/.test(arn) && r.json.tasks[0].lastStatus === 'PROVISIONING', 'RunTask', r.text)
  r = await json11('ecs', 'AmazonEC2ContainerServiceV20141113.DescribeTasks', { cluster: 'main', tasks: [arn] })
  check(r.status === 200 && r.json.tasks[0].lastStatus === 'STOPPED' && r.json.tasks[0].containers[0].exitCode === 0, 'DescribeTasks', r.text)
  r = await json11('ecs', 'AmazonEC2ContainerServiceV20141113.RunTask', { cluster: 'main' })
  check(r.status === 400 && r.json.__type === 'InvalidParameterException', 'RunTask without taskDefinition', r.text)
  await control('POST', '/__config', { ecs_running_polls: 1 })
  r = await json11('ecs', 'AmazonEC2ContainerServiceV20141113.RunTask', { cluster: 'main', taskDefinition: 'fail-job' })
  const failing = r.json.tasks[0].taskArn
  const describe = () => json11('ecs', 'AmazonEC2ContainerServiceV20141113.DescribeTasks', { cluster: 'main', tasks: [failing] })
  r = await describe()
  check(r.json.tasks[0].lastStatus === 'RUNNING', 'ecs_running_polls', r.text)
  r = await describe()
  check(r.json.tasks[0].lastStatus === 'STOPPED' && r.json.tasks[0].containers[0].exitCode === 1, 'fail-* task exits 1', r.text)
  await control('POST', '/__config', { ecs_running_polls: 0 })
  // Request shapes against the model: enums, types, unknown members.
  const runTask = (input) => json11('ecs', 'AmazonEC2ContainerServiceV20141113.RunTask', Object.assign({ cluster: 'main', taskDefinition: 'td' }, input))
  r = await runTask({ networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'], assignPublicIp: 'MAYBE' } } })
  check(r.status === 400 && r.json.__type === 'InvalidParameterException' && /enum value set/.test(r.json.message), 'RunTask enum', r.text)
  r = await runTask({ networkConfiguration: { awsvpcConfiguration: { subnets: 'subnet-1' } } })
  check(r.status === 400 && r.json.__type === 'SerializationException', 'RunTask member type', r.text)
  r = await runTask({ networkConfiguration: { awsvpcConfiguration: { securityGroups: ['sg-1'] } } })
  check(r.status === 400 && r.json.__type === 'InvalidParameterException' && /subnets/.test(r.json.message), 'RunTask required member', r.text)
  r = await runTask({ clusterName: 'x' })
  check(r.status === 400 && r.json.__type === 'SerializationException', 'RunTask unknown member', r.text)
  r = await runTask({ clientToken: 'a'.repeat(65) })
  check(r.status === 400 && r.json.__type === 'InvalidParameterException', 'RunTask clientToken length', r.text)
  // clientToken: the same answer again, no second task; other parameters: conflict.
  const first = await runTask({ clientToken: 'tok-1' })
  r = await runTask({ clientToken: 'tok-1' })
  check(r.status === 200 && r.json.tasks[0].taskArn === first.json.tasks[0].taskArn, 'RunTask clientToken replay', r.text)
  r = await runTask({ clientToken: 'tok-1', startedBy: 'other' })
  check(r.status === 400 && r.json.__type === 'ConflictException', 'RunTask clientToken conflict', r.text)
  // Injected throttling and failures.
  await control('POST', '/__config', { ecs_throttle_next: 1, ecs_failures_next: ['RESOURCE:MEMORY'] })
  r = await runTask({})
  check(r.status === 400 && r.json.__type === 'ThrottlingException', 'RunTask throttled', r.text)
  r = await runTask({})
  check(r.status === 200 && r.json.tasks.length === 0 && r.json.failures[0].reason === 'RESOURCE:MEMORY', 'RunTask failures', r.text)

  const target = (op) => 'AWSCognitoIdentityProviderService.' + op
  await control('POST', '/__config', { cognito_users: 'alice,bob', cognito_user_count: 3 })
  const seen = []
  let token
  do {
    r = await json11('cognito-idp', target('ListUsers'), Object.assign({ UserPoolId: 'us-east-1_X', Limit: 2 }, token ? { PaginationToken: token } : {}))
    if (r.status !== 200) break
    for (const u of r.json.Users) seen.push(u.Username)
    token = r.json.PaginationToken
  } while (token)
  check(seen.join(',') === 'alice,bob,user-00001,user-00002,user-00003', 'ListUsers pagination', seen)
  r = await json11('cognito-idp', target('AdminAddUserToGroup'), { UserPoolId: 'us-east-1_P', Username: 'bob', GroupName: 'admins' })
  check(r.status === 200, 'AdminAddUserToGroup', r.text)
  await json11('cognito-idp', target('AdminAddUserToGroup'), { UserPoolId: 'us-east-1_P', Username: 'bob', GroupName: 'admins' })
  r = await json11('cognito-idp', target('ListUsersInGroup'), { UserPoolId: 'us-east-1_P', GroupName: 'admins' })
  check(r.status === 200 && r.json.Users.length === 1 && r.json.Users[0].Username === 'bob', 'ListUsersInGroup', r.text)
  r = await json11('cognito-idp', target('ListUsers'), { UserPoolId: 'not a pool id' })
  check(r.status === 400 && r.json.__type === 'InvalidParameterException' && /regular expression/.test(r.json.message), 'ListUsers pool id pattern', r.text)
  r = await json11('cognito-idp', target('AdminAddUserToGroup'), { UserPoolId: 'us-east-1_P', Username: 'zed', GroupName: 'admins' })
  check(r.status === 400 && r.json.__type === 'UserNotFoundException', 'unknown user', r.text)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function clockAndExpiryChecks () {
  // A server clock 15 minutes ahead: the client's date is stale, and the
  // Date header tells it by how much.
  await control('POST', '/__config', { clock_offset_ms: 15 * 60000 })
  let r = await ddb('ListTables', {})
  check(r.status === 403 && /^Signature expired/.test(r.json.message), 'skewed client is refused', r.text)
  const skew = Date.parse(r.headers.date) - Date.now()
  check(skew > 14 * 60000 && skew < 16 * 60000, 'Date header shows the server clock', skew)
  r = await signed({
    method: 'POST', path: '/', service: 'dynamodb', when: Date.now() + skew,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' }, body: '{}'
  })
  check(r.status === 200, 'corrected clock is accepted', r.text)

  // Credentials that really expire after 300 ms.
  await control('POST', '/__config', { clock_offset_ms: 0, expire_after_ms: 300 })
  r = await request({ method: 'GET', path: '/container-credentials', headers: { authorization: 'container-token' } })
  const c = r.json || {}
  const creds = { akid: c.AccessKeyId, secret: c.SecretAccessKey, token: c.Token }
  check(r.status === 200 && Date.parse(c.Expiration) - Date.now() < 2000, 'container credentials with short expiry', r.text)
  r = await ddb('ListTables', {}, creds)
  check(r.status === 200, 'fresh container credentials work', r.text)
  await sleep(400)
  r = await ddb('ListTables', {}, creds)
  check(r.status === 400 && r.json.__type.endsWith('#ExpiredTokenException'), 'container credentials expire', r.text)
  await control('POST', '/__config', { expire_after_ms: null })
}

async function main () {
  await control('POST', '/__reset')
  await dynamodbChecks()
  await authChecks()
  await ecsCognitoChecks()
  await clockAndExpiryChecks()
  const st = await stats()
  check(st.by_target['DynamoDB_20120810.PutItem'] >= 5 && st.by_target['lambda:Invoke'] === 4, 'by_target counts', st.by_target)
  check(st.signature_failures === 9, 'signature_failures counts every rejected request', st.signature_failures)
  const recs = (await control('GET', '/__requests')).json
  check(recs.length === st.requests && recs.every((x) => typeof x.headers === 'object' && 'signature_ok' in x), '/__requests records', recs.length)
  agent.destroy()
  if (failures) {
    console.error(`smoke: ${failures} of ${checks} checks failed`)
    process.exit(1)
  }
  console.log(`smoke: ${checks} checks ok`)
}

main().catch((e) => { console.error(e); process.exit(1) })
