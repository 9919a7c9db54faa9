//! The figures each reliability test records for RELIABILITY.md (`scripts/reliability-report`),
//! and unique names for tests that share one moto.

use std::path::{Path, PathBuf};

use rand::Rng;

/// Where the tests leave their figures: `<repo>/.work/reliability/<name>.json`.
pub fn figures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.work/reliability")
}

/// Records one test's figures. `lost` counts anything lost or harmed (must be 0).
pub fn record_figures(name: &str, summary: &str, figures: serde_json::Value) {
    let dir = figures_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let document = serde_json::json!({
        "test": name,
        "summary": summary,
        "figures": figures,
        "recorded_at": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    });
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_string_pretty(&document).unwrap(),
    )
    .unwrap();
}

/// A name prefix no other test (or earlier run against the same moto) uses: moto ignores
/// Cloud Map's namespace filter, so names must be unique account-wide.
pub fn unique_prefix(tag: &str) -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..4)
        .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
        .collect();
    format!("{tag}{suffix}")
}
