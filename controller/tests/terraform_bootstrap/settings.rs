//! `operator_settings_yaml` (outputs.tf) against the operator's settings schema.

use std::collections::BTreeMap;

use hcl::expr::Expression;
use serde_json::Value;

use crate::support::*;

const SETTINGS_SCHEMA: &str = "manifests/schema/settings.schema.json";

fn settings_schema() -> Value {
    let path = repo_root().join(SETTINGS_SCHEMA);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{SETTINGS_SCHEMA} is missing or unreadable ({e}); generate it with \
             `ecs-operator schema --settings > {SETTINGS_SCHEMA}` and commit it"
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{SETTINGS_SCHEMA} is not JSON: {e}"))
}

/// Follows `$ref` (and single-branch `allOf` / `anyOf` / `oneOf` wrappers, where the other
/// branches are only `null`) to the object schema that has `properties`.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..16 {
        if current.get("properties").is_some() {
            return current;
        }
        if let Some(reference) = current.get("$ref").and_then(Value::as_str) {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("only local $refs are supported: {reference}"));
            current = root.pointer(pointer).unwrap_or_else(|| {
                panic!("$ref {reference} does not resolve in the settings schema")
            });
            continue;
        }
        let branch = ["allOf", "anyOf", "oneOf"].iter().find_map(|k| {
            current.get(*k).and_then(Value::as_array).and_then(|items| {
                let non_null: Vec<&Value> = items
                    .iter()
                    .filter(|s| s.get("type").and_then(Value::as_str) != Some("null"))
                    .collect();
                (non_null.len() == 1).then(|| non_null[0])
            })
        });
        match branch {
            Some(next) => current = next,
            None => return current,
        }
    }
    panic!("schema references nest too deeply")
}

/// Compares one HCL object against an object schema, recursing into nested objects whose schema
/// has properties. Returns the problems found, each prefixed with its key path.
fn object_against_schema(
    root: &Value,
    schema: &Value,
    object: &Expression,
    cfg: &Config,
    path: &str,
) -> Vec<String> {
    let schema = resolve(root, schema);
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return vec![format!("{path}: the schema has no properties here")];
    };
    let object = match object {
        Expression::Object(o) => o,
        other => {
            if let Some(["local", name]) = traversal_path(other)
                .as_deref()
                .map(|p| p.iter().map(String::as_str).collect::<Vec<_>>())
                .as_deref()
            {
                if let Some(value) = cfg.local(name) {
                    return object_against_schema(root, schema, value, cfg, path);
                }
            }
            return vec![format!(
                "{path}: expected an object literal, found {other:?}"
            )];
        }
    };
    let mut problems = Vec::new();
    let keys: BTreeMap<String, &Expression> =
        object.iter().map(|(k, v)| (object_key(k), v)).collect();
    for (key, value) in &keys {
        match properties.get(key) {
            None => problems.push(format!(
                "{path}{key}: not a property of the settings schema"
            )),
            Some(property) => {
                let resolved = resolve(root, property);
                if resolved.get("properties").is_some() && matches!(value, Expression::Object(_)) {
                    problems.extend(object_against_schema(
                        root,
                        resolved,
                        value,
                        cfg,
                        &format!("{path}{key}."),
                    ));
                }
            }
        }
    }
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let required = required.as_str().expect("required entries are strings");
        if !keys.contains_key(required) {
            problems.push(format!(
                "{path}{required}: required by the settings schema but missing"
            ));
        }
    }
    problems
}

fn settings_output_problems(cfg: &Config, schema: &Value) -> Vec<String> {
    let output = cfg
        .blocks("output")
        .find(|b| label(b, 0) == "operator_settings_yaml")
        .expect("outputs.tf defines output operator_settings_yaml");
    let value = attr(output.body(), "value").expect("operator_settings_yaml has a value");
    let Expression::FuncCall(call) = value else {
        return vec![format!(
            "operator_settings_yaml is not a function call: {value:?}"
        )];
    };
    if call.name.name.as_str() != "yamlencode" || call.args.len() != 1 {
        return vec![format!(
            "operator_settings_yaml must be yamlencode(<object>), found {}(..)",
            call.name.name
        )];
    }
    object_against_schema(schema, schema, &call.args[0], cfg, "")
}

#[test]
fn operator_settings_yaml_is_a_yamlencode_whose_keys_match_the_settings_schema() {
    let cfg = Config::load();
    let schema = settings_schema();
    let problems = settings_output_problems(&cfg, &schema);
    assert!(
        problems.is_empty(),
        "operator_settings_yaml vs {SETTINGS_SCHEMA}: {problems:#?}"
    );
}

#[test]
fn the_settings_key_check_rejects_unknown_and_missing_keys() {
    // The same check against a schema shaped like schemars' output, with broken documents.
    let schema: Value = serde_json::json!({
        "type": "object",
        "properties": {
            "operatorId": {"type": "string"},
            "network": {"$ref": "#/$defs/NetworkSettings"},
            "monitoring": {"$ref": "#/$defs/MonitoringSettings", "default": {}}
        },
        "required": ["operatorId", "network"],
        "$defs": {
            "NetworkSettings": {
                "type": "object",
                "properties": {"subnets": {"type": "array"}, "assignPublicIp": {"type": "boolean"}},
                "required": ["subnets"]
            },
            "MonitoringSettings": {
                "type": "object",
                "properties": {"configDir": {"type": ["string", "null"]}}
            }
        }
    });
    let good = Config::parse_str(
        r#"
        locals { settings = { operatorId = "x", network = { subnets = [] } } }
        output "operator_settings_yaml" { value = yamlencode(local.settings) }
        "#,
    );
    assert_eq!(
        settings_output_problems(&good, &schema),
        Vec::<String>::new()
    );

    let bad = Config::parse_str(
        r#"
        output "operator_settings_yaml" {
          value = yamlencode({
            operatorId = "x"
            network    = { assignPublicIp = false, securityGroup = [] }
            monitoring = { configDirectory = "/m" }
            bucket     = "b"
          })
        }
        "#,
    );
    let problems = settings_output_problems(&bad, &schema);
    for expected in [
        "network.subnets",
        "network.securityGroup",
        "monitoring.configDirectory",
        "bucket",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "{expected} not reported in {problems:#?}"
        );
    }

    let not_yaml =
        Config::parse_str(r#"output "operator_settings_yaml" { value = jsonencode({}) }"#);
    assert_eq!(settings_output_problems(&not_yaml, &schema).len(), 1);
}
