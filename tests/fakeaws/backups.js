'use strict'
// DynamoDB's backup control plane, which dynalite does not have: CreateBackup,
// DescribeBackup, ListBackups and DescribeContinuousBackups, answered here in
// the service's shapes (epoch-second timestamps, backup ARNs under the
// table's ARN). The table must exist upstream (a DescribeTable to dynalite);
// its key schema and counts go into the backup's SourceTableDetails.
// A new backup is CREATING for `backup_creating_polls` DescribeBackup calls,
// then AVAILABLE. Point-in-time recovery is on for the tables named in
// `pitr_tables`.

const { ACCOUNT } = require('./creds')
const { randomHex, replyJson, replyError, upstreamCall } = require('./util')
const models = require('./models')

const OPS = new Set(['CreateBackup', 'DescribeBackup', 'ListBackups', 'DescribeContinuousBackups'])
const NS = 'com.amazonaws.dynamodb.v20120810#'

// DescribeTable upstream: resolves to the Table description or null.
function describeUpstream (ctx, name) {
  return upstreamCall(ctx, 'DescribeTable', { TableName: name })
    .then((r) => r.status === 200 && r.body ? r.body.Table : null)
}

function tableArn (region, name) { return `arn:aws:dynamodb:${region}:${ACCOUNT}:table/${name}` }

// A table parameter may be a name or the table's ARN.
function tableName (v) { return v.startsWith('arn:') ? v.split('/')[1] || '' : v }

function state (ctx) { return ctx.backups || (ctx.backups = new Map()) }

function status (ctx, b) { return b.polls > ctx.cfg.backup_creating_polls ? 'AVAILABLE' : 'CREATING' }

function details (ctx, b) {
  return {
    BackupArn: b.arn,
    BackupName: b.name,
    BackupSizeBytes: b.table.TableSizeBytes || 0,
    BackupStatus: status(ctx, b),
    BackupType: 'USER',
    BackupCreationDateTime: b.created
  }
}

function summary (ctx, b) {
  return Object.assign({ TableName: b.table.TableName, TableId: b.table.TableId, TableArn: b.tableArn },
    details(ctx, b))
}

function handle (ctx, req, res, op, body) {
  const err = (code, message, status) => replyError(ctx, req, res, status || 400, code, message, NS + code)
  let input
  try {
    input = body.length ? JSON.parse(body.toString('utf8')) : {}
    if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new Error('not an object')
  } catch (e) {
    return replyError(ctx, req, res, 400, 'SerializationException', 'Start of structure or map found where not expected.')
  }
  const bad = models.check('dynamodb', op, input)
  if (bad) {
    const ns = bad[0] === 'ValidationException' ? 'com.amazon.coral.validate#' : 'com.amazon.coral.service#'
    return replyError(ctx, req, res, 400, bad[0], bad[1], ns + bad[0])
  }
  const region = req.fa.region
  const backups = state(ctx)

  if (op === 'DescribeBackup') {
    const b = backups.get(input.BackupArn)
    if (!b) return err('BackupNotFoundException', `Backup not found: ${input.BackupArn}`)
    b.polls++
    req.fa.record.backup_status = status(ctx, b)
    const t = b.table
    return replyJson(ctx, req, res, 200, {
      BackupDescription: {
        BackupDetails: details(ctx, b),
        SourceTableDetails: {
          TableName: t.TableName,
          TableId: t.TableId,
          TableArn: b.tableArn,
          TableSizeBytes: t.TableSizeBytes || 0,
          KeySchema: t.KeySchema,
          TableCreationDateTime: t.CreationDateTime,
          ProvisionedThroughput: {
            ReadCapacityUnits: (t.ProvisionedThroughput || {}).ReadCapacityUnits || 0,
            WriteCapacityUnits: (t.ProvisionedThroughput || {}).WriteCapacityUnits || 0
          },
          ItemCount: t.ItemCount || 0,
          BillingMode: (t.BillingModeSummary || {}).BillingMode || 'PROVISIONED'
        },
        SourceTableFeatureDetails: {}
      }
    })
  }

  if (op === 'ListBackups' && input.TableName == null) return listBackups(ctx, req, res, input, [...backups.values()])

  const name = tableName(input.TableName)
  return describeUpstream(ctx, name).then((table) => {
    if (!table) return err('TableNotFoundException', `Table not found: ${name}`)
    if (op === 'DescribeContinuousBackups') {
      const on = ctx.cfg.pitr_tables.includes(name)
      const pitr = { PointInTimeRecoveryStatus: on ? 'ENABLED' : 'DISABLED' }
      if (on) {
        const now = Date.now() / 1000
        pitr.EarliestRestorableDateTime = Math.max(table.CreationDateTime || now, now - 35 * 86400)
        pitr.LatestRestorableDateTime = now - 300
        pitr.RecoveryPeriodInDays = 35
      }
      return replyJson(ctx, req, res, 200, {
        ContinuousBackupsDescription: { ContinuousBackupsStatus: 'ENABLED', PointInTimeRecoveryDescription: pitr }
      })
    }
    if (op === 'ListBackups') {
      return listBackups(ctx, req, res, input, [...backups.values()].filter((b) => b.table.TableName === name))
    }
    // CreateBackup
    const now = Date.now()
    const arn = `${tableArn(region, name)}/backup/${String(now).padStart(14, '0')}-${randomHex(4)}`
    const b = { arn, name: input.BackupName, table, tableArn: tableArn(region, name), created: now / 1000, polls: 0 }
    backups.set(arn, b)
    ctx.stats.backups_created = (ctx.stats.backups_created || 0) + 1
    return replyJson(ctx, req, res, 200, { BackupDetails: details(ctx, b) })
  })
}

// In creation order, Limit per page, LastEvaluatedBackupArn to go on.
function listBackups (ctx, req, res, input, list) {
  if (input.BackupType && !['USER', 'ALL'].includes(input.BackupType)) list = []
  const lower = input.TimeRangeLowerBound
  const upper = input.TimeRangeUpperBound
  list = list.filter((b) => (lower == null || b.created >= lower) && (upper == null || b.created < upper))
  let start = 0
  if (input.ExclusiveStartBackupArn != null) {
    start = list.findIndex((b) => b.arn === input.ExclusiveStartBackupArn) + 1
  }
  const limit = input.Limit || 100
  const page = list.slice(start, start + limit)
  const out = { BackupSummaries: page.map((b) => summary(ctx, b)) }
  if (start + limit < list.length) out.LastEvaluatedBackupArn = page[page.length - 1].arn
  replyJson(ctx, req, res, 200, out)
}

module.exports = { OPS, handle }
