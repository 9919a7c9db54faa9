//! The dashboard row of a service's one-off and scheduled runs: how long ago each job last
//! succeeded, which jobs' latest run failed (with the exit code), and a failed pre-deploy task.

use super::panels::*;
use super::ServiceCtx;
use crate::render::monitoring::prometheus::jobs::LAST_SUCCESS_METRIC;

/// Adds the "Runs" row when the service has jobs or a pre-deploy task.
pub(super) fn runs_row(svc: &ServiceCtx, l: &mut Layout) {
    let spec = &svc.m.spec;
    if spec.jobs.is_empty() && spec.pre_deploy.is_none() {
        return;
    }
    l.row("Runs");
    if !spec.jobs.is_empty() {
        let last = svc.operator(LAST_SUCCESS_METRIC).text();
        l.place(
            timeseries(
                "Time since each job last succeeded",
                "Seconds since the last run of each scheduled job that exited 0 (or since its schedule was made); JobRunMissed fires past the schedule's interval plus missedAfter.",
                "s",
                &[Series {
                    expr: format!("time() - max by (job_name) ({last})"),
                    legend: "{{job_name}}",
                }],
                None,
            ),
            12,
            8,
        );
        let failed = svc.operator("ecs_operator_job_last_run_failed").text();
        l.place(
            timeseries(
                "Jobs whose latest run failed",
                "1 while a job's latest run stopped with a non-zero exit code (JobRunFailed); the legend names the exit code and the log stream has the details.",
                "short",
                &[Series {
                    expr: format!("max by (job_name, exit_code) ({failed})"),
                    legend: "{{job_name}} (exit {{exit_code}})",
                }],
                Some(steps(&[("green", None), ("red", Some(1.0))])),
            ),
            12,
            8,
        );
    }
    if spec.pre_deploy.is_some() {
        let failed = svc.operator("ecs_operator_pre_deploy_failed").text();
        l.place(
            stat(
                "Pre-deploy task failed",
                "1 while the spec is held because its pre-deploy task failed (PreDeployFailed): the service stays on its current revision until the manifest changes.",
                "short",
                &format!("max({failed}) or vector(0)"),
                steps(&[("green", None), ("red", Some(1.0))]),
            ),
            6,
            8,
        );
    }
}
