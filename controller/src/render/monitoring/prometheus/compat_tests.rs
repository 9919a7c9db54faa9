//! What the rendered rules must hold to mean the same in Prometheus 2.42 (the tests' servers)
//! and Prometheus 3 (what the bootstrap deploys), from the Prometheus 3 migration guide
//! (<https://prometheus.io/docs/prometheus/latest/migration/>): names valid in the legacy
//! charset (3.x accepts UTF-8 names, 2.42 does not, and a legacy-valid name needs no quoting in
//! either), and `le` matchers that select a bucket however it is spelt (3.x normalises `le` to
//! a float at ingestion: `le="1"` is stored as `le="1.0"`). The spellings modelled here are
//! read back from both versions' parsers in `controller/tests/prometheus_versions.rs`, which
//! also runs every rendered matcher in both promtools.

use promql_parser::parser::{self, Expr};

use super::super::tests::{example, settings};
use crate::duration::PromDuration;
use crate::manifest::MonitoredService;
use crate::render::monitoring::promql::go_float;

const LEGACY_METRIC: &str = "^[a-zA-Z_:][a-zA-Z0-9_:]*$";
const LEGACY_LABEL: &str = "^[a-zA-Z_][a-zA-Z0-9_]*$";

/// Every rule of `m`'s rendered rule file.
fn rules(m: &MonitoredService) -> Vec<serde_json::Value> {
    let out = super::super::render(&[m], &settings());
    let text = &out.files[&format!("prometheus/rules/{}.rules.yml", m.metadata.name)];
    let doc: serde_json::Value = crate::yaml::from_str(text).unwrap();
    doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect()
}

/// Metric names and (label name, unescaped value) of every selector in `expr`.
fn selectors(expr: &str) -> (Vec<String>, Vec<(String, String)>) {
    fn walk(e: &Expr, names: &mut Vec<String>, matchers: &mut Vec<(String, String)>) {
        let mut selector = |vs: &parser::VectorSelector| {
            names.extend(vs.name.clone());
            for m in vs
                .matchers
                .matchers
                .iter()
                .chain(vs.matchers.or_matchers.iter().flatten())
            {
                // promql-parser keeps a literal's escapes as written.
                matchers.push((m.name.clone(), m.value.replace("\\\\", "\\")));
            }
        };
        match e {
            Expr::VectorSelector(vs) => selector(vs),
            Expr::MatrixSelector(ms) => selector(&ms.vs),
            Expr::Aggregate(a) => {
                walk(&a.expr, names, matchers);
                if let Some(p) = &a.param {
                    walk(p, names, matchers);
                }
            }
            Expr::Binary(b) => {
                walk(&b.lhs, names, matchers);
                walk(&b.rhs, names, matchers);
            }
            Expr::Paren(p) => walk(&p.expr, names, matchers),
            Expr::Unary(u) => walk(&u.expr, names, matchers),
            Expr::Subquery(s) => walk(&s.expr, names, matchers),
            Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, names, matchers)),
            _ => {}
        }
    }
    let parsed = parser::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    let (mut names, mut matchers) = (Vec::new(), Vec::new());
    walk(&parsed, &mut names, &mut matchers);
    (names, matchers)
}

#[test]
fn every_rendered_metric_and_label_name_is_valid_in_the_legacy_charset() {
    let metric = regex::Regex::new(LEGACY_METRIC).unwrap();
    let label = regex::Regex::new(LEGACY_LABEL).unwrap();
    let mut checked = 0;
    for name in ["pizza-service", "every-field", "minimal"] {
        for rule in rules(&example(name)) {
            let (names, matchers) = selectors(rule["expr"].as_str().unwrap());
            let record = rule["record"].as_str().map(str::to_string);
            for n in names.iter().chain(record.iter()) {
                assert!(metric.is_match(n), "{name}: metric name {n:?}");
                checked += 1;
            }
            let keys = rule["labels"].as_object().into_iter().flatten();
            for l in matchers.iter().map(|(n, _)| n).chain(keys.map(|(k, _)| k)) {
                assert!(label.is_match(l), "{name}: label name {l:?}");
                checked += 1;
            }
        }
    }
    assert!(checked > 200, "only {checked} names checked");
}

#[test]
fn a_label_name_only_prometheus_3_accepts_is_refused_by_validation() {
    // `tier.name` is a valid UTF-8 name in 3.x; 2.42 rejects a rule that carries it.
    let mut m = example("pizza-service");
    m.metadata.labels.insert("tier.name".into(), "x".into());
    let errors = crate::manifest::validate::validate(&m, None);
    assert!(
        errors.iter().any(|e| e.path.starts_with("metadata.labels")),
        "{errors:?}"
    );
}

/// How Prometheus 3 stores a bucket bound Go's client wrote as `go_float(b)`.
fn prometheus3_spelling(b: f64) -> String {
    let go = go_float(b);
    if go.contains(['.', 'e']) {
        go
    } else {
        format!("{go}.0")
    }
}

fn matches(op_value: &str, regex: bool, text: &str) -> bool {
    if regex {
        // Label regexes are anchored at both ends in Prometheus 2 and 3.
        regex::Regex::new(&format!("^(?:{op_value})$"))
            .unwrap()
            .is_match(text)
    } else {
        op_value == text
    }
}

#[test]
fn every_rendered_le_matcher_selects_its_bucket_in_every_spelling_and_no_other() {
    let mut checked = 0;
    for millis in [500, 1000, 2500, 300_000, 1_000_000_000] {
        let mut m = example("every-field");
        let latency = m.spec.slo.as_mut().unwrap().latency.as_mut().unwrap();
        latency.threshold = PromDuration::from_millis(millis);
        let bound = millis as f64 / 1000.0;
        let plain = format!("{bound}");
        let mut spellings = vec![go_float(bound), prometheus3_spelling(bound), plain.clone()];
        if !plain.contains('.') {
            spellings.push(format!("{plain}.0"));
        }
        let near = [go_float(bound * 10.0), format!("{}1", go_float(bound))];
        for rule in rules(&m) {
            let expr = rule["expr"].as_str().unwrap();
            let (_, matchers) = selectors(expr);
            for (name, value) in matchers
                .iter()
                .filter(|(n, _)| n == "le" || n == "quantile")
            {
                let regex = expr.contains(&format!("{name}=~"));
                for s in &spellings {
                    assert!(matches(value, regex, s), "{expr}: {name} misses {s:?}");
                }
                for s in &near {
                    assert!(!matches(value, regex, s), "{expr}: {name} takes {s:?}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 5, "only {checked} le matchers checked");
}
