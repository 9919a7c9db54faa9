use std::sync::Arc;

use super::*;
use crate::manifest::ManifestSet;

fn tree(text: &str) -> Tree {
    yaml::parse_trees(text).unwrap().remove(0)
}

const DOC: &str = "\
apiVersion: ecs-operator.io/v1alpha1
kind: MonitoredService
metadata:
  name: web
spec:
  container:
    image: web:1
    cpu: 512
    memory: 1024
    env:
      MODE: full
      WORKERS: 4
  scaling:
    minTasks: 2
    maxTasks: 6
    targetCpuPercent: 60
  notify:
    team: web
  environments:
    staging:
      container:
        image: web:2
        env:
          MODE: lite
      scaling:
        maxTasks: 3
    prod: {}
";

#[test]
fn mappings_merge_key_by_key_and_scalars_and_lists_replace() {
    let mut base = tree("a: {x: 1, y: {p: 1, q: 2}}\nlist: [1, 2, 3]\ns: old\n");
    merge(
        &mut base,
        tree("a: {y: {q: 3, r: 4}, z: 5}\nlist: [9]\ns: new\nt: added\n"),
    );
    assert_eq!(
        base,
        tree("a: {x: 1, y: {p: 1, q: 3, r: 4}, z: 5}\nlist: [9]\ns: new\nt: added\n")
    );
}

#[test]
fn a_scalar_replaces_a_mapping_and_a_mapping_replaces_a_scalar() {
    let mut base = tree("a: {x: 1}\nb: plain\n");
    merge(&mut base, tree("a: gone\nb: {now: mapping}\n"));
    assert_eq!(base, tree("a: gone\nb: {now: mapping}\n"));
}

#[test]
fn the_merged_document_has_the_override_and_no_environments() {
    let merged = merged(&tree(DOC), "staging").unwrap();
    let spec = merged.get("spec").unwrap();
    assert!(spec.get("environments").is_none());
    let m: MonitoredService = yaml::from_tree(&merged).unwrap();
    assert_eq!(m.spec.container.image, "web:2");
    assert_eq!(m.spec.container.cpu, 512, "untouched fields stay");
    assert_eq!(m.spec.container.env["MODE"], "lite");
    assert_eq!(
        m.spec.container.env["WORKERS"], "4",
        "a plain number stays a string, as in the base"
    );
    assert_eq!((m.spec.scaling.min_tasks, m.spec.scaling.max_tasks), (2, 3));
    assert!(m.spec.environments.is_empty());
    assert!(super::merged(&tree(DOC), "qa").is_none());
}

#[test]
fn environments_cannot_be_overridden_and_names_are_dns_labels() {
    let doc = tree(
        "spec:\n  environments:\n    staging:\n      environments: {prod: {}}\n    Prod_1: {}\n",
    );
    let errors = shape_errors(&doc);
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "spec.environments.staging.environments",
            "spec.environments.Prod_1"
        ]
    );
    // Even then the nested map is not merged into the environment's spec.
    let merged = merged(&doc, "staging").unwrap();
    assert!(merged.get("spec").unwrap().get("environments").is_none());
    assert!(shape_errors(&tree(DOC)).is_empty());
}

#[test]
fn a_field_the_override_sets_is_located_at_the_override() {
    let docs = yaml::parse_stream::<MonitoredService>(&Arc::from(DOC)).unwrap();
    let positions = docs[0].positions.index().unwrap();
    let at = locate(positions, "staging", "spec.scaling.maxTasks");
    assert_eq!(at.path, "spec.environments.staging.scaling.maxTasks");
    assert_eq!(at.position.line, 26);
    assert!(at.in_override);
    let at = locate(positions, "staging", "spec.scaling.minTasks");
    assert_eq!(at.path, "spec.scaling.minTasks");
    assert_eq!(at.position.line, 14);
    assert!(!at.in_override);
}

fn load(environment: Option<&str>) -> ManifestSet {
    let mut settings = Settings::local_defaults();
    settings.environment = environment.map(str::to_string);
    let mut set = ManifestSet::default();
    set.add_source("web.yaml", DOC.as_bytes(), Some(&settings));
    set.finish();
    let problems: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}");
    set
}

#[test]
fn an_environment_without_an_override_or_none_uses_the_base_spec() {
    for environment in [None, Some("qa"), Some("prod")] {
        let set = load(environment);
        let spec = &set.manifests[0].manifest.spec;
        assert_eq!(spec.container.image, "web:1", "{environment:?}");
        assert_eq!(spec.scaling.max_tasks, 6, "{environment:?}");
        assert!(spec.environments.is_empty(), "{environment:?}");
    }
    let staging = load(Some("staging"));
    let m = &staging.manifests[0];
    assert_eq!(m.manifest.spec.container.image, "web:2");
    assert_eq!(
        m.positions.lookup("spec.scaling.maxTasks").line,
        26,
        "the kept positions point at the override"
    );
}

#[test]
fn more_environments_than_allowed_are_refused_before_any_is_merged() {
    let many: String = (0..=MAX_ENVIRONMENTS)
        .map(|i| format!("    env{i}: {{}}\n"))
        .collect();
    let text = DOC.replace("    prod: {}\n", &many);
    let mut set = ManifestSet::default();
    set.add_source("web.yaml", text.as_bytes(), None);
    let problems: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let message = &problems[0];
    assert!(message.contains("at most 16"), "{message}");
}
