//! What the fuzzer starts from: the valid seed manifests (every example, plus the corpus's base
//! manifest), the settings that make every seed valid, and the vocabulary of mutations.

use std::collections::BTreeSet;

use ecs_operator::settings::Settings;
use serde_yaml::Value;

use crate::generators::BASE;
use crate::mutations::Vocabulary;
use crate::pipeline::{settings, ALLOWED_ROLE};

/// The corpus settings plus what the every-field example refers to, so that seed is valid
/// before mutation.
pub fn fuzz_settings() -> Settings {
    let mut s = settings();
    s.allowed_clusters.push("shop".into());
    s.allowed_task_role_arns
        .push("arn:aws:iam::123456789012:role/checkout-task".into());
    s.allowed_deployment_role_arns = vec![
        "arn:aws:iam::123456789012:role/ecs-infrastructure-load-balancers".into(),
        "arn:aws:iam::123456789012:role/checkout-deployment-hooks".into(),
    ];
    // pizza-service routes from the platform's HTTPS listener (traffic.ingress).
    s.ingress = Some(ecs_operator::settings::IngressSettings::placeholder());
    s.networks.insert(
        "private".into(),
        ecs_operator::settings::NetworkSettings {
            subnets: vec!["subnet-private".into()],
            security_groups: vec!["sg-private".into()],
            assign_public_ip: false,
        },
    );
    s
}

/// Every document of `manifests/examples/` (in file name order) and the corpus's base manifest.
pub fn seeds() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // A fixed order, so a fixed proptest seed means the same inputs on every machine.
    paths.sort();
    let mut seeds = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc).unwrap();
            if !v.is_null() {
                seeds.push(v);
            }
        }
    }
    seeds.push(serde_yaml::from_str(BASE).unwrap());
    seeds
}

fn collect_keys(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                if let Some(k) = k.as_str() {
                    out.insert(k.to_string());
                }
                collect_keys(v, out);
            }
        }
        Value::Sequence(s) => s.iter().for_each(|v| collect_keys(v, out)),
        _ => {}
    }
}

/// Hostile strings for values, and every key the seeds use (sorted).
pub fn vocabulary(seeds: &[Value]) -> Vocabulary {
    let mut keys = BTreeSet::new();
    seeds.iter().for_each(|s| collect_keys(s, &mut keys));
    Vocabulary {
        strings: hostile_strings(),
        keys: keys.into_iter().collect(),
    }
}

fn hostile_strings() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "x",
        "A",
        "0",
        "-1",
        "1e309",
        "NaN",
        ".inf",
        "null",
        "~",
        "true",
        "yes",
        "0x10",
        "1_000",
        "\"}",
        "x\"} or vector(1) or up{a=\"",
        "{{ query \"up\" }}",
        "{{ $value }}",
        "}}",
        "{{",
        "../../etc/passwd",
        "/abs/path",
        "a/b",
        "..",
        "a\\b",
        "arn:aws:iam::123456789012:role/admin",
        ALLOWED_ROLE,
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf",
        "extra",
        "default",
        "production",
        "shop",
        "hello",
        "pizza-service",
        "checkout",
        "\u{202e}rtl",
        "nul\u{0}",
        "tab\there",
        "line\nbreak",
        "ünïcødé",
        "😀",
        "5m",
        "0s",
        "-5m",
        "1h30m",
        "999999999d",
        "100%",
        "$(id)",
        "`id`",
        "<script>",
        "%s%n",
        "'",
        "*",
        "&a",
        "!tag",
        "#c",
        "[",
        "]",
        "{",
        ":",
        "- x",
        "? x",
        "| x",
        "> x",
        "@x",
        "=x",
        "Orders",
        "HighLatency",
        "SLO",
        "slack",
        "webhook",
        "http://127.0.0.1:9093",
        "https://hooks.slack.com/services/x",
        "/etc/alertmanager/slack",
        "orders_total",
        "up",
        "sum(rate(x[5m]))",
        "rate(",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(300));
    v.push("y".repeat(5000));
    v
}
