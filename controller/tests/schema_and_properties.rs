//! The published JSON Schemas match the Rust types, and no input makes the parser panic.

use std::path::Path;

use ecs_operator::manifest::ManifestSet;
use proptest::prelude::*;

fn repo_file(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn assert_checked_in(relative: &str, generated: serde_json::Value, command: &str) {
    let path = repo_file(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; regenerate with `{command}`", path.display()));
    let checked_in: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        checked_in == generated,
        "{relative} is stale; regenerate with `{command} > {relative}`"
    );
}

#[test]
fn the_checked_in_manifest_schema_equals_the_generated_one() {
    assert_checked_in(
        "manifests/schema/monitoredservice.schema.json",
        ecs_operator::manifest::json_schema(),
        "cargo run -p ecs-operator -- schema",
    );
}

#[test]
fn the_checked_in_settings_schema_equals_the_generated_one() {
    let generated = serde_json::to_value(schemars::schema_for!(ecs_operator::Settings)).unwrap();
    assert_checked_in(
        "manifests/schema/settings.schema.json",
        generated,
        "cargo run -p ecs-operator -- schema --settings",
    );
}

#[test]
fn the_manifest_schema_forbids_unknown_fields_and_requires_the_essentials() {
    let schema = ecs_operator::manifest::json_schema();
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in ["apiVersion", "kind", "metadata", "spec"] {
        assert!(required.contains(&field), "{field} must be required");
    }
}

const VALID: &str = include_str!("../../manifests/examples/pizza-service.yaml");

fn load(bytes: &[u8]) -> ManifestSet {
    let mut set = ManifestSet::default();
    set.add_source("fuzz.yaml", bytes, None);
    set.finish();
    set
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    /// Arbitrary bytes: an error or a value, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let set = load(&bytes);
        prop_assert!(set.manifests.len() + set.rejected.len() <= 1 + bytes.len());
    }

    /// A valid manifest with one byte changed, removed or inserted: a value or an error with a
    /// position, never a panic.
    #[test]
    fn mutated_valid_manifests_never_panic(
        position in 0usize..VALID.len(),
        byte in any::<u8>(),
        operation in 0u8..3,
    ) {
        let mut bytes = VALID.as_bytes().to_vec();
        match operation {
            0 => bytes[position] = byte,
            1 => { bytes.remove(position); }
            _ => bytes.insert(position, byte),
        }
        let set = load(&bytes);
        for d in set.diagnostics() {
            prop_assert!(!d.message.is_empty());
            prop_assert!(d.line <= bytes.iter().filter(|b| **b == b'\n').count() + 2, "{}", d);
        }
        prop_assert!(set.manifests.len() <= 1);
    }

    /// Mutations at the line level (swap, duplicate, drop lines) keep the same guarantees.
    #[test]
    fn line_shuffled_manifests_never_panic(a in 0usize..80, b in 0usize..80, op in 0u8..3) {
        let mut lines: Vec<&str> = VALID.lines().collect();
        let (a, b) = (a % lines.len(), b % lines.len());
        match op {
            0 => lines.swap(a, b),
            1 => { let l = lines[a]; lines.insert(b, l); }
            _ => { lines.remove(a); }
        }
        let text = lines.join("\n");
        let set = load(text.as_bytes());
        prop_assert!(set.manifests.len() + set.rejected.len() >= 1);
    }
}
