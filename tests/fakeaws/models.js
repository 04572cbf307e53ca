'use strict'
// Request shapes of the ECS, Cognito and DynamoDB backup operations fakeaws
// answers, after
// the services' API models: members and their types, required members,
// enums, lengths and patterns. check() returns null or [code, message] for
// the first problem, worded the way the services word it. Unknown members
// are refused (SerializationException): AWS may ignore them, but a test
// endpoint that refuses them catches misspelt members.

const str = (o) => Object.assign({ type: 'string' }, o)
const int = (o) => Object.assign({ type: 'integer' }, o)
const bool = { type: 'boolean' }
const list = (member, o) => Object.assign({ type: 'list', member }, o)
const struct = (members, required) => ({ type: 'structure', members, required: required || [] })
const any = { type: 'any' }   // members whose inner shape fakeaws does not check

const KEY_VALUE = struct({ name: str(), value: str() })
const CONTAINER_OVERRIDE = struct({
  name: str(),
  command: list(str()),
  environment: list(KEY_VALUE),
  environmentFiles: list(any),
  cpu: int(),
  memory: int(),
  memoryReservation: int(),
  resourceRequirements: list(any)
})

const ECS = {
  RunTask: struct({
    capacityProviderStrategy: list(any),
    cluster: str(),
    count: int({ min: 1, max: 10 }),
    enableECSManagedTags: bool,
    enableExecuteCommand: bool,
    group: str(),
    launchType: str({ enum: ['EC2', 'FARGATE', 'EXTERNAL', 'MANAGED_INSTANCES'] }),
    networkConfiguration: struct({
      awsvpcConfiguration: struct({
        subnets: list(str(), { max: 16 }),
        securityGroups: list(str(), { max: 5 }),
        assignPublicIp: str({ enum: ['ENABLED', 'DISABLED'] })
      }, ['subnets'])
    }),
    overrides: struct({
      containerOverrides: list(CONTAINER_OVERRIDE),
      cpu: str(),
      ephemeralStorage: any,
      executionRoleArn: str(),
      inferenceAcceleratorOverrides: list(any),
      memory: str(),
      taskRoleArn: str()
    }),
    placementConstraints: list(any),
    placementStrategy: list(any),
    platformVersion: str(),
    propagateTags: str({ enum: ['TASK_DEFINITION', 'SERVICE', 'NONE'] }),
    referenceId: str(),
    startedBy: str({ max: 128 }),
    tags: list(any),
    taskDefinition: str(),
    clientToken: str({ max: 64, pattern: /^[\x21-\x7e]*$/ }),
    volumeConfigurations: list(any)
  }, ['taskDefinition']),
  DescribeTasks: struct({
    cluster: str(),
    include: list(str({ enum: ['TAGS'] })),
    tasks: list(str())
  }, ['tasks'])
}

const POOL_ID = str({ min: 1, max: 55, pattern: /^[\w-]+_[0-9a-zA-Z]+$/ })
const USERNAME = str({ min: 1, max: 128 })
const GROUP = str({ min: 1, max: 128 })
const LIMIT = int({ min: 0, max: 60 })

const COGNITO = {
  ListUsers: struct({
    UserPoolId: POOL_ID,
    AttributesToGet: list(str()),
    Limit: LIMIT,
    PaginationToken: str(),
    Filter: str({ max: 256 })
  }, ['UserPoolId']),
  AdminAddUserToGroup: struct({ UserPoolId: POOL_ID, Username: USERNAME, GroupName: GROUP },
    ['UserPoolId', 'Username', 'GroupName']),
  AdminRemoveUserFromGroup: struct({ UserPoolId: POOL_ID, Username: USERNAME, GroupName: GROUP },
    ['UserPoolId', 'Username', 'GroupName']),
  ListUsersInGroup: struct({ UserPoolId: POOL_ID, GroupName: GROUP, Limit: LIMIT, NextToken: str() },
    ['UserPoolId', 'GroupName'])
}

const TABLE = str({ min: 1, max: 1024 })
const BACKUP_ARN = str({ min: 37, max: 1024 })
const num = { type: 'number' }

const DYNAMODB = {
  CreateBackup: struct({ TableName: TABLE, BackupName: str({ min: 3, max: 255, pattern: /^[a-zA-Z0-9_.-]+$/ }) },
    ['TableName', 'BackupName']),
  DescribeBackup: struct({ BackupArn: BACKUP_ARN }, ['BackupArn']),
  ListBackups: struct({
    TableName: TABLE,
    Limit: int({ min: 1, max: 100 }),
    TimeRangeLowerBound: num,
    TimeRangeUpperBound: num,
    ExclusiveStartBackupArn: BACKUP_ARN,
    BackupType: str({ enum: ['USER', 'SYSTEM', 'AWS_BACKUP', 'ALL'] })
  }),
  DescribeContinuousBackups: struct({ TableName: TABLE }, ['TableName'])
}

function kindOf (v) {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'list'
  if (typeof v === 'object') return 'structure'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

// Walks value against shape; path is the member path for messages.
function walk (shape, v, path, invalid) {
  if (shape.type === 'any') return null
  const kind = kindOf(v)
  if (kind === 'null') return null   // a JSON null is an absent member
  if (kind !== shape.type && !(shape.type === 'number' && kind === 'integer')) {
    return ['SerializationException', `${path}: expected ${shape.type}, got ${kind}`]
  }
  if (shape.type === 'string') {
    if (shape.enum && !shape.enum.includes(v)) {
      return [invalid, `1 validation error detected: Value '${v}' at '${path}' failed to satisfy constraint: Member must satisfy enum value set: [${shape.enum.join(', ')}]`]
    }
    if (shape.min != null && v.length < shape.min) return [invalid, `1 validation error detected: Value '${v}' at '${path}' failed to satisfy constraint: Member must have length greater than or equal to ${shape.min}`]
    if (shape.max != null && v.length > shape.max) return [invalid, `1 validation error detected: Value at '${path}' failed to satisfy constraint: Member must have length less than or equal to ${shape.max}`]
    if (shape.pattern && !shape.pattern.test(v)) return [invalid, `1 validation error detected: Value '${v}' at '${path}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${shape.pattern.source}`]
  } else if (shape.type === 'integer') {
    if (shape.min != null && v < shape.min) return [invalid, `1 validation error detected: Value '${v}' at '${path}' failed to satisfy constraint: Member must have value greater than or equal to ${shape.min}`]
    if (shape.max != null && v > shape.max) return [invalid, `1 validation error detected: Value '${v}' at '${path}' failed to satisfy constraint: Member must have value less than or equal to ${shape.max}`]
  } else if (shape.type === 'list') {
    if (shape.max != null && v.length > shape.max) return [invalid, `${path} cannot contain more than ${shape.max} elements.`]
    for (let i = 0; i < v.length; i++) {
      const e = walk(shape.member, v[i], `${path}.${i + 1}.member`, invalid)
      if (e) return e
    }
  } else if (shape.type === 'structure') {
    for (const k of Object.keys(v)) {
      if (!shape.members[k]) return ['SerializationException', `Unrecognized field "${k}" at ${path || 'the top level'}`]
    }
    for (const r of shape.required) {
      if (v[r] == null) {
        const name = path ? `${path}.${r}` : r[0].toLowerCase() + r.slice(1)
        return [invalid, `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`]
      }
    }
    for (const [k, s] of Object.entries(shape.members)) {
      if (v[k] === undefined) continue
      const e = walk(s, v[k], path ? `${path}.${k}` : k, invalid)
      if (e) return e
    }
  }
  return null
}

// null, or [code, message]; an operation without a model is not checked.
function check (service, op, input) {
  const shape = ({ ecs: ECS, cognito: COGNITO, dynamodb: DYNAMODB }[service] || {})[op]
  if (!shape) return null
  return walk(shape, input, '', service === 'dynamodb' ? 'ValidationException' : 'InvalidParameterException')
}

module.exports = { check, ECS, COGNITO, DYNAMODB }
