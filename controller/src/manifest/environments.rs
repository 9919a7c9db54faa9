//! Per-environment overrides: `spec.environments.<name>` merged into `spec`.
//!
//! The merge happens on the YAML tree, before the document is typed, so a merged manifest is
//! read and validated exactly like one written out by hand: every check applies to every
//! environment. A problem is reported where it is written: at the override when the override
//! spells the field, else at the base spec, and always naming the environment.

use super::model::MonitoredService;
use super::validate::{validate, FieldError};
use crate::diagnostics::Diagnostic;
use crate::domain::{is_environment_name, MAX_ENVIRONMENT_LEN};
use crate::settings::Settings;
use crate::yaml::{self, Position, PositionIndex, Tree};

const ENVIRONMENTS: &str = "environments";

/// At most this many environments per manifest: each one is a whole manifest to read and
/// check, so the cap bounds what one document can cost.
pub const MAX_ENVIRONMENTS: usize = 16;

/// Deep merge of `overlay` into `base`: mappings merge key by key, recursively; a scalar or a
/// sequence replaces what was there (lists are not appended: an override states the list).
pub fn merge(base: &mut Tree, overlay: Tree) {
    match (base, overlay) {
        (Tree::Mapping(entries), Tree::Mapping(over)) => {
            for (key, value) in over {
                match entries.iter_mut().find(|(k, _)| k.value == key.value) {
                    Some((_, existing)) => merge(existing, value),
                    None => entries.push((key, value)),
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// The document `doc` as deployed in `environment`: its override merged into `spec`, and no
/// `spec.environments` left (one environment's manifest must not change when another
/// environment's override does). `None` when the document has no override for it.
pub fn merged(doc: &Tree, environment: &str) -> Option<Tree> {
    let mut doc = doc.clone();
    let spec = doc.get_mut("spec")?;
    let mut overlay = spec.remove(ENVIRONMENTS)?.remove(environment)?;
    overlay.remove(ENVIRONMENTS);
    merge(spec, overlay);
    Some(doc)
}

/// Problems with `spec.environments` itself: names, and overrides of `environments`.
pub fn shape_errors(doc: &Tree) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(Tree::Mapping(environments)) = doc.get("spec").and_then(|s| s.get(ENVIRONMENTS))
    else {
        return errors;
    };
    for (name, body) in environments {
        let path = format!("spec.environments.{}", name.value);
        if !is_environment_name(&name.value) {
            errors.push(FieldError {
                path: path.clone(),
                message: format!(
                    "{:?} is not an environment name (lower-case letters, digits and '-', at most {MAX_ENVIRONMENT_LEN} characters)",
                    name.value
                ),
            });
        }
        if body.get(ENVIRONMENTS).is_some() {
            errors.push(FieldError {
                path: format!("{path}.{ENVIRONMENTS}"),
                message: "an environment cannot override spec.environments".into(),
            });
        }
    }
    errors
}

/// Where a problem of `environment`'s manifest at `path` is written: the path to show and its
/// position. Walking up from the field, the override's own spelling wins over the base's, so
/// a value the override sets is reported at the override.
pub fn locate(positions: &PositionIndex, environment: &str, path: &str) -> Located {
    let prefix = format!("spec.environments.{environment}");
    let mut candidate = path;
    loop {
        let below_spec = candidate
            .strip_prefix("spec")
            .filter(|rest| rest.starts_with(['.', '[']));
        if let Some(rest) = below_spec {
            let written = format!("{prefix}{rest}");
            if positions.contains(&written) {
                return Located {
                    path: format!("{prefix}{}", &path["spec".len()..]),
                    position: positions.lookup(&written),
                    in_override: true,
                };
            }
        }
        if positions.contains(candidate) {
            break;
        }
        match candidate.rfind(['.', '[']) {
            Some(cut) => candidate = &candidate[..cut],
            None => break,
        }
    }
    Located {
        path: path.to_string(),
        position: positions.lookup(path),
        in_override: false,
    }
}

/// A problem's place in the file, for one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub path: String,
    pub position: Position,
    /// The override (not the base spec) spells the field or its nearest written ancestor.
    pub in_override: bool,
}

/// One document with overrides, checked in every environment.
pub struct Checked {
    /// The manifest to use (the selected environment's, else the base), with its positions;
    /// `None` when any environment has a problem.
    pub manifest: Option<(MonitoredService, PositionIndex)>,
    pub diagnostics: Vec<Diagnostic>,
}

/// The document being checked: where it is and what it holds.
pub struct Source<'a> {
    pub file: &'a str,
    pub document: usize,
    pub positions: &'a PositionIndex,
    pub tree: &'a Tree,
}

/// Checks the base spec and every environment's merged manifest. The manifest in effect (the
/// `selected` environment's when the document overrides it, else the base) is checked against
/// `settings`; the others without platform checks, since another environment's operator runs
/// with other settings (clusters, roles).
pub fn check(
    source: &Source,
    mut base: MonitoredService,
    settings: Option<&Settings>,
    selected: Option<&str>,
) -> Checked {
    let names: Vec<String> = base.spec.environments.keys().cloned().collect();
    base.spec.environments.clear();
    let effective = selected.filter(|s| names.iter().any(|n| n == s));
    let at = |path: String, position: Position, message: String| {
        Diagnostic::new(source.file, source.document, path, position, message)
    };
    let mut diagnostics: Vec<Diagnostic> = shape_errors(source.tree)
        .into_iter()
        .map(|e| at(e.path.clone(), source.positions.lookup(&e.path), e.message))
        .collect();
    if names.len() > MAX_ENVIRONMENTS {
        let path = "spec.environments".to_string();
        let position = source.positions.lookup(&path);
        let message = format!(
            "{} environments; at most {MAX_ENVIRONMENTS} are allowed",
            names.len()
        );
        diagnostics.push(at(path, position, message));
        return Checked {
            manifest: None,
            diagnostics,
        };
    }
    let base_errors = validate(&base, settings.filter(|_| effective.is_none()));
    for e in &base_errors {
        diagnostics.push(at(
            e.path.clone(),
            source.positions.lookup(&e.path),
            e.message.clone(),
        ));
    }
    let mut chosen = None;
    for name in &names {
        let in_effect = effective == Some(name.as_str());
        let report = |path: &str, message: &str| {
            let located = locate(source.positions, name, path);
            let repeated = !located.in_override
                && base_errors
                    .iter()
                    .any(|b| b.path == path && b.message == message);
            (!repeated).then(|| {
                at(
                    located.path,
                    located.position,
                    format!("{message} (environment {name})"),
                )
            })
        };
        let Some(tree) = merged(source.tree, name) else {
            continue;
        };
        match yaml::from_tree::<MonitoredService>(&tree) {
            Err(e) => diagnostics.extend(report(&e.path, &e.message)),
            Ok(manifest) => {
                let errors = validate(&manifest, settings.filter(|_| in_effect));
                diagnostics.extend(errors.iter().filter_map(|e| report(&e.path, &e.message)));
                if in_effect {
                    let from = format!("spec.environments.{name}");
                    chosen = Some((manifest, source.positions.overlay(&from, "spec")));
                }
            }
        }
    }
    let manifest = diagnostics
        .is_empty()
        .then(|| chosen.unwrap_or_else(|| (base, source.positions.clone())));
    Checked {
        manifest,
        diagnostics,
    }
}

#[cfg(test)]
mod tests;
