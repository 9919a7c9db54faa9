//! A key written twice in any free-form map of a manifest is an error at its second line,
//! whichever reader (serde or the position index) notices it.

use super::*;

/// One case per free-form map of the manifest: (map path, text repeating key `k` in it, line
/// of the repetition).
fn repeated_key_cases() -> Vec<(&'static str, String, usize)> {
    let meta =
        |field: &str| with_line(4, &format!("  name: pizza\n  {field}:\n    k: a\n    k: b"));
    let container = |field: &str| {
        with_line(
            10,
            &format!("    port: 8080\n    {field}:\n      k: a\n      k: b"),
        )
    };
    let sidecar = |field: &str| {
        with_spec(&format!(
            "  sidecars:\n    - name: s\n      image: s:1\n      {field}\n"
        ))
    };
    vec![
        ("metadata.labels", meta("labels"), 7),
        ("metadata.annotations", meta("annotations"), 7),
        ("spec.container.env", container("env"), 13),
        ("spec.container.secrets", container("secrets"), 13),
        (
            "spec.alerts[].labels",
            with_spec("  alerts:\n  - name: Orders\n    labels:\n      k: a\n      k: b\n"),
            17,
        ),
        (
            "spec.container.logging.options",
            with_line(10, "    port: 8080\n    logging:\n      options:\n        k: a\n        k: b"),
            14,
        ),
        ("spec.sidecars[].env", sidecar("env:\n        k: a\n        k: b"), 18),
        ("spec.sidecars[].secrets", sidecar("secrets:\n        k: a\n        k: b"), 18),
        (
            "spec.sidecars[].logging.options",
            sidecar("logging:\n        options:\n          k: a\n          k: b"),
            19,
        ),
        (
            "spec.sidecars[].firelens.options",
            sidecar("firelens:\n        type: fluentbit\n        options:\n          k: a\n          k: b"),
            20,
        ),
        (
            "spec.environments",
            with_spec("  environments:\n    k: {}\n    k: {}\n"),
            15,
        ),
        (
            "spec.environments.*",
            with_spec("  environments:\n    staging:\n      notify:\n        k: a\n        k: b\n"),
            17,
        ),
    ]
}

#[test]
fn every_free_form_map_refuses_a_repeated_key_at_its_second_line() {
    for (map, text, line) in repeated_key_cases() {
        let set = load(&text);
        assert!(set.manifests.is_empty(), "{map}: accepted\n{text}");
        let d = set.diagnostics().next().expect("a diagnostic");
        assert!(
            d.line == line && d.path.ends_with(".k") && d.message.contains("duplicate key"),
            "{map}: {d}"
        );
    }
}

/// serde keeps the last of two equal map keys; the manifest's maps refuse them
/// (`manifest::model::unique_keys`). A new map field must be added to the cases above.
#[test]
fn the_repeated_key_cases_cover_every_map_of_the_schema() {
    fn maps(
        schema: &serde_json::Value,
        node: &serde_json::Value,
        path: &str,
        out: &mut Vec<String>,
    ) {
        if let Some(target) = node["$ref"].as_str() {
            let name = target.rsplit('/').next().unwrap();
            return maps(schema, &schema["$defs"][name], path, out);
        }
        let free_form = &node["additionalProperties"];
        if (free_form.is_object() || free_form == true) && node.get("properties").is_none() {
            out.push(path.to_string());
        }
        for (key, child) in node["properties"].as_object().into_iter().flatten() {
            maps(schema, child, &format!("{path}.{key}"), out);
        }
        if node["items"].is_object() {
            maps(schema, &node["items"], &format!("{path}[]"), out);
        }
        if node["additionalProperties"].is_object() {
            maps(
                schema,
                &node["additionalProperties"],
                &format!("{path}.*"),
                out,
            );
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for child in node[key].as_array().into_iter().flatten() {
                maps(schema, child, path, out);
            }
        }
    }
    let text = include_str!("../../../manifests/schema/monitoredservice.schema.json");
    let schema: serde_json::Value = serde_json::from_str(text).unwrap();
    let mut found = Vec::new();
    maps(&schema, &schema, "", &mut found);
    let mut found: Vec<String> = found
        .iter()
        .map(|p| p.trim_start_matches('.').to_string())
        .collect();
    found.sort();
    found.dedup();
    let mut tested: Vec<String> = repeated_key_cases()
        .iter()
        .map(|c| c.0.to_string())
        .collect();
    tested.sort();
    assert_eq!(found, tested);
}
