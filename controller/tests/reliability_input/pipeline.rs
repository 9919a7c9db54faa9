//! The pipeline under test (load, validate, render) run on one input, with its bounds: no
//! panic, at most [`TIME_LIMIT`] and [`MEMORY_LIMIT`] of heap growth, diagnostics that carry a
//! message and a line inside the input, and an accepted result that the oracle finds safe.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use ecs_operator::manifest::{ManifestSet, MonitoredService};
use ecs_operator::settings::Settings;

use crate::measure::measured;
use crate::oracle::check_accepted;

pub const TIME_LIMIT: Duration = Duration::from_secs(2);
/// Peak heap growth allowed for one input (inputs are at most 1 MiB).
pub const MEMORY_LIMIT: usize = 64 * 1024 * 1024;
pub const ALLOWED_ROLE: &str = "arn:aws:iam::123456789012:role/app";

/// The settings the corpus is checked against.
pub fn settings() -> Settings {
    let mut s = Settings::local_defaults();
    s.operator_id = "fuzz-operator".into();
    s.allowed_clusters = vec!["extra".into()];
    s.allowed_task_role_arns = vec![ALLOWED_ROLE.into()];
    s.service_discovery_namespace_id = Some("ns-fuzz".into());
    s.monitoring.alertmanager_url = Some("http://alertmanager:9093".into());
    s.monitoring.grafana_url = Some("https://grafana.example.com".into());
    // every-field.yaml schedules a job.
    s.scheduler = Some(ecs_operator::settings::SchedulerSettings {
        role_arn: "arn:aws:iam::123456789012:role/scheduler".into(),
        group_name: None,
        dead_letter_queue_arn: None,
    });
    s
}

fn load(files: &[(&str, &[u8])], settings: &Settings) -> ManifestSet {
    let mut set = ManifestSet::default();
    for (name, bytes) in files {
        set.add_source(name, bytes, Some(settings));
    }
    set.finish();
    set
}

/// What one input did.
#[derive(Debug, Default)]
pub struct Handled {
    pub accepted: usize,
    pub rejected: usize,
    pub diagnostics: Vec<String>,
    pub exprs_checked: usize,
    /// The rendered monitoring files, path -> content (empty when nothing was accepted).
    pub files: BTreeMap<String, String>,
    pub peak_bytes: usize,
    pub took: Duration,
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Loads, validates and (when accepted) renders one input, measuring the time and memory the
/// operator's own work takes, then checks the result with the oracle. Returns an error naming
/// what went wrong.
pub fn handle(files: &[(&str, &[u8])], settings: &Settings) -> Result<Handled, String> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        measured(|| {
            let set = load(files, settings);
            let rendered = (!set.manifests.is_empty()).then(|| {
                let aws: Vec<_> = set
                    .manifests
                    .iter()
                    .map(|m| ecs_operator::render::render_service(&m.manifest, settings))
                    .collect();
                let manifests: Vec<&MonitoredService> =
                    set.manifests.iter().map(|m| &m.manifest).collect();
                (
                    aws,
                    ecs_operator::render::monitoring::render(&manifests, settings),
                )
            });
            (set, rendered)
        })
    }));
    let ((set, rendered), peak, took) =
        result.map_err(|panic| format!("panicked: {}", panic_message(panic)))?;
    if took > TIME_LIMIT {
        return Err(format!("took {took:?} (limit {TIME_LIMIT:?})"));
    }
    if peak > MEMORY_LIMIT {
        return Err(format!(
            "peak heap growth {} MiB (limit {} MiB)",
            peak >> 20,
            MEMORY_LIMIT >> 20
        ));
    }
    let mut h = Handled {
        accepted: set.manifests.len(),
        rejected: set.rejected.len(),
        diagnostics: set.diagnostics().map(|d| d.to_string()).collect(),
        peak_bytes: peak,
        took,
        ..Handled::default()
    };
    let lines: usize = files
        .iter()
        .map(|(_, b)| b.iter().filter(|c| **c == b'\n').count())
        .max()
        .unwrap_or(0);
    for d in set.diagnostics() {
        if d.message.trim().is_empty() {
            return Err(format!("a diagnostic without a message: {d}"));
        }
        if d.line > lines + 2 {
            return Err(format!("a diagnostic beyond the last line: {d}"));
        }
    }
    if rendered.is_some() {
        let (exprs, out) = catch_unwind(AssertUnwindSafe(|| check_accepted(&set, settings)))
            .map_err(|panic| format!("the oracle panicked: {}", panic_message(panic)))??;
        h.exprs_checked = exprs;
        h.files = out;
    }
    Ok(h)
}

/// The first few diagnostics, shortened, for a failure message.
pub fn preview(diagnostics: &[String]) -> String {
    diagnostics
        .iter()
        .take(5)
        .map(|d| d.chars().take(300).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}
