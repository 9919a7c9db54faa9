//! The reverse check: which permissions of a policy no recorded request needed, and which
//! actions a record holds.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// (Sid, action) of each Allow statement's actions that allowed no request of the report.
/// (Sid-level "unused statements" are the Sids all of whose actions are here.)
pub fn unexercised_permissions(policy: &Value, report: &Value) -> BTreeSet<(String, String)> {
    let mut used = BTreeSet::new();
    for r in report["results"].as_array().unwrap() {
        let action = r["action"].as_str().unwrap().to_lowercase();
        for sid in r["allowedBy"].as_array().unwrap() {
            used.insert((sid.as_str().unwrap().to_string(), action.clone()));
        }
    }
    let mut unexercised = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        if statement["Effect"] != "Allow" {
            continue;
        }
        let sid = statement["Sid"].as_str().unwrap().to_string();
        let actions: Vec<String> = match &statement["Action"] {
            Value::String(a) => vec![a.clone()],
            list => list
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect(),
        };
        for action in actions {
            if !used.contains(&(sid.clone(), action.to_lowercase())) {
                unexercised.insert((sid.clone(), action));
            }
        }
    }
    unexercised
}

/// The condition keys the evaluator ignored (not applicable to the action), except `known`.
pub fn ignored_keys(report: &Value, known: &[&str]) -> BTreeSet<String> {
    report["ignoredContext"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["keys"].as_array().unwrap().iter())
        .filter_map(|k| k.as_str())
        .filter(|k| !known.contains(k))
        .map(String::from)
        .collect()
}

/// Action -> number of request lines.
pub fn actions_of(lines: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for l in lines {
        *counts
            .entry(l["action"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    counts
}

#[test]
fn a_permission_counts_as_exercised_only_for_the_statement_that_allowed_it() {
    let policy = serde_json::json!({"Statement": [
        {"Sid": "A", "Effect": "Allow", "Action": ["ecs:ListServices", "ecs:ListTasks"], "Resource": "*"},
        {"Sid": "B", "Effect": "Allow", "Action": "ecs:ListServices", "Resource": "*"},
        {"Sid": "D", "Effect": "Deny", "Action": "ecs:DeleteService", "Resource": "*"}
    ]});
    let report = serde_json::json!({"results": [
        {"action": "ecs:ListServices", "allowedBy": ["A"]},
        {"action": "ecs:DeleteService", "allowedBy": []}
    ]});
    let pairs: Vec<(String, String)> = unexercised_permissions(&policy, &report)
        .into_iter()
        .collect();
    assert_eq!(
        pairs,
        [
            ("A".to_string(), "ecs:ListTasks".to_string()),
            ("B".to_string(), "ecs:ListServices".to_string())
        ]
    );
}
