//! Helpers shared by the integration tests: start the real service in-process on an ephemeral
//! loopback port, with crashes recorded instead of ending the test process, and read metrics.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pizza_service::{app, RunningService, ServiceConfig};

/// A running service plus the exit codes its crash faults asked for.
pub struct TestService {
    pub service: RunningService,
    pub exits: Arc<Mutex<Vec<i32>>>,
}

impl TestService {
    pub fn url(&self) -> String {
        self.service.url()
    }

    pub fn exit_codes(&self) -> Vec<i32> {
        self.exits.lock().expect("exit log").clone()
    }
}

/// Starts the service with `adjust` applied to the test configuration.
pub async fn start(adjust: impl FnOnce(&mut ServiceConfig)) -> TestService {
    let mut config = ServiceConfig::for_tests();
    adjust(&mut config);
    let exits = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&exits);
    let exit: pizza_service::faults::ExitFn =
        Arc::new(move |code| log.lock().expect("exit log").push(code));
    let service = app::start(&config, exit).await.expect("service starts");
    TestService { service, exits }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

pub async fn metrics(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    response.text().await.expect("metrics body")
}

/// The value of the sample whose name and labels are exactly `series`, e.g.
/// `orders_failed_total{reason="oven_failure"}`; panics if absent.
pub fn sample(text: &str, series: &str) -> f64 {
    let prefix = format!("{series} ");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"));
    line[prefix.len()..]
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("bad value in {line:?}: {e}"))
}

/// Polls `check` every 20 ms for up to 10 s; returns whether it became true.
pub async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..500 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
