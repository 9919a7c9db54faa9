//! Pre-deploy tasks (`spec.preDeploy`): the reads and records around the pure gate
//! ([`crate::plan::predeploy`]).
//!
//! # Guarantees
//! - A spec hash runs its pre-deploy task at most once: the run is kept in the service's
//!   status record, and a run started but not yet recorded (the operator died between RunTask
//!   and the record) is found again by its `startedBy` marker (ListTasks, running and
//!   stopped) before anything is started.
//! - The pass never blocks on the task: each pass reads it (one DescribeTasks) until ECS
//!   reports it STOPPED; the deployment goes on only after exit code 0.
//! - A failed or timed-out run holds the spec (status Stalled with the exit code, ECS's stop
//!   reason and the log stream; `ecs_operator_pre_deploy_failed` and the built-in alert
//!   `PreDeployFailed` tell the team) until the manifest changes: a new spec hash runs anew.
//!
//! # Caveats
//! - ECS keeps a stopped task for about an hour. A run recorded as running whose task ECS no
//!   longer knows (the operator was down longer than that) is a failure: its exit code is lost.

use std::collections::{BTreeMap, BTreeSet};

use super::Reconciler;
use crate::actuate::aws::ServiceResult;
pub use crate::actuate::tasks::pre_deploy_marker;
use crate::aws::AwsError;
use crate::observe::runs::{self, TaskExit, TaskRun};
use crate::plan::predeploy::gated;
use crate::plan::Plan;
use crate::render::aws::{jobs::log_stream, DesiredService};
pub use crate::status::predeploy::record;
use crate::status::{PreDeployRun, PreDeployState, ServiceStatus};

/// The run of each gated service's wanted spec as it stands: the record, brought up to date
/// with one DescribeTasks while it runs, or found by its marker when none is recorded. A read
/// that fails leaves a running record as it was, and a service whose runs cannot be listed
/// in `unknown` (starting one then could run it twice); the next pass reads again.
pub async fn observe(
    ctx: &Reconciler,
    plan: &Plan,
    statuses: &BTreeMap<String, ServiceStatus>,
    now: u64,
) -> KnownRuns {
    let mut known = KnownRuns::default();
    for sp in gated(plan) {
        let Some(d) = sp.desired.as_deref() else {
            continue;
        };
        let recorded = (statuses.get(&sp.name))
            .and_then(|s| s.pre_deploy.as_deref().cloned())
            .filter(|r| r.spec_hash == d.spec_hash);
        let run = match recorded {
            Some(r) if r.state != PreDeployState::Running => Some(r),
            Some(r) => {
                match runs::describe(&ctx.aws, &d.cluster, std::slice::from_ref(&r.task_arn)).await
                {
                    Ok(found) => Some(match found.first() {
                        // The recorded start stays: the record changes only when the task does.
                        Some(task) => PreDeployRun {
                            started_at: r.started_at,
                            ..run_of(d, task, now)
                        },
                        None => lost(r, now),
                    }),
                    Err(e) => {
                        tracing::warn!(service = %sp.name, error = %e, "cannot read the pre-deploy task");
                        Some(r)
                    }
                }
            }
            None => match find_unrecorded(ctx, d, now).await {
                Ok(run) => run,
                Err(e) => {
                    tracing::warn!(service = %sp.name, error = %e, "cannot list pre-deploy tasks");
                    known.unknown.insert(sp.name.clone());
                    None
                }
            },
        };
        if let Some(run) = run {
            known.runs.insert(sp.name.clone(), run);
        }
    }
    known
}

/// What [`observe`] learned.
#[derive(Debug, Default)]
pub struct KnownRuns {
    pub runs: BTreeMap<String, PreDeployRun>,
    /// Services whose earlier runs could not be listed.
    pub unknown: BTreeSet<String>,
}

/// A run started by an earlier process that did not live to record it.
async fn find_unrecorded(
    ctx: &Reconciler,
    d: &DesiredService,
    now: u64,
) -> Result<Option<PreDeployRun>, AwsError> {
    let marker = pre_deploy_marker(&d.spec_hash);
    let arns = runs::started_by(&ctx.aws, &d.cluster, &marker).await?;
    if arns.is_empty() {
        return Ok(None);
    }
    let found = runs::describe(&ctx.aws, &d.cluster, &arns).await?;
    // The newest, should there be several (a second process raced the first).
    Ok(found
        .iter()
        .max_by_key(|t| t.created_at)
        .map(|task| run_of(d, task, now)))
}

/// A pre-deploy run from what ECS says of its task.
pub fn run_of(d: &DesiredService, task: &TaskRun, now: u64) -> PreDeployRun {
    let state = match (task.stopped, task.exit.exit_code) {
        (false, _) => PreDeployState::Running,
        (true, Some(0)) => PreDeployState::Succeeded,
        (true, _) => PreDeployState::Failed,
    };
    PreDeployRun {
        spec_hash: d.spec_hash.clone(),
        task_arn: task.arn.clone(),
        task_definition_arn: task.task_definition_arn.clone(),
        state,
        started_at: task.created_at.unwrap_or(now),
        finished_at: task.stopped.then(|| task.stopped_at.unwrap_or(now)),
        exit: task.exit.clone(),
        log_stream: log_stream(d, &task.arn),
    }
}

fn lost(mut run: PreDeployRun, now: u64) -> PreDeployRun {
    run.state = PreDeployState::Failed;
    run.finished_at = Some(now);
    run.exit.stopped_reason = Some(
        "ECS no longer knows the task (stopped tasks are kept about an hour): its exit code is lost"
            .into(),
    );
    run
}

/// The runs this pass's apply started, as running.
pub fn started(results: &[ServiceResult], now: u64) -> BTreeMap<String, PreDeployRun> {
    (results.iter())
        .filter_map(|r| {
            let started = r.pre_deploy.clone()?;
            let d = r.desired.as_deref()?;
            Some((
                r.name.clone(),
                PreDeployRun {
                    spec_hash: d.spec_hash.clone(),
                    log_stream: log_stream(d, &started.task_arn),
                    task_arn: started.task_arn,
                    task_definition_arn: started.task_definition_arn,
                    state: PreDeployState::Running,
                    started_at: now,
                    finished_at: None,
                    exit: TaskExit::default(),
                },
            ))
        })
        .collect()
}
