use super::*;

fn sample(requests: f64, errors: f64) -> RevisionSample {
    RevisionSample { requests, errors }
}

#[test]
fn a_release_failing_a_fifth_of_its_requests_is_worse_than_a_healthy_one() {
    let guard = RolloutGuard::default();
    let v = judge(
        sample(1000.0, 200.0),
        Some(sample(1000.0, 1.0)),
        99.9,
        &guard,
    );
    assert!(v.rolls_back(), "{v:?}");
    let text = explain(
        "error ratio",
        &v,
        "pizza-service:8",
        "pizza-service:7",
        &guard,
    );
    assert_eq!(
        text,
        "SLO guard: error ratio 20.00% on pizza-service:8 vs 0.10% on pizza-service:7 over 5m, above the limit 1.44%"
    );
}

#[test]
fn a_healthy_release_is_never_rolled_back() {
    let guard = RolloutGuard::default();
    // As good as the old one; a little worse but within the margin and the burn rate.
    for new in [
        sample(1000.0, 1.0),
        sample(1000.0, 10.0),
        sample(5000.0, 0.0),
    ] {
        let v = judge(new, Some(sample(1000.0, 1.0)), 99.9, &guard);
        assert!(!v.rolls_back(), "{new:?}: {v:?}");
    }
    // An old revision that was already bad: the new one is judged against it, not the SLO.
    let v = judge(
        sample(1000.0, 300.0),
        Some(sample(1000.0, 295.0)),
        99.9,
        &guard,
    );
    assert!(!v.rolls_back(), "{v:?}");
}

#[test]
fn no_verdict_on_too_few_requests() {
    let guard = RolloutGuard::default();
    let v = judge(sample(99.0, 99.0), Some(sample(1000.0, 0.0)), 99.9, &guard);
    assert_eq!(
        v,
        Verdict::TooFewRequests {
            requests: 99.0,
            needed: 100
        }
    );
    assert!(!v.rolls_back());
}

#[test]
fn without_old_traffic_the_budget_burn_alone_decides() {
    let guard = RolloutGuard::default();
    // 99.9 %: budget 0.1 %, x14.4 = 1.44 %; the margin (1 %) over nothing is below that.
    assert!(!judge(sample(1000.0, 14.0), None, 99.9, &guard).rolls_back());
    assert!(judge(sample(1000.0, 15.0), None, 99.9, &guard).rolls_back());
    let v = judge(sample(1000.0, 15.0), None, 99.9, &guard);
    assert!(explain("error ratio", &v, "a:2", "a:1", &guard).contains("no traffic on a:1"));
}

#[test]
fn samples_pair_requests_and_errors_by_revision() {
    let total = serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"revision": "web:1"}, "value": [1.0, "1200"]},
        {"metric": {"revision": "web:2"}, "value": [1.0, "300.5"]},
        {"metric": {}, "value": [1.0, "7"]},
        {"metric": {"revision": "web:3"}, "value": [1.0, "NaN"]}
    ]}});
    let failed = serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"revision": "web:2"}, "value": [1.0, "60"]}
    ]}});
    let s = samples(&total, &failed);
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(s["web:1"], sample(1200.0, 0.0));
    assert_eq!(s["web:2"], sample(300.5, 60.0));
}

#[test]
fn a_latency_objective_adds_the_slow_ratio_from_the_bucket_at_its_threshold() {
    let m: MonitoredService = crate::yaml::from_str(
        "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: web\nspec:\n  container:\n    image: nginx:1.27\n  notify:\n    team: web\n  slo:\n    availability: 99.9\n    latency:\n      threshold: 300ms\n      objective: 99\n",
    )
    .expect("a valid manifest");
    let guard = RolloutGuard::default();
    let s = signals(&m, &guard);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].name, "error ratio");
    assert_eq!(
        s[0].bad,
        "sum by (revision) (increase(http_requests_total{job=\"web\",code=~\"5..\"}[5m]))"
    );
    assert_eq!((s[1].name, s[1].objective), ("slow ratio", 99.0));
    assert_eq!(
        s[1].total,
        "sum by (revision) (increase(http_request_duration_seconds_count{job=\"web\"}[5m]))"
    );
    assert_eq!(
        s[1].bad,
        "sum by (revision) (increase(http_request_duration_seconds_count{job=\"web\"}[5m])) - sum by (revision) (increase(http_request_duration_seconds_bucket{job=\"web\",le=\"0.3\"}[5m]))"
    );
    // 99 %: a budget of 1 %, x14.4: more than 14.4 % slow requests on the new revision.
    assert!(judge(
        sample(1000.0, 150.0),
        Some(sample(1000.0, 5.0)),
        99.0,
        &guard
    )
    .rolls_back());
    assert!(!judge(
        sample(1000.0, 140.0),
        Some(sample(1000.0, 5.0)),
        99.0,
        &guard
    )
    .rolls_back());
    let without: MonitoredService = crate::yaml::from_str(
        "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: web\nspec:\n  container:\n    image: nginx:1.27\n  notify:\n    team: web\n",
    )
    .expect("a valid manifest");
    assert!(
        signals(&without, &guard).is_empty(),
        "no SLO, nothing to judge"
    );
}
