//! The load generator against the real service, in-process. Assertions are on counts, never on
//! timing.

mod common;

use std::time::Duration;

use common::{metrics, sample, start};
use pizza_service::loadgen::runner::{self, RunConfig};
use pizza_service::loadgen::scenarios::{self, Ctx};
use pizza_service::loadgen::schedule::Schedule;
use pizza_service::loadgen::stop::StopSignal;

fn ctx(targets: Vec<String>, stop: StopSignal) -> Ctx {
    Ctx {
        client: runner::http_client(64, Duration::from_secs(10)).expect("client"),
        targets,
        concurrency: 64,
        timeout: Duration::from_secs(10),
        stop,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_orders_at_400_per_second_are_all_sent_and_created() {
    let svc = start(|_| {}).await;
    let config = RunConfig {
        targets: vec![svc.url()],
        schedule: Schedule::new(400.0, Some(Duration::from_secs(30)), Some(200)).expect("schedule"),
        concurrency: 64,
        timeout: Duration::from_secs(10),
    };
    let client = runner::http_client(64, Duration::from_secs(10)).expect("client");
    let summary = runner::run(&client, &config, StopSignal::never()).await;
    assert_eq!(summary.planned, 200);
    assert_eq!(summary.sent, 200, "{summary:?}");
    assert_eq!(summary.created, 200, "{summary:?}");
    assert_eq!(
        (summary.failed, summary.errors, summary.skipped),
        (0, 0, 0),
        "{summary:?}"
    );
    assert!(summary.achieved_rate > 0.0);
    let text = metrics(&client, &svc.url()).await;
    assert_eq!(sample(&text, "orders_created_total"), 200.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_go_round_robin_over_the_targets() {
    let (a, b) = (start(|_| {}).await, start(|_| {}).await);
    let ctx = ctx(vec![a.url(), b.url()], StopSignal::never());
    let summary = scenarios::load(
        &ctx,
        Schedule::new(500.0, None, Some(100)).expect("schedule"),
    )
    .await;
    assert_eq!((summary.sent, summary.created), (100, 100), "{summary:?}");
    for svc in [&a, &b] {
        assert_eq!(
            sample(
                &metrics(&ctx.client, &svc.url()).await,
                "orders_created_total"
            ),
            50.0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replica_counts_as_errors_and_does_not_stop_the_run() {
    let alive = start(|_| {}).await;
    // A port that was just free: nothing listens there, so connections are refused.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let ctx = ctx(vec![alive.url(), dead], StopSignal::never());
    let summary = scenarios::load(
        &ctx,
        Schedule::new(200.0, None, Some(40)).expect("schedule"),
    )
    .await;
    assert_eq!(summary.sent, 40, "{summary:?}");
    assert_eq!(summary.created, 20, "{summary:?}");
    assert_eq!(summary.errors, 20, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failures_scenario_fails_every_order_and_restores_each_previous_ratio() {
    let (a, b) = (
        start(|c| c.failure_ratio = 0.0).await,
        start(|c| c.failure_ratio = 0.25).await,
    );
    let ctx = ctx(vec![a.url(), b.url()], StopSignal::never());
    let report = scenarios::failures(&ctx, 40, 400.0)
        .await
        .expect("scenario runs");
    assert_eq!(report["scenario"], "failures");
    assert_eq!(report["sent"], 40, "{report}");
    assert_eq!(report["failed"], 40, "{report}");
    assert_eq!(report["created"], 0, "{report}");
    assert_eq!(report["restored"], true, "{report}");
    assert_eq!(a.service.state.faults.knobs().failure_ratio, 0.0);
    assert_eq!(b.service.state.faults.knobs().failure_ratio, 0.25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_failures_scenario_still_restores_the_ratio() {
    let svc = start(|c| c.failure_ratio = 0.1).await;
    let (handle, stop) = StopSignal::new();
    handle.stop();
    let ctx = ctx(vec![svc.url()], stop);
    let report = scenarios::failures(&ctx, 1000, 10.0)
        .await
        .expect("scenario runs");
    assert_eq!(
        report["sent"], 0,
        "stopped before the first order: {report}"
    );
    assert_eq!(report["skipped"], 1000, "{report}");
    assert_eq!(report["restored"], true);
    assert_eq!(report["interrupted"], true);
    assert_eq!(svc.service.state.faults.knobs().failure_ratio, 0.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spike_scenarios_set_their_knob_for_a_while_then_reset_it() {
    let svc = start(|c| c.memory_cap_mb = 4).await;
    let ctx = ctx(vec![svc.url()], StopSignal::never());

    let report = scenarios::cpu_spike(&ctx, 1, Duration::from_millis(200))
        .await
        .expect("cpu spike");
    assert_eq!(report["scenario"], "cpu-spike");
    assert_eq!(report["restored"], true);
    assert_eq!(svc.service.state.faults.knobs().cpu_burn_threads, 0);

    let report = scenarios::memory_spike(&ctx, 100, Duration::from_millis(200))
        .await
        .expect("memory spike");
    assert_eq!(report["scenario"], "memory-spike");
    assert_eq!(report["restored"], true);
    let status = svc.service.state.faults.status();
    assert_eq!(
        (status.knobs.memory_grow_mb_per_s, status.memory_held_mb),
        (0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outage_scenario_crashes_the_named_replica_only() {
    let (a, b) = (start(|_| {}).await, start(|_| {}).await);
    let ctx = ctx(vec![a.url(), b.url()], StopSignal::never());
    let report = scenarios::outage(&ctx, &b.url()).await.expect("outage");
    assert_eq!(report["crash_requested"], true);
    assert!(common::eventually(async || b.exit_codes() == vec![137]).await);
    assert!(a.exit_codes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_against_an_unreachable_admin_api_fail_cleanly() {
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let ctx = ctx(vec![dead.clone()], StopSignal::never());
    assert!(scenarios::failures(&ctx, 10, 10.0).await.is_err());
    assert!(scenarios::cpu_spike(&ctx, 1, Duration::from_millis(10))
        .await
        .is_err());
    assert!(scenarios::outage(&ctx, &dead).await.is_err());
}
