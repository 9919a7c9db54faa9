//! The IAM policy templates: one per role in `terraform-bootstrap/policies/`, loaded by Terraform
//! with `templatefile()` and rendered without Terraform by `scripts/iam-policies`. These tests
//! fail when the two disagree (a name one side passes and the other does not use, a Sid that
//! moved or vanished) and when a template leaves the subset the script renders.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use hcl::expr::Expression;
use serde_json::Value;

use crate::support::*;

/// Template name => the `aws_iam_role_policy` that loads it.
const ROLES: [(&str, &str); 8] = [
    ("operator", "operator"),
    ("scheduler", "scheduler"),
    ("operator-ingress", "operator_ingress"),
    ("task-execution", "execution"),
    ("platform-execution", "platform_execution"),
    ("monitoring", "monitoring_efs"),
    ("service-task", "service_task"),
    ("manifests-sync", "github_sync"),
];

fn policies_dir() -> PathBuf {
    tf_dir().join("policies")
}

// --- the template subset ----------------------------------------------------------------------

/// The value names a template uses, or what it uses beyond `${name}`, `${jsonencode(name)}`,
/// `%{ if name }` / `%{ endif }` (with `~` strip markers) and the `$${` / `%%{` escapes.
pub fn template_names(text: &str) -> Result<BTreeSet<String>, String> {
    let is_name = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let mut names = BTreeSet::new();
    let mut depth = 0i32;
    let mut rest = text;
    while let Some(at) = rest.find(['$', '%']) {
        let (sigil, after) = (rest.as_bytes()[at], &rest[at + 1..]);
        if after.starts_with(['$', '%'])
            && after[1..].starts_with('{')
            && after.as_bytes()[0] == sigil
        {
            rest = &after[2..]; // an escape: $${ or %%{
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            rest = after;
            continue;
        };
        let end = body
            .find('}')
            .ok_or_else(|| format!("unterminated {}{{", sigil as char))?;
        let inner = body[..end]
            .trim_start_matches('~')
            .trim_end_matches('~')
            .trim();
        if sigil == b'$' {
            let name = inner
                .strip_prefix("jsonencode(")
                .and_then(|s| s.strip_suffix(')'))
                .map(str::trim)
                .unwrap_or(inner);
            if !is_name(name) {
                return Err(format!("unsupported interpolation ${{{inner}}}"));
            }
            names.insert(name.to_string());
        } else if let Some(name) = inner.strip_prefix("if ").map(str::trim) {
            if !is_name(name) {
                return Err(format!("unsupported directive %{{{inner}}}"));
            }
            names.insert(name.to_string());
            depth += 1;
        } else if inner == "endif" {
            depth -= 1;
            if depth < 0 {
                return Err("%{ endif } without %{ if }".into());
            }
        } else {
            return Err(format!("unsupported directive %{{{inner}}}"));
        }
        rest = &body[end + 1..];
    }
    if depth != 0 {
        return Err("%{ if } without %{ endif }".into());
    }
    Ok(names)
}

#[test]
fn the_template_subset_check_rejects_what_the_script_cannot_render() {
    let ok = template_names(
        r#"{"a": "${x}", "b": ${jsonencode(y)}%{ if z ~}, 1%{~ endif }, "$${lit}"}"#,
    );
    assert_eq!(
        ok,
        Ok(["x", "y", "z"].map(String::from).into_iter().collect())
    );
    for bad in [
        "${upper(x)}",
        "${a.b}",
        "%{ for x in y }%{ endfor }",
        "%{ if x }",
        "%{ endif }",
        "${x",
    ] {
        assert!(template_names(bad).is_err(), "{bad} was accepted");
    }
}

// --- Terraform's side -------------------------------------------------------------------------

/// The `templatefile(path, {vars})` an `aws_iam_role_policy` uses (following `local.<name>`),
/// as (template file name, names Terraform passes, the vars object).
pub fn templatefile_of<'a>(
    cfg: &'a Config,
    resource: &str,
) -> (String, BTreeSet<String>, &'a Expression) {
    // Inline role policies, and the managed ones (the operator's ingress permissions).
    let (_, block) = cfg
        .resources("aws_iam_role_policy")
        .chain(cfg.resources("aws_iam_policy"))
        .find(|(name, _)| *name == resource)
        .unwrap_or_else(|| panic!("no aws_iam_role_policy or aws_iam_policy {resource}"));
    let mut policy = attr(block.body(), "policy").expect("policy");
    if let Some(["local", name]) = traversal_path(policy)
        .as_deref()
        .map(|p| p.iter().map(String::as_str).collect::<Vec<_>>())
        .as_deref()
    {
        policy = cfg.local(name).unwrap_or_else(|| panic!("no local.{name}"));
    }
    let Expression::FuncCall(call) = policy else {
        panic!("aws_iam_role_policy.{resource}: policy is not templatefile(...): {policy:?}");
    };
    assert_eq!(call.name.name.as_str(), "templatefile", "{resource}");
    let path = match &call.args[0] {
        Expression::TemplateExpr(t) => t.to_string(),
        Expression::String(s) => s.clone(),
        other => panic!("{resource}: template path {other:?}"),
    };
    let path = path.trim_matches('"');
    let file = path
        .strip_prefix("${path.module}/policies/")
        .unwrap_or_else(|| panic!("{resource}: {path} is not under ${{path.module}}/policies/"))
        .to_string();
    let vars = &call.args[1];
    let Expression::Object(_) = vars else {
        panic!("{resource}: templatefile vars must be an object literal, found {vars:?}");
    };
    let keys = object_entries(vars).into_iter().map(|(k, _)| k).collect();
    (file, keys, vars)
}

#[test]
fn every_role_policy_is_its_template_and_terraform_passes_exactly_the_names_it_uses() {
    let cfg = Config::load();
    let mut files = BTreeSet::new();
    for (role, resource) in ROLES {
        let (file, passed, _) = templatefile_of(&cfg, resource);
        assert_eq!(
            file,
            format!("{role}.json.tftpl"),
            "aws_iam_role_policy.{resource}"
        );
        let text = std::fs::read_to_string(policies_dir().join(&file))
            .unwrap_or_else(|e| panic!("policies/{file}: {e}"));
        let used = template_names(&text).unwrap_or_else(|e| panic!("policies/{file}: {e}"));
        assert_eq!(
            passed, used,
            "{file}: names Terraform passes vs names the template uses"
        );
        files.insert(file);
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(policies_dir())
        .expect("terraform-bootstrap/policies")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        on_disk, files,
        "templates without a role, or roles without a template"
    );
}

// --- the script's side ------------------------------------------------------------------------

/// `scripts/iam-policies` run into a temporary directory: (role => policy, values).
pub fn rendered() -> (BTreeMap<String, Value>, serde_json::Map<String, Value>) {
    let out = tempfile::tempdir().expect("temp dir");
    let run = Command::new(repo_root().join("scripts/iam-policies"))
        .arg(out.path())
        .output()
        .expect("scripts/iam-policies runs (python3)");
    assert!(
        run.status.success(),
        "scripts/iam-policies failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(out.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
    };
    let policies = ROLES
        .iter()
        .map(|(role, _)| (role.to_string(), read(&format!("{role}.json"))))
        .collect();
    let Value::Object(values) = read("values.json") else {
        panic!("values.json is not an object");
    };
    (policies, values)
}

const SIDS: [(&str, &[&str]); 8] = [
    (
        "scheduler",
        &[
            "RunOperatorTaskDefinitions",
            "TagJobTasksAtLaunch",
            "PassTaskRolesToEcsTasks",
            "DeadLetterQueue",
            "EncryptDeadLetters",
        ],
    ),
    (
        "operator",
        &[
            "EcsTaskDefinitions",
            "EcsListInCluster",
            "EcsReadServicesAndTasks",
            "EcsRegisterOwnedTaskDefinitions",
            "EcsCreateOwnedServices",
            "EcsTagOnCreate",
            "EcsTagUnownedServicesToAdopt",
            "EcsChangeOwnedServices",
            "EcsReleaseHolds",
            "EcsNeverTouchPlatformServices",
            "EcsRunOwnedTaskDefinitions",
            "SchedulerOwnGroup",
            "SchedulerListSchedules",
            "PassSchedulerRole",
            "PassOnlyListedRolesToEcsTasks",
            "PassOnlyListedRolesToEcsForDeployments",
            "AutoscalingRead",
            "AutoscalingEcsServicesOnly",
            "AutoscalingTargetTrackingAlarms",
            "AutoscalingDescribeAlarms",
            "ReadQueueMetrics",
            "AutoscalingServiceLinkedRole",
            "CloudMapRead",
            "CloudMapReadServices",
            "CloudMapReadTags",
            "CloudMapDiscoverInNamespace",
            "CloudMapCreateOwnedServicesInNamespace",
            "CloudMapTagOnCreate",
            "CloudMapChangeOwnedServices",
            "ListManifestsAndState",
            "ReadManifests",
            "ReadWriteStatusLeaseAndCache",
            "ReadRetryRequests",
            "UseKeyForBucket",
            "WriteMonitoringConfig",
            "ConsumeManifestEvents",
            "DecryptManifestEvents",
        ],
    ),
    (
        "operator-ingress",
        &[
            "IngressRead",
            "IngressCreateOwnedTargetGroups",
            "IngressCreateOwnedRulesOnTheListener",
            "IngressTagOnCreate",
            "IngressChangeOwnedTargetGroups",
            "IngressChangeOwnedRules",
            "IngressReorderRulesOfTheListener",
        ],
    ),
    (
        "task-execution",
        &[
            "EcrLogin",
            "EcrPull",
            "WriteServiceLogs",
            "ReadServiceSecrets",
            "DecryptServiceSecrets",
        ],
    ),
    (
        "platform-execution",
        &[
            "EcrLogin",
            "EcrPullOperatorImage",
            "WritePlatformLogs",
            "ReadGrafanaSecret",
            "DecryptGrafanaSecret",
        ],
    ),
    (
        "monitoring",
        &["MountMonitoringConfig", "PublishAlertsToSns"],
    ),
    ("service-task", &["NothingWithoutAnOwnTaskRole"]),
    (
        "manifests-sync",
        &["ListManifests", "WriteManifests", "UseKeyForBucket"],
    ),
];

#[test]
fn scripts_iam_policies_renders_every_role_with_the_names_terraform_passes_and_stable_sids() {
    let cfg = Config::load();
    let (policies, values) = rendered();
    let mut used = BTreeSet::new();
    for (role, resource) in ROLES {
        let (_, passed, _) = templatefile_of(&cfg, resource);
        for name in &passed {
            assert!(
                values.contains_key(name),
                "values.json lacks {name} ({role})"
            );
        }
        used.extend(passed);
    }
    let provided: BTreeSet<String> = values.keys().cloned().collect();
    assert_eq!(
        provided, used,
        "values.json keys vs the names Terraform passes"
    );

    for (role, expected) in SIDS {
        let policy = &policies[role];
        assert_eq!(policy["Version"], "2012-10-17", "{role}");
        let sids: Vec<&str> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().expect("every statement has a Sid"))
            .collect();
        assert_eq!(sids, expected, "{role}: statement Sids");
    }
}
