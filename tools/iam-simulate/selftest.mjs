// Self-test of evaluate.mjs, run through its real command line (a child process), as the Rust
// tests will run it. Proves, from fixtures/cases.json (each case with the result and the Sids it
// expects): allowed, implicitly and explicitly denied requests; aws:ResourceTag, aws:RequestTag +
// aws:TagKeys (ForAllValues:StringEquals), Null, StringLike on an ARN with wildcards,
// iam:PassedToService and s3:prefix conditions; ELBv2 AddTags on a classic stand-in (the
// catalogue keeps only the classic AddTags); ecs:ListTasks on "*" (literal "*" statements
// only); resource policies (a KMS key policy, an S3 bucket
// policy's explicit deny); statement attribution, statementUse,
// unusedStatements and unmatchedDenyStatements; exit 0 / 1; and that every kind of bad input is
// exit 2 without a report. Prints PASS/FAIL lines and a last line
// "iam-simulate selftest: N passed, M failed"; exits 1 when anything failed.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'

const here = dirname(fileURLToPath(import.meta.url))
const evaluator = join(here, 'evaluate.mjs')
const fixtures = JSON.parse(readFileSync(join(here, 'fixtures', 'cases.json'), 'utf8'))
const policyPath = join(here, 'fixtures', fixtures.policy)
const resourcePoliciesPath = join(here, 'fixtures', fixtures.resourcePolicies)
const tmp = mkdtempSync(join(tmpdir(), 'iam-simulate-selftest-'))

let passed = 0
let failed = 0
function check(ok, name, detail) {
  if (ok) {
    passed++
    console.log(`PASS ${name}`)
  } else {
    failed++
    console.log(`FAIL ${name}`)
    if (detail !== undefined) console.log(`    ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`)
  }
}

function run(args) {
  const r = spawnSync(process.execPath, [evaluator, ...args], { encoding: 'utf8' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function jsonl(requests) {
  return requests.map((r) => JSON.stringify(r)).join('\n') + '\n'
}

function readReport(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    return { unreadable: e.message }
  }
}

try {
  const sameSet = (a, b) => isDeepStrictEqual([...a].sort(), [...b].sort())

  // 1. Every case together: exit 1 (some are denied), and each result as expected.
  const cases = fixtures.cases
  const requestsPath = join(tmp, 'cases.jsonl')
  const reportPath = join(tmp, 'report.json')
  writeFileSync(requestsPath, jsonl(cases.map((c) => c.request)))
  const all = run(['--policy', policyPath, '--requests', requestsPath, '--resource-policies', resourcePoliciesPath, '--report', reportPath])
  check(all.status === 1, `all ${cases.length} fixture cases: exit 1 because some are denied`, `exit ${all.status}: ${all.stderr}`)
  const report = readReport(reportPath)
  check(report.evaluated === cases.length, `report.evaluated is ${cases.length}`, report.evaluated ?? report)

  const byCall = new Map((report.results ?? []).map((r) => [r.call, r]))
  for (const c of cases) {
    const got = byCall.get(c.request.call)
    const e = c.expect
    const ok =
      got !== undefined &&
      got.result === e.result &&
      sameSet(got.allowedBy, e.allowedBy) &&
      sameSet(got.deniedBy, e.deniedBy) &&
      sameSet(got.resourceDeniedBy, e.resourceDeniedBy ?? [])
    const allowed = e.allowedBy.length > 0 ? ` by ${e.allowedBy.join(' + ')}` : ''
    const deniers = [...e.deniedBy, ...(e.resourceDeniedBy ?? []).map((d) => `${d} (resource policy)`)]
    const denied = deniers.length > 0 ? ` by ${deniers.join(' + ')}` : ''
    check(ok, `${c.request.call}: ${e.result}${allowed}${denied} (${c.why})`, { expected: e, got })
  }

  // denies: exactly the cases not expected to be Allowed, with their result and context.
  const expectedDenies = cases
    .filter((c) => c.expect.result !== 'Allowed')
    .map((c) => ({ call: c.request.call, result: c.expect.result, context: c.request.context ?? {} }))
  const gotDenies = (report.denies ?? []).map((d) => ({ call: d.call, result: d.result, context: d.context }))
  check(isDeepStrictEqual(gotDenies, expectedDenies), `report.denies lists the ${expectedDenies.length} denied cases with result and context`, { expected: expectedDenies, got: gotDenies })
  const denyFields = ['call', 'line', 'action', 'resource', 'result', 'deniedBy', 'resourcePolicy', 'resourceDeniedBy', 'context']
  check((report.denies ?? []).every((d) => isDeepStrictEqual(Object.keys(d), denyFields)), `every report.denies entry has ${denyFields.join(', ')}`, report.denies?.[0])

  // statementUse: every Sid of the policy, counting the requests each one allowed or denied.
  const policy = JSON.parse(readFileSync(policyPath, 'utf8'))
  const expectedUse = Object.fromEntries(policy.Statement.map((s) => [s.Sid, 0]))
  for (const c of cases) for (const sid of [...c.expect.allowedBy, ...c.expect.deniedBy]) expectedUse[sid]++
  check(isDeepStrictEqual(report.statementUse, expectedUse), 'report.statementUse counts every Sid', { expected: expectedUse, got: report.statementUse })

  const s = fixtures.summary
  check(isDeepStrictEqual(report.unusedStatements, s.unusedStatements), `report.unusedStatements is ${JSON.stringify(s.unusedStatements)}`, report.unusedStatements)
  check(isDeepStrictEqual(report.unmatchedDenyStatements, s.unmatchedDenyStatements), `report.unmatchedDenyStatements is ${JSON.stringify(s.unmatchedDenyStatements)}`, report.unmatchedDenyStatements)
  const pinned = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')).dependencies['@cloud-copilot/iam-simulate']
  check(
    report.principal === 'arn:aws:iam::123456789012:role/ecs-operator' && report.account === '123456789012' && report.simulator === `@cloud-copilot/iam-simulate@${pinned}`,
    `report names the default principal, the account and the pinned simulator (${pinned})`,
    { principal: report.principal, account: report.account, simulator: report.simulator }
  )
  check(report.distinctActions === s.distinctActions, `report.distinctActions is ${s.distinctActions}`, report.distinctActions)
  const gotIgnored = (report.ignoredContext ?? []).map((i) => ({ call: i.call, keys: i.keys }))
  check(isDeepStrictEqual(gotIgnored, s.ignoredContext), 'report.ignoredContext names the key the simulator dropped', gotIgnored)
  check(/DENIED ExplicitlyDenied delete-untagged-service: .*\(denied by DenyDeleteUnownedServices\)/.test(all.stdout), 'the summary names the Deny statement of an explicit deny', all.stdout)
  check(/unused Allow statements: AllowDeleteClusterOverridden, UnusedLogs/.test(all.stdout), 'the summary lists the unused Allow statements', all.stdout)
  check(
    /DENIED ImplicitlyDenied kms-decrypt-key-without-key-policy: .*UseManifestKeyViaS3 allow it, but no resource policy grants it/.test(all.stdout),
    'the summary says when the identity policy allows a request that the resource side does not',
    all.stdout
  )
  const kms = byCall.get('kms-decrypt-via-s3')
  check(kms?.resourcePolicy === Object.keys(JSON.parse(readFileSync(resourcePoliciesPath, 'utf8')))[0], 'report.results names the resource policy applied', kms)

  // 2. Only the cases expected to be allowed: exit 0, no denies.
  const allowedCases = cases.filter((c) => c.expect.result === 'Allowed')
  const okPath = join(tmp, 'allowed.jsonl')
  const okReport = join(tmp, 'allowed-report.json')
  writeFileSync(okPath, jsonl(allowedCases.map((c) => c.request)))
  const ok = run(['--policy', policyPath, '--requests', okPath, '--resource-policies', resourcePoliciesPath, '--report', okReport])
  const okR = readReport(okReport)
  check(ok.status === 0 && isDeepStrictEqual(okR.denies, []) && okR.evaluated === allowedCases.length, `the ${allowedCases.length} allowed cases alone: exit 0, no denies`, `exit ${ok.status}: ${ok.stderr}`)

  // 3. --principal and --account: the default principal is role/ecs-operator in --account, and a
  //    resource in an account that is not the principal's is not granted by an identity policy alone.
  const crossPath = join(tmp, 'cross.jsonl')
  writeFileSync(crossPath, jsonl([{ call: 'describe', action: 'ecs:DescribeServices', resource: 'arn:aws:ecs:us-east-1:123456789012:service/main/web' }]))
  const cross = run(['--policy', policyPath, '--requests', crossPath, '--account', '999999999999'])
  check(cross.status === 1 && /principal arn:aws:iam::999999999999:role\/ecs-operator/.test(cross.stdout), 'a principal in another account than the resource is denied (exit 1)', `exit ${cross.status}: ${cross.stdout}${cross.stderr}`)
  const same = run(['--policy', policyPath, '--requests', crossPath, '--principal', 'arn:aws:iam::123456789012:role/other'])
  check(same.status === 0 && /principal arn:aws:iam::123456789012:role\/other/.test(same.stdout), '--principal is used (exit 0)', `exit ${same.status}: ${same.stdout}${same.stderr}`)

  // 4. Bad input: exit 2, a message naming the problem, and no report.
  const goodRequest = { call: 'ok', action: 'ecs:DescribeServices', resource: 'arn:aws:ecs:us-east-1:123456789012:service/main/web' }
  const policyWith = (statements) => JSON.stringify({ Version: '2012-10-17', Statement: statements })
  const allowAll = { Sid: 'All', Effect: 'Allow', Action: 'ecs:*', Resource: '*' }
  const bucketDeny = { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 'ecs:*', Resource: '*' }] }
  const bad = [
    { name: 'a statement without a Sid', policy: policyWith([allowAll, { Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }]), message: /Statement\[1\]: no Sid/ },
    { name: 'a duplicate Sid', policy: policyWith([allowAll, { ...allowAll }]), message: /Sid "All" is already used by Statement\[0\]/ },
    { name: 'a policy that is not JSON', policy: '{"Version": "2012-10-17", "Statement": [', message: /not valid JSON/ },
    { name: 'a policy the simulator rejects (Effect "Maybe")', policy: policyWith([{ ...allowAll, Effect: 'Maybe' }]), message: /Effect/ },
    { name: 'a request line that is not JSON', requests: jsonl([goodRequest]) + '{"call": "x",\n', message: /requests\.jsonl:2: not valid JSON/ },
    { name: 'an unknown request field', requests: jsonl([{ ...goodRequest, contxt: {} }]), message: /unknown field "contxt"/ },
    { name: 'a request without a resource', requests: jsonl([{ call: 'x', action: 'ecs:DescribeServices' }]), message: /"resource" must be a non-empty string/ },
    { name: 'an unknown action', requests: jsonl([{ ...goodRequest, action: 'ecs:FlyToTheMoon' }]), message: /unknown action/ },
    { name: 'a wildcard action in a request', requests: jsonl([{ ...goodRequest, action: 'ecs:Describe*' }]), message: /one concrete action/ },
    { name: 'a resource that is not a resource type of the action', requests: jsonl([{ ...goodRequest, resource: 'arn:aws:s3:::bucket' }]), message: /not a resource type of this action/ },
    { name: 'an ARN for an action without resource-level permissions', requests: jsonl([{ call: 'x', action: 'ecs:ListServices', resource: 'arn:aws:ecs:us-east-1:123456789012:cluster/main' }]), message: /its resource must be "\*"/ },
    { name: 'a "*" resource for an action that has resource types', requests: jsonl([{ ...goodRequest, resource: '*' }]), message: /this action takes concrete resources/ },
    { name: 'a wildcard in a resource ARN', requests: jsonl([{ ...goodRequest, resource: 'arn:aws:ecs:us-east-1:123456789012:service/main/*' }]), message: /this action takes concrete resources/ },
    { name: 'an array for a single-valued condition key', requests: jsonl([{ call: 'x', action: 'iam:PassRole', resource: 'arn:aws:iam::123456789012:role/r', context: { 'iam:PassedToService': ['ecs-tasks.amazonaws.com', 'ec2.amazonaws.com'] } }]), message: /single-valued key \(String\) given an array/ },
    { name: 'a number as a context value', requests: jsonl([{ ...goodRequest, context: { 'aws:SecureTransport': true } }]), message: /values must be a string or an array of strings/ },
    { name: 'an unknown condition key', requests: jsonl([{ ...goodRequest, context: { 'ecs:clustr': 'x' } }]), message: /"ecs:clustr": not a condition key/ },
    { name: 'a resource policy without a Principal', resourcePolicies: JSON.stringify({ 'arn:aws:ecs:*': { Version: '2012-10-17', Statement: [allowAll] } }), message: /Principal/ },
    { name: 'a resource matching two resource policy patterns', resourcePolicies: JSON.stringify({ 'arn:aws:ecs:*': bucketDeny, 'arn:aws:ecs:us-east-1:*': bucketDeny }), message: /matches several resource policy patterns: arn:aws:ecs:\*, arn:aws:ecs:us-east-1:\*/ },
    { name: 'resource policies that are not JSON', resourcePolicies: '{', message: /resource-policies\.json: not valid JSON/ },
    { name: 'no requests at all', requests: '\n\n', message: /no requests/ },
    { name: 'no --policy', args: ['--requests', 'REQUESTS'], message: /--policy is required/ },
    { name: 'a bad --account', args: ['--policy', 'POLICY', '--requests', 'REQUESTS', '--account', '1234'], message: /--account must be 12 digits/ },
    { name: 'an unknown option', args: ['--policy', 'POLICY', '--requests', 'REQUESTS', '--polcy', 'x'], message: /Unknown option '--polcy'/ },
    { name: 'a missing requests file', args: ['--policy', 'POLICY', '--requests', join(tmp, 'absent.jsonl')], message: /cannot read requests/ }
  ]
  bad.forEach((b, i) => {
    const p = join(tmp, `bad-${i}-policy.json`)
    const rq = join(tmp, `bad-${i}-requests.jsonl`)
    const rp = join(tmp, `bad-${i}-report.json`)
    const rps = join(tmp, `bad-${i}-resource-policies.json`)
    writeFileSync(p, b.policy ?? policyWith([allowAll]))
    writeFileSync(rq, b.requests ?? jsonl([goodRequest]))
    const defaultArgs = ['--policy', 'POLICY', '--requests', 'REQUESTS']
    if (b.resourcePolicies !== undefined) {
      writeFileSync(rps, b.resourcePolicies)
      defaultArgs.push('--resource-policies', rps)
    }
    const args = (b.args ?? defaultArgs).map((a) => (a === 'POLICY' ? p : a === 'REQUESTS' ? rq : a))
    const r = run([...args, '--report', rp])
    const good = r.status === 2 && b.message.test(r.stderr) && !existsSync(rp)
    check(good, `${b.name}: exit 2, no report`, `exit ${r.status}, report ${existsSync(rp) ? 'written' : 'absent'}, stderr: ${r.stderr.trim()}; expected ${b.message}`)
  })
} finally {
  rmSync(tmp, { recursive: true, force: true })
}

console.log(`iam-simulate selftest: ${passed} passed, ${failed} failed`)
process.exitCode = failed === 0 ? 0 : 1
