//! The pizza demo's detection latencies. The demo (examples/demo, `pizza-demo`) writes a
//! latency file; the bench includes whatever the newest one says, and never invents figures.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where a demo run leaves its latency file (searched a few levels deep).
pub const SEARCH_DIRS: &[&str] = &["examples/demo", ".work/demo", ".work", "target/demo"];

pub enum Demo {
    Found {
        /// The newest latency file.
        path: PathBuf,
        modified: Option<SystemTime>,
        /// `latency.md` beside it (the demo's table for this file), if any.
        table: Option<String>,
        /// `latency.json` beside it (its figures and metadata), if any.
        json: Option<serde_json::Value>,
        /// The newest file's text.
        text: String,
    },
    Missing,
}

fn candidates(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if depth > 0 && path.file_name().is_some_and(|n| n != "node_modules") {
                candidates(&path, depth - 1, out);
            }
        } else if is_latency_file(&path) {
            out.push(path);
        }
    }
}

/// A file whose name says it holds latencies, in a text format.
pub fn is_latency_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.contains("latenc")
        && ["json", "txt", "md", "csv", "tsv", "yaml", "yml"]
            .iter()
            .any(|ext| name.ends_with(&format!(".{ext}")))
}

/// The timing a demo latency file was measured with: `production` for runs with
/// `--production-timing`, `demo` otherwise (files from before the flag say nothing).
pub fn timing_of(demo: &Demo) -> String {
    match demo {
        Demo::Found { json, .. } => json
            .as_ref()
            .and_then(|j| j["timing"]["name"].as_str())
            .unwrap_or("demo")
            .to_string(),
        Demo::Missing => "demo".to_string(),
    }
}

/// The newest latency file of each timing (demo timing first): the explicit one, or those
/// found in [`SEARCH_DIRS`]. Empty: [`Demo::Missing`] alone.
pub fn find_each_timing(explicit: Option<&Path>) -> Vec<Demo> {
    let mut found = Vec::new();
    match explicit {
        Some(p) => found.push(p.to_path_buf()),
        None => {
            for dir in SEARCH_DIRS {
                candidates(Path::new(dir), 3, &mut found);
            }
        }
    }
    // Newest first, then the first of each timing.
    let mut dated: Vec<(PathBuf, Option<SystemTime>)> = found
        .into_iter()
        .map(|p| {
            let modified = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
            (p, modified)
        })
        .collect();
    dated.sort_by_key(|(_, m)| std::cmp::Reverse(*m));
    let mut out: Vec<Demo> = Vec::new();
    for (path, _) in dated {
        let demo = find(Some(&path));
        if matches!(demo, Demo::Found { .. })
            && !out.iter().any(|d| timing_of(d) == timing_of(&demo))
        {
            out.push(demo);
        }
    }
    out.sort_by_key(|d| timing_of(d) != "demo");
    if out.is_empty() {
        out.push(Demo::Missing);
    }
    out
}

/// The newest latency file: the explicit one, or the newest found in [`SEARCH_DIRS`], with
/// the demo's `latency.md` and `latency.json` from the same directory.
pub fn find(explicit: Option<&Path>) -> Demo {
    let mut found = Vec::new();
    match explicit {
        Some(p) => found.push(p.to_path_buf()),
        None => {
            for dir in SEARCH_DIRS {
                candidates(Path::new(dir), 3, &mut found);
            }
        }
    }
    let newest = found
        .into_iter()
        .filter_map(|p| {
            let modified = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
            let text = std::fs::read_to_string(&p).ok()?;
            Some((p, modified, text))
        })
        .max_by_key(|(_, m, _)| *m);
    let Some((path, modified, text)) = newest else {
        return Demo::Missing;
    };
    let sibling = |name: &str| {
        let p = path.with_file_name(name);
        if p == path {
            Some(text.clone())
        } else {
            std::fs::read_to_string(p).ok()
        }
    };
    let table = sibling("latency.md");
    let json = sibling("latency.json")
        .or_else(|| {
            path.extension()
                .is_some_and(|e| e == "json")
                .then(|| text.clone())
        })
        .and_then(|t| serde_json::from_str(&t).ok());
    Demo::Found {
        path,
        modified,
        table,
        json,
        text,
    }
}

/// Markdown for the demo section: the demo's own table when it wrote one, else the JSON's
/// records as a table, else the file verbatim; with the command when the file records one.
pub fn markdown(demo: &Demo) -> String {
    let Demo::Found {
        path,
        modified,
        table: md,
        json,
        text,
    } = demo
    else {
        return "**Not yet measured.** No latency file from a demo run was found (searched \
                `examples/demo`, `.work/demo`, `.work` and the demo's `.work/demo-<pid>` work \
                directories). This section is filled by running `examples/demo/run --once` (the \
                pizza demo writes `latency.json` and `latency.md`) and then `scripts/bench` again. \
                No figure is given here until it is measured.\n"
            .to_string();
    };
    let mut out = String::new();
    let age = modified
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .map(|d| format!(", written {} min before this report", d.as_secs() / 60))
        .unwrap_or_default();
    out.push_str(&format!("From `{}`{age}.\n\n", path.display()));
    let field = |k: &str| json.as_ref().and_then(|v| v.get(k)).cloned();
    match field("command").and_then(|c| c.as_str().map(str::to_string)) {
        Some(c) => out.push_str(&format!("Produced by: `{c}`\n\n")),
        None => out.push_str(
            "Produced by: a run of the pizza demo (`examples/demo/run`; the file does not record \
             its flags, and `examples/demo/run --once` is the documented one-shot form).\n\n",
        ),
    }
    if let Some(passed) = field("passed") {
        let runtime = field("total_runtime_s")
            .and_then(|r| r.as_f64())
            .map(|r| format!(", demo runtime {r:.0} s"))
            .unwrap_or_default();
        out.push_str(&format!("Demo checks passed: {passed}{runtime}.\n\n"));
    }
    if let Some(md) = md {
        out.push_str(md);
        if !md.ends_with('\n') {
            out.push('\n');
        }
        return out;
    }
    match json.as_ref().and_then(records) {
        Some(rows) if !rows.is_empty() => out.push_str(&table(&rows)),
        _ => {
            out.push_str("```\n");
            for line in text.lines().take(80) {
                out.push_str(line);
                out.push('\n');
            }
            out.push_str("```\n");
        }
    }
    out
}

/// The list of flat records in a JSON document: the document itself if it is an array, or its
/// first array-valued field.
fn records(v: &serde_json::Value) -> Option<Vec<serde_json::Map<String, serde_json::Value>>> {
    let list = match v {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => o
            .get("scenarios")
            .and_then(|x| x.as_array())
            .or_else(|| o.values().find_map(|x| x.as_array()))?,
        _ => return None,
    };
    list.iter().map(|r| r.as_object().cloned()).collect()
}

fn table(rows: &[serde_json::Map<String, serde_json::Value>]) -> String {
    let mut columns: Vec<&String> = Vec::new();
    for r in rows {
        for k in r.keys() {
            if !columns.contains(&k) {
                columns.push(k);
            }
        }
    }
    // The record's name first (JSON objects here are sorted by key).
    columns.sort_by_key(|c| !matches!(c.as_str(), "scenario" | "name"));
    let cell = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let mut out = format!(
        "| {} |\n|{}\n",
        columns
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        " --- |".repeat(columns.len())
    );
    for r in rows {
        out.push_str(&format!(
            "| {} |\n",
            columns
                .iter()
                .map(|c| cell(r.get(*c)))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_files_named_for_latency_are_picked_up() {
        assert!(is_latency_file(Path::new("out/latency.json")));
        assert!(is_latency_file(Path::new("Detection-Latencies.md")));
        assert!(!is_latency_file(Path::new("latency.rs")));
        assert!(!is_latency_file(Path::new("results.json")));
    }

    #[test]
    fn a_missing_file_gives_a_marked_placeholder_and_no_figure() {
        let text = markdown(&Demo::Missing);
        assert!(text.contains("Not yet measured"));
        assert!(text.contains("examples/demo/run --once"));
        assert!(!text.chars().any(|c| c.is_ascii_digit()));
    }

    #[test]
    fn json_records_become_a_table_with_the_recorded_command() {
        let text = r#"{"command":"examples/demo/run --once","passed":true,"scenarios":[{"scenario":"spike","detected_s":1.4,"floor_s":1.0}]}"#;
        let demo = Demo::Found {
            path: "latency.json".into(),
            modified: None,
            table: None,
            json: serde_json::from_str(text).ok(),
            text: text.into(),
        };
        let text = markdown(&demo);
        assert!(text.contains("Produced by: `examples/demo/run --once`"));
        assert!(text.contains("Demo checks passed: true"));
        assert!(text.contains("| scenario | detected_s | floor_s |"));
        assert!(text.contains("| spike | 1.4 | 1.0 |"));
    }

    #[test]
    fn the_demos_own_table_is_used_verbatim_when_it_wrote_one() {
        let demo = Demo::Found {
            path: "latency.json".into(),
            modified: None,
            table: Some("| scenario | delivered |\n| --- | ---: |\n| surge | 15.1 s |\n".into()),
            json: None,
            text: "{}".into(),
        };
        let text = markdown(&demo);
        assert!(text.contains("| surge | 15.1 s |"));
        assert!(text.contains("does not record its flags"));
    }

    #[test]
    fn a_demo_work_directory_yields_its_table_and_its_json() {
        let dir = std::env::temp_dir().join(format!("bench-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("latency.json"),
            r#"{"passed":true,"scenarios":[]}"#,
        )
        .unwrap();
        std::fs::write(dir.join("latency.md"), "| scenario |\n| --- |\n| surge |\n").unwrap();
        let found = find(Some(&dir.join("latency.json")));
        std::fs::remove_dir_all(&dir).unwrap();
        let Demo::Found { table, json, .. } = found else {
            panic!("the latency file was not found");
        };
        assert_eq!(table.as_deref(), Some("| scenario |\n| --- |\n| surge |\n"));
        assert_eq!(json.unwrap()["passed"], true);
    }
}
