//! The versions the bootstrap deploys: explicit release tags, and one Grafana version shared by
//! the deployed image and the dashboard types the operator's dashboards are validated against
//! (`tools/grafana-schema`, `@grafana/schema`). The Prometheus the Rust tests run (Debian 2.42)
//! is separate and not checked here.

use serde_json::Value;

use crate::support::*;

/// `major.minor.patch` of a tag such as `v3.13.3` or `12.4.14` (nothing else: no `latest`, no
/// suffixes).
fn release(tag: &str) -> Option<(u64, u64, u64)> {
    let parts: Vec<u64> = tag
        .strip_prefix('v')
        .unwrap_or(tag)
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [major, minor, patch] => Some((*major, *minor, *patch)),
        _ => None,
    }
}

fn image_release(cfg: &Config, variable: &str) -> (String, (u64, u64, u64)) {
    let image = as_str(cfg.variable_default(variable))
        .unwrap_or_else(|| panic!("variable {variable} has a string default"));
    let (_, tag) = image
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{variable} = {image}: no tag"));
    let version =
        release(tag).unwrap_or_else(|| panic!("{variable} = {image}: not an explicit release tag"));
    (image.to_string(), version)
}

#[test]
fn the_platform_images_are_pinned_releases_with_prometheus_on_3_x() {
    let cfg = Config::load();
    for variable in ["prometheus_image", "alertmanager_image", "grafana_image"] {
        image_release(&cfg, variable);
    }
    let (image, (major, _, _)) = image_release(&cfg, "prometheus_image");
    assert!(major >= 3, "{image}: the bootstrap deploys Prometheus 3.x");
    assert_eq!(release("latest"), None);
    assert_eq!(release("v3.13"), None);
    assert_eq!(release("12.4.14-security-01"), None);
}

#[test]
fn the_grafana_image_and_the_dashboard_schema_are_the_same_grafana_version() {
    let cfg = Config::load();
    let (image, (major, minor, patch)) = image_release(&cfg, "grafana_image");
    let path = repo_root().join("tools/grafana-schema/package.json");
    let package: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema = package["dependencies"]["@grafana/schema"]
        .as_str()
        .expect("package.json pins @grafana/schema");
    let (s_major, s_minor, s_patch) =
        release(schema).unwrap_or_else(|| panic!("@grafana/schema {schema}: pin an exact version"));
    assert_eq!(
        (major, minor),
        (s_major, s_minor),
        "{image} deploys Grafana {major}.{minor}; the dashboards are validated against \
         @grafana/schema {schema}: change both together"
    );
    // npm does not publish @grafana/schema for every Grafana patch: the image may be newer within
    // the minor line, never older than the types the dashboards were checked against.
    assert!(
        patch >= s_patch,
        "{image} is older than @grafana/schema {schema}"
    );
    let lock_path = repo_root().join("tools/grafana-schema/package-lock.json");
    let lock: Value = serde_json::from_str(&std::fs::read_to_string(&lock_path).unwrap())
        .expect("package-lock.json");
    assert_eq!(
        lock["packages"]["node_modules/@grafana/schema"]["version"].as_str(),
        Some(schema),
        "package-lock.json locks the @grafana/schema that package.json pins"
    );
}
