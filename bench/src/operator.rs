//! The operator's side: full passes (source fetch -> render -> observe -> plan -> apply) through
//! the library, exactly as `ecs-operator run` makes them, timed and counted.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Result};
use ecs_operator::aws::calls::CallKey;
use ecs_operator::aws::CallCounter;
use ecs_operator::reconcile::Reconciler;
use ecs_operator::source::Source;

/// One measured pass.
#[derive(Debug, Clone, Default)]
pub struct Pass {
    pub secs: f64,
    /// Seconds in the source fetch (list, downloads, parse + validate).
    pub fetch_secs: f64,
    /// Seconds in render + observe + plan.
    pub plan_secs: f64,
    /// Seconds in apply.
    pub apply_secs: f64,
    pub calls: BTreeMap<CallKey, u64>,
    /// Objects the source downloaded.
    pub downloaded: usize,
    /// Services with planned steps.
    pub changed_services: usize,
    pub errors: Vec<String>,
    /// The task definitions the observed services run.
    pub observed_task_definitions: Vec<String>,
}

/// One pass: fetch the manifests, plan against what exists, apply.
pub async fn pass(reconciler: &Reconciler, source: &mut Source) -> Result<Pass> {
    let before = reconciler.aws.calls.snapshot();
    let started = Instant::now();
    let fetched = source
        .fetch(Some(&reconciler.aws), &reconciler.settings)
        .await?;
    if !fetched.set.rejected.is_empty() {
        let problems: Vec<String> = fetched.set.diagnostics().map(|d| d.to_string()).collect();
        bail!("generated manifests were rejected: {problems:?}");
    }
    let fetch_secs = started.elapsed().as_secs_f64();
    let (plan, _observed) = reconciler.plan(&fetched.set, true).await?;
    let plan_secs = started.elapsed().as_secs_f64() - fetch_secs;
    let results = reconciler.apply(&plan).await;
    let secs = started.elapsed().as_secs_f64();
    let calls = CallCounter::since(&before, &reconciler.aws.calls.snapshot());
    Ok(Pass {
        secs,
        fetch_secs,
        plan_secs,
        apply_secs: secs - fetch_secs - plan_secs,
        calls,
        downloaded: fetched.downloaded,
        changed_services: plan.services.iter().filter(|s| !s.steps.is_empty()).count(),
        observed_task_definitions: (plan.services.iter())
            .filter_map(|s| s.observed.as_ref())
            .map(|o| o.task_definition_arn.clone())
            .collect(),
        errors: results
            .iter()
            .filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.name)))
            .collect(),
    })
}

/// A fresh process's first pass after it read the warm-start cache at `state` (what
/// `ecs-operator run` does at start), the read counted with the pass.
pub async fn warm_pass(
    reconciler: &Reconciler,
    source: &mut Source,
    state: ecs_operator::domain::S3Location,
) -> Result<Pass> {
    let before = reconciler.aws.calls.snapshot();
    let started = Instant::now();
    let cache = ecs_operator::status::warm::WarmStore::new(Some(state))
        .load(&reconciler.aws)
        .await;
    let Some(cache) = cache else {
        bail!("the warm-start cache was not read back");
    };
    source.import(cache.manifests, &reconciler.settings);
    reconciler.observer.import(cache.task_definitions);
    let load_secs = started.elapsed().as_secs_f64();
    let mut p = pass(reconciler, source).await?;
    p.calls = CallCounter::since(&before, &reconciler.aws.calls.snapshot());
    p.secs += load_secs;
    p.fetch_secs += load_secs;
    Ok(p)
}
