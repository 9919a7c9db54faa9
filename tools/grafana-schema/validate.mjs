#!/usr/bin/env node
// Validate Grafana dashboard JSON files against dashboard.schema.json.
//
//   node validate.mjs FILE_OR_DIR...
//
// Directories are searched recursively for *.json (node_modules is skipped); a file named
// on the command line is validated whatever its extension. One line per file:
//   ok PATH
//   FAIL PATH: <instancePath> <message>      (one line per error)
// Exit status: 0 all valid, 1 at least one file failed, 2 usage error (no arguments, a
// path that does not exist, no dashboard file found, or the schema is missing).
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCHEMA = path.join(HERE, 'dashboard.schema.json');

function usage(msg) {
  if (msg) console.error(`validate.mjs: ${msg}`);
  console.error('usage: node validate.mjs FILE_OR_DIR...');
  process.exit(2);
}

function collect(p, out) {
  let st;
  try {
    st = statSync(p);
  } catch {
    usage(`no such file or directory: ${p}`);
  }
  if (st.isDirectory()) {
    const entries = readdirSync(p, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const e of entries) {
      const child = path.join(p, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') collect(child, out);
      } else if (e.name.endsWith('.json') && statSync(child).isFile()) {
        out.push(child);
      }
    }
  } else if (st.isFile()) {
    out.push(p);
  } else {
    usage(`not a file or directory: ${p}`);
  }
}

function describe(err) {
  let msg = err.message ?? err.keyword;
  if (err.keyword === 'additionalProperties') {
    msg += `: ${JSON.stringify(err.params.additionalProperty)}`;
  } else if (err.keyword === 'enum') {
    msg += `: ${err.params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  } else if (err.keyword === 'const') {
    msg += `: ${JSON.stringify(err.params.allowedValue)}`;
  }
  return msg;
}

function pointerGet(doc, pointer) {
  if (pointer === '') return doc;
  let cur = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[key];
  }
  return cur;
}

const isUnder = (p, base) => p === base || p.startsWith(`${base}/`);

// An anyOf (e.g. `Panel | RowPanel`) that fails reports the errors of every alternative,
// most of them irrelevant. Re-check the value against each alternative; when exactly one
// alternative has the fewest errors (counted after the same treatment of nested anyOfs),
// report only its errors and name it.
// Otherwise (a tie, or an alternative that cannot be checked alone) report everything.
const branchValidators = new WeakMap();
function branchValidator(ajv, branch) {
  if (branchValidators.has(branch)) return branchValidators.get(branch);
  let v = null;
  try {
    if (typeof branch.$ref === 'string' && branch.$ref.startsWith('#')) {
      v = ajv.getSchema(`dashboard${branch.$ref}`) ?? null;
    } else if (!JSON.stringify(branch).includes('"$ref"')) {
      v = ajv.compile(branch);
    }
  } catch {
    v = null;
  }
  branchValidators.set(branch, v);
  return v;
}

function explain(ajv, errors, data, prefix) {
  const replaced = new Map();
  const anyOfs = errors
    .filter((e) => e.keyword === 'anyOf' && Array.isArray(e.schema))
    .sort((a, b) => a.instancePath.length - b.instancePath.length);
  for (const a of anyOfs) {
    if ([...replaced.keys()].some((p) => isUnder(a.instancePath, p))) continue;
    const value = pointerGet(data, a.instancePath);
    const results = [];
    for (const branch of a.schema) {
      const v = branchValidator(ajv, branch);
      if (!v) break;
      const errs = v(value) ? [] : [...v.errors];
      results.push(explain(ajv, errs, value, prefix + a.instancePath));
    }
    if (results.length !== a.schema.length) continue;
    const counts = results.map((r) => r.length);
    const min = Math.min(...counts);
    if (min === 0 || counts.filter((c) => c === min).length !== 1) continue;
    const best = counts.indexOf(min);
    const ref = a.schema[best].$ref;
    const name = ref ? ref.split('/').pop() : `alternative ${best}`;
    const lines = [...results[best]];
    lines.push(
      `${prefix + a.instancePath || '/'} must match a schema in anyOf ` +
        `(closest: ${name}; errors of the other alternatives omitted)`,
    );
    replaced.set(a.instancePath, lines);
  }
  const out = [];
  const emitted = new Set();
  for (const e of errors) {
    const base = [...replaced.keys()].find((p) => isUnder(e.instancePath, p));
    if (base !== undefined) {
      if (!emitted.has(base)) out.push(...replaced.get(base));
      emitted.add(base);
    } else {
      out.push(`${prefix + e.instancePath || '/'} ${describe(e)}`);
    }
  }
  return [...new Set(out)];
}

const args = process.argv.slice(2);
if (args.length === 0) usage('no file or directory given');
if (args.some((a) => a === '-h' || a === '--help')) usage();

const files = [];
for (const a of args) collect(a, files);
if (files.length === 0) usage(`no *.json file found in: ${args.join(' ')}`);

if (!existsSync(SCHEMA)) usage(`${SCHEMA} is missing: run ${path.join(HERE, 'install')}`);
// verbose: errors carry the failing schema, so anyOf alternatives can be re-checked.
const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
addFormats(ajv);
ajv.addSchema(JSON.parse(readFileSync(SCHEMA, 'utf8')), 'dashboard');
const validate = ajv.getSchema('dashboard');

let failed = 0;
for (const file of files) {
  let doc;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    failed++;
    console.log(`FAIL ${file}: / not valid JSON: ${err.message}`);
    continue;
  }
  if (validate(doc)) {
    console.log(`ok ${file}`);
  } else {
    failed++;
    for (const line of explain(ajv, [...validate.errors], doc, '')) console.log(`FAIL ${file}: ${line}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
