//! Scheduled jobs (`spec.jobs`): after the services are applied, each job's EventBridge
//! Scheduler schedule is planned and written (it runs the revision its service runs after this
//! pass), owned schedules no job wants are pruned under the plan's guards, and the stopped
//! runs of every job are read for its status and metrics.
//!
//! # Guarantees
//! - No settings `scheduler`: no call at all. An idle pass: one ListSchedules, plus one
//!   ListTasks per service with jobs (the stopped runs); GetSchedule only for a schedule
//!   modified since it was read; zero writes.
//! - The group is created once with the ownership tag; a group of that name not carrying this
//!   operator's tag is refused, and schedules without the operator's marker are left alone.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::Reconciler;
use crate::actuate::aws::ServiceResult;
use crate::actuate::schedules as write;
use crate::domain::tags;
use crate::error::ReconcileError;
use crate::manifest::ManifestSet;
use crate::observe::runs;
use crate::observe::schedules::{CapacityItem, ScheduleSpec};
use crate::plan::schedules::{
    marker, plan_schedules, ScheduleAction, SchedulePlan, WantedSchedule,
};
use crate::plan::{Plan, ServicePlan, Step};
use crate::render::aws::{jobs::log_stream, DesiredJob, DesiredService};
use crate::settings::SchedulerSettings;
use crate::status::jobs::JobRun;

/// What the jobs step planned, did and saw.
#[derive(Debug, Default)]
pub struct JobsReport {
    pub plans: Vec<SchedulePlan>,
    /// Failures by service (a schedule write, or the group).
    pub errors: BTreeMap<String, ReconcileError>,
    /// Stopped runs seen this pass: service -> job -> runs.
    pub runs: BTreeMap<String, BTreeMap<String, Vec<JobRun>>>,
}

/// The step. `prune`: the source is complete and the pass not scoped; `write`: the leader.
pub async fn reconcile(
    ctx: &Reconciler,
    set: &ManifestSet,
    plan: &Plan,
    results: &[ServiceResult],
    prune: bool,
    write: bool,
    generation: u64,
) -> JobsReport {
    let mut report = JobsReport::default();
    let Some(scheduler) = &ctx.settings.scheduler else {
        return report;
    };
    let operator_id = &ctx.settings.operator_id;
    let group = scheduler.group(operator_id);
    let wanted = wanted(plan, results, scheduler, operator_id);
    if write && !wanted.is_empty() && !group_ready(ctx) {
        match write::ensure_group(&ctx.aws, &group, operator_id).await {
            Ok(()) => {
                *ctx.observer
                    .schedules
                    .group_ready
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = true
            }
            Err(e) => {
                let message = e.to_string();
                for w in wanted.values() {
                    report
                        .errors
                        .insert(w.service.clone(), ReconcileError::Invalid(message.clone()));
                }
                return report;
            }
        }
    }
    let observed = match ctx.observer.schedules.list(&ctx.aws, &group).await {
        Ok(observed) => observed,
        Err(e) => {
            for w in wanted.values() {
                report.errors.insert(w.service.clone(), e.clone().into());
            }
            return report;
        }
    };
    let valid: BTreeSet<String> = set.manifests.iter().map(|m| m.name().to_string()).collect();
    let invalid: BTreeSet<String> = set.all_names().difference(&valid).cloned().collect();
    report.plans = plan_schedules(&wanted, &observed, &marker(operator_id), &invalid, prune);
    if write {
        for p in &report.plans {
            if matches!(
                p.action,
                ScheduleAction::InSync | ScheduleAction::Conflict(_)
            ) {
                continue;
            }
            let token = client_token(p, generation);
            if let Err(e) = write::apply(&ctx.aws, &group, p, &token).await {
                tracing::warn!(schedule = %p.name, error = %e, "schedule not written");
                report.errors.entry(p.service.clone()).or_insert(e);
            }
            ctx.observer.schedules.forget(&p.name);
        }
    }
    for p in &report.plans {
        if let ScheduleAction::Conflict(why) = &p.action {
            report
                .errors
                .entry(p.service.clone())
                .or_insert_with(|| ReconcileError::Invalid(why.clone()));
        }
    }
    report.runs = stopped_runs(ctx, plan).await;
    report
}

fn group_ready(ctx: &Reconciler) -> bool {
    *ctx.observer
        .schedules
        .group_ready
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// CreateSchedule's / UpdateSchedule's `ClientToken` (1-64 characters): the same for the
/// SDK's retries of one request, new for another spec or a later pass.
fn client_token(p: &SchedulePlan, generation: u64) -> String {
    let material = format!("{}:{}:{generation}", p.name, serde_json::json!(p.desired));
    hex::encode(&Sha256::digest(material.as_bytes())[..16])
}

/// The revision a service runs once this pass's apply is done: the one it deployed, else the
/// one ECS reports. None before the service exists.
fn running_revision(sp: &ServicePlan, results: &[ServiceResult]) -> Option<String> {
    let deployed = sp.steps.iter().any(|s| {
        matches!(
            s,
            Step::CreateService
                | Step::UpdateService {
                    new_task_definition: true,
                    ..
                }
        )
    });
    let result = results.iter().find(|r| r.name == sp.name);
    if deployed && result.is_some_and(|r| r.error.is_none()) {
        return result.and_then(|r| r.task_definition_arn.clone());
    }
    sp.observed.as_ref().map(|o| o.task_definition_arn.clone())
}

/// The schedule of every job of a service that exists, by schedule name.
fn wanted(
    plan: &Plan,
    results: &[ServiceResult],
    scheduler: &SchedulerSettings,
    operator_id: &str,
) -> BTreeMap<String, WantedSchedule> {
    let mut wanted = BTreeMap::new();
    for sp in &plan.services {
        let Some(d) = sp.desired.as_deref() else {
            continue;
        };
        if d.jobs.is_empty() || d.suspend {
            continue;
        }
        let Some(revision) = running_revision(sp, results) else {
            continue;
        };
        for job in &d.jobs {
            wanted.insert(
                job.schedule_name.clone(),
                WantedSchedule {
                    service: d.name.clone(),
                    spec: spec(d, job, &revision, scheduler, operator_id),
                },
            );
        }
    }
    wanted
}

/// A job's schedule: the service's network and capacity, its running revision, the job's
/// command as the RunTask overrides.
pub fn spec(
    d: &DesiredService,
    job: &DesiredJob,
    revision: &str,
    scheduler: &SchedulerSettings,
    operator_id: &str,
) -> ScheduleSpec {
    // `arn:aws:ecs:<region>:<account>:task-definition/...` -> the cluster's ARN.
    let prefix = revision
        .split("task-definition/")
        .next()
        .unwrap_or_default();
    let capacity_provider_strategy = match &d.service.spot_mix {
        Some(mix) => vec![
            CapacityItem {
                capacity_provider: crate::render::aws::FARGATE.into(),
                base: mix.on_demand_base,
                weight: 1,
            },
            CapacityItem {
                capacity_provider: crate::render::aws::FARGATE_SPOT.into(),
                base: 0,
                weight: mix.spot_weight,
            },
        ],
        None => vec![CapacityItem {
            capacity_provider: d.service.capacity_provider.clone(),
            base: 0,
            weight: 1,
        }],
    };
    let input = serde_json::json!({"containerOverrides": [{
        "name": d.task_definition.container.name,
        "command": job.command,
    }]});
    ScheduleSpec {
        description: format!(
            "{}: job {} of service {}",
            marker(operator_id),
            job.job,
            d.name
        ),
        schedule_expression: job.schedule_expression.clone(),
        schedule_expression_timezone: job.schedule_expression_timezone.clone(),
        state: job.state.clone(),
        cluster_arn: format!("{prefix}cluster/{}", d.cluster),
        role_arn: scheduler.role_arn.clone(),
        task_definition_arn: revision.to_string(),
        capacity_provider_strategy,
        subnets: d.service.subnets.clone(),
        security_groups: d.service.security_groups.clone(),
        assign_public_ip: d.service.assign_public_ip,
        task_group: task_group(&job.schedule_name),
        input: input.to_string(),
        maximum_retry_attempts: job.maximum_retry_attempts,
        maximum_event_age_in_seconds: job.maximum_event_age_in_seconds,
        dead_letter_queue_arn: job.dead_letter_queue_arn.clone(),
        task_tags: [tags::OWNER, tags::MANIFEST, tags::TEAM]
            .iter()
            .filter_map(|k| Some((k.to_string(), d.tags.get(*k)?.clone())))
            .collect(),
        ecs_managed_tags: true,
    }
}

/// ECS `group` of a job's tasks.
pub fn task_group(schedule: &str) -> String {
    format!("job:{schedule}")
}

/// The stopped tasks of every service with jobs not seen before, as runs of its jobs (their
/// ECS group names the schedule). Best effort: a failed read is tried at the next pass.
async fn stopped_runs(
    ctx: &Reconciler,
    plan: &Plan,
) -> BTreeMap<String, BTreeMap<String, Vec<JobRun>>> {
    use aws_sdk_ecs::types::DesiredStatus;
    let mut found = BTreeMap::new();
    for sp in &plan.services {
        let (Some(d), Some(_)) = (sp.desired.as_deref(), sp.observed.as_ref()) else {
            continue;
        };
        if d.jobs.is_empty() {
            continue;
        }
        let listed = ctx
            .aws
            .ecs
            .list_tasks()
            .cluster(&d.cluster)
            .family(&d.task_definition.family)
            .desired_status(DesiredStatus::Stopped)
            .send()
            .await;
        let Ok(listed) = listed else { continue };
        let new = ctx.observer.schedules.new_runs(listed.task_arns());
        if new.is_empty() {
            continue;
        }
        let Ok(tasks) = runs::describe(&ctx.aws, &d.cluster, &new).await else {
            continue;
        };
        let by_job: &mut BTreeMap<String, Vec<JobRun>> = found.entry(d.name.clone()).or_default();
        for job in &d.jobs {
            let group = task_group(&job.schedule_name);
            for task in tasks
                .iter()
                .filter(|t| t.stopped && t.group.as_deref() == Some(&group))
            {
                by_job.entry(job.job.clone()).or_default().push(JobRun {
                    task_arn: task.arn.clone(),
                    stopped_at: task.stopped_at.unwrap_or_default(),
                    exit: task.exit.clone(),
                    log_stream: log_stream(d, &task.arn),
                });
            }
        }
    }
    found
}

/// Writes the jobs' runs into the statuses: every service with jobs gets its jobs' record
/// (a job removed from the manifest is forgotten). Pure.
pub fn record(
    statuses: &mut BTreeMap<String, crate::status::ServiceStatus>,
    plan: &Plan,
    runs: &BTreeMap<String, BTreeMap<String, Vec<JobRun>>>,
    now: u64,
) {
    let none = BTreeMap::new();
    for sp in &plan.services {
        let Some(d) = sp.desired.as_deref() else {
            continue;
        };
        let Some(s) = statuses.get_mut(&sp.name) else {
            continue;
        };
        let wanted: Vec<(String, String)> = (d.jobs.iter())
            .map(|j| (j.job.clone(), j.schedule_name.clone()))
            .collect();
        s.jobs =
            crate::status::jobs::next(&s.jobs, &wanted, runs.get(&sp.name).unwrap_or(&none), now);
    }
}

/// Marks the results of services whose jobs failed, so their status says why.
pub fn report_errors(results: &mut [ServiceResult], errors: &BTreeMap<String, ReconcileError>) {
    for r in results.iter_mut() {
        if let (Some(e), None) = (errors.get(&r.name), &r.error) {
            r.error_class = Some(e.class());
            r.error = Some(format!("jobs: {e}"));
        }
    }
}
