//! One manifest, several environments: `spec.environments.<name>` merged into the spec for the
//! operator whose settings name that environment. Every environment is validated, problems are
//! reported at the override's line, and each environment renders its own task definition and
//! scaling.

use std::process::Command;

use ecs_operator::manifest::ManifestSet;
use ecs_operator::render::render_service;
use ecs_operator::settings::Settings;

/// A valid manifest with two environments. Line numbers are 1-based.
const DOC: &str = "\
apiVersion: ecs-operator.io/v1alpha1
kind: MonitoredService
metadata:
  name: pizza
spec:
  container:
    image: pizza:1.0.0
    cpu: 512
    memory: 1024
    env:
      MODE: full
  scaling:
    minTasks: 2
    maxTasks: 6
    targetCpuPercent: 60
  notify:
    team: pizza
  environments:
    staging:
      container:
        image: pizza:1.1.0-rc.1
        cpu: 256
        memory: 512
      scaling:
        minTasks: 1
        maxTasks: 2
    prod:
      container:
        env:
          MODE: strict
      scaling:
        maxTasks: 12
";

fn settings(environment: Option<&str>) -> Settings {
    let mut s = Settings::local_defaults();
    s.environment = environment.map(str::to_string);
    s
}

fn load(text: &str, settings: Option<&Settings>) -> ManifestSet {
    let mut set = ManifestSet::default();
    set.add_source("pizza.yaml", text.as_bytes(), settings);
    set.finish();
    set
}

fn problems(set: &ManifestSet) -> Vec<String> {
    set.diagnostics().map(|d| d.to_string()).collect()
}

/// `DOC` with line `line` replaced.
fn with_line(line: usize, replacement: &str) -> String {
    let mut lines: Vec<&str> = DOC.lines().collect();
    lines[line - 1] = replacement;
    lines.join("\n") + "\n"
}

#[test]
fn an_invalid_override_is_reported_at_its_line_and_names_the_environment() {
    let text = with_line(22, "        cpu: 300");
    let set = load(&text, None);
    assert!(set.manifests.is_empty(), "{:?}", problems(&set));
    let diags: Vec<_> = set.diagnostics().collect();
    assert_eq!(diags.len(), 1, "{:?}", problems(&set));
    let d = diags[0];
    assert_eq!(d.path, "spec.environments.staging.container.cpu");
    assert_eq!((d.line, d.column), (22, 9));
    assert!(d.message.contains("300 is not a Fargate CPU size"), "{d}");
    assert!(d.message.ends_with("(environment staging)"), "{d}");
    assert_eq!(d.file, "pizza.yaml");
}

#[test]
fn the_base_spec_and_every_other_environment_are_still_checked() {
    // The base has a bad memory size, staging a bad CPU and prod a scaling range upside down.
    let text = with_line(9, "    memory: 1000")
        .replace("        cpu: 256\n", "        cpu: 300\n")
        .replace("        maxTasks: 12\n", "        maxTasks: 1\n");
    let set = load(&text, None);
    let found: Vec<(String, usize)> = set
        .diagnostics()
        .map(|d| (d.path.clone(), d.line))
        .collect();
    for expected in [
        ("spec.container.memory", 9),
        ("spec.environments.staging.container.cpu", 22),
        ("spec.environments.prod.scaling.maxTasks", 32),
    ] {
        assert!(
            found.contains(&(expected.0.to_string(), expected.1)),
            "{expected:?} missing from {:?}",
            problems(&set)
        );
    }
    // prod keeps the base's memory: that error is reported once, at the base, not per
    // environment; staging sets its own memory (512) and is fine there.
    let memory: Vec<_> = set
        .diagnostics()
        .filter(|d| d.path.ends_with("memory"))
        .collect();
    assert_eq!(memory.len(), 1, "{:?}", problems(&set));
}

#[test]
fn a_type_error_in_an_override_is_placed_at_the_override() {
    let set = load(&with_line(30, "          MODE: [strict]"), None);
    let d = set.diagnostics().next().expect("a problem");
    assert_eq!(d.path, "spec.environments.prod.container.env.MODE");
    assert_eq!(d.line, 30);
    assert!(d.message.contains("(environment prod)"), "{d}");
}

#[test]
fn each_environment_renders_its_own_task_definition_and_scaling() {
    let mut rendered = Vec::new();
    for environment in [None, Some("staging"), Some("prod")] {
        let settings = settings(environment);
        let set = load(DOC, Some(&settings));
        assert_eq!(problems(&set), Vec::<String>::new());
        let desired = render_service(&set.manifests[0].manifest, &settings);
        let scaling = desired.scaling.clone().expect("a scaling target");
        rendered.push((
            desired.task_definition.container.image.clone(),
            desired.task_definition.cpu.clone(),
            desired.task_definition.container.environment.clone(),
            (scaling.min_capacity, scaling.max_capacity),
            desired.spec_hash.clone(),
        ));
    }
    let [base, staging, prod] = rendered.try_into().unwrap();
    assert_eq!((base.0.as_str(), base.1.as_str()), ("pizza:1.0.0", "512"));
    assert_eq!(base.3, (2, 6));
    assert_eq!(
        (staging.0.as_str(), staging.1.as_str()),
        ("pizza:1.1.0-rc.1", "256")
    );
    assert_eq!(staging.3, (1, 2));
    assert_eq!(prod.0, "pizza:1.0.0", "prod keeps the base image");
    assert_eq!(prod.3, (2, 12), "prod merges maxTasks only");
    assert!(format!("{:?}", prod.2).contains("strict"), "{:?}", prod.2);
    assert!(format!("{:?}", base.2).contains("full"), "{:?}", base.2);
    assert_ne!(base.4, staging.4);
    assert_ne!(base.4, prod.4);
    assert_ne!(staging.4, prod.4);
}

#[test]
fn promoting_in_one_environment_leaves_the_others_spec_hash_alone() {
    let hash = |text: &str, environment: Option<&str>| {
        let settings = settings(environment);
        let set = load(text, Some(&settings));
        assert_eq!(problems(&set), Vec::<String>::new());
        render_service(&set.manifests[0].manifest, &settings).spec_hash
    };
    // The promotion pull request: staging's image changes, nothing else.
    let promoted = DOC.replace("pizza:1.1.0-rc.1", "pizza:1.1.0");
    assert_ne!(hash(DOC, Some("staging")), hash(&promoted, Some("staging")));
    assert_eq!(hash(DOC, Some("prod")), hash(&promoted, Some("prod")));
    assert_eq!(hash(DOC, None), hash(&promoted, None));
}

#[test]
fn platform_checks_apply_to_the_environment_the_settings_are_for() {
    // staging runs in a cluster the prod operator's settings do not allow: the prod operator
    // accepts the manifest, the staging operator (same settings here) refuses it.
    let text = DOC.replace(
        "    staging:\n",
        "    staging:\n      placement:\n        cluster: staging-only\n",
    );
    assert_eq!(
        problems(&load(&text, Some(&settings(Some("prod"))))),
        Vec::<String>::new()
    );
    let set = load(&text, Some(&settings(Some("staging"))));
    let d = set.diagnostics().next().expect("the cluster is refused");
    assert_eq!(d.path, "spec.environments.staging.placement.cluster");
    assert_eq!(d.line, 21);
}

#[test]
fn settings_name_the_environment_and_refuse_a_bad_name() {
    let dir = tempfile::tempdir().unwrap();
    let write = |environment: &str| {
        let path = dir.path().join(format!("{environment}.yaml"));
        std::fs::write(
            &path,
            format!(
                "operatorId: prod\ncluster: main\nnetwork: {{subnets: [subnet-a]}}\nexecutionRoleArn: arn:aws:iam::123456789012:role/x\nlogGroup: /ecs/services\nmanifestSource: manifests\nenvironment: {environment}\n"
            ),
        )
        .unwrap();
        path
    };
    let settings = Settings::load(&write("staging")).unwrap();
    assert_eq!(settings.environment.as_deref(), Some("staging"));
    let err = Settings::load(&write("Prod_1")).unwrap_err().to_string();
    assert!(err.contains("environment: \"Prod_1\""), "{err}");
}

#[test]
fn render_with_environment_shows_the_override() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pizza.yaml"), DOC).unwrap();
    let render = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ecs-operator"))
            .arg("render")
            .args(extra)
            .arg(dir.path())
            .args(["--output", "json"])
            .env_remove("ECS_OPERATOR_SETTINGS")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let service = doc["services"][0].clone();
        (
            service["taskDefinition"]["container"]["image"].clone(),
            service["scaling"]["maxCapacity"].clone(),
        )
    };
    assert_eq!(
        render(&["--environment", "staging"]),
        (serde_json::json!("pizza:1.1.0-rc.1"), serde_json::json!(2))
    );
    assert_eq!(
        render(&[]),
        (serde_json::json!("pizza:1.0.0"), serde_json::json!(6))
    );
    // An environment no manifest overrides renders the base spec, with a warning naming it.
    let out = Command::new(env!("CARGO_BIN_EXE_ecs-operator"))
        .args(["render", "--environment", "qa"])
        .arg(dir.path())
        .env_remove("ECS_OPERATOR_SETTINGS")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no manifest overrides environment \"qa\""),
        "{stderr}"
    );
    let warned = |environment: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_ecs-operator"))
            .args(["render", "--environment", environment])
            .arg(dir.path())
            .env_remove("ECS_OPERATOR_SETTINGS")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).contains("no manifest overrides")
    };
    assert!(!warned("staging"), "staging is overridden: no warning");
    let out = Command::new(env!("CARGO_BIN_EXE_ecs-operator"))
        .args(["render", "--environment", "Bad_Name"])
        .arg(dir.path())
        .env_remove("ECS_OPERATOR_SETTINGS")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn validate_with_an_environment_checks_its_name_and_warns_when_no_manifest_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pizza.yaml"), DOC).unwrap();
    let validate = |environment: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_ecs-operator"))
            .args(["validate", "--environment", environment])
            .arg(dir.path())
            .env_remove("ECS_OPERATOR_SETTINGS")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.success(), stderr)
    };
    let (ok, stderr) = validate("staging");
    assert!(ok && !stderr.contains("no manifest overrides"), "{stderr}");
    let (ok, stderr) = validate("stagign");
    assert!(ok, "a warning, not an error: {stderr}");
    assert!(
        stderr.contains("no manifest overrides environment \"stagign\""),
        "{stderr}"
    );
    let (ok, stderr) = validate("Bad_Name");
    assert!(
        !ok && stderr.contains("--environment \"Bad_Name\""),
        "{stderr}"
    );
}
