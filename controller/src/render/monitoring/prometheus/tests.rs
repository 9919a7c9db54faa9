use super::super::tests::{example, settings};
use super::slo::budget;
use super::*;
use crate::manifest::MonitoredService;

fn rules_of(m: &MonitoredService) -> serde_json::Value {
    let out = super::super::render(&[m], &settings());
    let text = &out.files[&format!("prometheus/rules/{}.rules.yml", m.metadata.name)];
    crate::yaml::from_str(text).unwrap()
}

fn rule<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .find(|r| r["alert"] == name || r["record"] == name)
        .unwrap_or_else(|| panic!("no rule {name}"))
}

#[test]
fn the_pizza_alerts_are_exactly_the_documented_promql() {
    let doc = rules_of(&example("pizza-service"));
    assert_eq!(
        rule(&doc, "OrdersPaceAnomaly")["expr"],
        r#"sum(rate(orders_created_total{job="pizza-service"}[5m])) * 3600 > 20000"#
    );
    let c = r#"orders_created_total{job="pizza-service"}"#;
    let r = format!("{c}[1h]");
    assert_eq!(
        rule(&doc, "OrdersCountAnomaly")["expr"],
        format!("sum (((max_over_time({r}) - {c} offset 1h) or max_over_time({r})) unless resets({r}) > 0 or increase({r})) > 20000")
    );
    let f = r#"orders_failed_total{job="pizza-service"}"#;
    let r = format!("{f}[1h]");
    assert_eq!(
        rule(&doc, "FailedOrdersIncident")["expr"],
        format!("sum (((max_over_time({r}) - {f} offset 1h) or max_over_time({r})) unless resets({r}) > 0 or increase({r})) >= 500")
    );
    let incident = rule(&doc, "FailedOrdersIncident");
    assert_eq!(incident["labels"]["severity"], "critical");
    assert_eq!(incident["labels"]["team"], "pizza");
    assert_eq!(incident["labels"]["service"], "pizza-service");
    assert_eq!(incident["labels"]["tier"], "frontend");
    assert_eq!(
        incident["annotations"]["dashboard"],
        "https://grafana.example.com/d/ecs-pizza-service"
    );
    assert_eq!(
        incident["annotations"]["runbook_url"],
        "https://runbooks.example.com/pizza-service/failed-orders"
    );
    assert!(incident.get("for").is_none());
}

#[test]
fn every_alert_carries_service_team_severity_and_the_four_annotations() {
    for name in ["pizza-service", "every-field", "minimal"] {
        let doc = rules_of(&example(name));
        for g in doc["groups"].as_array().unwrap() {
            for r in g["rules"].as_array().unwrap() {
                if r.get("alert").is_none() {
                    continue;
                }
                for label in ["service", "team", "severity"] {
                    assert!(r["labels"][label].is_string(), "{name} {r}");
                }
                for a in ["summary", "description", "runbook_url", "dashboard"] {
                    assert!(r["annotations"][a].is_string(), "{name} {r}");
                }
            }
        }
    }
}

#[test]
fn group_and_rule_names_do_not_depend_on_settings_urls_or_other_services() {
    let m = example("every-field");
    let a = rules_of(&m);
    let names = |doc: &serde_json::Value| -> Vec<String> {
        doc["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| {
                let gname = g["name"].as_str().unwrap().to_string();
                g["rules"].as_array().unwrap().iter().map(move |r| {
                    format!(
                        "{gname}/{}",
                        r["alert"].as_str().or(r["record"].as_str()).unwrap()
                    )
                })
            })
            .collect()
    };
    let mut s = settings();
    s.monitoring.grafana_url = None;
    let out = super::super::render(&[&m], &s);
    let b: serde_json::Value =
        crate::yaml::from_str(&out.files["prometheus/rules/checkout.rules.yml"]).unwrap();
    assert_eq!(names(&a), names(&b));
    assert!(names(&a).contains(&"checkout.alerts/PaymentsDeclinedBurst".to_string()));
    assert!(names(&a).contains(&"checkout.health/TargetDown".to_string()));
    assert!(names(&a).contains(&"checkout.slo/LatencyBudgetBurnFast".to_string()));
    assert_eq!(
        rule(&b, "TargetDown")["annotations"]["dashboard"],
        "/d/ecs-checkout"
    );
}

#[test]
fn built_in_alert_names_are_the_reserved_ones() {
    let doc = rules_of(&example("every-field"));
    for g in doc["groups"].as_array().unwrap() {
        if g["name"] == "checkout.alerts" {
            continue;
        }
        for r in g["rules"].as_array().unwrap() {
            if let Some(name) = r["alert"].as_str() {
                assert!(
                    name.parse::<crate::domain::BuiltinAlert>().is_ok(),
                    "{name}"
                );
            }
        }
    }
}

#[test]
fn a_service_without_metrics_keeps_only_the_ecs_alerts() {
    let mut m = example("minimal");
    m.spec.metrics.enabled = false;
    let out = super::super::render(&[&m], &settings());
    assert!(!out.files["prometheus/prometheus.yml"].contains("job_name: hello"));
    let doc: serde_json::Value =
        crate::yaml::from_str(&out.files["prometheus/rules/hello.rules.yml"]).unwrap();
    let names: Vec<&str> = doc["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "TasksBelowDesired",
            "DeploymentFailed",
            "RolloutRolledBack",
            "TasksStopping"
        ]
    );
}

#[test]
fn health_alerts_can_be_switched_off() {
    let mut m = example("minimal");
    m.spec.health_alerts.enabled = false;
    let doc = rules_of(&m);
    assert_eq!(doc["groups"], serde_json::json!([]));
}

#[test]
fn label_values_with_quotes_backslashes_and_braces_stay_inside_their_literal() {
    let mut m = example("pizza-service");
    let nasty = r#"x"} or vector(1) or up{a="\"#;
    m.spec.alerts[2]
        .labels
        .insert("reason".into(), nasty.into());
    m.metadata
        .labels
        .insert("note".into(), "{{ $value }} \"q\"".into());
    let doc = rules_of(&m);
    let r = rule(&doc, "FailedOrdersIncident");
    let expr = r["expr"].as_str().unwrap();
    let values = super::super::promql::tests::matcher_values(expr, "reason");
    let literal = super::super::promql::quote(nasty);
    assert_eq!(values, vec![literal[1..literal.len() - 1].to_string(); 5]);
    assert_eq!(r["labels"]["note"], "{{ \"{{\" }} $value }} \"q\"");
}

#[test]
fn slo_budgets_print_without_float_noise() {
    assert_eq!(budget(99.9), "0.001");
    assert_eq!(budget(99.5), "0.005");
    assert_eq!(budget(99.0), "0.01");
    assert_eq!(budget(99.95), "0.0005");
}

#[test]
fn built_in_alerts_keep_their_for_unless_the_settings_replace_it() {
    let m = example("pizza-service");
    let for_of = |doc: &serde_json::Value, name: &str| rule(doc, name)["for"].clone();
    let defaults = rules_of(&m);
    assert_eq!(for_of(&defaults, "TargetDown"), "1m");
    assert_eq!(for_of(&defaults, "CpuNearLimit"), "2m");
    assert_eq!(for_of(&defaults, "MemoryNearLimit"), "2m");
    assert!(rule(&defaults, "DeploymentFailed").get("for").is_none());

    let mut s = settings();
    s.monitoring.builtin_alert_for = [
        ("TargetDown".to_string(), PromDuration::from_secs(5)),
        ("CpuNearLimit".to_string(), PromDuration::from_secs(10)),
        ("DeploymentFailed".to_string(), PromDuration::from_secs(30)),
    ]
    .into_iter()
    .collect();
    let out = super::super::render(&[&m], &s);
    let doc: serde_json::Value =
        crate::yaml::from_str(&out.files["prometheus/rules/pizza-service.rules.yml"]).unwrap();
    assert_eq!(for_of(&doc, "TargetDown"), "5s");
    assert_eq!(for_of(&doc, "CpuNearLimit"), "10s");
    assert_eq!(for_of(&doc, "DeploymentFailed"), "30s");
    assert_eq!(for_of(&doc, "MemoryNearLimit"), "2m", "others keep theirs");
    assert!(rule(&doc, "TargetDown")["annotations"]["description"]
        .as_str()
        .unwrap()
        .contains("for 5s"));
    // A user alert that happens to share a built-in's name is not touched.
    assert!(rule(&doc, "OrdersPaceAnomaly").get("for").is_none());
}

#[test]
fn settings_reject_a_for_override_of_an_unknown_alert() {
    let mut s = settings();
    s.monitoring
        .builtin_alert_for
        .insert("TargetDwn".into(), PromDuration::from_secs(5));
    let err = s.check().unwrap_err();
    assert!(err.contains("builtinAlertFor.TargetDwn"), "{err}");
    s.monitoring.builtin_alert_for.clear();
    for name in crate::domain::BuiltinAlert::ALL {
        s.monitoring
            .builtin_alert_for
            .insert(name.to_string(), PromDuration::from_secs(1));
    }
    assert_eq!(s.check(), Ok(()));
}

#[test]
fn sd_urls_carry_the_service_in_the_query() {
    assert_eq!(
        sd_url("http://op:8080/sd/prometheus", "pizza-service"),
        "http://op:8080/sd/prometheus?service=pizza-service"
    );
    assert_eq!(
        sd_url("http://op:8080/sd?x=1", "a"),
        "http://op:8080/sd?x=1&service=a"
    );
}
