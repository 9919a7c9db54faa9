//! The desired state of a service's one-off and scheduled tasks: the pre-deploy task
//! (`spec.preDeploy`) and the EventBridge Scheduler schedules of its jobs (`spec.jobs`).

use serde::Serialize;

use crate::manifest::schedule::ScheduleExpression;
use crate::manifest::MonitoredService;

/// `spec.preDeploy`, rendered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreDeployTask {
    /// The container's `command` override (its CMD).
    pub command: Vec<String>,
    pub timeout_seconds: u64,
}

/// One job's schedule, in EventBridge Scheduler's terms. The task definition ARN is not here:
/// it is the revision the service runs, known only once observed or deployed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredJob {
    /// The job's name in the manifest.
    pub job: String,
    /// The schedule's name, `<service>-<job>`.
    pub schedule_name: String,
    pub schedule_expression: String,
    pub schedule_expression_timezone: String,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
    pub command: Vec<String>,
    pub maximum_retry_attempts: i32,
    pub maximum_event_age_in_seconds: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_queue_arn: Option<String>,
    /// The longest time between two runs (`None`: a one-time schedule); the missed-run alert
    /// fires `missed_after_seconds` after that without a success.
    #[serde(skip)]
    pub interval_seconds: Option<u64>,
    #[serde(skip)]
    pub missed_after_seconds: u64,
}

pub fn pre_deploy(m: &MonitoredService) -> Option<PreDeployTask> {
    m.spec.pre_deploy.as_ref().map(|p| PreDeployTask {
        command: p.command.clone(),
        timeout_seconds: p.timeout.as_secs_ceil(),
    })
}

/// The jobs' schedules. The interval is measured from 2027-01-01, a fixed day, so that
/// rendering stays pure; two years of a cron cover every pattern it can express but the year.
/// `default_dlq`: the settings' `scheduler.deadLetterQueueArn`.
pub fn jobs(m: &MonitoredService, default_dlq: Option<&str>) -> Vec<DesiredJob> {
    let from = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default();
    m.spec
        .jobs
        .iter()
        .map(|j| DesiredJob {
            job: j.name.clone(),
            schedule_name: format!("{}-{}", m.metadata.name, j.name),
            schedule_expression: j.schedule.clone(),
            schedule_expression_timezone: j.timezone.clone().unwrap_or_else(|| "UTC".into()),
            state: if j.enabled { "ENABLED" } else { "DISABLED" }.into(),
            command: j.command.clone(),
            maximum_retry_attempts: j.retry.maximum_attempts as i32,
            maximum_event_age_in_seconds: j.retry.maximum_event_age.as_secs_ceil() as i32,
            dead_letter_queue_arn: j
                .dead_letter_queue_arn
                .clone()
                .or_else(|| default_dlq.map(str::to_string)),
            interval_seconds: ScheduleExpression::parse(&j.schedule)
                .ok()
                .and_then(|e| e.longest_interval(from)),
            missed_after_seconds: j.missed_after.as_secs_ceil(),
        })
        .collect()
}

/// The CloudWatch log stream of a task's app container under the awslogs driver:
/// `<prefix>/<container>/<task id>` (Amazon ECS Developer Guide, "Using the awslogs log
/// driver", `awslogs-stream-prefix`), with the group: `<group>:<stream>`.
pub fn log_stream(d: &super::DesiredService, task_arn: &str) -> String {
    let options = &d.task_definition.container.log_configuration.options;
    let group = options.get("awslogs-group").map_or("", String::as_str);
    let prefix = options
        .get("awslogs-stream-prefix")
        .map_or("", String::as_str);
    let task_id = task_arn.rsplit('/').next().unwrap_or(task_arn);
    format!(
        "{group}:{prefix}/{}/{task_id}",
        d.task_definition.container.name
    )
}
