//! The bootstrap's policies rendered by `scripts/iam-policies` with a test's values, and
//! `tools/iam-simulate/evaluate.mjs` run over recorded requests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A clean directory under `<repo>/.work/iam-evaluation/<name>`, kept after the run so the
/// recorded requests, the rendered policies and the report can be read.
pub fn work_dir(name: &str) -> PathBuf {
    let dir = repo_root().join(".work/iam-evaluation").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Renders every policy template with `values` (over the script's example values) into
/// `dir/policies`; returns the policies by role and the values used.
pub fn render(values: &Value, dir: &Path) -> (BTreeMap<String, Value>, Value) {
    testkit::tools::require("python3");
    let values_path = dir.join("values-override.json");
    std::fs::write(&values_path, serde_json::to_string_pretty(values).unwrap()).unwrap();
    let out_dir = dir.join("policies");
    let out = Command::new(repo_root().join("scripts/iam-policies"))
        .arg(&out_dir)
        .arg("--values")
        .arg(&values_path)
        .output()
        .expect("scripts/iam-policies runs");
    assert!(
        out.status.success(),
        "scripts/iam-policies: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut policies = BTreeMap::new();
    let mut used = Value::Null;
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let path = entry.unwrap().path();
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if name == "values" {
            used = doc;
        } else {
            policies.insert(name, doc);
        }
    }
    (policies, used)
}

/// The bootstrap's KMS key policy as far as the key's users are concerned: its first statement
/// (`terraform-bootstrap/kms.tf`) lets the account's IAM policies decide. Without a key policy
/// AWS (and the evaluator) deny every KMS call, whatever the identity policy says. The service
/// statements of kms.tf (CloudWatch Logs, S3 for the queue) do not concern roles.
pub fn key_policy(partition: &str, account: &str) -> Value {
    let kms_tf = std::fs::read_to_string(repo_root().join("terraform-bootstrap/kms.tf")).unwrap();
    let statement = kms_tf
        .split("Sid       = \"AccountAdministersKeyThroughIam\"")
        .nth(1)
        .and_then(|rest| rest.split("},").next())
        .expect("kms.tf: the statement AccountAdministersKeyThroughIam");
    for line in [
        "Principal = { AWS = \"arn:${local.partition}:iam::${local.account_id}:root\" }",
        "Action    = \"kms:*\"",
    ] {
        assert!(
            statement.contains(line),
            "kms.tf's AccountAdministersKeyThroughIam changed ({line} is gone): update key_policy"
        );
    }
    json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "AccountAdministersKeyThroughIam", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:{partition}:iam::{account}:root")},
        "Action": "kms:*", "Resource": "*"}]})
}

/// What `evaluate.mjs --report` wrote.
pub struct Report {
    pub json: Value,
    pub stdout: String,
}

impl Report {
    pub fn count(&self, field: &str) -> u64 {
        self.json[field]
            .as_u64()
            .unwrap_or_else(|| self.json[field].as_array().map_or(0, |a| a.len() as u64))
    }

    pub fn strings(&self, field: &str) -> Vec<String> {
        self.json[field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    /// Every denied request, one paragraph each: call, action, resource, result, the Deny
    /// statements that matched, and the context.
    pub fn denies(&self) -> Vec<String> {
        self.json["denies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                format!(
                    "{} {}: {} on {} (denied by {}), context {}",
                    d["result"].as_str().unwrap_or("?"),
                    d["call"].as_str().unwrap_or("?"),
                    d["action"].as_str().unwrap_or("?"),
                    d["resource"].as_str().unwrap_or("?"),
                    match d["deniedBy"].as_array() {
                        Some(sids) if !sids.is_empty() => format!("{sids:?}"),
                        _ => "no Allow statement matching".into(),
                    },
                    d["context"]
                )
            })
            .collect()
    }
}

/// Runs the evaluator over `requests` with `policy` (and the key policy for KMS keys), writing
/// `dir/<name>-report.json`. An input error (exit 2) fails the test with the evaluator's
/// messages: a request the recorder could not model is never silently skipped.
pub fn evaluate(
    name: &str,
    policy: &Value,
    requests: &Path,
    key_policies: &BTreeMap<String, Value>,
    dir: &Path,
) -> Report {
    testkit::tools::require("node");
    let policy_path = dir.join(format!("{name}-policy.json"));
    std::fs::write(&policy_path, serde_json::to_string_pretty(policy).unwrap()).unwrap();
    let report_path = dir.join(format!("{name}-report.json"));
    let mut cmd = Command::new("node");
    cmd.arg(repo_root().join("tools/iam-simulate/evaluate.mjs"))
        .arg("--policy")
        .arg(&policy_path)
        .arg("--requests")
        .arg(requests)
        .arg("--report")
        .arg(&report_path);
    if !key_policies.is_empty() {
        let path = dir.join(format!("{name}-resource-policies.json"));
        std::fs::write(&path, serde_json::to_string_pretty(key_policies).unwrap()).unwrap();
        cmd.arg("--resource-policies").arg(path);
    }
    let out = cmd.output().expect("node runs evaluate.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "evaluate.mjs could not evaluate {} (exit {:?}; tools/iam-simulate/install installs it):\n{}",
        requests.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    Report { json, stdout }
}

/// Writes request lines (`{"call", "action", "resource", "context"}`) to `dir/<name>.jsonl`.
pub fn write_requests(name: &str, lines: &[Value], dir: &Path) -> PathBuf {
    let path = dir.join(format!("{name}.jsonl"));
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}
