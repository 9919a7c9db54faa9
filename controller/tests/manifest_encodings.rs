//! How a manifest's encoding is handled: a UTF-8 byte-order mark (what Windows editors write)
//! is accepted with positions as the editor shows them; a UTF-16 file is named as such, with
//! what to do about it, instead of a misleading YAML error.

use ecs_operator::manifest::ManifestSet;

const BASE: &str = "\
apiVersion: ecs-operator.io/v1alpha1
kind: MonitoredService
metadata:
  name: pizza
spec:
  container:
    image: pizza:1
    port: 8080
  notify:
    team: pizza
";

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn load(bytes: &[u8]) -> ManifestSet {
    let mut set = ManifestSet::default();
    set.add_source("case.yaml", bytes, None);
    set.finish();
    set
}

fn with_bom(text: &str) -> Vec<u8> {
    [BOM, text.as_bytes()].concat()
}

fn diagnostics(set: &ManifestSet) -> Vec<String> {
    set.diagnostics().map(|d| d.to_string()).collect()
}

#[test]
fn a_manifest_that_starts_with_a_utf8_byte_order_mark_is_accepted() {
    let set = load(&with_bom(BASE));
    assert_eq!(diagnostics(&set), Vec::<String>::new());
    assert_eq!(set.manifests.len(), 1);
    assert_eq!(set.manifests[0].name(), "pizza");
}

#[test]
fn problems_in_a_file_with_a_byte_order_mark_are_reported_where_an_editor_shows_them() {
    // The same mistake with and without the mark: the same line and column, on the first line
    // (where the invisible mark sits) and further down.
    for (text, path) in [
        (BASE.replace("ecs-operator.io/v1alpha1", "v1"), "apiVersion"),
        (BASE.replace("port: 8080", "port: 0"), "spec.container.port"),
    ] {
        let plain = load(text.as_bytes());
        let marked = load(&with_bom(&text));
        let find = |set: &ManifestSet| {
            set.diagnostics()
                .find(|d| d.path == path)
                .map(|d| (d.line, d.column, d.message.clone()))
                .unwrap_or_else(|| panic!("no diagnostic at {path}: {:?}", diagnostics(set)))
        };
        assert_eq!(find(&marked), find(&plain), "{path}");
    }
    let marked = load(&with_bom(&BASE.replace("ecs-operator.io/v1alpha1", "v1")));
    // Column 1 is the `a` of `apiVersion`, as an editor shows it (counting the mark gave 2).
    let d = marked.diagnostics().next().unwrap();
    assert_eq!((d.line, d.column), (1, 1), "{d}");
}

fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut out = if little_endian {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for unit in text.encode_utf16() {
        let bytes = if little_endian {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        };
        out.extend_from_slice(&bytes);
    }
    out
}

#[test]
fn a_utf16_file_is_named_as_utf16_with_what_to_do_about_it() {
    for (little_endian, mark) in [(true, "FF FE"), (false, "FE FF")] {
        let set = load(&utf16(BASE, little_endian));
        assert!(set.manifests.is_empty());
        let all = diagnostics(&set);
        assert_eq!(
            all,
            vec![format!(
                "case.yaml:1:1: file is UTF-16 ({} byte-order mark {mark}), not UTF-8: save it as UTF-8 (document 0)",
                if little_endian { "little-endian" } else { "big-endian" }
            )]
        );
    }
}

#[test]
fn a_settings_file_with_a_byte_order_mark_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.yaml");
    let settings = "operatorId: local\ncluster: main\nnetwork: {subnets: [subnet-a]}\nexecutionRoleArn: arn:aws:iam::123456789012:role/x\nlogGroup: /ecs/services\nmanifestSource: manifests\n";
    std::fs::write(&path, with_bom(settings)).unwrap();
    let loaded = ecs_operator::Settings::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.operator_id, "local");
}
