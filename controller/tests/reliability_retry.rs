//! Which retry mode fits the operator's clients: the same apply from empty through 7 % S3 and
//! control-plane throttling, on fresh clients (as after a restart), once with the SDK's
//! adaptive retry (client-side rate limiting) and once with standard retry. The figures go to
//! RELIABILITY.md (`retry_modes`); the test itself asserts only correctness (converged, exactly
//! one of everything), never a time.

use std::time::Instant;

use aws_config::retry::RetryConfig;
use ecs_operator::aws::calls::Outcome as CallOutcome;
use ecs_operator::aws::{AwsClients, ClientOptions};
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use testkit::fault_proxy::{Config, Fault, FaultProxy};
use testkit::*;

const SERVICES: usize = 24;
const THROTTLED_SHARE: f64 = 0.07;

struct Run {
    seconds: f64,
    passes: u32,
    attempts: u64,
    throttled: u64,
}

async fn converge(tag: &str, retry: RetryConfig) -> Run {
    let world = World::new(tag);
    let prefix = unique_prefix(tag);
    let names: std::collections::BTreeSet<String> =
        (0..SERVICES).map(|i| format!("{prefix}-{i:02}")).collect();
    let docs: Vec<(String, String)> = names
        .iter()
        .map(|n| (format!("{n}.yaml"), scaled_manifest(n, "nginx:1.27")))
        .collect();
    let refs: Vec<(&str, &str)> = docs.iter().map(|(f, t)| (f.as_str(), t.as_str())).collect();
    let set = manifests(&refs, &world.settings);

    let proxy = FaultProxy::start(&moto_endpoint());
    proxy.set(Config::random(THROTTLED_SHARE, &[Fault::Throttle]));
    let aws: AwsClients = clients_with_retry(&proxy.endpoint(), retry).await;
    let reconciler = Reconciler::new(aws, world.settings.clone(), ReconcileOptions::default());
    let started = Instant::now();
    let mut passes = 0;
    loop {
        assert!(passes < 15, "{tag}: no convergence after {passes} passes");
        passes += 1;
        let Ok((plan, _)) = reconciler.plan(&set, true).await else {
            continue;
        };
        if !plan.has_changes() {
            break;
        }
        reconciler.apply(&plan).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    proxy.clear();
    let calls = reconciler.aws.calls.snapshot();
    let attempts = calls.values().sum();
    let throttled = calls
        .iter()
        .filter(|((_, _, o), _)| *o == CallOutcome::Throttled)
        .map(|(_, n)| n)
        .sum();
    let moto = clients().await;
    let inv = inventory(&moto, &world.settings.cluster, &prefix, &names).await;
    let problems = inventory_problems(
        &inv,
        &world.settings.operator_id,
        &names,
        &reconciler.discovery_description(),
        Some(1),
        true,
    );
    assert!(problems.is_empty(), "{tag}: {problems:#?}");
    clean_up(&moto, &world.settings.cluster, &inv).await;
    Run {
        seconds,
        passes,
        attempts,
        throttled,
    }
}

#[tokio::test]
async fn an_apply_through_throttling_converges_with_either_retry_mode_and_records_their_times() {
    let attempts = ClientOptions::default().max_attempts;
    let adaptive = converge(
        "rtadapt",
        RetryConfig::adaptive().with_max_attempts(attempts),
    )
    .await;
    let standard = converge("rtstd", RetryConfig::standard().with_max_attempts(attempts)).await;
    for (mode, run) in [("adaptive", &adaptive), ("standard", &standard)] {
        eprintln!(
            "{mode}: {SERVICES} services converged in {} pass(es), {:.1} s, {} attempts, {} throttled",
            run.passes, run.seconds, run.attempts, run.throttled
        );
    }
    record_figures(
        "retry_modes",
        &format!(
            "{SERVICES} services applied from empty through {:.0} % throttling on fresh clients, adaptive vs standard retry",
            THROTTLED_SHARE * 100.0
        ),
        serde_json::json!({
            "services": SERVICES,
            "throttled_share": THROTTLED_SHARE,
            "adaptive_seconds": (adaptive.seconds * 10.0).round() / 10.0,
            "adaptive_passes": adaptive.passes,
            "adaptive_attempts": adaptive.attempts,
            "adaptive_throttled": adaptive.throttled,
            "standard_seconds": (standard.seconds * 10.0).round() / 10.0,
            "standard_passes": standard.passes,
            "standard_attempts": standard.attempts,
            "standard_throttled": standard.throttled,
            "lost": 0,
        }),
    );
}
