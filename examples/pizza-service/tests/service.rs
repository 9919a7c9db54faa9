//! The real service, started in-process on 127.0.0.1:0 and exercised over HTTP.

mod common;

use std::time::Duration;

use common::{client, eventually, metrics, sample, start};
use pizza_service::faults::FaultStatus;
use serde_json::{json, Value};

async fn post_order(client: &reqwest::Client, base: &str, body: &str) -> (u16, Value) {
    let response = client
        .post(format!("{base}/orders"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST /orders");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

async fn get_json(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

async fn put_faults(client: &reqwest::Client, base: &str, body: Value) -> (u16, Value) {
    let response = client
        .put(format!("{base}/admin/faults"))
        .json(&body)
        .send()
        .await
        .expect("PUT /admin/faults");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

async fn faults(client: &reqwest::Client, base: &str) -> FaultStatus {
    let (status, body) = get_json(client, &format!("{base}/admin/faults")).await;
    assert_eq!(status, 200);
    serde_json::from_value(body).expect("fault status")
}

#[tokio::test]
async fn an_order_is_created_read_back_and_listed() {
    let svc = start(|_| {}).await;
    let (c, base) = (client(), svc.url());

    let (status, created) = post_order(&c, &base, r#"{"pizza":"margherita","quantity":2}"#).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "created");
    assert_eq!(created["instance_id"], "test");
    let id = created["id"].as_u64().expect("numeric id");

    let (status, order) = get_json(&c, &format!("{base}/orders/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(order["pizza"], "margherita");
    assert_eq!(order["quantity"], 2);

    let (status, _) = post_order(&c, &base, r#"{"pizza":"funghi"}"#).await;
    assert_eq!(status, 201, "quantity defaults to 1");

    let (status, list) = get_json(&c, &format!("{base}/orders?limit=1")).await;
    assert_eq!(status, 200);
    assert_eq!(list["orders"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["orders"][0]["pizza"], "funghi", "newest first");

    let (status, list) = get_json(&c, &format!("{base}/orders")).await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 2);

    assert_eq!(get_json(&c, &format!("{base}/orders/99999")).await.0, 404);
    assert_eq!(
        get_json(&c, &format!("{base}/orders/not-a-number")).await.0,
        404
    );
    assert_eq!(
        get_json(&c, &format!("{base}/orders?limit=lots")).await.0,
        400
    );
    assert_eq!(get_json(&c, &format!("{base}/no/such/route")).await.0, 404);

    let health = c
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("body"), "ok");

    let text = metrics(&c, &base).await;
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{route="/orders/{id}",code="200"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{route="/orders/{id}",code="404"}"#
        ),
        2.0
    );
    assert_eq!(
        sample(&text, r#"http_requests_total{route="/orders",code="200"}"#),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{route="unmatched",code="404"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(&text, r#"http_requests_total{route="/healthz",code="200"}"#),
        1.0
    );
    assert!(
        !text.contains("not-a-number") && !text.contains("/no/such/route"),
        "raw paths never become labels"
    );
}

#[tokio::test]
async fn bad_input_is_a_400_and_not_a_failed_order() {
    let svc = start(|c| c.failure_ratio = 1.0).await;
    let (c, base) = (client(), svc.url());

    for body in [
        "{not json",
        r#"{"pizza":"margherita","quantity":0}"#,
        r#"{"quantity":1}"#,
        r#"{"pizza":"margherita","quantity":-1}"#,
        r#"{"pizza":"","quantity":1}"#,
        "",
    ] {
        let (status, answer) = post_order(&c, &base, body).await;
        assert_eq!(status, 400, "{body:?} -> {answer}");
        assert!(answer["error"].is_string());
    }

    let text = metrics(&c, &base).await;
    assert_eq!(
        sample(&text, r#"http_requests_total{route="/orders",code="400"}"#),
        6.0
    );
    for reason in ["payment_declined", "oven_failure", "out_of_stock"] {
        assert_eq!(
            sample(
                &text,
                &format!(r#"orders_failed_total{{reason="{reason}"}}"#)
            ),
            0.0
        );
    }
    assert_eq!(sample(&text, "orders_created_total"), 0.0);
}

#[tokio::test]
async fn metrics_hold_every_known_series_at_zero_before_any_traffic() {
    let svc = start(|_| {}).await;
    let text = metrics(&client(), &svc.url()).await;
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "orders_created_total 0",
        r#"orders_failed_total{reason="payment_declined"} 0"#,
        r#"orders_failed_total{reason="oven_failure"} 0"#,
        r#"orders_failed_total{reason="out_of_stock"} 0"#,
        r#"http_requests_total{route="/orders",code="201"} 0"#,
        r#"http_requests_total{route="/orders",code="500"} 0"#,
        r#"http_requests_total{route="/orders",code="400"} 0"#,
        r#"http_requests_total{route="/orders/{id}",code="200"} 0"#,
        r#"http_requests_total{route="/orders/{id}",code="404"} 0"#,
        r#"http_requests_total{route="/healthz",code="200"} 0"#,
        r#"http_request_duration_seconds_count{route="/orders"} 0"#,
        r#"http_request_duration_seconds_bucket{le="0.001",route="/orders"} 0"#,
        r#"http_request_duration_seconds_bucket{le="10.0",route="/orders"} 0"#,
        r#"pizza_service_info{instance_id="test",version="0.1.0"} 1"#,
        "# TYPE orders_created counter",
        "# TYPE http_request_duration_seconds histogram",
        "# EOF",
    ] {
        assert!(
            lines.contains(&expected),
            "missing line {expected:?} in:\n{text}"
        );
    }
    // The request that fetched this page is counted only after it was rendered.
    assert!(
        lines.contains(&r#"http_requests_total{route="/metrics",code="200"} 0"#),
        "{text}"
    );
    for name in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_start_time_seconds ",
    ] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name}"));
        let value: f64 = line[name.len()..].parse().expect("a number");
        assert!(value >= 0.0);
    }
    assert!(sample(&text, "process_resident_memory_bytes") > 1_000_000.0);
    assert!(sample(&text, "process_start_time_seconds") > 1_600_000_000.0);
}

#[tokio::test]
async fn counters_add_up_after_orders_with_half_of_them_failing() {
    const N: u32 = 200;
    let svc = start(|c| c.failure_ratio = 0.5).await;
    let (c, base) = (client(), svc.url());
    let (mut created, mut failed) = (0u32, 0u32);
    for i in 0..N {
        let (status, answer) =
            post_order(&c, &base, &format!(r#"{{"pizza":"p{i}","quantity":1}}"#)).await;
        match status {
            201 => created += 1,
            500 => {
                failed += 1;
                let reason = answer["reason"].as_str().expect("a reason");
                assert!(
                    ["payment_declined", "oven_failure", "out_of_stock"].contains(&reason),
                    "{answer}"
                );
                assert_eq!(answer["error"], "order failed");
            }
            other => panic!("unexpected status {other}: {answer}"),
        }
    }
    assert_eq!(created + failed, N);
    assert!(
        created > 0 && failed > 0,
        "with ratio 0.5 both outcomes occur: {created} / {failed}"
    );

    let text = metrics(&c, &base).await;
    let failed_metric: f64 = ["payment_declined", "oven_failure", "out_of_stock"]
        .iter()
        .map(|r| sample(&text, &format!(r#"orders_failed_total{{reason="{r}"}}"#)))
        .sum();
    assert_eq!(sample(&text, "orders_created_total"), f64::from(created));
    assert_eq!(failed_metric, f64::from(failed));
    assert_eq!(
        sample(&text, r#"http_requests_total{route="/orders",code="201"}"#),
        f64::from(created)
    );
    assert_eq!(
        sample(&text, r#"http_requests_total{route="/orders",code="500"}"#),
        f64::from(failed)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_request_duration_seconds_count{route="/orders"}"#
        ),
        f64::from(N)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_request_duration_seconds_bucket{le="+Inf",route="/orders"}"#
        ),
        f64::from(N)
    );
}

#[tokio::test]
async fn fault_knobs_round_trip_and_bad_patches_change_nothing() {
    let svc = start(|c| {
        c.failure_ratio = 0.1;
        c.latency_ms = 5;
    })
    .await;
    let (c, base) = (client(), svc.url());

    let before = faults(&c, &base).await;
    assert_eq!(
        before.knobs.failure_ratio, 0.1,
        "start-up flags become the initial knobs"
    );
    assert_eq!(before.knobs.latency_ms, 5);
    assert_eq!(before.memory_cap_mb, 512);

    let (status, after) = put_faults(&c, &base, json!({ "failure_ratio": 0.75 })).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["failure_ratio"], 0.75);
    assert_eq!(
        after["latency_ms"], 5,
        "fields absent from the patch are kept"
    );

    let read_back = faults(&c, &base).await;
    assert_eq!(read_back.knobs.failure_ratio, 0.75);
    assert_eq!(read_back.knobs.latency_ms, 5);

    for bad in [
        json!({ "failure_ratio": 1.5 }),
        json!({ "failure_ratio": 0.2, "cpu_burn_threads": 1000 }),
        json!({ "latency_ms": -1 }),
        json!({ "unknown_knob": 1 }),
        json!("nope"),
    ] {
        let (status, answer) = put_faults(&c, &base, bad.clone()).await;
        assert_eq!(status, 400, "{bad} -> {answer}");
    }
    assert_eq!(
        faults(&c, &base).await,
        read_back,
        "rejected patches leave the knobs alone"
    );

    let text = metrics(&c, &base).await;
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{route="/admin/faults",code="400"}"#
        ),
        5.0
    );
}

#[tokio::test]
async fn added_latency_applies_to_orders() {
    let svc = start(|_| {}).await;
    let (c, base) = (client(), svc.url());
    assert_eq!(
        put_faults(&c, &base, json!({ "latency_ms": 120 })).await.0,
        200
    );
    assert_eq!(post_order(&c, &base, r#"{"pizza":"diavola"}"#).await.0, 201);
    let text = metrics(&c, &base).await;
    // A sleep never ends early, so the one order lands above the 0.1 s bucket.
    assert_eq!(
        sample(
            &text,
            r#"http_request_duration_seconds_count{route="/orders"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"http_request_duration_seconds_bucket{le="0.1",route="/orders"}"#
        ),
        0.0
    );
    assert_eq!(
        sample(
            &text,
            r#"http_request_duration_seconds_bucket{le="10.0",route="/orders"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn memory_growth_stops_at_its_cap_and_is_freed_when_set_to_zero() {
    let svc = start(|c| c.memory_cap_mb = 8).await;
    let (c, base) = (client(), svc.url());

    let (status, _) = put_faults(&c, &base, json!({ "memory_grow_mb_per_s": 200 })).await;
    assert_eq!(status, 200);
    let mut seen_above_cap = false;
    let reached = eventually(async || {
        let held = faults(&c, &base).await.memory_held_mb;
        seen_above_cap |= held > 8;
        held == 8
    })
    .await;
    assert!(reached, "memory growth reaches its cap");
    // Keep growing for several more ticks: it must stay at the cap.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = faults(&c, &base).await;
    assert_eq!(status.memory_held_mb, 8);
    assert!(!seen_above_cap);
    assert!(
        sample(&metrics(&c, &base).await, "process_resident_memory_bytes") >= 8.0 * 1024.0 * 1024.0
    );

    let (status, answer) = put_faults(&c, &base, json!({ "memory_grow_mb_per_s": 0 })).await;
    assert_eq!(status, 200);
    assert_eq!(answer["memory_held_mb"], 0, "0 frees what was held at once");
}

#[tokio::test]
async fn cpu_burn_threads_start_and_stop() {
    let svc = start(|_| {}).await;
    let (c, base) = (client(), svc.url());
    assert_eq!(
        put_faults(&c, &base, json!({ "cpu_burn_threads": 2 }))
            .await
            .0,
        200
    );
    assert!(eventually(async || faults(&c, &base).await.cpu_burn_threads_running == 2).await);
    assert_eq!(
        put_faults(&c, &base, json!({ "cpu_burn_threads": 1 }))
            .await
            .0,
        200
    );
    assert!(eventually(async || faults(&c, &base).await.cpu_burn_threads_running == 1).await);
    assert_eq!(
        put_faults(&c, &base, json!({ "cpu_burn_threads": 0 }))
            .await
            .0,
        200
    );
    assert!(eventually(async || faults(&c, &base).await.cpu_burn_threads_running == 0).await);
    assert_eq!(
        put_faults(&c, &base, json!({ "cpu_burn_threads": 9 }))
            .await
            .0,
        400,
        "bounded by 8"
    );
}

#[tokio::test]
async fn the_ring_of_recent_orders_is_bounded() {
    let svc = start(|c| c.max_orders = 50).await;
    let (c, base) = (client(), svc.url());
    for _ in 0..120 {
        assert_eq!(
            post_order(&c, &base, r#"{"pizza":"margherita"}"#).await.0,
            201
        );
    }
    let (status, list) = get_json(&c, &format!("{base}/orders?limit=100000")).await;
    assert_eq!(status, 200);
    let orders = list["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 50);
    assert_eq!(orders[0]["id"], 120);
    assert_eq!(orders[49]["id"], 71);
    assert_eq!(svc.service.state.orders.len(), 50);
    assert_eq!(
        get_json(&c, &format!("{base}/orders/70")).await.0,
        404,
        "evicted"
    );
    assert_eq!(get_json(&c, &format!("{base}/orders/71")).await.0, 200);
    assert_eq!(
        sample(&metrics(&c, &base).await, "orders_created_total"),
        120.0,
        "counters are not bounded by the ring"
    );
}

#[tokio::test]
async fn crash_requests_exit_with_a_non_zero_code_and_a_pending_crash_can_be_cancelled() {
    let svc = start(|_| {}).await;
    let (c, base) = (client(), svc.url());

    // A delayed crash, cancelled before it fires.
    assert_eq!(
        put_faults(&c, &base, json!({ "crash_after_ms": 300 }))
            .await
            .0,
        200
    );
    assert_eq!(faults(&c, &base).await.knobs.crash_after_ms, 300);
    assert_eq!(
        put_faults(&c, &base, json!({ "crash_after_ms": 0 }))
            .await
            .0,
        200
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        svc.exit_codes().is_empty(),
        "a cancelled crash does not fire"
    );

    // A delayed crash that fires.
    assert_eq!(
        put_faults(&c, &base, json!({ "crash_after_ms": 50 }))
            .await
            .0,
        200
    );
    assert!(
        eventually(async || svc.exit_codes() == vec![137]).await,
        "{:?}",
        svc.exit_codes()
    );

    // An immediate crash.
    let response = c
        .post(format!("{base}/admin/crash"))
        .send()
        .await
        .expect("POST /admin/crash");
    assert_eq!(response.status(), 202);
    assert!(
        eventually(async || svc.exit_codes() == vec![137, 137]).await,
        "{:?}",
        svc.exit_codes()
    );
}

#[tokio::test]
async fn the_service_shuts_down_gracefully() {
    let svc = start(|_| {}).await;
    let base = svc.url();
    let c = client();
    assert_eq!(
        post_order(&c, &base, r#"{"pizza":"margherita"}"#).await.0,
        201
    );
    tokio::time::timeout(Duration::from_secs(10), svc.service.shutdown())
        .await
        .expect("shutdown completes")
        .expect("clean shutdown");
    let fresh = reqwest::Client::new();
    assert!(
        fresh.get(format!("{base}/healthz")).send().await.is_err(),
        "no longer listening"
    );
}

/// Prometheus 3 refuses a scrape whose Content-Type it does not know unless the job sets
/// `fallback_scrape_protocol`, which the operator cannot render (Prometheus 2.42 refuses the
/// key; see controller/tests/prometheus_versions.rs). The service must name its format.
#[tokio::test]
async fn metrics_name_a_format_prometheus_3_scrapes_without_a_fallback() {
    let svc = start(|_| {}).await;
    let response = client()
        .get(format!("{}/metrics", svc.url()))
        .send()
        .await
        .expect("GET /metrics");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    assert!(
        [
            "application/openmetrics-text",
            "text/plain",
            "application/vnd.google.protobuf"
        ]
        .contains(&media_type),
        "{content_type:?}"
    );
}
