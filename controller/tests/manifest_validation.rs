//! Bad input gets a clear error naming the file, the document, the field and the line.
//! Each case below is a small manifest with exactly one mistake, and the exact field path and
//! line the operator must report for it.

use ecs_operator::manifest::ManifestSet;

/// A valid manifest; cases replace or append lines. Line numbers are 1-based.
const BASE: &str = "\
apiVersion: ecs-operator.io/v1alpha1
kind: MonitoredService
metadata:
  name: pizza
spec:
  container:
    image: pizza:1
    cpu: 256
    memory: 512
    port: 8080
  notify:
    team: pizza
";

fn with_line(line: usize, replacement: &str) -> String {
    BASE.lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == line {
                replacement.to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn with_spec(extra: &str) -> String {
    format!("{BASE}{extra}")
}

fn load(text: &str) -> ManifestSet {
    let mut set = ManifestSet::default();
    set.add_source("case.yaml", text.as_bytes(), None);
    set.finish();
    set
}

#[track_caller]
fn assert_error(text: &str, path: &str, line: usize, contains: &str) {
    let set = load(text);
    assert!(
        set.manifests.is_empty(),
        "the broken manifest must not be accepted:\n{text}"
    );
    let diags: Vec<_> = set.diagnostics().collect();
    let found = diags
        .iter()
        .find(|d| d.path == path && d.line == line && d.message.contains(contains));
    assert!(
        found.is_some(),
        "expected an error at {path} line {line} containing {contains:?}, got:\n{}",
        diags
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let d = found.unwrap();
    assert_eq!(d.file, "case.yaml");
    assert!(
        d.to_string().starts_with(&format!("case.yaml:{line}:")),
        "{d}"
    );
}

#[test]
fn the_base_manifest_is_valid() {
    let set = load(BASE);
    assert_eq!(
        set.manifests.len(),
        1,
        "{:?}",
        set.diagnostics().collect::<Vec<_>>()
    );
}

#[test]
fn a_wrong_api_version_is_named() {
    assert_error(
        &with_line(1, "apiVersion: v1"),
        "apiVersion",
        1,
        "ecs-operator.io/v1alpha1",
    );
}

#[test]
fn a_wrong_kind_is_named() {
    assert_error(
        &with_line(2, "kind: Service"),
        "kind",
        2,
        "MonitoredService",
    );
}

#[test]
fn an_upper_case_name_is_not_a_dns_label() {
    assert_error(
        &with_line(4, "  name: Pizza"),
        "metadata.name",
        4,
        "DNS label",
    );
}

#[test]
fn a_name_longer_than_32_characters_is_rejected() {
    assert_error(
        &with_line(4, &format!("  name: {}", "a".repeat(33))),
        "metadata.name",
        4,
        "DNS label",
    );
}

#[test]
fn an_unknown_field_is_an_error_at_that_field() {
    assert_error(
        &with_line(10, "    prot: 8080"),
        "spec.container.prot",
        10,
        "unknown field",
    );
}

#[test]
fn an_unknown_top_level_spec_field_is_an_error() {
    assert_error(
        &with_spec("  replicas: 3\n"),
        "spec.replicas",
        13,
        "unknown field",
    );
}

#[test]
fn arm64_on_fargate_spot_is_rejected_at_the_architecture_and_an_unknown_one_is_a_type_error() {
    // BASE has 12 lines: placement is line 13, spot 14, architecture 15.
    assert_error(
        &with_spec("  placement:\n    spot: true\n    architecture: arm64\n"),
        "spec.placement.architecture",
        15,
        "Fargate Spot",
    );
    assert_error(
        &with_spec("  placement:\n    architecture: aarch64\n"),
        "spec.placement.architecture",
        14,
        "unknown variant",
    );
    let set = load(&with_spec("  placement:\n    architecture: arm64\n"));
    assert!(set.rejected.is_empty(), "arm64 on Fargate is valid");
}

#[test]
fn a_spot_mix_needs_a_weight_and_is_no_place_for_arm64() {
    // BASE has 12 lines: placement is line 13, spot 14, base 15, weight 16.
    assert_error(
        &with_spec("  placement:\n    spot:\n      base: 2\n      weight: 0\n"),
        "spec.placement.spot.weight",
        16,
        "1 to 1000",
    );
    assert_error(
        &with_spec("  placement:\n    spot: {base: 1, weight: 2}\n    architecture: arm64\n"),
        "spec.placement.architecture",
        15,
        "Fargate Spot",
    );
    let set = load(&with_spec("  placement:\n    spot: {weight: 4}\n"));
    assert!(set.rejected.is_empty(), "a mix with base 0 is valid");
}

#[test]
fn task_storage_outside_fargate_s_21_to_200_gib_is_rejected_at_the_field() {
    for gib in [20, 201] {
        let text = with_line(
            10,
            &format!("    ephemeralStorageGiB: {gib}\n    port: 8080"),
        );
        assert_error(
            &text,
            "spec.container.ephemeralStorageGiB",
            10,
            "21 to 200 GiB",
        );
    }
    let text = with_line(10, "    ephemeralStorageGiB: 200\n    port: 8080");
    assert!(load(&text).rejected.is_empty());
}

#[test]
fn ecs_exec_with_a_read_only_root_filesystem_is_rejected_at_exec() {
    // Lines 6-10 are the container: exec takes line 10, before the port.
    let text = with_line(
        10,
        "    exec: true\n    readOnlyRootFilesystem: true\n    port: 8080",
    );
    assert_error(&text, "spec.container.exec", 10, "writable root filesystem");
    let text = with_line(10, "    exec: true\n    port: 8080");
    assert!(
        load(&text).rejected.is_empty(),
        "exec with a writable filesystem is valid"
    );
}

#[test]
fn a_missing_image_is_reported_at_the_container() {
    let text = BASE.replace("    image: pizza:1\n", "");
    assert_error(&text, "spec.container", 6, "missing field `image`");
}

#[test]
fn a_cpu_that_is_not_a_fargate_size_is_rejected() {
    assert_error(
        &with_line(8, "    cpu: 300"),
        "spec.container.cpu",
        8,
        "Fargate",
    );
}

#[test]
fn a_memory_invalid_for_the_cpu_is_rejected_with_the_options() {
    assert_error(
        &with_line(9, "    memory: 4096"),
        "spec.container.memory",
        9,
        "512, 1024, 2048",
    );
}

#[test]
fn a_port_above_65535_is_a_type_error_at_the_port() {
    assert_error(
        &with_line(10, "    port: 70000"),
        "spec.container.port",
        10,
        "u16",
    );
}

#[test]
fn port_zero_is_rejected() {
    assert_error(
        &with_line(10, "    port: 0"),
        "spec.container.port",
        10,
        "between 1 and 65535",
    );
}

#[test]
fn a_string_where_a_number_belongs_is_a_type_error() {
    assert_error(
        &with_line(8, "    cpu: lots"),
        "spec.container.cpu",
        8,
        "invalid type",
    );
}

#[test]
fn max_tasks_below_min_tasks_is_rejected() {
    let text = with_spec("  scaling:\n    minTasks: 4\n    maxTasks: 2\n");
    assert_error(
        &text,
        "spec.scaling.maxTasks",
        15,
        "below spec.scaling.minTasks (4)",
    );
}

#[test]
fn autoscaling_without_a_target_is_rejected() {
    let text = with_spec("  scaling:\n    minTasks: 2\n    maxTasks: 6\n");
    assert_error(&text, "spec.scaling", 13, "needs a target");
}

#[test]
fn a_malformed_duration_is_rejected() {
    let text = with_spec("  metrics:\n    interval: 5 minutes\n");
    assert_error(&text, "spec.metrics.interval", 14, "not a duration");
}

#[test]
fn a_literal_secret_value_is_rejected() {
    let text = with_line(
        10,
        "    port: 8080\n    secrets:\n      DB_PASSWORD: hunter2",
    );
    assert_error(&text, "spec.container.secrets.DB_PASSWORD", 12, "ARN");
}

#[test]
fn a_secret_looking_env_var_is_rejected() {
    let text = with_line(10, "    port: 8080\n    env:\n      API_TOKEN: abc123");
    assert_error(
        &text,
        "spec.container.env.API_TOKEN",
        12,
        "looks like a secret",
    );
}

#[test]
fn a_relative_health_check_path_is_rejected() {
    let text = with_line(10, "    port: 8080\n    healthCheck:\n      path: healthz");
    assert_error(
        &text,
        "spec.container.healthCheck.path",
        12,
        "absolute HTTP path",
    );
}

#[test]
fn a_health_check_timeout_longer_than_the_interval_is_rejected() {
    let text = with_line(
        10,
        "    port: 8080\n    healthCheck:\n      interval: 10s\n      timeout: 20s",
    );
    assert_error(
        &text,
        "spec.container.healthCheck.timeout",
        13,
        "shorter than the interval",
    );
}

#[test]
fn an_alert_window_shorter_than_four_scrapes_is_rejected() {
    let text = with_spec(
        "  metrics:\n    interval: 30s\n  alerts:\n    - name: Surge\n      metric: orders_created_total\n      measure: pace\n      window: 1m\n      above: 10\n",
    );
    assert_error(&text, "spec.alerts[0].window", 19, "4 scrape intervals");
}

#[test]
fn an_alert_with_two_thresholds_is_rejected() {
    let text = with_spec(
        "  alerts:\n    - name: Surge\n      metric: orders_created_total\n      measure: count\n      window: 1h\n      above: 10\n      atLeast: 11\n",
    );
    assert_error(&text, "spec.alerts[0].above", 18, "exactly one of");
}

#[test]
fn an_alert_without_a_measure_is_rejected() {
    let text = with_spec(
        "  alerts:\n    - name: Surge\n      metric: orders_created_total\n      above: 10\n",
    );
    assert_error(&text, "spec.alerts[0].measure", 14, "pace, count or value");
}

#[test]
fn invalid_raw_promql_is_reported_at_its_line() {
    let text = with_spec("  alerts:\n    - name: Broken\n      expr: sum(rate(x[5m]) > \n");
    assert_error(&text, "spec.alerts[0].expr", 15, "not valid PromQL");
}

#[test]
fn a_lower_case_alert_name_is_rejected() {
    let text = with_spec("  alerts:\n    - name: surge\n      expr: up == 0\n");
    assert_error(&text, "spec.alerts[0].name", 14, "UpperCamelCase");
}

#[test]
fn a_built_in_alert_name_cannot_be_reused() {
    let text = with_spec("  alerts:\n    - name: TargetDown\n      expr: up == 0\n");
    assert_error(&text, "spec.alerts[0].name", 14, "built-in");
}

#[test]
fn duplicate_alert_names_are_rejected_at_the_second() {
    let text = with_spec(
        "  alerts:\n    - name: Same\n      expr: up == 0\n    - name: Same\n      expr: up == 1\n",
    );
    assert_error(&text, "spec.alerts[1].name", 16, "another alert");
}

#[test]
fn template_code_in_a_summary_is_rejected() {
    let text = with_spec(
        "  alerts:\n    - name: Surge\n      expr: up == 0\n      summary: '{{ range query \"up\" }}x{{ end }}'\n",
    );
    assert_error(&text, "spec.alerts[0].summary", 16, "not allowed");
}

#[test]
fn a_receiver_with_two_channels_is_rejected() {
    let text = with_spec(
        "".to_string().as_str(),
    )
    .replace(
        "    team: pizza\n",
        "    team: pizza\n    receivers:\n      - webhook:\n          url: http://x.example\n        email:\n          to: a@example.com\n",
    );
    assert_error(&text, "spec.notify.receivers[0]", 14, "exactly one of");
}

#[test]
fn a_slack_url_in_place_of_a_file_is_rejected() {
    let text = BASE.replace(
        "    team: pizza\n",
        "    team: pizza\n    receivers:\n      - slack:\n          channel: '#pizza'\n          apiUrlFile: https://hooks.slack.com/services/T0/B0/XYZ\n",
    );
    assert_error(
        &text,
        "spec.notify.receivers[0].slack.apiUrlFile",
        16,
        "absolute file path",
    );
}

#[test]
fn a_team_that_is_not_a_dns_label_is_rejected() {
    assert_error(
        &with_line(12, "    team: Pizza Team"),
        "spec.notify.team",
        12,
        "DNS label",
    );
}

#[test]
fn a_missing_notify_section_is_reported() {
    let text = BASE.replace("  notify:\n    team: pizza\n", "");
    assert_error(&text, "spec", 5, "missing field `notify`");
}

#[test]
fn an_slo_of_100_percent_is_rejected() {
    assert_error(
        &with_spec("  slo:\n    availability: 100\n"),
        "spec.slo.availability",
        14,
        "up to (not including) 100",
    );
}

#[test]
fn max_percent_that_leaves_no_room_to_deploy_is_rejected() {
    let text = with_spec("  deployment:\n    minHealthyPercent: 100\n    maxPercent: 100\n");
    assert_error(&text, "spec.deployment.maxPercent", 15, "no room to deploy");
}

#[test]
fn a_malformed_target_group_arn_is_rejected() {
    let text = with_spec("  traffic:\n    loadBalancer:\n      targetGroupArn: my-target-group\n");
    assert_error(
        &text,
        "spec.traffic.loadBalancer.targetGroupArn",
        15,
        "target group ARN",
    );
}

#[test]
fn requests_per_target_without_a_load_balancer_is_rejected() {
    let text =
        with_spec("  scaling:\n    minTasks: 1\n    maxTasks: 3\n    requestsPerTarget: 100\n");
    assert_error(&text, "spec.scaling.requestsPerTarget", 16, "loadBalancer");
}

#[test]
fn a_self_dependency_is_rejected() {
    let text = with_spec("  lifecycle:\n    dependsOn: [pizza]\n");
    assert_error(&text, "spec.lifecycle.dependsOn[0]", 14, "itself");
}

#[test]
fn a_dependency_on_an_unknown_service_is_rejected() {
    let text = with_spec("  lifecycle:\n    dependsOn:\n      - dough\n");
    assert_error(
        &text,
        "spec.lifecycle.dependsOn[0]",
        15,
        "not a service defined",
    );
}

#[test]
fn an_extra_panel_with_bad_promql_is_rejected() {
    let text =
        with_spec("  dashboard:\n    panels:\n      - title: Broken\n        expr: rate(x[5m]\n");
    assert_error(
        &text,
        "spec.dashboard.panels[0].expr",
        16,
        "not valid PromQL",
    );
}

#[test]
fn a_reserved_label_is_rejected() {
    let text = BASE.replace(
        "  name: pizza\n",
        "  name: pizza\n  labels:\n    severity: high\n",
    );
    assert_error(&text, "metadata.labels.severity", 6, "reserved");
}

#[test]
fn a_duplicate_key_is_rejected_with_its_line() {
    let text = with_line(9, "    memory: 512\n    memory: 1024");
    assert_error(&text, "spec.container.memory", 10, "duplicate");
}

#[test]
fn a_clean_manifest_is_read_once_and_indexed_only_when_a_position_is_asked_for() {
    let set = load(&format!("# leading comment\n{BASE}"));
    let m = &set.manifests[0];
    assert!(!m.positions.is_indexed(), "a clean read must not index");
    assert_eq!(m.location(), "case.yaml:2");
    assert_eq!(m.positions.lookup("spec.container.port").line, 11);
    assert!(m.positions.is_indexed());
}

#[test]
fn a_yaml_syntax_error_names_the_line() {
    let set = load("apiVersion: x\nmetadata: [\n  name: a\n");
    let d = set.diagnostics().next().expect("an error");
    assert!(d.message.contains("invalid YAML"), "{d}");
    assert!(d.line >= 2, "{d}");
}

#[test]
fn non_utf8_input_is_rejected_with_the_offset() {
    let mut bytes = BASE.as_bytes().to_vec();
    bytes.insert(20, 0xff);
    let mut set = ManifestSet::default();
    set.add_source("bin.yaml", &bytes, None);
    let d = set.diagnostics().next().expect("an error");
    assert!(d.message.contains("not UTF-8"), "{d}");
    assert_eq!(d.line, 1);
}

#[test]
fn every_error_in_a_manifest_is_reported_not_only_the_first() {
    let text = with_line(8, "    cpu: 300").replace("    team: pizza", "    team: Pizza");
    let set = load(&text);
    let paths: Vec<_> = set.diagnostics().map(|d| d.path.clone()).collect();
    assert!(
        paths.contains(&"spec.container.cpu".to_string()),
        "{paths:?}"
    );
    assert!(paths.contains(&"spec.notify.team".to_string()), "{paths:?}");
}

#[test]
fn one_broken_document_does_not_stop_the_others_in_the_same_file() {
    let text = format!(
        "{BASE}---\n{}---\n{}",
        with_line(4, "  name: second"),
        with_line(4, "  name: Third")
    );
    let set = load(&text);
    assert_eq!(set.manifests.len(), 2);
    assert_eq!(set.rejected.len(), 1);
    let d = set.diagnostics().next().unwrap();
    assert_eq!(d.document, 2);
    assert_eq!(d.path, "metadata.name");
    assert_eq!(d.line, 30, "{d}");
    assert_eq!(set.rejected[0].name.as_deref(), Some("Third"));
}

#[test]
fn the_same_name_in_two_files_rejects_both_with_the_other_location() {
    let mut set = ManifestSet::default();
    set.add_source("a.yaml", BASE.as_bytes(), None);
    set.add_source("b.yaml", BASE.as_bytes(), None);
    set.finish();
    assert!(set.manifests.is_empty());
    let messages: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("a.yaml:4:") && m.contains("b.yaml:1")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("b.yaml:4:") && m.contains("a.yaml:1")),
        "{messages:?}"
    );
}

#[test]
fn dependency_cycles_are_rejected() {
    let a = with_line(4, "  name: a") + "  lifecycle:\n    dependsOn: [b]\n";
    let b = with_line(4, "  name: b") + "  lifecycle:\n    dependsOn: [a]\n";
    let mut set = ManifestSet::default();
    set.add_source("a.yaml", a.as_bytes(), None);
    set.add_source("b.yaml", b.as_bytes(), None);
    set.finish();
    assert!(set.manifests.is_empty());
    assert!(set.diagnostics().all(|d| d.message.contains("cycle")));
}

#[test]
fn an_alias_bomb_is_rejected_quickly() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    let set = load(&text);
    assert!(set.manifests.is_empty());
    assert!(set.diagnostics().count() >= 1);
}

#[test]
fn deep_nesting_is_rejected_without_overflowing_the_stack() {
    let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let set = load(&text);
    assert!(set.manifests.is_empty());
    assert_eq!(set.rejected.len(), 1);
}

#[test]
fn an_oversized_file_is_rejected_unread() {
    let text = format!("{BASE}# {}\n", "x".repeat(2 * 1024 * 1024));
    let set = load(&text);
    let d = set.diagnostics().next().unwrap();
    assert!(d.message.contains("limited to"), "{d}");
}

#[test]
fn the_example_manifests_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples");
    let set = ecs_operator::manifest::load_paths(&[dir], None).unwrap();
    let problems: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    let names: Vec<&str> = set.manifests.iter().map(|m| m.name()).collect();
    assert_eq!(
        names,
        ["checkout", "hello", "invoice-worker", "pizza-service"]
    );
}

#[test]
fn the_minimal_example_is_at_most_ten_lines() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples/minimal.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.lines().count() <= 10,
        "minimal.yaml has {} lines",
        text.lines().count()
    );
}

/// Loads with platform settings, for the checks that need them.
fn load_with(text: &str, settings: &ecs_operator::Settings) -> ManifestSet {
    let mut set = ManifestSet::default();
    set.add_source("case.yaml", text.as_bytes(), Some(settings));
    set.finish();
    set
}

#[track_caller]
fn assert_error_with(
    text: &str,
    settings: &ecs_operator::Settings,
    path: &str,
    line: usize,
    contains: &str,
) {
    let set = load_with(text, settings);
    let diags: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    assert!(
        set.diagnostics()
            .any(|d| d.path == path && d.line == line && d.message.contains(contains)),
        "expected {path} at line {line} containing {contains:?}, got {diags:#?}"
    );
}

#[test]
fn label_values_aws_refuses_as_tag_values_are_rejected_at_their_line() {
    let text = BASE.replace(
        "  name: pizza\n",
        "  name: pizza\n  labels:\n    owner: \"ops#1\"\n",
    );
    assert_error(&text, "metadata.labels.owner", 6, "AWS tags");
    let fine = BASE.replace(
        "  name: pizza\n",
        "  name: pizza\n  labels:\n    owner: \"Zoë ops/team-1 + x@y.z\"\n",
    );
    assert!(
        load(&fine).rejected.is_empty(),
        "letters, spaces and _.:/=+-@ are allowed"
    );
}

#[test]
fn more_labels_than_aws_tags_allow_are_rejected() {
    let labels: String = (0..46).map(|i| format!("    l{i}: v\n")).collect();
    let text = BASE.replace(
        "  name: pizza\n",
        &format!("  name: pizza\n  labels:\n{labels}"),
    );
    assert_error(&text, "metadata.labels", 5, "at most 45 labels");
}

#[test]
fn a_secret_outside_the_settings_allow_list_is_rejected_at_its_line() {
    let mut settings = ecs_operator::Settings::local_defaults();
    settings.allowed_secret_arns =
        vec!["arn:aws:secretsmanager:*:123456789012:secret:pizza/*".into()];
    let text = with_line(
        10,
        "    port: 8080\n    secrets:\n      DB_PASSWORD: arn:aws:secretsmanager:eu-central-1:123456789012:secret:billing/db-AbCd",
    );
    assert_error_with(
        &text,
        &settings,
        "spec.container.secrets.DB_PASSWORD",
        12,
        "allowedSecretArns",
    );
    let allowed = text.replace("secret:billing/", "secret:pizza/");
    assert!(load_with(&allowed, &settings).rejected.is_empty());
    settings.allowed_secret_arns.clear();
    assert_error_with(
        &allowed,
        &settings,
        "spec.container.secrets.DB_PASSWORD",
        12,
        "none",
    );
}

#[test]
fn a_metrics_port_prometheus_may_not_reach_is_rejected_with_settings() {
    let mut settings = ecs_operator::Settings::local_defaults();
    settings.monitoring.scrape_ports = Some(ecs_operator::settings::PortRange {
        from: 8080,
        to: 8081,
    });
    assert!(load_with(BASE, &settings).rejected.is_empty());
    let text = with_line(10, "    port: 9000");
    assert_error_with(&text, &settings, "spec.container.port", 10, "8080-8081");
    let metrics = with_spec("  metrics:\n    port: 9100\n");
    assert_error_with(
        &metrics,
        &settings,
        "spec.metrics.port",
        14,
        "never be scraped",
    );
    assert!(
        load(&text).rejected.is_empty(),
        "without settings nothing is known about it"
    );
}

#[path = "manifest_validation/ingress.rs"]
mod ingress;
#[path = "manifest_validation/jobs.rs"]
mod jobs;
#[path = "manifest_validation/queue.rs"]
mod queue;
#[path = "manifest_validation/repeated_keys.rs"]
mod repeated_keys;
#[path = "manifest_validation/task_shape.rs"]
mod task_shape;
