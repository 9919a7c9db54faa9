//! Turning files (or S3 objects) into a checked set of manifests.
//!
//! Loading never stops at a bad document: every valid manifest is kept, every broken one is
//! recorded with its diagnostics and, where it can be read, its name, so the reconciler can
//! report it as stalled and protect its resources from pruning.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::environments::{self, Source};
use super::model::MonitoredService;
use super::validate::validate;
use crate::diagnostics::Diagnostic;
use crate::settings::Settings;
use crate::yaml::{self, Position, Positions, Tree};

/// Files larger than this are rejected unread: no real manifest is anywhere near it.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// At most this many documents per file.
pub const MAX_DOCUMENTS_PER_FILE: usize = 200;

/// A problem with a whole file, before any document of it could be attributed.
fn file_error(source: &str, message: String, position: Position) -> RejectedManifest {
    RejectedManifest {
        source: source.to_string(),
        document: None,
        name: None,
        diagnostics: vec![Diagnostic::new(source, 0, "", position, message)],
    }
}

/// A manifest that passed every check.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    pub source: String,
    pub document: usize,
    pub positions: Positions,
    pub manifest: MonitoredService,
}

impl LoadedManifest {
    /// A checked manifest, its lists trimmed to their length (it is kept for the process's
    /// life).
    fn new(
        source: &str,
        document: usize,
        positions: Positions,
        mut manifest: MonitoredService,
    ) -> Self {
        manifest.shrink_to_fit();
        Self {
            source: source.to_string(),
            document,
            positions,
            manifest,
        }
    }

    pub fn name(&self) -> &str {
        &self.manifest.metadata.name
    }

    /// `file:line` of the document, for messages.
    pub fn location(&self) -> String {
        format!("{}:{}", self.source, self.positions.start().line.max(1))
    }
}

/// A document (or a whole file) that could not be used.
#[derive(Debug, Clone)]
pub struct RejectedManifest {
    pub source: String,
    pub document: Option<usize>,
    /// `metadata.name`, when it could be read.
    pub name: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Everything read from one source, good and bad.
#[derive(Debug, Clone, Default)]
pub struct ManifestSet {
    /// Shared: a fetch merges every file's kept documents into a new set each poll, and a
    /// deep copy of every manifest per poll was most of the controller's memory churn.
    pub manifests: Vec<Arc<LoadedManifest>>,
    pub rejected: Vec<RejectedManifest>,
}

impl ManifestSet {
    pub fn diagnostics(&self) -> impl Iterator<Item = &Diagnostic> {
        self.rejected.iter().flat_map(|r| r.diagnostics.iter())
    }

    /// Whether some input could not be attributed to a service name: the set is then not a
    /// trustworthy picture of what should exist, and nothing may be pruned on its basis.
    pub fn has_unnamed_rejects(&self) -> bool {
        self.rejected.iter().any(|r| r.name.is_none())
    }

    /// Names of all services the source mentions, valid or not.
    pub fn all_names(&self) -> BTreeSet<String> {
        self.manifests
            .iter()
            .map(|m| m.name().to_string())
            .chain(self.rejected.iter().filter_map(|r| r.name.clone()))
            .collect()
    }

    /// Adds what another set read (one file's documents, parsed and checked earlier): parsing
    /// is most of a pass's CPU, so a source keeps each file's set while its ETag holds and
    /// merges them; [`Self::finish`] then checks across files as usual.
    pub fn extend_from(&mut self, other: &ManifestSet) {
        self.manifests.extend(other.manifests.iter().cloned());
        self.rejected.extend(other.rejected.iter().cloned());
    }

    /// Parses and checks one file's bytes; `source` names it in diagnostics. A manifest with
    /// overrides is kept as the settings' `environment` sees it.
    pub fn add_source(&mut self, source: &str, bytes: &[u8], settings: Option<&Settings>) {
        let environment = settings.and_then(|s| s.environment.as_deref());
        self.add_source_in(source, bytes, settings, environment);
    }

    /// [`Self::add_source`] for a file already decoded; the manifests keep `text` (shared, not
    /// copied) to place a problem found later on its line.
    pub fn add_text(&mut self, source: &str, text: Arc<str>, settings: Option<&Settings>) {
        let environment = settings.and_then(|s| s.environment.as_deref());
        match text.strip_prefix('\u{feff}') {
            Some(unmarked) => {
                self.add_checked_text(source, Arc::from(unmarked), settings, environment)
            }
            None => self.add_checked_text(source, text, settings, environment),
        }
    }

    /// Records a file of `len` bytes as rejected, unread, if it is too large.
    fn refused_for_size(&mut self, source: &str, len: usize) -> bool {
        let refused = len > MAX_FILE_BYTES;
        if refused {
            let message = format!("file is {len} bytes; manifests are limited to {MAX_FILE_BYTES}");
            (self.rejected).push(file_error(source, message, Position::default()));
        }
        refused
    }

    /// [`Self::add_source`] for the given environment (`None`: the base spec), whatever the
    /// settings name (`render --environment`).
    pub fn add_source_in(
        &mut self,
        source: &str,
        bytes: &[u8],
        settings: Option<&Settings>,
        environment: Option<&str>,
    ) {
        if self.refused_for_size(source, bytes.len()) {
            return;
        }
        let file_error =
            |message: String, position: Position| file_error(source, message, position);
        if let Some(encoding) = yaml::utf16_encoding(bytes) {
            self.rejected.push(file_error(
                format!("file is UTF-16 ({encoding}), not UTF-8: save it as UTF-8"),
                Position { line: 1, column: 1 },
            ));
            return;
        }
        // Editors on Windows start UTF-8 files with a byte-order mark. It is an encoding
        // signature, not content: dropped here, once per file, so the first key is `apiVersion`
        // and not `\u{feff}apiVersion`. Lines are unchanged and columns on line 1 count from
        // after the (invisible) mark, as editors show them.
        let bytes = yaml::strip_utf8_bom(bytes);
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let line = 1 + bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count();
                self.rejected.push(file_error(
                    format!(
                        "file is not UTF-8 (invalid byte at offset {})",
                        e.valid_up_to()
                    ),
                    Position { line, column: 1 },
                ));
                return;
            }
        };
        self.add_checked_text(source, Arc::from(text), settings, environment);
    }

    /// Parses and checks one file's text, within the size limit and without a byte-order mark.
    fn add_checked_text(
        &mut self,
        source: &str,
        text: Arc<str>,
        settings: Option<&Settings>,
        environment: Option<&str>,
    ) {
        if self.refused_for_size(source, text.len()) {
            return;
        }
        let file_error =
            |message: String, position: Position| file_error(source, message, position);
        let documents = match yaml::parse_stream::<MonitoredService>(&text) {
            Ok(documents) => documents,
            Err(e) => {
                self.rejected.push(file_error(e.message, e.position));
                return;
            }
        };
        if documents.len() > MAX_DOCUMENTS_PER_FILE {
            self.rejected.push(file_error(
                format!(
                    "file holds {} documents; at most {MAX_DOCUMENTS_PER_FILE} are allowed",
                    documents.len()
                ),
                Position::default(),
            ));
            return;
        }
        // Trees are read only for a file with overrides, once.
        let mut trees: Option<Vec<Tree>> = None;
        for doc in documents {
            match doc.value {
                Err(e) => self.rejected.push(RejectedManifest {
                    source: source.to_string(),
                    document: Some(doc.index),
                    // Read from the index: a document that does not deserialise is indexed.
                    name: doc.positions.name().map(str::to_string),
                    diagnostics: vec![Diagnostic::new(
                        source, doc.index, e.path, e.position, e.message,
                    )],
                }),
                Ok(manifest) if !manifest.spec.environments.is_empty() => {
                    let trees =
                        trees.get_or_insert_with(|| yaml::parse_trees(&text).unwrap_or_default());
                    let named = |t: &&Tree| {
                        let name = t.get("metadata").and_then(|m| m.get("name"));
                        matches!(name, Some(Tree::Scalar(s)) if s.value == manifest.metadata.name)
                    };
                    let Some(tree) = trees.get(doc.index).filter(named) else {
                        // Cannot happen: both readings skip the same empty documents.
                        self.rejected.push(file_error(
                            "document could not be read for its environments".into(),
                            doc.positions.start(),
                        ));
                        continue;
                    };
                    // Overrides are placed by their own lines: the index is needed now.
                    let index = match doc.positions.index() {
                        Ok(index) => index,
                        Err(e) => {
                            self.rejected
                                .push(file_error(e.message.clone(), e.position));
                            continue;
                        }
                    };
                    let at = Source {
                        file: source,
                        document: doc.index,
                        positions: index,
                        tree,
                    };
                    let name = manifest.metadata.name.clone();
                    let checked = environments::check(&at, manifest, settings, environment);
                    match checked.manifest {
                        Some((manifest, positions)) => {
                            self.manifests.push(Arc::new(LoadedManifest::new(
                                source,
                                doc.index,
                                Positions::indexed(positions),
                                manifest,
                            )))
                        }
                        None => self.rejected.push(RejectedManifest {
                            source: source.to_string(),
                            document: Some(doc.index),
                            name: Some(name),
                            diagnostics: checked.diagnostics,
                        }),
                    }
                }
                Ok(manifest) => {
                    let errors = validate(&manifest, settings);
                    if errors.is_empty() {
                        self.manifests.push(Arc::new(LoadedManifest::new(
                            source,
                            doc.index,
                            doc.positions,
                            manifest,
                        )));
                    } else {
                        let diagnostics = errors
                            .into_iter()
                            .map(|e| {
                                let position = doc.positions.lookup(&e.path);
                                Diagnostic::new(source, doc.index, e.path, position, e.message)
                            })
                            .collect();
                        self.rejected.push(RejectedManifest {
                            source: source.to_string(),
                            document: Some(doc.index),
                            name: Some(manifest.metadata.name.clone()),
                            diagnostics,
                        });
                    }
                }
            }
        }
    }

    /// Checks that span manifests: unique names, dependencies that exist, no dependency cycles.
    /// Call once after every source was added.
    pub fn finish(&mut self) {
        let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, m) in self.manifests.iter().enumerate() {
            by_name.entry(m.name().to_string()).or_default().push(i);
        }
        let mut reject: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
        for indexes in by_name.values().filter(|v| v.len() > 1) {
            for &i in indexes {
                let others: Vec<String> = indexes
                    .iter()
                    .filter(|&&j| j != i)
                    .map(|&j| self.manifests[j].location())
                    .collect();
                reject.entry(i).or_default().push((
                    "metadata.name".into(),
                    format!(
                        "{:?} is also defined at {}; service names must be unique",
                        self.manifests[i].name(),
                        others.join(", ")
                    ),
                ));
            }
        }
        let known = self.all_names();
        // Cloud Map names are shared by the namespace: a service may not take another
        // service's name, and two services may not share one (the second would register its
        // tasks in the first one's DNS name, and pruning either would delete it for both).
        let discovery: Vec<Option<&str>> = self
            .manifests
            .iter()
            .map(|m| {
                let d = &m.manifest.spec.traffic.discovery;
                d.enabled.then(|| d.name.as_deref().unwrap_or(m.name()))
            })
            .collect();
        for (i, m) in self.manifests.iter().enumerate() {
            let Some(dns) = discovery[i].filter(|dns| *dns != m.name()) else {
                continue;
            };
            let sharing: Vec<String> = (0..self.manifests.len())
                .filter(|&j| j != i && discovery[j] == Some(dns))
                .map(|j| self.manifests[j].location())
                .collect();
            if known.contains(dns) {
                reject.entry(i).or_default().push((
                    "spec.traffic.discovery.name".into(),
                    format!("{dns:?} is the name of another service; a Cloud Map name belongs to the service of that name"),
                ));
            } else if !sharing.is_empty() {
                reject.entry(i).or_default().push((
                    "spec.traffic.discovery.name".into(),
                    format!(
                        "{dns:?} is also the discovery name at {}; Cloud Map names must be unique",
                        sharing.join(", ")
                    ),
                ));
            }
        }
        for (i, m) in self.manifests.iter().enumerate() {
            for (d, dep) in m.manifest.spec.lifecycle.depends_on.iter().enumerate() {
                if !known.contains(dep) {
                    reject.entry(i).or_default().push((
                        format!("spec.lifecycle.dependsOn[{d}]"),
                        format!("{dep:?} is not a service defined in any manifest"),
                    ));
                }
            }
        }
        for i in self.dependency_cycles() {
            reject.entry(i).or_default().push((
                "spec.lifecycle.dependsOn".into(),
                "is part of a dependency cycle".into(),
            ));
        }
        // Remove from the back so earlier indexes stay valid.
        for (i, problems) in reject.into_iter().rev() {
            let m = self.manifests.remove(i);
            let diagnostics = problems
                .into_iter()
                .map(|(path, message)| {
                    let position = m.positions.lookup(&path);
                    Diagnostic::new(&m.source, m.document, path, position, message)
                })
                .collect();
            self.rejected.push(RejectedManifest {
                source: m.source.clone(),
                document: Some(m.document),
                name: Some(m.name().to_string()),
                diagnostics,
            });
        }
        self.manifests.sort_by(|a, b| a.name().cmp(b.name()));
    }

    /// Indexes of manifests that take part in a `dependsOn` cycle.
    fn dependency_cycles(&self) -> BTreeSet<usize> {
        let index: BTreeMap<&str, usize> = self
            .manifests
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name(), i))
            .collect();
        let mut in_cycle = BTreeSet::new();
        for start in 0..self.manifests.len() {
            // Depth-first search from `start`; a path back to `start` is a cycle through it.
            let mut stack = vec![start];
            let mut seen = BTreeSet::new();
            while let Some(i) = stack.pop() {
                for dep in &self.manifests[i].manifest.spec.lifecycle.depends_on {
                    if let Some(&j) = index.get(dep.as_str()) {
                        if j == start {
                            in_cycle.insert(start);
                        } else if seen.insert(j) {
                            stack.push(j);
                        }
                    }
                }
            }
        }
        in_cycle
    }
}

/// Every `*.yaml` / `*.yml` file under `paths` (files are taken as given), sorted, hidden
/// entries skipped.
pub fn manifest_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut files, 0)?;
        } else {
            // Surface "no such file" instead of silently validating nothing.
            std::fs::metadata(path)?;
            files.push(path.clone());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, depth: usize) -> std::io::Result<()> {
    if depth > 16 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, files, depth + 1)?;
        } else if kind.is_file() && is_manifest_file(&path) {
            files.push(path);
        }
    }
    Ok(())
}

/// Whether a file or S3 key looks like a manifest.
pub fn is_manifest_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Loads and checks every manifest under `paths`, for the settings' environment.
pub fn load_paths(paths: &[PathBuf], settings: Option<&Settings>) -> std::io::Result<ManifestSet> {
    let environment = settings.and_then(|s| s.environment.as_deref());
    load_paths_in(paths, settings, environment)
}

/// [`load_paths`] for the given environment (`None`: the base spec).
pub fn load_paths_in(
    paths: &[PathBuf],
    settings: Option<&Settings>,
    environment: Option<&str>,
) -> std::io::Result<ManifestSet> {
    let mut set = ManifestSet::default();
    for file in manifest_files(paths)? {
        let bytes = std::fs::read(&file)?;
        set.add_source_in(&file.display().to_string(), &bytes, settings, environment);
    }
    set.finish();
    Ok(set)
}
