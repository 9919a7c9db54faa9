//! What differs between Prometheus 2.42 (Debian bookworm: the tests' servers) and Prometheus 3
//! (`promtool3`, Debian sid's 3.5: the bootstrap deploys 3.x) where it matters for the
//! rendered files, measured with both versions' own code rather than assumed. From the
//! Prometheus 3 migration guide (<https://prometheus.io/docs/prometheus/latest/migration/>):
//!
//! - `le` (and `quantile`) values are normalised to floats when 3.x ingests them: every
//!   rendered `le` matcher must select its bucket as either version stores it;
//! - range selectors are left-open in 3.x: a sample exactly at a window's start is left out,
//!   which is why the checked-in promtool tests never assert on such a window;
//! - scrapes need a valid Content-Type unless a job sets `fallback_scrape_protocol`, a key
//!   2.42 refuses: the rendered jobs cannot carry it, so the targets we ship must send one.
//!
//! Full tier: needs promtool and promtool3 (`scripts/install-monitoring-tools`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use ecs_operator::manifest::MonitoredService;
use ecs_operator::render::monitoring::{promql::go_float, render};
use ecs_operator::settings::Settings;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `(name, path)` of Prometheus 2.42's promtool and Prometheus 3's.
fn promtools() -> [(&'static str, PathBuf); 2] {
    [
        ("2.42", testkit::tools::require("promtool")),
        ("3.x", testkit::tools::require("promtool3")),
    ]
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Bucket bounds of the latency SLOs below, in seconds.
const BOUNDS: [f64; 4] = [0.5, 1.0, 2.5, 1e6];

/// The `le` values a version stores for buckets a Go client wrote as `go_float(bound)`: the
/// histogram is backfilled through that version's OpenMetrics parser and dumped.
fn stored_le(promtool: &Path, dir: &Path) -> Vec<String> {
    let mut om = String::from("# TYPE req_seconds histogram\n");
    for (i, b) in BOUNDS.iter().enumerate() {
        om.push_str(&format!(
            "req_seconds_bucket{{le=\"{}\"}} {} 1700000000\n",
            go_float(*b),
            i + 1
        ));
    }
    om.push_str("req_seconds_bucket{le=\"+Inf\"} 9 1700000000\nreq_seconds_count 9 1700000000\nreq_seconds_sum 3 1700000000\n# EOF\n");
    let input = dir.join("histogram.om");
    std::fs::write(&input, om).unwrap();
    let db = dir.join("tsdb");
    let (ok, text) = run(Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&db));
    assert!(ok, "{text}");
    // `tsdb dump` wants a WAL directory, which a backfilled database does not have.
    std::fs::create_dir_all(db.join("wal")).unwrap();
    let (ok, text) = run(Command::new(promtool)
        .args(["tsdb", "dump", "--min-time=0", "--max-time=2000000000000"])
        .arg(&db));
    assert!(ok, "{text}");
    let mut le: Vec<String> = text
        .lines()
        .filter_map(|l| l.split("le=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .filter(|v| *v != "+Inf")
        .map(str::to_string)
        .collect();
    le.sort_by(|a, b| a.parse::<f64>().unwrap().total_cmp(&b.parse().unwrap()));
    le
}

/// The `le` matcher (`le="..."` or `le=~"..."`) of the latency SLO rules of checkout with
/// `bound` as its threshold.
fn rendered_le_matcher(bound: f64) -> String {
    let text =
        std::fs::read_to_string(repo_root().join("manifests/examples/every-field.yaml")).unwrap();
    let mut m: MonitoredService = ecs_operator::yaml::from_str(&text).unwrap();
    let latency = m.spec.slo.as_mut().unwrap().latency.as_mut().unwrap();
    latency.threshold = ecs_operator::duration::PromDuration::from_millis((bound * 1000.0) as u64);
    let out = render(&[&m], &Settings::local_defaults());
    let rules = &out.files["prometheus/rules/checkout.rules.yml"];
    let start = rules
        .find("le=")
        .expect("a latency SLO renders an le matcher");
    let rest = &rules[start..];
    let open = rest.find('"').unwrap();
    let close = open + 1 + rest[open + 1..].find('"').unwrap();
    rest[..=close].to_string()
}

#[test]
fn prometheus_3_stores_le_as_a_float_and_every_rendered_le_matcher_selects_the_bucket_in_both() {
    let dir = tempfile::tempdir().unwrap();
    for (version, promtool) in promtools() {
        let work = dir.path().join(version);
        std::fs::create_dir_all(&work).unwrap();
        let stored = stored_le(&promtool, &work);
        // What each version makes of a Go client's 0.5, 1, 2.5 and 1e+06.
        let expected = match version {
            "2.42" => ["0.5", "1", "2.5", "1e+06"],
            _ => ["0.5", "1.0", "2.5", "1e+06"],
        };
        assert_eq!(stored, expected, "promtool {version}");

        // Every rendered matcher, as promtool {version} evaluates it, over the buckets as it
        // stores them plus near misses: exactly the one bucket.
        let mut series = String::new();
        let mut cases = String::new();
        for (i, le) in stored.iter().enumerate() {
            for (j, value) in [le.clone(), format!("{le}1"), format!("{le}0")]
                .iter()
                .enumerate()
            {
                series.push_str(&format!(
                    "      - series: 'http_request_duration_seconds_bucket{{job=\"checkout\",le=\"{value}\",case=\"{i}-{j}\"}}'\n        values: '1'\n"
                ));
            }
            let matcher = rendered_le_matcher(BOUNDS[i]).replace('\'', "''");
            cases.push_str(&format!(
                "      - expr: 'http_request_duration_seconds_bucket{{job=\"checkout\",{matcher}}}'\n        eval_time: 0s\n        exp_samples:\n          - labels: 'http_request_duration_seconds_bucket{{job=\"checkout\",le=\"{le}\",case=\"{i}-0\"}}'\n            value: 1\n"
            ));
        }
        let test = format!(
            "tests:\n  - interval: 15s\n    input_series:\n{series}    promql_expr_test:\n{cases}"
        );
        let file = work.join("le_test.yml");
        std::fs::write(&file, &test).unwrap();
        let (ok, text) = run(Command::new(&promtool).args(["test", "rules"]).arg(&file));
        assert!(
            ok && text.contains("SUCCESS"),
            "promtool {version}:\n{text}\n{test}"
        );
    }
}

#[test]
fn prometheus_3_leaves_the_sample_at_a_windows_start_out_and_2_42_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    for (version, promtool) in promtools() {
        // Samples every 15 s; a 1m window ending on a sample starts on one too.
        let count = if version == "2.42" { 5 } else { 4 };
        let test = format!(
            "tests:\n  - interval: 15s\n    input_series:\n      - series: 'x'\n        values: '0+1x10'\n    promql_expr_test:\n      - expr: count_over_time(x[1m])\n        eval_time: 1m\n        exp_samples:\n          - labels: '{{}}'\n            value: {count}\n      - expr: count_over_time(x[1m])\n        eval_time: 1m5s\n        exp_samples:\n          - labels: '{{}}'\n            value: 4\n"
        );
        let file = dir.path().join(format!("window-{version}.yml"));
        std::fs::write(&file, &test).unwrap();
        let (ok, text) = run(Command::new(&promtool).args(["test", "rules"]).arg(&file));
        assert!(ok, "promtool {version}:\n{text}");
    }
}

#[test]
fn fallback_scrape_protocol_is_refused_by_2_42_so_our_targets_must_send_a_content_type() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::local_defaults();
    settings.monitoring.service_discovery_url = "http://127.0.0.1:8080/sd/prometheus".into();
    let text =
        std::fs::read_to_string(repo_root().join("manifests/examples/minimal.yaml")).unwrap();
    let m: MonitoredService = ecs_operator::yaml::from_str(&text).unwrap();
    let out = render(&[&m], &settings);
    let config = &out.files["prometheus/prometheus.yml"];
    assert!(!config.contains("fallback_scrape_protocol"), "{config}");
    let with_fallback = config.replace(
        "  scheme: http\n",
        "  scheme: http\n  fallback_scrape_protocol: PrometheusText0.0.4\n",
    );
    assert_ne!(&with_fallback, config);
    let file = dir.path().join("prometheus.yml");
    std::fs::write(&file, with_fallback).unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    for (version, promtool) in promtools() {
        let (ok, text) = run(Command::new(&promtool).args(["check", "config"]).arg(&file));
        assert_eq!(ok, version != "2.42", "promtool {version}:\n{text}");
        if !ok {
            assert!(text.contains("fallback_scrape_protocol"), "{text}");
        }
    }
}

/// Media types Prometheus 3 scrapes without `fallback_scrape_protocol` (migration guide;
/// `extractMediaType` in 3.x's scrape code).
const SCRAPEABLE: [&str; 3] = [
    "application/openmetrics-text",
    "text/plain",
    "application/vnd.google.protobuf",
];

#[tokio::test]
async fn the_operators_own_metrics_carry_a_content_type_prometheus_3_scrapes() {
    let port = testkit::process::free_port();
    let cancel = tokio_util::sync::CancellationToken::new();
    let shared = Arc::new(ecs_operator::controller::http::Shared::new(None));
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = ecs_operator::controller::http::serve(addr, shared, cancel.clone())
        .await
        .unwrap();
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    cancel.cancel();
    let _ = server.await;
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    assert!(SCRAPEABLE.contains(&media_type), "{content_type:?}");
}
