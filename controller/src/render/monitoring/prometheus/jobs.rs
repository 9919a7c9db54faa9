//! Built-in alerts of one-off and scheduled tasks, on the operator's metrics
//! (`controller::job_metrics`): a failed pre-deploy task, a failed scheduled run, and a
//! scheduled job without a success for longer than its schedule allows.

use super::rules::{text, Rule};
use super::ServiceCtx;
use crate::domain::BuiltinAlert;
use crate::duration::PromDuration;
use crate::manifest::Severity;
use crate::render::aws::DesiredJob;

/// The metric of each job's last success (or its schedule's creation).
pub const LAST_SUCCESS_METRIC: &str = "ecs_operator_job_last_success_timestamp_seconds";

/// The alerts of the service's pre-deploy task and jobs (none without them).
pub(super) fn job_alerts(svc: &ServiceCtx, jobs: &[DesiredJob]) -> Vec<Rule> {
    let name = svc.name;
    let no_for = PromDuration::from_secs(0);
    let mut rules = Vec::new();
    if svc.m.spec.pre_deploy.is_some() {
        let failed = svc.operator("ecs_operator_pre_deploy_failed").text();
        rules.push(svc.alert(
            BuiltinAlert::PreDeployFailed.as_str(),
            format!("max by (spec_hash, exit_code, log_stream) ({failed}) == 1"),
            Some(svc.builtin_for(BuiltinAlert::PreDeployFailed, no_for)),
            Severity::Warning,
            text(
                format!("The pre-deploy task of {name} failed (exit code {{{{ $labels.exit_code }}}})"),
                format!(
                    "The pre-deploy task of {name}'s spec {{{{ $labels.spec_hash }}}} failed (exit code {{{{ $labels.exit_code }}}}; none: it timed out or never ran): the service stays on its current revision until the manifest changes. Logs: {{{{ $labels.log_stream }}}}; `ecs-operator rollout status {name}` shows why."
                ),
            ),
        ));
    }
    if jobs.is_empty() {
        return rules;
    }
    let failed = svc.operator("ecs_operator_job_last_run_failed").text();
    rules.push(svc.alert(
        BuiltinAlert::JobRunFailed.as_str(),
        format!("max by (job_name, exit_code, stop_code, log_stream) ({failed}) == 1"),
        Some(svc.builtin_for(BuiltinAlert::JobRunFailed, no_for)),
        Severity::Warning,
        text(
            format!("The job {{{{ $labels.job_name }}}} of {name} failed (exit code {{{{ $labels.exit_code }}}})"),
            format!(
                "The latest run of the scheduled job {{{{ $labels.job_name }}}} of {name} stopped with exit code {{{{ $labels.exit_code }}}} ({{{{ $labels.stop_code }}}}). Logs: {{{{ $labels.log_stream }}}}."
            ),
        ),
    ));
    for job in jobs.iter().filter(|j| j.state == "ENABLED") {
        let Some(interval) = job.interval_seconds else {
            continue;
        };
        let limit = interval + job.missed_after_seconds;
        let last = svc
            .operator(LAST_SUCCESS_METRIC)
            .eq("job_name", &job.job)
            .text();
        rules.push(svc.alert(
            BuiltinAlert::JobRunMissed.as_str(),
            format!("time() - max by (job_name) ({last}) > {limit}"),
            Some(svc.builtin_for(BuiltinAlert::JobRunMissed, no_for)),
            Severity::Warning,
            text(
                format!("The job {} of {name} has not succeeded for {{{{ $value | humanizeDuration }}}}", job.job),
                format!(
                    "The scheduled job {} of {name} ({} {}) runs at least every {} and has had no successful run for longer than that plus {}: its runs fail, or EventBridge Scheduler does not start them (see the schedule {} and its dead-letter queue).",
                    job.job,
                    job.schedule_expression,
                    job.schedule_expression_timezone,
                    PromDuration::from_secs(interval),
                    PromDuration::from_secs(job.missed_after_seconds),
                    job.schedule_name
                ),
            ),
        ));
    }
    rules
}
