//! The `MonitoredService` manifest: its types, how it is read, and how it is checked.

pub mod environments;
pub mod load;
pub mod model;
pub mod schedule;
pub mod validate;

pub use load::{load_paths, load_paths_in, LoadedManifest, ManifestSet, RejectedManifest};
pub use model::*;

/// The JSON Schema of a manifest, as published in `manifests/schema/`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(MonitoredService);
    serde_json::to_value(schema).expect("a schema always serialises")
}
