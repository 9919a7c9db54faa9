//! The hostile corpus: the index `tests/hostile/expectations.toml`, the inputs it names (files
//! under `tests/hostile/` or functions in `generators.rs`), and one test per case.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use libtest_mimic::{Failed, Trial};
use serde::Deserialize;

use crate::generators::GENERATORS;
use crate::pipeline::{handle, preview, settings};

/// The directory of the corpus files and their index.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

const INDEX: &str = "expectations.toml";
/// Files in the corpus directory that are not cases.
const NOT_CASES: &[&str] = &[INDEX, ".gitattributes"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Rejected, with a diagnostic containing `diagnostic`.
    Rejected,
    /// Accepted (and then checked by the oracle).
    Accepted,
    /// Either, as long as nothing breaks.
    Either,
}

/// One table of the index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub attacks: String,
    #[serde(default)]
    pub generated: bool,
    pub expect: Expect,
    pub diagnostic: Option<String>,
}

/// The index, in file order.
pub fn read_index() -> Result<IndexMap<String, Entry>, String> {
    let path = corpus_dir().join(INDEX);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// One input file as the loader sees it: (source name, bytes).
type Input = (String, Vec<u8>);

/// The input of a case: its file, its directory's files, or its generator's output.
fn inputs(name: &str, entry: &Entry) -> Result<Vec<Input>, String> {
    let dir = corpus_dir();
    let generator = GENERATORS.iter().find(|(n, _)| *n == name).map(|(_, f)| f);
    let on_disk: Vec<PathBuf> = [
        dir.join(format!("{name}.yaml")),
        dir.join(format!("{name}.bin")),
        dir.join(name),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .collect();
    match (entry.generated, generator, on_disk.as_slice()) {
        (true, Some(build), []) => Ok(vec![(format!("{name}.yaml"), build())]),
        (true, None, _) => Err(format!(
            "{name} is marked generated, but generators.rs has no generator of that name"
        )),
        (true, Some(_), found) => Err(format!("{name} is generated and also has files: {found:?}")),
        (false, Some(_), _) => Err(format!(
            "{name} has a generator but is not marked `generated = true` in {INDEX}"
        )),
        (false, None, [one]) if one.is_dir() => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(one)
                .map_err(|e| format!("{}: {e}", one.display()))?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{}: {e}", one.display()))?;
            files.sort();
            if files.len() < 2 {
                return Err(format!(
                    "{}: holds {} file(s); a case of one file is {name}.yaml or {name}.bin",
                    one.display(),
                    files.len()
                ));
            }
            files
                .into_iter()
                .map(|p| {
                    let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                    let file = p.file_name().unwrap_or_default().to_string_lossy();
                    Ok((file.into_owned(), bytes))
                })
                .collect()
        }
        (false, None, [one]) => {
            let bytes = std::fs::read(one).map_err(|e| format!("{}: {e}", one.display()))?;
            Ok(vec![(format!("{name}.yaml"), bytes)])
        }
        (false, None, []) => Err(format!(
            "{name}: no {name}.yaml, {name}.bin or {name}/ in {}",
            dir.display()
        )),
        (false, None, found) => Err(format!("{name}: more than one input: {found:?}")),
    }
}

/// The test name: the case and, as a sentence, what it must do.
pub fn trial_name(name: &str, entry: &Entry) -> String {
    let must = match (entry.expect, entry.diagnostic.as_deref()) {
        (Expect::Rejected, Some(text)) if !text.is_empty() => {
            format!("is rejected with a diagnostic containing '{text}'")
        }
        (Expect::Rejected, _) => "is rejected with a diagnostic".to_string(),
        (Expect::Accepted, _) => "is accepted and renders safely".to_string(),
        (Expect::Either, _) => "is accepted or rejected without harm".to_string(),
    };
    format!("hostile::{name} {must}")
}

/// One row of the figures of a passing case.
pub type Row = serde_json::Value;

/// Runs one case: every bound, its expectation, and the oracle (plus promtool and amtool on
/// what it renders, in the full tier).
pub fn run_case(name: &str, entry: &Entry) -> Result<Row, Failed> {
    if entry.diagnostic.is_some() && entry.expect != Expect::Rejected {
        return Err(format!("{name}: `diagnostic` only goes with expect = \"rejected\"").into());
    }
    let files = inputs(name, entry)?;
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let h = handle(&refs, &settings())?;
    let outcome = match entry.expect {
        Expect::Rejected => {
            let text = entry.diagnostic.as_deref().unwrap_or("");
            if h.rejected == 0 || (files.len() == 1 && h.accepted > 0) {
                return Err(format!("accepted ({} manifests)", h.accepted).into());
            }
            if !h.diagnostics.iter().any(|d| d.contains(text)) {
                return Err(format!(
                    "no diagnostic mentions {text:?}:\n{}",
                    preview(&h.diagnostics)
                )
                .into());
            }
            "rejected"
        }
        Expect::Accepted if h.accepted == 0 => {
            return Err(format!("rejected:\n{}", preview(&h.diagnostics)).into())
        }
        Expect::Accepted => "accepted",
        Expect::Either if h.accepted > 0 => "accepted",
        Expect::Either => "rejected",
    };
    #[allow(unused_mut)]
    let mut row = serde_json::json!({
        "input": name,
        "attacks": entry.attacks,
        "bytes": bytes,
        "outcome": outcome,
        "milliseconds": h.took.as_secs_f64() * 1000.0,
        "peak_heap_kib": h.peak_bytes / 1024,
        "first_diagnostic": h.diagnostics.first().map(|d| d.chars().take(160).collect::<String>()),
    });
    #[cfg(feature = "full-tier")]
    if outcome == "accepted" {
        // What was accepted also passes Prometheus's and Alertmanager's own checks.
        let files = h
            .files
            .iter()
            .map(|(path, content)| (format!("{name}/{path}"), content.clone()))
            .collect();
        row["files_checked_by_promtool_and_amtool"] =
            crate::tools::check_with_promtool_and_amtool(&files)?.into();
    }
    Ok(row)
}

/// Every file and directory of the corpus has a table in the index, and every table names
/// exactly one input (a file, a directory, or a generator).
fn index_and_inputs_agree(index: &IndexMap<String, Entry>) -> Result<(), Failed> {
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(corpus_dir()).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        if NOT_CASES.contains(&file.as_ref()) {
            continue;
        }
        let case = if path.is_dir() {
            file.to_string()
        } else {
            match file.rsplit_once('.') {
                Some((stem, "yaml" | "bin")) => stem.to_string(),
                _ => {
                    problems.push(format!("{file}: corpus files end in .yaml or .bin"));
                    continue;
                }
            }
        };
        if !index.contains_key(&case) {
            problems.push(format!("{file}: no [{case}] in {INDEX}"));
        }
    }
    let generated: BTreeSet<&str> = GENERATORS.iter().map(|(n, _)| *n).collect();
    for name in &generated {
        if !index.get(*name).is_some_and(|e| e.generated) {
            problems.push(format!(
                "the generator {name} has no [{name}] with generated = true in {INDEX}"
            ));
        }
    }
    for (name, entry) in index {
        if entry.attacks.trim().is_empty() {
            problems.push(format!("[{name}] says nothing in `attacks`"));
        }
        if let Err(e) = inputs(name, entry) {
            problems.push(e);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

/// The corpus trials: one per case, plus the check that the index and the inputs agree. Each
/// passing case adds its row of figures to `rows`.
pub fn trials(rows: &Arc<Mutex<Vec<Row>>>) -> Vec<Trial> {
    let index = match read_index() {
        Ok(index) => index,
        Err(e) => {
            return vec![Trial::test(
                "hostile::the corpus index expectations.toml parses",
                move || Err(e.into()),
            )]
        }
    };
    let mut trials = vec![{
        let index = index.clone();
        Trial::test(
            "hostile::every corpus input has an expectation and every expectation one input",
            move || index_and_inputs_agree(&index),
        )
    }];
    for (name, entry) in index {
        let rows = Arc::clone(rows);
        trials.push(Trial::test(trial_name(&name, &entry), move || {
            let row = run_case(&name, &entry)?;
            rows.lock().unwrap().push(row);
            Ok(())
        }));
    }
    trials
}
