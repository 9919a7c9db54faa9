//! The SLO guard of a rollout end to end: a real Prometheus (Debian's 2.42, on 127.0.0.1,
//! stopped by PID) scrapes an exporter whose requests carry the `revision` label service
//! discovery gives every target; the controller's pass, against the ECS fake of `testkit`
//! (moto has no rollouts), judges the rollout from Prometheus and rolls back the revision
//! that fails a fifth of its requests, and never a healthy one.
//!
//! Full tier: needs `prometheus` (`scripts/install-monitoring-tools`).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ecs_operator::manifest::ManifestSet;
use ecs_operator::reconcile::pass::Memory;
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use ecs_operator::settings::Settings;
use ecs_operator::status::RolloutPhase;
use testkit::fake_aws::{Behaviour, FakeAws};
use testkit::{eventually, free_port, leader_pass};

const CLUSTER: &str = "main";

/// Requests per scrape of each revision, and the share of them that fail on the new one.
struct Traffic {
    old_per_scrape: u64,
    new_per_scrape: u64,
    new_failing_percent: u64,
    /// Share of the new revision's requests slower than 300 ms (the old one's are all fast).
    new_slow_percent: u64,
}

/// A `/metrics` endpoint whose counters grow by `traffic` at every scrape.
fn exporter(traffic: Traffic) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let scrapes = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let n = scrapes.fetch_add(1, Ordering::SeqCst) + 1;
            let new_total = n * traffic.new_per_scrape;
            let new_failed = new_total * traffic.new_failing_percent / 100;
            let new_fast = new_total - new_total * traffic.new_slow_percent / 100;
            let old_total = n * traffic.old_per_scrape;
            let histogram = format!(
                "# TYPE http_request_duration_seconds histogram\n\
                 http_request_duration_seconds_bucket{{le=\"0.3\",revision=\"web:1\"}} {old_total}\n\
                 http_request_duration_seconds_bucket{{le=\"+Inf\",revision=\"web:1\"}} {old_total}\n\
                 http_request_duration_seconds_count{{revision=\"web:1\"}} {old_total}\n\
                 http_request_duration_seconds_sum{{revision=\"web:1\"}} 0\n\
                 http_request_duration_seconds_bucket{{le=\"0.3\",revision=\"web:2\"}} {new_fast}\n\
                 http_request_duration_seconds_bucket{{le=\"+Inf\",revision=\"web:2\"}} {new_total}\n\
                 http_request_duration_seconds_count{{revision=\"web:2\"}} {new_total}\n\
                 http_request_duration_seconds_sum{{revision=\"web:2\"}} 0\n"
            );
            let body = format!(
                "# TYPE http_requests_total counter\n\
                 http_requests_total{{code=\"200\",revision=\"web:1\"}} {}\n\
                 http_requests_total{{code=\"500\",revision=\"web:1\"}} 0\n\
                 http_requests_total{{code=\"200\",revision=\"web:2\"}} {}\n\
                 http_requests_total{{code=\"500\",revision=\"web:2\"}} {new_failed}\n{histogram}",
                n * traffic.old_per_scrape,
                new_total - new_failed,
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// Prometheus scraping the exporter every second as job `web`; killed on drop.
struct Prometheus {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn prometheus(exporter_port: u16) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: web\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = std::process::Command::new(testkit::tools::require("prometheus"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus runs");
    let p = Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let query = format!(
        "{}/api/v1/query?query=count(http_requests_total%7Bjob%3D%22web%22%7D)",
        p.url
    );
    // Enough samples of both revisions for increase() over the guard's window.
    eventually(
        "Prometheus has 5 scrapes",
        Duration::from_secs(60),
        async || {
            let Ok(r) = reqwest::get(&query).await else {
                return false;
            };
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            body["data"]["result"][0]["value"][1] == "4"
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    p
}

fn manifest(image: &str) -> String {
    format!(
        "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: web\nspec:\n  container:\n    image: {image}\n  notify:\n    team: web\n  slo:\n    availability: 99.9\n    latency:\n      threshold: 300ms\n      objective: 99\n  deployment:\n    guard:\n      window: 1m\n      minRequests: 100\n"
    )
}

async fn controller_pass(r: &Reconciler, doc: &str, memory: &mut Memory, now: u64) {
    let settings = r.settings.clone();
    let mut set = ManifestSet::default();
    set.add_source("web.yaml", doc.as_bytes(), Some(&settings));
    set.finish();
    assert_eq!(
        set.diagnostics().count(),
        0,
        "{:?}",
        set.diagnostics().collect::<Vec<_>>()
    );
    let report = leader_pass(r, &set, memory, &BTreeMap::new(), now).await;
    assert!(
        report.results.iter().all(|r| r.error.is_none()),
        "{:?}",
        report.results
    );
}

/// web 1.0 settled, 1.1 rolling out (ECS keeps it IN_PROGRESS for 100 ticks).
async fn rolling_out(prometheus_url: &str) -> (FakeAws, Reconciler, Memory) {
    let fake = FakeAws::new(Behaviour {
        rollout_ticks: 100,
        ..Behaviour::default()
    });
    let mut settings = Settings::local_defaults();
    settings.operator_id = "op".into();
    settings.cluster = CLUSTER.into();
    settings.monitoring.prometheus_url = Some(prometheus_url.to_string());
    let mut r = Reconciler::new(fake.clients(), settings, ReconcileOptions::default());
    r.generation = Some(1);
    let mut memory = Memory::default();
    controller_pass(&r, &manifest("pizza:1.0"), &mut memory, 100).await;
    controller_pass(&r, &manifest("pizza:1.1"), &mut memory, 110).await;
    (fake, r, memory)
}

fn deployments(fake: &FakeAws) -> Vec<String> {
    fake.requests("UpdateService")
        .iter()
        .filter_map(|r| {
            r["taskDefinition"]
                .as_str()
                .map(|t| t.rsplit('/').next().unwrap().to_string())
        })
        .collect()
}

#[tokio::test]
async fn a_release_failing_a_fifth_of_its_requests_is_rolled_back_and_held() {
    let p = prometheus(exporter(Traffic {
        old_per_scrape: 20,
        new_per_scrape: 20,
        new_failing_percent: 20,
        new_slow_percent: 0,
    }))
    .await;
    let (fake, r, mut memory) = rolling_out(&p.url).await;
    assert_eq!(deployments(&fake), ["web:2"]);
    controller_pass(&r, &manifest("pizza:1.1"), &mut memory, 120).await;
    assert_eq!(
        deployments(&fake),
        ["web:2", "web:1"],
        "rolled back to web:1"
    );
    let status = memory.statuses["web"].clone();
    let held = status.held.clone().expect("the spec is held");
    // About a fifth (Prometheus extrapolates increase() over the window).
    let ratio: f64 = held
        .reason
        .strip_prefix("SLO guard: error ratio ")
        .and_then(|r| r.split('%').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("{held:?}"));
    assert!((18.0..22.0).contains(&ratio), "{held:?}");
    assert!(
        held.reason
            .ends_with("on web:2 vs 0.00% on web:1 over 1m, above the limit 1.44%"),
        "{held:?}"
    );
    assert_eq!(
        held.revision,
        "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"
    );
    let tag = fake.requests("TagResource").pop().unwrap();
    assert!(
        tag["tags"]["ecs-operator.io/held"]
            .as_str()
            .unwrap()
            .ends_with(" web:2 guard"),
        "{tag}"
    );

    // Later passes do not deploy 1.1 again.
    for i in 0..3 {
        controller_pass(&r, &manifest("pizza:1.1"), &mut memory, 130 + i).await;
    }
    assert_eq!(deployments(&fake).len(), 2, "{:?}", deployments(&fake));
    assert!(memory.statuses["web"].held.is_some());
}

#[tokio::test]
async fn a_healthy_release_is_not_rolled_back_and_the_status_explains_why() {
    let p = prometheus(exporter(Traffic {
        old_per_scrape: 20,
        new_per_scrape: 20,
        new_failing_percent: 0,
        new_slow_percent: 0,
    }))
    .await;
    let (fake, r, mut memory) = rolling_out(&p.url).await;
    controller_pass(&r, &manifest("pizza:1.1"), &mut memory, 120).await;
    assert_eq!(deployments(&fake), ["web:2"], "nothing rolled back");
    let rollout = memory.statuses["web"].rollout.clone().expect("a rollout");
    assert_eq!(rollout.phase, RolloutPhase::InProgress);
    let why = rollout.guard.expect("the guard explains its verdict");
    assert!(
        why.starts_with(
            "SLO guard: error ratio 0.00% on web:2 vs 0.00% on web:1 over 1m, within the limit"
        ),
        "{why}"
    );
    assert!(memory.statuses["web"].held.is_none());
}

#[tokio::test]
async fn too_few_requests_are_never_judged() {
    let p = prometheus(exporter(Traffic {
        old_per_scrape: 20,
        new_per_scrape: 1,
        new_failing_percent: 100,
        new_slow_percent: 0,
    }))
    .await;
    let (fake, r, mut memory) = rolling_out(&p.url).await;
    controller_pass(&r, &manifest("pizza:1.1"), &mut memory, 120).await;
    assert_eq!(deployments(&fake), ["web:2"], "nothing rolled back");
    let why = memory.statuses["web"]
        .rollout
        .clone()
        .unwrap()
        .guard
        .unwrap();
    assert!(why.contains("fewer than the 100 needed"), "{why}");
}

#[tokio::test]
async fn a_release_slower_than_the_latency_objective_is_rolled_back() {
    let p = prometheus(exporter(Traffic {
        old_per_scrape: 20,
        new_per_scrape: 20,
        new_failing_percent: 0,
        new_slow_percent: 30,
    }))
    .await;
    let (fake, r, mut memory) = rolling_out(&p.url).await;
    controller_pass(&r, &manifest("pizza:1.1"), &mut memory, 120).await;
    assert_eq!(
        deployments(&fake),
        ["web:2", "web:1"],
        "rolled back to web:1"
    );
    let held = memory.statuses["web"].held.clone().expect("held");
    assert!(
        held.reason.starts_with("SLO guard: slow ratio "),
        "{held:?}"
    );
    // 99 %: a budget of 1 %, x14.4.
    assert!(
        held.reason
            .ends_with("on web:2 vs 0.00% on web:1 over 1m, above the limit 14.40%"),
        "{held:?}"
    );
}
