// Benchmark of evaluate.mjs: how long the test suite will spend evaluating N requests.
//
//   node bench.mjs [N]        (default 1000; run ./install first)
//
// Writes a policy shaped like the operator's (the statements of terraform-bootstrap/iam.tf's
// `operator` policy document, with concrete ARNs: 38 statements) and N requests cycling through
// 26 realistic calls (ECS, Application Auto Scaling, Cloud Map, S3, KMS, iam:PassRole), with the
// key policy and the bucket policy as resource policies, runs the real command line once, and
// prints figures. Not a test; it fails only if the evaluator does or a request is denied.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const n = Number(process.argv[2] ?? 1000)
if (!Number.isInteger(n) || n < 1) {
  console.error('usage: node bench.mjs [N]')
  process.exit(2)
}

const A = '123456789012'
const R = 'us-east-1'
const OWNER = 'ecs-operator.io/owner'
const cluster = `arn:aws:ecs:${R}:${A}:cluster/main`
const svc = `arn:aws:ecs:${R}:${A}:service/main`
const td = `arn:aws:ecs:${R}:${A}:task-definition`
const task = `arn:aws:ecs:${R}:${A}:task/main`
const ns = `arn:aws:servicediscovery:${R}:${A}:namespace/ns-abc123`
const sd = `arn:aws:servicediscovery:${R}:${A}:service`
const st = `arn:aws:application-autoscaling:${R}:${A}:scalable-target`
const bucket = 'arn:aws:s3:::ecs-operator-manifests'
const key = `arn:aws:kms:${R}:${A}:key/11111111-2222-3333-4444-555555555555`
const ownerIs = { StringEquals: { [`aws:RequestTag/${OWNER}`]: 'prod' } }
const ownedBy = { StringEquals: { [`aws:ResourceTag/${OWNER}`]: 'prod' } }
const allow = (Sid, Action, Resource, Condition) => ({ Sid, Effect: 'Allow', Action, Resource, ...(Condition && { Condition }) })

const policy = {
  Version: '2012-10-17',
  Statement: [
    allow('EcsReadTaskDefinitions', ['ecs:DescribeTaskDefinition', 'ecs:ListTaskDefinitionFamilies', 'ecs:ListTaskDefinitions'], '*'),
    allow('EcsListInCluster', ['ecs:ListServices', 'ecs:ListTasks'], '*', { ArnEquals: { 'ecs:cluster': cluster } }),
    allow('EcsReadCluster', 'ecs:DescribeClusters', cluster),
    allow('EcsReadServicesAndTasks', ['ecs:DescribeServices', 'ecs:DescribeTasks', 'ecs:ListTagsForResource'], [`${svc}/*`, `${task}/*`, `${td}/*`]),
    allow('EcsRegisterOwnedTaskDefinitions', 'ecs:RegisterTaskDefinition', '*', ownerIs),
    allow('EcsCreateOwnedServices', 'ecs:CreateService', `${svc}/*`, { ...ownerIs, ArnEquals: { 'ecs:cluster': cluster } }),
    allow('EcsTagOnCreate', 'ecs:TagResource', [`${svc}/*`, `${td}/*`], { StringEquals: { 'ecs:CreateAction': ['CreateService', 'RegisterTaskDefinition'], [`aws:RequestTag/${OWNER}`]: 'prod' } }),
    allow('EcsChangeOwnedServices', ['ecs:UpdateService', 'ecs:DeleteService', 'ecs:TagResource'], `${svc}/*`, ownedBy),
    allow('EcsChangeOwnedTaskDefinitions', ['ecs:DeleteTaskDefinitions', 'ecs:TagResource'], `${td}/*`, ownedBy),
    allow('EcsUntagOwnedKeepOwnership', 'ecs:UntagResource', [`${svc}/*`, `${td}/*`], { ...ownedBy, 'ForAllValues:StringNotEquals': { 'aws:TagKeys': [OWNER] } }),
    allow('EcsDeregisterTaskDefinitions', 'ecs:DeregisterTaskDefinition', '*'),
    allow('PassOnlyListedRolesToEcsTasks', 'iam:PassRole', [`arn:aws:iam::${A}:role/ecs-execution`, `arn:aws:iam::${A}:role/ecs-service-task`], { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } }),
    allow('AutoscalingRead', ['application-autoscaling:DescribeScalableTargets', 'application-autoscaling:DescribeScalingActivities', 'application-autoscaling:DescribeScalingPolicies'], '*'),
    allow('AutoscalingEcsServicesOnly', ['application-autoscaling:RegisterScalableTarget', 'application-autoscaling:DeregisterScalableTarget', 'application-autoscaling:PutScalingPolicy', 'application-autoscaling:DeleteScalingPolicy'], `${st}/*`, { StringEquals: { 'application-autoscaling:service-namespace': 'ecs', 'application-autoscaling:scalable-dimension': 'ecs:service:DesiredCount' } }),
    allow('AutoscalingTagOwnedTargets', 'application-autoscaling:TagResource', `${st}/*`, ownerIs),
    allow('AutoscalingTargetTrackingAlarms', ['cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms'], `arn:aws:cloudwatch:${R}:${A}:alarm:TargetTracking-service/main/*`),
    allow('AutoscalingDescribeAlarms', 'cloudwatch:DescribeAlarms', `arn:aws:cloudwatch:${R}:${A}:alarm:*`),
    allow('AutoscalingServiceLinkedRole', 'iam:CreateServiceLinkedRole', `arn:aws:iam::${A}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService`, { StringEquals: { 'iam:AWSServiceName': 'ecs.application-autoscaling.amazonaws.com' } }),
    allow('CloudMapRead', ['servicediscovery:GetOperation', 'servicediscovery:ListNamespaces', 'servicediscovery:ListServices', 'servicediscovery:ListTagsForResource'], '*'),
    allow('CloudMapReadNamespace', 'servicediscovery:GetNamespace', ns),
    allow('CloudMapReadServices', 'servicediscovery:GetService', `${sd}/*`),
    allow('CloudMapInstances', ['servicediscovery:ListInstances', 'servicediscovery:GetInstancesHealthStatus'], '*'),
    allow('CloudMapDiscoverInNamespace', 'servicediscovery:DiscoverInstances', '*', { StringEquals: { 'servicediscovery:NamespaceName': 'ecs-operator.local' } }),
    allow('CloudMapCreateOwnedServicesInNamespace', 'servicediscovery:CreateService', [ns, `${sd}/*`], { StringEquals: { 'servicediscovery:NamespaceArn': ns, [`aws:RequestTag/${OWNER}`]: 'prod' } }),
    allow('CloudMapTagOnCreate', 'servicediscovery:TagResource', '*', ownerIs),
    allow('CloudMapChangeOwnedServices', ['servicediscovery:UpdateService', 'servicediscovery:DeleteService'], `${sd}/*`, ownedBy),
    allow('ListManifestsAndState', 's3:ListBucket', bucket, { StringLike: { 's3:prefix': ['manifests/', 'manifests/*', 'state/', 'state/*'] } }),
    allow('ReadManifests', 's3:GetObject', `${bucket}/manifests/*`),
    allow('ReadWriteStatusLeaseAndCache', ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], [`${bucket}/state/status/*`, `${bucket}/state/lease/*`, `${bucket}/state/cache/*`]),
    allow('UseKeyForBucket', ['kms:Decrypt', 'kms:GenerateDataKey'], key, { StringEquals: { 'kms:ViaService': `s3.${R}.amazonaws.com` } }),
    allow('ElbDescribe', ['elasticloadbalancing:DescribeListeners', 'elasticloadbalancing:DescribeLoadBalancers', 'elasticloadbalancing:DescribeTargetGroups', 'elasticloadbalancing:DescribeTargetHealth'], '*'),
    allow('WriteMonitoringConfig', ['s3:PutObject', 's3:DeleteObject'], `${bucket}/monitoring/*`),
    allow('ConsumeManifestEvents', ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'], `arn:aws:sqs:${R}:${A}:ecs-operator-manifest-events`),
    allow('LogsWrite', ['logs:CreateLogStream', 'logs:PutLogEvents'], `arn:aws:logs:${R}:${A}:log-group:/ecs/ecs-operator:*`),
    allow('DescribeLogGroups', 'logs:DescribeLogGroups', '*'),
    allow('SsmChannels', ['ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'], '*'),
    { Sid: 'DenyDeleteUnowned', Effect: 'Deny', Action: ['ecs:DeleteService', 'servicediscovery:DeleteService'], Resource: '*', Condition: { Null: { [`aws:ResourceTag/${OWNER}`]: 'true' } } },
    { Sid: 'DenyIamUsers', Effect: 'Deny', Action: 'iam:*User*', Resource: '*' }
  ]
}

// The key policy hands the key to IAM policies (kms.tf's AccountAdministersKeyThroughIam); the
// bucket policy refuses plain HTTP (s3.tf's DenyInsecureTransport).
const resourcePolicies = {
  [key]: {
    Version: '2012-10-17',
    Statement: [{ Sid: 'AccountAdministersKeyThroughIam', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${A}:root` }, Action: 'kms:*', Resource: '*' }]
  },
  [`${bucket}*`]: {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'DenyInsecureTransport', Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [bucket, `${bucket}/*`], Condition: { Bool: { 'aws:SecureTransport': 'false' } } }
    ]
  }
}

// One reconcile's worth of calls; request i uses service web-(i % 50) so resources vary.
const calls = (s) => [
  ['ecs:ListServices', '*', { 'ecs:cluster': cluster }],
  ['ecs:DescribeServices', `${svc}/${s}`, {}],
  ['ecs:DescribeTaskDefinition', '*', {}],
  ['ecs:RegisterTaskDefinition', `${td}/${s}:1`, { [`aws:RequestTag/${OWNER}`]: 'prod', 'aws:TagKeys': [OWNER, 'team'] }],
  ['ecs:TagResource', `${td}/${s}:3`, { 'ecs:CreateAction': 'RegisterTaskDefinition', [`aws:RequestTag/${OWNER}`]: 'prod', 'aws:TagKeys': [OWNER] }],
  ['iam:PassRole', `arn:aws:iam::${A}:role/ecs-execution`, { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' }],
  ['iam:PassRole', `arn:aws:iam::${A}:role/ecs-service-task`, { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' }],
  ['ecs:CreateService', `${svc}/${s}`, { [`aws:RequestTag/${OWNER}`]: 'prod', 'aws:TagKeys': [OWNER], 'ecs:cluster': cluster }],
  ['ecs:UpdateService', `${svc}/${s}`, { [`aws:ResourceTag/${OWNER}`]: 'prod', 'ecs:cluster': cluster }],
  ['ecs:DeleteService', `${svc}/${s}`, { [`aws:ResourceTag/${OWNER}`]: 'prod', 'ecs:cluster': cluster }],
  ['ecs:DeregisterTaskDefinition', '*', {}],
  ['application-autoscaling:DescribeScalableTargets', '*', {}],
  ['application-autoscaling:RegisterScalableTarget', `${st}/abc${s}`, { 'application-autoscaling:service-namespace': 'ecs', 'application-autoscaling:scalable-dimension': 'ecs:service:DesiredCount' }],
  ['application-autoscaling:PutScalingPolicy', `${st}/abc${s}`, { 'application-autoscaling:service-namespace': 'ecs', 'application-autoscaling:scalable-dimension': 'ecs:service:DesiredCount' }],
  ['application-autoscaling:TagResource', `${st}/abc${s}`, { [`aws:RequestTag/${OWNER}`]: 'prod', 'aws:TagKeys': [OWNER] }],
  ['cloudwatch:PutMetricAlarm', `arn:aws:cloudwatch:${R}:${A}:alarm:TargetTracking-service/main/${s}-AlarmHigh`, {}],
  ['servicediscovery:ListServices', '*', {}],
  ['servicediscovery:GetService', `${sd}/srv-${s}`, {}],
  ['servicediscovery:CreateService', ns, { 'servicediscovery:NamespaceArn': ns, [`aws:RequestTag/${OWNER}`]: 'prod', 'aws:TagKeys': [OWNER] }],
  ['servicediscovery:UpdateService', `${sd}/srv-${s}`, { [`aws:ResourceTag/${OWNER}`]: 'prod' }],
  ['s3:ListBucket', bucket, { 's3:prefix': 'manifests/', 'aws:SecureTransport': 'true' }],
  ['s3:GetObject', `${bucket}/manifests/${s}.yaml`, { 'aws:SecureTransport': 'true' }],
  ['s3:PutObject', `${bucket}/state/status/${s}.json`, { 'aws:SecureTransport': 'true' }],
  ['s3:PutObject', `${bucket}/state/lease/leader`, { 'aws:SecureTransport': 'true' }],
  ['kms:Decrypt', key, { 'kms:ViaService': `s3.${R}.amazonaws.com` }],
  ['elasticloadbalancing:DescribeTargetGroups', '*', {}]
]

const here = dirname(fileURLToPath(import.meta.url))
// BENCH_NODE_ARGS passes options to the evaluator's node, e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof'.
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '')
const tmp = mkdtempSync(join(tmpdir(), 'iam-simulate-bench-'))
try {
  const requests = []
  for (let i = 0; requests.length < n; i++) {
    for (const [action, resource, context] of calls(`web-${i % 50}`)) {
      if (requests.length === n) break
      requests.push(JSON.stringify({ call: `${action}#${requests.length}`, action, resource, context }))
    }
  }
  writeFileSync(join(tmp, 'policy.json'), JSON.stringify(policy, null, 2))
  writeFileSync(join(tmp, 'resource-policies.json'), JSON.stringify(resourcePolicies, null, 2))
  writeFileSync(join(tmp, 'requests.jsonl'), requests.join('\n') + '\n')
  const started = performance.now()
  const r = spawnSync(process.execPath, [...nodeArgs, join(here, 'evaluate.mjs'), '--policy', join(tmp, 'policy.json'), '--requests', join(tmp, 'requests.jsonl'), '--resource-policies', join(tmp, 'resource-policies.json'), '--report', join(tmp, 'report.json')], { encoding: 'utf8' })
  const wall = (performance.now() - started) / 1000
  if (r.status !== 0) {
    console.error(r.stdout, r.stderr)
    console.error(`bench: evaluate.mjs exited ${r.status} (expected 0: every bench request is meant to be allowed)`)
    process.exit(1)
  }
  const report = JSON.parse(readFileSync(join(tmp, 'report.json'), 'utf8'))
  console.log(`policy: ${policy.Statement.length} statements; requests: ${report.evaluated}, ${report.distinctActions} distinct actions`)
  console.log(`evaluation: ${report.seconds.toFixed(2)} s (${((report.seconds * 1000) / report.evaluated).toFixed(2)} ms per request)`)
  console.log(`whole command (node start, package load, parsing, report): ${wall.toFixed(2)} s`)
  console.log(`unused statements: ${report.unusedStatements.length} (${report.unusedStatements.join(', ')})`)
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
