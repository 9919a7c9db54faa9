//! The monitoring outputs, proven with the real tools that consume them: `promtool` of
//! Prometheus 2.42 (the version the live tests run) and of Prometheus 3 (`promtool3`: the
//! bootstrap deploys 3.x), `amtool` (Alertmanager 0.25) and the Grafana dashboard schema
//! validator. Every promtool check runs with both.
//!
//! The tools are installed by `scripts/install-monitoring-tools` and
//! `tools/grafana-schema/install`. A missing tool fails these tests; it never skips them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ecs_operator::manifest::{load_paths, MonitoredService};
use ecs_operator::render::monitoring::{render, MonitoringOutput};
use ecs_operator::settings::Settings;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The settings the checked-in promtool tests were written against (dashboard links in the
/// expected annotations).
fn settings() -> Settings {
    let mut s = Settings::local_defaults();
    s.monitoring.grafana_url = Some("https://grafana.example.com".into());
    s.monitoring.alertmanager_url = Some("http://alertmanager.internal:9093".into());
    s.monitoring.service_discovery_url = "http://ecs-operator.internal:8080/sd/prometheus".into();
    s
}

fn examples() -> Vec<MonitoredService> {
    let set = load_paths(&[repo_root().join("manifests/examples")], None).unwrap();
    assert!(
        set.rejected.is_empty(),
        "example manifests must load: {:?}",
        set.rejected
    );
    assert!(set.manifests.len() >= 3);
    set.manifests.iter().map(|m| m.manifest.clone()).collect()
}

fn write(out: &MonitoringOutput, dir: &Path) {
    for (path, content) in &out.files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
}

/// Renders `manifests` into a fresh temporary directory.
fn rendered_dir(manifests: &[MonitoredService]) -> tempfile::TempDir {
    let refs: Vec<&MonitoredService> = manifests.iter().collect();
    let out = render(&refs, &settings());
    let dir = tempfile::tempdir().unwrap();
    write(&out, dir.path());
    dir
}

/// The examples, rendered.
fn rendered_examples() -> tempfile::TempDir {
    rendered_dir(&examples())
}

/// Path of an installed tool; fails the test (never skips) when it is missing.
fn tool(name: &str, installer: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("{name} is not installed: run {installer}"))
}

/// Prometheus 2.42's promtool and Prometheus 3's (`promtool3`).
fn promtools() -> [PathBuf; 2] {
    [
        tool("promtool", "scripts/install-monitoring-tools"),
        tool("promtool3", "scripts/install-monitoring-tools"),
    ]
}

fn amtool() -> PathBuf {
    tool("amtool", "scripts/install-monitoring-tools")
}

/// Runs a command and returns its stdout; fails with everything it printed when it fails.
fn run(cmd: &mut Command) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "{cmd:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout + &stderr
}

/// Same, but the command must fail.
fn run_failing(cmd: &mut Command) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "{cmd:?} should have failed:\n{text}"
    );
    text
}

fn rule_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("prometheus/rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn promtool_accepts_the_merged_prometheus_config_and_resolves_its_rule_files() {
    let dir = rendered_examples();
    for promtool in promtools() {
        let out = run(Command::new(promtool)
            .arg("check")
            .arg("config")
            .arg(dir.path().join("prometheus/prometheus.yml")));
        assert!(out.contains("SUCCESS"), "{out}");
        // Every service's rule file was found through the glob and checked.
        for name in ["pizza-service", "checkout", "hello", "invoice-worker"] {
            assert!(
                out.contains(&format!("rules/{name}.rules.yml")),
                "{name} rules not checked:\n{out}"
            );
        }
    }
}

#[test]
fn promtool_accepts_every_rule_file_on_its_own() {
    let dir = rendered_examples();
    let files = rule_files(dir.path());
    assert_eq!(files.len(), 4);
    for (file, promtool) in files
        .iter()
        .flat_map(|f| promtools().map(|p| (f.clone(), p)))
    {
        let out = run(Command::new(promtool).arg("check").arg("rules").arg(&file));
        assert!(out.contains("SUCCESS"), "{out}");
    }
}

#[test]
fn a_broken_rule_file_is_reported_for_its_service_only() {
    let dir = rendered_examples();
    let broken = dir.path().join("prometheus/rules/hello.rules.yml");
    std::fs::write(
        &broken,
        "groups:\n  - name: hello.alerts\n    rules:\n      - alert: X\n        expr: sum(\n",
    )
    .unwrap();
    for promtool in promtools() {
        let out = run_failing(
            Command::new(&promtool)
                .arg("check")
                .arg("rules")
                .arg(&broken),
        );
        assert!(out.contains("hello.rules.yml"), "{out}");
        for other in ["pizza-service", "checkout"] {
            let file = dir
                .path()
                .join(format!("prometheus/rules/{other}.rules.yml"));
            run(Command::new(&promtool).arg("check").arg("rules").arg(&file));
        }
    }
}

#[test]
fn hostile_label_values_stay_inside_their_promql_literal_for_promtool_too() {
    let mut pizza = examples()
        .into_iter()
        .find(|m| m.metadata.name == "pizza-service")
        .unwrap();
    let nasty = r#"x"} or vector(1) or up{a="\"#;
    let failed = pizza
        .spec
        .alerts
        .iter_mut()
        .find(|a| a.name == "FailedOrdersIncident")
        .unwrap();
    failed.labels.insert("reason".into(), nasty.into());
    pizza
        .metadata
        .labels
        .insert("note".into(), "{{ $value }} and \"quotes\"".into());
    let dir = rendered_dir(&[pizza]);
    let rules = dir.path().join("prometheus/rules/pizza-service.rules.yml");
    for promtool in promtools() {
        run(Command::new(promtool).arg("check").arg("rules").arg(&rules));
    }
    // With the hostile value on the series, 500 failures fire the alert with the label intact;
    // with any other reason nothing fires (a break-out would match everything).
    let test = format!(
        r#"rule_files: [pizza-service.rules.yml]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'orders_failed_total{{job="pizza-service",reason={reason}}}'
        values: '0+5x100'
      - series: 'orders_failed_total{{job="pizza-service",reason="payment_declined"}}'
        values: '0+50x100'
    alert_rule_test:
      - eval_time: 25m
        alertname: FailedOrdersIncident
        exp_alerts:
          - exp_labels:
              severity: critical
              service: pizza-service
              team: pizza
              tier: frontend
              note: '{{{{ $value }}}} and "quotes"'
            exp_annotations:
              summary: 500 orders failed in the last hour
              description: 'orders_failed_total counted over the last 1h is at least 500 on pizza-service (alert FailedOrdersIncident).'
              runbook_url: https://runbooks.example.com/pizza-service/failed-orders
              dashboard: https://grafana.example.com/d/ecs-pizza-service
              deployment: unknown
"#,
        reason = serde_json::to_string(nasty).unwrap().replace('\'', "''"),
    );
    let test_file = dir.path().join("prometheus/rules/hostile_test.yml");
    std::fs::write(&test_file, test).unwrap();
    for promtool in promtools() {
        run(Command::new(promtool)
            .arg("test")
            .arg("rules")
            .arg(&test_file));
    }
}

/// Copies the checked-in promtool unit tests next to the rendered rules and runs them with
/// both promtools. They are written so that 2.42's and 3.x's range selectors agree: 3.x leaves
/// a sample exactly at a window's start out (`prometheus_versions.rs` shows it), so no
/// assertion depends on a window starting exactly on a sample.
fn promtool_unit_test(file: &str) {
    let dir = rendered_examples();
    let rules = dir.path().join("prometheus/rules");
    let source = repo_root().join("controller/tests/promtool").join(file);
    let target = rules.join(file);
    std::fs::copy(&source, &target)
        .unwrap_or_else(|e| panic!("cannot copy {}: {e}", source.display()));
    for promtool in promtools() {
        let out = run(Command::new(&promtool)
            .arg("test")
            .arg("rules")
            .arg(&target));
        assert!(out.contains("SUCCESS"), "{}: {out}", promtool.display());
    }
}

#[test]
fn the_pizza_alerts_count_exactly_and_the_pace_alert_fires_within_one_evaluation() {
    promtool_unit_test("pizza_alerts_test.yml");
}

#[test]
fn the_built_in_health_alerts_fire_on_outages_errors_and_missing_tasks() {
    promtool_unit_test("builtin_alerts_test.yml");
}

#[test]
fn a_fast_error_budget_burn_pages_and_a_slow_one_does_not() {
    promtool_unit_test("slo_alerts_test.yml");
}

#[test]
fn a_failed_pre_deploy_task_a_failed_job_run_and_a_missed_run_fire_and_daily_successes_do_not() {
    promtool_unit_test("jobs_alerts_test.yml");
}

#[test]
fn a_queue_message_older_than_the_limit_fires_and_one_at_the_limit_does_not() {
    promtool_unit_test("queue_alerts_test.yml");
}

#[test]
fn amtool_accepts_the_alertmanager_config() {
    let dir = rendered_examples();
    let out = run(Command::new(amtool())
        .arg("check-config")
        .arg(dir.path().join("alertmanager/alertmanager.yml")));
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn amtool_accepts_the_smtp_relay_of_the_settings_with_its_password_file() {
    let mut s = settings();
    s.monitoring.smtp = Some(ecs_operator::settings::SmtpSettings {
        smarthost: "email-smtp.eu-central-1.amazonaws.com:587".into(),
        from: "alerts@example.com".into(),
        auth_username: Some("AKIAEXAMPLE".into()),
        auth_password_file: Some("/etc/alertmanager/secrets/smtp-password".into()),
        require_tls: true,
    });
    let manifests = examples();
    let refs: Vec<&MonitoredService> = manifests.iter().collect();
    let out = render(&refs, &s);
    let dir = tempfile::tempdir().unwrap();
    write(&out, dir.path());
    let config = dir.path().join("alertmanager/alertmanager.yml");
    let text = std::fs::read_to_string(&config).unwrap();
    for key in [
        "smtp_smarthost: email-smtp.eu-central-1.amazonaws.com:587",
        "smtp_auth_password_file: /etc/alertmanager/secrets/smtp-password",
        "smtp_require_tls: true",
        "email_configs:",
    ] {
        assert!(text.contains(key), "{key} missing:\n{text}");
    }
    let checked = run(Command::new(amtool()).arg("check-config").arg(&config));
    assert!(checked.contains("SUCCESS"), "{checked}");
    // amtool reads these keys strictly: a misspelt one fails, so SUCCESS means they were read.
    let misspelt = dir.path().join("misspelt.yml");
    std::fs::write(
        &misspelt,
        text.replace("smtp_auth_password_file", "smtp_auth_password_path"),
    )
    .unwrap();
    run_failing(Command::new(amtool()).arg("check-config").arg(&misspelt));
}

/// The receivers `amtool config routes test` picks for a label set.
fn routed(config: &Path, labels: &[&str]) -> Vec<String> {
    let out = run(Command::new(amtool())
        .arg("config")
        .arg("routes")
        .arg("test")
        .arg(format!("--config.file={}", config.display()))
        .args(labels));
    let line = out.lines().next().unwrap_or("").trim().to_string();
    let mut names: Vec<String> = line.split(',').map(|s| s.trim().to_string()).collect();
    names.sort();
    names
}

/// Receiver names of the rendered config, by the configuration key they hold.
fn receivers_by_kind(config: &Path) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(config).unwrap();
    let doc: serde_json::Value = ecs_operator::yaml::from_str(&text).unwrap();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in doc["receivers"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap().to_string();
        let kind = r
            .as_object()
            .unwrap()
            .keys()
            .find(|k| k.ends_with("_configs"))
            .cloned()
            .unwrap_or_else(|| "none".into());
        out.entry(kind).or_default().push(name);
    }
    out
}

#[test]
fn a_critical_pizza_incident_reaches_the_pizza_webhook() {
    let dir = rendered_examples();
    let config = dir.path().join("alertmanager/alertmanager.yml");
    let kinds = receivers_by_kind(&config);
    let pizza_webhook: Vec<String> = kinds["webhook_configs"]
        .iter()
        .filter(|n| n.starts_with("pizza-"))
        .cloned()
        .collect();
    assert_eq!(pizza_webhook.len(), 1, "{kinds:?}");
    let got = routed(
        &config,
        &[
            "team=pizza",
            "severity=critical",
            "service=pizza-service",
            "alertname=FailedOrdersIncident",
        ],
    );
    assert_eq!(got, pizza_webhook);
    // The pizza receiver has the default minSeverity (warning): warnings reach it too.
    let got = routed(
        &config,
        &[
            "team=pizza",
            "severity=warning",
            "service=pizza-service",
            "alertname=OrdersPaceAnomaly",
        ],
    );
    assert_eq!(got, pizza_webhook);
    // Info is below its minSeverity: dropped.
    let got = routed(
        &config,
        &[
            "team=pizza",
            "severity=info",
            "service=pizza-service",
            "alertname=X",
        ],
    );
    assert_eq!(got, vec!["ecs-operator-drop".to_string()]);
}

#[test]
fn min_severity_decides_which_shop_receivers_hear_warnings_and_criticals() {
    let dir = rendered_examples();
    let config = dir.path().join("alertmanager/alertmanager.yml");
    let kinds = receivers_by_kind(&config);
    let shop = |kind: &str| -> String {
        kinds[kind]
            .iter()
            .find(|n| n.starts_with("shop-"))
            .unwrap_or_else(|| panic!("no shop {kind}: {kinds:?}"))
            .clone()
    };
    let (slack, email, sns, webhook) = (
        shop("slack_configs"),
        shop("email_configs"),
        shop("sns_configs"),
        shop("webhook_configs"),
    );
    let mut critical = vec![slack.clone(), email, sns, webhook.clone()];
    critical.sort();
    let got = routed(
        &config,
        &[
            "team=shop",
            "severity=critical",
            "service=checkout",
            "alertname=PaymentsDeclinedBurst",
        ],
    );
    assert_eq!(got, critical);
    let mut warning = vec![slack, webhook];
    warning.sort();
    let got = routed(
        &config,
        &[
            "team=shop",
            "severity=warning",
            "service=checkout",
            "alertname=CartQueueBacklog",
        ],
    );
    assert_eq!(got, warning);
}

#[test]
fn alerts_of_an_unknown_team_go_to_the_default_receiver_that_drops() {
    let dir = rendered_examples();
    let config = dir.path().join("alertmanager/alertmanager.yml");
    let got = routed(
        &config,
        &[
            "team=nobody",
            "severity=critical",
            "service=ghost",
            "alertname=X",
        ],
    );
    assert_eq!(got, vec!["ecs-operator-drop".to_string()]);
    // A team without receivers (hello's team "web") is not routed anywhere either.
    let got = routed(
        &config,
        &[
            "team=web",
            "severity=critical",
            "service=hello",
            "alertname=NoTargets",
        ],
    );
    assert_eq!(got, vec!["ecs-operator-drop".to_string()]);
}

#[test]
fn every_dashboard_passes_the_grafana_schema_validator() {
    let root = repo_root();
    let install = root.join("tools/grafana-schema/install");
    run(&mut Command::new(&install));
    let node = tool("node", "tools/grafana-schema/install (needs Node >= 20)");
    let dir = rendered_examples();
    let dashboards = dir.path().join("grafana/dashboards");
    let out = run(Command::new(node)
        .arg(root.join("tools/grafana-schema/validate.mjs"))
        .arg(&dashboards));
    for name in [
        "pizza/pizza-service.json",
        "shop/checkout.json",
        "web/hello.json",
    ] {
        assert!(
            out.contains(&format!("ok {}", dashboards.join(name).display())),
            "{name} not validated:\n{out}"
        );
    }
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn the_dashboard_provider_loads_team_folders_from_the_dashboards_directory() {
    let dir = rendered_examples();
    let text = std::fs::read_to_string(
        dir.path()
            .join("grafana/provisioning/dashboards/ecs-operator.yaml"),
    )
    .unwrap();
    let doc: serde_json::Value = ecs_operator::yaml::from_str(&text).unwrap();
    let provider = &doc["providers"][0];
    assert_eq!(provider["type"], "file");
    assert_eq!(provider["options"]["foldersFromFilesStructure"], true);
    assert!(provider["options"]["path"]
        .as_str()
        .unwrap()
        .ends_with("/grafana/dashboards"));
}

#[path = "monitoring_outputs/sidecars.rs"]
mod sidecars;
