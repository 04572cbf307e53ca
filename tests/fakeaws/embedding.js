'use strict'
// A stand-in for Bedrock Chat's embedding container, for tests that follow
// tasks to their end (--wait). With the setting `ecs_embed_table`, a
// RunTask whose container command has the bot's key as its third element
// ({"PK": {"S": ...}, "SK": {"S": ...}}) writes the bot's SyncStatus in
// that table upstream as the real task does: RUNNING with LastExecId = the
// task id when the task starts, then SUCCEEDED ("inserted") when it stops,
// or FAILED ("injected failure") when the SK contains one of the
// `ecs_embed_fail` substrings. The writes land before fakeaws answers, so a
// client that sees the task STOPPED reads the final status.

const { upstreamCall } = require('./util')

function botKey (input) {
  const o = input.overrides && Array.isArray(input.overrides.containerOverrides) &&
    input.overrides.containerOverrides[0]
  const arg = o && Array.isArray(o.command) ? o.command[2] : null
  if (typeof arg !== 'string') return null
  try {
    const k = JSON.parse(arg)
    if (k && k.PK && typeof k.PK.S === 'string' && k.SK && typeof k.SK.S === 'string') {
      return { PK: { S: k.PK.S }, SK: { S: k.SK.S } }
    }
  } catch (e) {}
  return null
}

// UpdateItem upstream.
function setStatus (ctx, key, status, reason, execId) {
  return upstreamCall(ctx, 'UpdateItem', {
    TableName: ctx.cfg.ecs_embed_table,
    Key: key,
    UpdateExpression: 'SET SyncStatus = :s, SyncStatusReason = :r, LastExecId = :e',
    ConditionExpression: 'attribute_exists(PK)',
    ExpressionAttributeValues: { ':s': { S: status }, ':r': { S: reason }, ':e': { S: execId } }
  }).then((r) => { if (r.status) ctx.stats.embed_writes = (ctx.stats.embed_writes || 0) + 1 })
}

// At RunTask: the task's bot key, or null when it is not an embedding task
// (or the simulation is off).
function started (ctx, input, taskId) {
  if (!ctx.cfg.ecs_embed_table || !ctx.upstream) return { key: null, done: Promise.resolve() }
  const key = botKey(input)
  if (!key) return { key: null, done: Promise.resolve() }
  return { key, done: setStatus(ctx, key, 'RUNNING', '', taskId) }
}

// When DescribeTasks first reports the task STOPPED.
function stopped (ctx, task, taskId) {
  if (!task.embedKey || !ctx.cfg.ecs_embed_table || !ctx.upstream) return Promise.resolve()
  const fail = ctx.cfg.ecs_embed_fail.some((s) => task.embedKey.SK.S.includes(s))
  task.exitCode = fail ? 1 : task.exitCode
  return setStatus(ctx, task.embedKey, fail ? 'FAILED' : 'SUCCEEDED', fail ? 'injected failure' : 'inserted', taskId)
}

module.exports = { botKey, started, stopped }
