use super::super::tests::{example, settings};

fn dashboard(name: &str) -> serde_json::Value {
    let m = example(name);
    let out = super::super::render(&[&m], &settings());
    let path = format!(
        "grafana/dashboards/{}/{}.json",
        m.spec.notify.team, m.metadata.name
    );
    serde_json::from_str(&out.files[&path]).unwrap()
}

fn walk<'a>(v: &'a serde_json::Value, key: &str, out: &mut Vec<&'a serde_json::Value>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                if k == key {
                    out.push(x);
                }
                walk(x, key, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|x| walk(x, key, out)),
        _ => {}
    }
}

#[test]
fn every_datasource_is_the_template_variable_never_a_name() {
    let d = dashboard("every-field");
    let mut found = Vec::new();
    walk(&d, "datasource", &mut found);
    assert!(found.len() > 10);
    for ds in found {
        assert!(ds.is_object(), "{ds}");
        if ds["type"] != "grafana" {
            assert_eq!(
                ds,
                &serde_json::json!({"type": "prometheus", "uid": "${datasource}"})
            );
        }
    }
    assert_eq!(d["templating"]["list"][0]["type"], "datasource");
    assert_eq!(d["templating"]["list"][0]["query"], "prometheus");
}

#[test]
fn the_pizza_dashboard_draws_the_alert_thresholds_on_the_business_panels() {
    let d = dashboard("pizza-service");
    assert_eq!(d["uid"], "ecs-pizza-service");
    assert_eq!(d["tags"], serde_json::json!(["ecs-operator", "pizza"]));
    let panels = d["panels"].as_array().unwrap();
    let pace = panels
        .iter()
        .find(|p| {
            p["title"]
                .as_str()
                .unwrap()
                .starts_with("OrdersPaceAnomaly")
        })
        .unwrap();
    assert_eq!(
        pace["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"],
        20000.0
    );
    assert_eq!(
        pace["targets"][0]["expr"],
        r#"sum(rate(orders_created_total{job="pizza-service"}[5m])) * 3600"#
    );
    let failed = panels
        .iter()
        .find(|p| {
            p["title"]
                .as_str()
                .unwrap()
                .starts_with("FailedOrdersIncident")
        })
        .unwrap();
    assert_eq!(
        failed["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"],
        500.0
    );
    let ids: Vec<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique);
    assert!(panels.iter().any(|p| p["title"] == "Firing alerts"));
}

#[test]
fn manifest_panels_come_last() {
    let d = dashboard("every-field");
    let panels = d["panels"].as_array().unwrap();
    assert_eq!(panels[panels.len() - 2]["title"], "Checkouts per minute");
    assert_eq!(panels[panels.len() - 1]["type"], "stat");
}
