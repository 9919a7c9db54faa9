//! The shape of the code, kept by tests: the modules of `controller/src` import each other
//! without a circle, no source file grows past 600 lines, the loop of `ecs-operator run` stays
//! a scheduler (under 120 lines), and no error is classified by searching its debug text.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its path relative to `src`.
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(src()).unwrap().display().to_string();
            out.push((relative, std::fs::read_to_string(&path).unwrap()));
        }
    }
    out.sort();
    out
}

/// The top-level module a file belongs to (`plan/service.rs` -> `plan`).
fn top_module(relative: &str) -> String {
    relative
        .split('/')
        .next()
        .unwrap()
        .trim_end_matches(".rs")
        .to_string()
}

/// Top-level module -> the top-level modules its code names through `crate::`. Unit-test
/// files are left out: a test may reach anywhere.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (relative, text) in sources(&src()) {
        let module = top_module(&relative);
        if matches!(module.as_str(), "lib" | "main") || relative.ends_with("tests.rs") {
            continue;
        }
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let deps = graph.entry(module.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                deps.insert(name);
            }
        }
    }
    graph
}

fn path_between(
    graph: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    to: &str,
    seen: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    for next in graph.get(from).into_iter().flatten() {
        if next == to {
            return Some(vec![from.to_string(), to.to_string()]);
        }
        if seen.insert(next.clone()) {
            if let Some(mut rest) = path_between(graph, next, to, seen) {
                rest.insert(0, from.to_string());
                return Some(rest);
            }
        }
    }
    None
}

#[test]
fn the_modules_of_the_operator_import_each_other_without_a_circle() {
    let graph = import_graph();
    assert!(graph.len() > 10, "the graph was read: {graph:?}");
    let circles: Vec<String> = graph
        .keys()
        .filter_map(|m| path_between(&graph, m, m, &mut BTreeSet::new()))
        .map(|path| path.join(" -> "))
        .collect();
    assert!(circles.is_empty(), "import circles: {circles:#?}");
}

#[test]
fn no_source_file_of_the_operator_is_longer_than_six_hundred_lines() {
    let long: Vec<String> = sources(&src())
        .into_iter()
        .filter(|(_, text)| text.lines().count() > 600)
        .map(|(path, text)| format!("{path}: {} lines", text.lines().count()))
        .collect();
    assert!(long.is_empty(), "{long:?}");
}

#[test]
fn the_function_that_runs_the_controller_loop_stays_under_120_lines() {
    let text = std::fs::read_to_string(src().join("controller/mod.rs")).unwrap();
    let start = text
        .find("pub async fn run(")
        .expect("controller::run exists");
    let body = &text[start..];
    let end = body.find("\n}\n").expect("run ends at column 0");
    let lines = body[..end].lines().count() + 1;
    assert!(lines < 120, "controller::run is {lines} lines");
}

#[test]
fn no_error_is_classified_by_searching_its_debug_text() {
    let mut found = Vec::new();
    for (path, text) in sources(&src()) {
        for (n, line) in text.lines().enumerate() {
            let debug_text =
                line.contains(":?}\")") || line.contains("{e:?}") || line.contains("{error:?}");
            let searched = line.contains(".contains(");
            let by_word = [
                "\"Throttl",
                "\"412\"",
                "\"NotFound\"",
                "\"ClientException\"",
            ]
            .iter()
            .any(|w| line.contains(&format!("contains({w}")));
            if (debug_text && searched) || by_word {
                found.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
