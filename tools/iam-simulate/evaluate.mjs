#!/usr/bin/env node
// Evaluates an IAM identity policy against a list of AWS requests, offline, with
// @cloud-copilot/iam-simulate (AGPL-3.0: a test tool only, never shipped with the operator).
//
//   node evaluate.mjs --policy POLICY.json --requests REQUESTS.jsonl
//                     [--account 123456789012] [--principal ARN] [--report OUT.json]
//                     [--resource-policies RESOURCE_POLICIES.json]
//
// REQUESTS.jsonl holds one JSON object per line (blank lines are skipped):
//   {"call": "ecs:CreateService#3", "action": "ecs:CreateService",
//    "resource": "arn:aws:ecs:us-east-1:123456789012:service/main/web",
//    "context": {"aws:RequestTag/ecs-operator.io/owner": "prod", "aws:TagKeys": ["ecs-operator.io/owner"]}}
// `call` is a free label used in messages; `context` is optional. A single-valued condition key
// takes a string, a multivalued one (aws:TagKeys, ...) an array of strings (a lone string is a
// one-element set).
//
// RESOURCE_POLICIES.json (optional) maps resource ARN patterns (`*` and `?` wildcards) to resource
// policies: {"arn:aws:kms:us-east-1:123456789012:key/*": {"Version": ..., "Statement": [...]}}. A
// request whose resource matches a pattern is evaluated with that policy as well; more than one
// matching pattern is an input error. KMS needs this: AWS (and the simulator) deny every KMS call
// that the key policy does not open, whatever the identity policy says.
//
// Exit status: 0 every request is allowed; 1 at least one is denied (implicitly or explicitly);
// 2 usage or input error (bad JSON, a statement without a Sid or with a duplicate Sid, a policy
// the simulator rejects, an unknown action or condition key, a resource that is not a resource
// type of its action, an array given for a single-valued key, no requests at all). On exit 2 no
// report is written.
//
// See README.md for the report format.
import { readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { validateIdentityPolicy, validateResourcePolicy } from '@cloud-copilot/iam-policy'
import { isConditionKeyArray, runSimulation, typeForContextKey } from '@cloud-copilot/iam-simulate'

const USAGE = `usage: node evaluate.mjs --policy POLICY.json --requests REQUESTS.jsonl
                        [--account 123456789012] [--principal ARN] [--report OUT.json]
                        [--resource-policies RESOURCE_POLICIES.json]`
const DEFAULT_ACCOUNT = '123456789012'
const REQUEST_FIELDS = new Set(['call', 'action', 'resource', 'context'])

/** An input or usage problem: the run stops with exit 2 and every message printed. */
class InputError extends Error {
  constructor(messages) {
    super(messages.join('\n'))
    this.messages = messages
  }
}

function parseCli(argv) {
  let values
  try {
    ;({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        policy: { type: 'string' },
        requests: { type: 'string' },
        account: { type: 'string', default: DEFAULT_ACCOUNT },
        principal: { type: 'string' },
        report: { type: 'string' },
        'resource-policies': { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    }))
  } catch (e) {
    throw new InputError([e.message, USAGE])
  }
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const problems = []
  if (!values.policy) problems.push('--policy is required')
  if (!values.requests) problems.push('--requests is required')
  if (!/^\d{12}$/.test(values.account)) problems.push(`--account must be 12 digits, got "${values.account}"`)
  const principal = values.principal ?? `arn:aws:iam::${values.account}:role/ecs-operator`
  if (!principal.startsWith('arn:')) problems.push(`--principal must be an ARN, got "${principal}"`)
  if (problems.length > 0) throw new InputError([...problems, USAGE])
  return {
    policyPath: values.policy,
    requestsPath: values.requests,
    account: values.account,
    principal,
    reportPath: values.report,
    resourcePoliciesPath: values['resource-policies']
  }
}

function readText(path, what) {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    throw new InputError([`cannot read ${what} ${path}: ${e.message}`])
  }
}

/** Loads the policy and checks that every statement has its own Sid; returns the statements' Sids and effects. */
function loadPolicy(path) {
  let policy
  try {
    policy = JSON.parse(readText(path, 'policy'))
  } catch (e) {
    if (e instanceof InputError) throw e
    throw new InputError([`${path}: not valid JSON: ${e.message}`])
  }
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy) || !('Statement' in policy)) {
    throw new InputError([`${path}: expected a policy document: an object with "Version" and "Statement"`])
  }
  const statements = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement]
  const problems = []
  if (statements.length === 0) problems.push(`${path}: the policy has no statements`)
  const seen = new Map()
  const sids = []
  statements.forEach((statement, i) => {
    const where = `${path}: Statement[${i}]`
    if (statement === null || typeof statement !== 'object' || Array.isArray(statement)) {
      problems.push(`${where}: not an object`)
      return
    }
    const sid = statement.Sid
    if (typeof sid !== 'string' || sid === '') {
      // Sids name statements in the report (statementUse, unusedStatements), so each one needs one.
      problems.push(`${where}: no Sid (every statement must have a Sid)`)
      return
    }
    if (seen.has(sid)) {
      problems.push(`${where}: Sid "${sid}" is already used by Statement[${seen.get(sid)}]`)
      return
    }
    seen.set(sid, i)
    sids.push({ sid, effect: statement.Effect })
  })
  if (problems.length === 0) {
    for (const error of validateIdentityPolicy(policy)) {
      problems.push(`${path}: ${error.path}: ${error.message}`)
    }
  }
  if (problems.length > 0) throw new InputError(problems)
  return { policy, sids }
}

/** A glob (`*` any characters, `?` one) as an anchored regular expression. */
function globRegExp(pattern) {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${body}$`)
}

/** Loads RESOURCE_POLICIES.json: [{pattern, regexp, policy}], each policy checked by the simulator's validator. */
function loadResourcePolicies(path) {
  if (path === undefined) return []
  let doc
  try {
    doc = JSON.parse(readText(path, 'resource policies'))
  } catch (e) {
    if (e instanceof InputError) throw e
    throw new InputError([`${path}: not valid JSON: ${e.message}`])
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new InputError([`${path}: expected an object mapping resource ARN patterns to resource policies`])
  }
  const problems = []
  const entries = []
  for (const [pattern, policy] of Object.entries(doc)) {
    if (!pattern.startsWith('arn:')) problems.push(`${path}: "${pattern}": the key must be a resource ARN pattern`)
    if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) {
      problems.push(`${path}: "${pattern}": expected a policy document object`)
      continue
    }
    const errors = validateResourcePolicy(policy)
    for (const error of errors) problems.push(`${path}: "${pattern}": ${error.path}: ${error.message}`)
    // The simulator accepts a resource policy statement without Principal and lets it match nothing;
    // AWS refuses such a policy, so it is an input error here too.
    if (errors.length === 0) {
      const statements = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement]
      statements.forEach((st, i) => {
        if (!('Principal' in st) && !('NotPrincipal' in st)) {
          problems.push(`${path}: "${pattern}": Statement[${i}]: a resource policy statement needs a Principal or NotPrincipal`)
        }
      })
    }
    entries.push({ pattern, regexp: globRegExp(pattern), policy })
  }
  if (problems.length > 0) throw new InputError(problems)
  return entries
}

/** Parses REQUESTS.jsonl; every problem is reported as FILE:LINE: message. */
async function loadRequests(path) {
  const lines = readText(path, 'requests').split('\n')
  const requests = []
  const problems = []
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i].trim()
    if (text === '') continue
    const where = `${path}:${i + 1}`
    let value
    try {
      value = JSON.parse(text)
    } catch (e) {
      problems.push(`${where}: not valid JSON: ${e.message}`)
      continue
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push(`${where}: expected a JSON object`)
      continue
    }
    const lineProblems = []
    // Unknown fields are refused: a misspelt "contxt" would otherwise silently evaluate with no context.
    for (const key of Object.keys(value)) {
      if (!REQUEST_FIELDS.has(key)) lineProblems.push(`unknown field "${key}" (expected call, action, resource, context)`)
    }
    for (const key of ['call', 'action', 'resource']) {
      if (typeof value[key] !== 'string' || value[key] === '') lineProblems.push(`"${key}" must be a non-empty string`)
    }
    if (typeof value.action === 'string' && !/^[a-zA-Z0-9-]+:[a-zA-Z0-9]+$/.test(value.action)) {
      lineProblems.push(`"action" must be one concrete action such as "ecs:CreateService", got "${value.action}"`)
    }
    if (typeof value.resource === 'string' && value.resource !== '*' && !value.resource.startsWith('arn:')) {
      lineProblems.push(`"resource" must be an ARN or "*", got "${value.resource}"`)
    }
    const context = value.context ?? {}
    if (context === null || typeof context !== 'object' || Array.isArray(context)) {
      lineProblems.push('"context" must be an object of condition keys')
    } else {
      for (const [key, v] of Object.entries(context)) {
        const isString = typeof v === 'string'
        const isStringArray = Array.isArray(v) && v.every((x) => typeof x === 'string')
        if (!isString && !isStringArray) {
          lineProblems.push(`context "${key}": values must be a string or an array of strings`)
          continue
        }
        let type
        try {
          type = await typeForContextKey(key.toLowerCase())
        } catch {
          lineProblems.push(`context "${key}": not a condition key the simulator knows`)
          continue
        }
        // The simulator would silently keep only the first element of an array given for a
        // single-valued key; refuse it instead.
        if (isStringArray && !isConditionKeyArray(type)) {
          lineProblems.push(`context "${key}": single-valued key (${type}) given an array`)
        }
      }
    }
    if (lineProblems.length > 0) {
      const label = typeof value.call === 'string' ? ` (${value.call})` : ''
      for (const p of lineProblems) problems.push(`${where}${label}: ${p}`)
      continue
    }
    requests.push({ line: i + 1, call: value.call, action: value.action, resource: value.resource, context })
  }
  if (problems.length === 0 && requests.length === 0) {
    // Nothing evaluated must never look like a pass.
    problems.push(`${path}: no requests`)
  }
  if (problems.length > 0) throw new InputError(problems)
  return requests
}

/** The account a resource belongs to: the ARN's account field, else the default account. */
function accountOf(resource, fallback) {
  const parts = resource.split(':')
  return parts.length >= 6 && /^\d{12}$/.test(parts[4]) ? parts[4] : fallback
}

// Calls AWS authorizes on "*" although the simulator's catalogue gives the action a required
// resource type. ecs:ListTasks without a containerInstance names no container instance: AWS
// evaluates it on resource "*" (its AccessDenied message says "on resource: *"), so only a
// statement whose Resource matches the string "*" grants it, scoped by ecs:cluster. The simulator
// would read "*" as "some container instance" and let a statement on one instance grant it; so
// these requests are evaluated against the statements that match "*" literally. Likewise
// cloudwatch:GetMetricData: its one resource type, `dataset` (optional), is an OTLP dataset
// queried with PromQL; a query of classic metrics names none and is authorized on "*".
const STAR_RESOURCE_CALLS = new Set(['ecs:listtasks', 'cloudwatch:getmetricdata'])

/** Whether a statement's Resource / NotResource matches the literal resource "*". */
function matchesLiteralStar(statement) {
  const list = (v) => (Array.isArray(v) ? v : [v])
  const starOnly = (pattern) => /^\*+$/.test(pattern)
  if ('NotResource' in statement) return !list(statement.NotResource).some(starOnly)
  return list(statement.Resource).some(starOnly)
}

// The simulator's catalogue merges Elastic Load Balancing (classic) and v2, which share the
// prefix "elasticloadbalancing", and keeps the classic AddTags / RemoveTags, whose only resource
// type is a classic load balancer. AWS authorizes ELBv2's AddTags (tagging on CreateTargetGroup
// and CreateRule) on the target group or rule itself (Service Authorization Reference, Elastic
// Load Balancing V2), so the simulator would refuse such a request as input. It is evaluated on
// a classic load balancer ARN standing in for its resource, against the statements whose
// Resource matches the real ARN (matched here, with IAM's wildcards), their Resource rewritten
// to the stand-in; the conditions are still the simulator's. A statement with NotResource is
// not supported for these requests (an input error rather than a guess).
const CLASSIC_SHADOWED_CALLS = new Set(['elasticloadbalancing:addtags', 'elasticloadbalancing:removetags'])
const ELBV2_RESOURCE = /^arn:[^:]+:elasticloadbalancing:([^:]*):(\d{12}):(targetgroup|listener-rule|listener|truststore|loadbalancer\/(app|net|gwy))\//

/** The policy and resource to evaluate an ELBv2 AddTags / RemoveTags request with. */
function onClassicStandIn(request, policy) {
  const arn = ELBV2_RESOURCE.exec(request.resource)
  const list = (v) => (Array.isArray(v) ? v : [v])
  const statements = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement]
  if (statements.some((s) => 'NotResource' in s)) {
    return { error: 'NotResource is not supported for ELBv2 tagging requests (see CLASSIC_SHADOWED_CALLS)' }
  }
  const standIn = `arn:aws:elasticloadbalancing:${arn[1]}:${arn[2]}:loadbalancer/elbv2-stand-in`
  const kept = statements
    .filter((s) => list(s.Resource).some((pattern) => globRegExp(pattern).test(request.resource)))
    .map((s) => ({ ...s, Resource: standIn }))
  return { policy: { ...policy, Statement: kept }, resource: standIn }
}

const SIMULATOR_ERRORS = {
  'invalid.action': 'unknown action',
  'invalid.service': 'unknown service',
  'must.use.wildcard': 'this action has no resource-level permissions: its resource must be "*"',
  'no.resource.types': 'the resource is not a resource type of this action',
  'multiple.resource.types': 'the resource matches several resource types of this action',
  'invalid.principal': 'invalid principal'
}

/**
 * Evaluates one request. Returns {result, allowedBy, deniedBy, ignoredKeys}, or {error}.
 * allowedBy: Sids of the Allow statements that granted it (empty unless the result is Allowed).
 * deniedBy: Sids of the Deny statements that matched it (non-empty only when ExplicitlyDenied).
 * resourceDeniedBy: the same for the resource policy's Deny statements (Sid, else Statement[i]).
 */
async function evaluate(request, policy, principal, account, resourcePolicy) {
  if (request.resource === '*' && STAR_RESOURCE_CALLS.has(request.action.toLowerCase())) {
    return evaluateOnStar(request, policy, principal, account)
  }
  if (CLASSIC_SHADOWED_CALLS.has(request.action.toLowerCase()) && ELBV2_RESOURCE.test(request.resource)) {
    const standIn = onClassicStandIn(request, policy)
    if (standIn.error) return standIn
    if (standIn.policy.Statement.length === 0) {
      return { result: 'ImplicitlyDenied', allowedBy: [], deniedBy: [], resourceDeniedBy: [], identityAllows: [], ignoredKeys: [] }
    }
    return evaluate({ ...request, resource: standIn.resource }, standIn.policy, principal, account, resourcePolicy)
  }
  const response = await runSimulation(
    {
      request: {
        principal,
        action: request.action,
        resource: { resource: request.resource, accountId: accountOf(request.resource, account) },
        contextVariables: request.context
      },
      identityPolicies: [{ name: 'policy', policy }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(resourcePolicy && { resourcePolicy })
    },
    {}
  )
  if (response.resultType === 'error') {
    const code = response.errors.message
    const detail = SIMULATOR_ERRORS[code] ?? JSON.stringify(response.errors)
    return { error: `${detail} (iam-simulate: ${code})` }
  }
  if (response.resultType === 'wildcard') {
    // The simulator reads a wildcard in the resource of an action that has resource types as
    // "some resource matching it" (allowed if any one is). A real call names one resource.
    return { error: 'this action takes concrete resources: give the ARN of the one resource the call acts on, without wildcards' }
  }
  const result = response.overallResult
  const analysis = response.result.analysis
  const sids = (statements) => (statements ?? []).map((s) => s.statement.sid() ?? `Statement[${s.statement.index()}]`)
  const identityAllows = sids(analysis.identityAnalysis?.allowStatements) // whatever the final result
  return {
    result,
    allowedBy: result === 'Allowed' ? identityAllows : [],
    deniedBy: result === 'ExplicitlyDenied' ? sids(analysis.identityAnalysis?.denyStatements) : [],
    // Resource policy statements need no Sid: those without one are named by position.
    resourceDeniedBy: result === 'ExplicitlyDenied' ? sids(analysis.resourceAnalysis?.denyStatements) : [],
    identityAllows,
    ignoredKeys: response.result.ignoredContextKeys ?? []
  }
}

/** evaluate() for a STAR_RESOURCE_CALLS request on "*": only statements matching "*" literally apply. */
async function evaluateOnStar(request, policy, principal, account) {
  const statements = (Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement]).filter(matchesLiteralStar)
  if (statements.length === 0) {
    return { result: 'ImplicitlyDenied', allowedBy: [], deniedBy: [], resourceDeniedBy: [], identityAllows: [], ignoredKeys: [] }
  }
  const response = await runSimulation(
    {
      request: { principal, action: request.action, resource: { resource: '*', accountId: account }, contextVariables: request.context },
      identityPolicies: [{ name: 'policy', policy: { ...policy, Statement: statements } }],
      serviceControlPolicies: [],
      resourceControlPolicies: []
    },
    {}
  )
  if (response.resultType === 'error') {
    return { error: `${SIMULATOR_ERRORS[response.errors.message] ?? JSON.stringify(response.errors)} (iam-simulate: ${response.errors.message})` }
  }
  // Every statement left matches "*", so "allowed for some resource like *" is "allowed on *".
  const analyses = response.resultType === 'wildcard' ? response.results.map((r) => r.analysis) : [response.result.analysis]
  const result = response.overallResult
  const sids = (kind) => [
    ...new Set(analyses.flatMap((a) => (a?.identityAnalysis?.[kind] ?? []).map((s) => s.statement.sid() ?? `Statement[${s.statement.index()}]`)))
  ]
  const identityAllows = sids('allowStatements')
  const ignored = response.resultType === 'wildcard' ? response.results.flatMap((r) => r.ignoredContextKeys ?? []) : response.result.ignoredContextKeys ?? []
  return {
    result,
    allowedBy: result === 'Allowed' ? identityAllows : [],
    deniedBy: result === 'ExplicitlyDenied' ? sids('denyStatements') : [],
    resourceDeniedBy: [],
    identityAllows,
    ignoredKeys: [...new Set(ignored)]
  }
}

function simulatorVersion() {
  try {
    const url = new URL('./node_modules/@cloud-copilot/iam-simulate/package.json', import.meta.url)
    return JSON.parse(readFileSync(url, 'utf8')).version
  } catch {
    return 'unknown'
  }
}

async function main() {
  const cli = parseCli(process.argv.slice(2))
  const { policy, sids } = loadPolicy(cli.policyPath)
  const resourcePolicies = loadResourcePolicies(cli.resourcePoliciesPath)
  const requests = await loadRequests(cli.requestsPath)

  const started = performance.now()
  const results = []
  const problems = []
  for (const request of requests) {
    const matching = request.resource === '*' ? [] : resourcePolicies.filter((p) => p.regexp.test(request.resource))
    if (matching.length > 1) {
      problems.push(
        `${cli.requestsPath}:${request.line} (${request.call}): ${request.resource} matches several resource policy patterns: ${matching.map((p) => p.pattern).join(', ')}`
      )
      continue
    }
    const resourcePolicy = matching[0]
    const outcome = await evaluate(request, policy, cli.principal, cli.account, resourcePolicy?.policy)
    if (outcome.error) {
      problems.push(`${cli.requestsPath}:${request.line} (${request.call}): ${request.action} on ${request.resource}: ${outcome.error}`)
      continue
    }
    results.push({ ...request, ...outcome, resourcePolicy: resourcePolicy?.pattern ?? null })
  }
  if (problems.length > 0) throw new InputError(problems)
  const seconds = (performance.now() - started) / 1000

  const statementUse = Object.fromEntries(sids.map(({ sid }) => [sid, 0]))
  for (const r of results) {
    for (const sid of [...r.allowedBy, ...r.deniedBy]) statementUse[sid] += 1
  }
  const unusedStatements = sids.filter(({ sid, effect }) => effect === 'Allow' && statementUse[sid] === 0).map(({ sid }) => sid)
  const unmatchedDenyStatements = sids.filter(({ sid, effect }) => effect === 'Deny' && statementUse[sid] === 0).map(({ sid }) => sid)
  const denied = results.filter((r) => r.result !== 'Allowed')
  const ignoredContext = results
    .filter((r) => r.ignoredKeys.length > 0)
    .map((r) => ({ call: r.call, line: r.line, action: r.action, keys: r.ignoredKeys }))
  const distinctActions = new Set(results.map((r) => r.action.toLowerCase())).size

  const report = {
    evaluated: results.length,
    distinctActions,
    denies: denied.map((r) => ({
      call: r.call,
      line: r.line,
      action: r.action,
      resource: r.resource,
      result: r.result,
      deniedBy: r.deniedBy,
      resourcePolicy: r.resourcePolicy,
      resourceDeniedBy: r.resourceDeniedBy,
      context: r.context
    })),
    statementUse,
    unusedStatements,
    unmatchedDenyStatements,
    ignoredContext,
    results: results.map((r) => ({
      call: r.call,
      line: r.line,
      action: r.action,
      resource: r.resource,
      result: r.result,
      allowedBy: r.allowedBy,
      deniedBy: r.deniedBy,
      resourcePolicy: r.resourcePolicy,
      resourceDeniedBy: r.resourceDeniedBy
    })),
    policy: cli.policyPath,
    resourcePolicies: cli.resourcePoliciesPath ?? null,
    principal: cli.principal,
    account: cli.account,
    simulator: `@cloud-copilot/iam-simulate@${simulatorVersion()}`,
    seconds: Number(seconds.toFixed(3))
  }

  // The human summary.
  const allowCount = sids.filter((s) => s.effect === 'Allow').length
  console.log(
    `iam-simulate: ${cli.policyPath}: ${sids.length} statements (${allowCount} Allow, ${sids.length - allowCount} Deny), principal ${cli.principal}`
  )
  for (const r of denied) {
    const deniers = [...r.deniedBy, ...r.resourceDeniedBy.map((d) => `${d} of the resource policy for ${r.resourcePolicy}`)]
    let why = deniers.length > 0 ? `denied by ${deniers.join(', ')}` : 'no statement allows it'
    if (deniers.length === 0 && r.identityAllows.length > 0) {
      // Allowed by the identity policy, yet denied: the resource side did not grant it (a KMS key
      // policy must open the key; or the resource is in another account than the principal).
      const rp = r.resourcePolicy ? `the resource policy for ${r.resourcePolicy}` : 'no resource policy'
      why = `${r.identityAllows.join(', ')} allow it, but ${rp} grants it (KMS keys and other accounts' resources need one)`
    }
    console.log(`DENIED ${r.result} ${r.call}: ${r.action} on ${r.resource} (${why})`)
    console.log(`    context: ${JSON.stringify(r.context)}`)
  }
  for (const c of ignoredContext) {
    console.log(`warning: ${cli.requestsPath}:${c.line} (${c.call}): context keys not applicable to ${c.action}, ignored by the simulator: ${c.keys.join(', ')}`)
  }
  const width = Math.max(...sids.map((s) => s.sid.length))
  console.log('statement use (requests allowed by each Allow statement / denied by each Deny statement):')
  for (const { sid, effect } of sids) {
    console.log(`  ${sid.padEnd(width)}  ${effect.padEnd(5)}  ${String(statementUse[sid]).padStart(6)}`)
  }
  if (unusedStatements.length > 0) console.log(`unused Allow statements: ${unusedStatements.join(', ')}`)
  if (unmatchedDenyStatements.length > 0) console.log(`Deny statements that matched nothing: ${unmatchedDenyStatements.join(', ')}`)
  console.log(
    `evaluated ${results.length} requests (${distinctActions} distinct actions) in ${seconds.toFixed(2)} s: ` +
      `${results.length - denied.length} allowed, ${denied.length} denied`
  )

  if (cli.reportPath) {
    try {
      writeFileSync(cli.reportPath, JSON.stringify(report, null, 2) + '\n')
    } catch (e) {
      throw new InputError([`cannot write report ${cli.reportPath}: ${e.message}`])
    }
  }
  return denied.length > 0 ? 1 : 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (e) => {
    if (e instanceof InputError) {
      // The first 50 problems; a systematic mistake repeats on every line and adds nothing.
      for (const m of e.messages.slice(0, 50)) console.error(`iam-simulate: ${m}`)
      if (e.messages.length > 50) console.error(`iam-simulate: ... and ${e.messages.length - 50} more problems`)
      process.exitCode = 2
    } else {
      console.error(e)
      process.exitCode = 2
    }
  }
)
