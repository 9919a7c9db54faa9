//! One-off and scheduled tasks of a service: `spec.preDeploy` (a command run with the new
//! task definition before the service is updated, e.g. database migrations) and `spec.jobs`
//! (commands run on a schedule through EventBridge Scheduler). Both run the service's own
//! task definition, network and roles with the container's command replaced.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::PromDuration;

/// A command run once per spec with the *new* task definition (ECS RunTask, same network as
/// the service) before the service is created or updated with it. The rollout waits for it:
/// exit code 0 lets the deployment go on; another exit code, or running past `timeout`
/// (the task is then stopped), holds the service on its current revision (status Stalled
/// with the exit code and the CloudWatch log stream, and the built-in alert
/// `PreDeployFailed`) until the manifest changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreDeploy {
    /// Replaces the container's `args` (the image's CMD) for this task, e.g.
    /// `["migrate", "--to", "latest"]`; the entry point (`container.command`) stays.
    pub command: Vec<String>,
    /// How long the task may run before it is stopped and counted as failed (30s-24h).
    #[serde(default = "default_pre_deploy_timeout")]
    pub timeout: PromDuration,
}

/// Default of `spec.preDeploy.timeout`.
pub const DEFAULT_PRE_DEPLOY_TIMEOUT: PromDuration = PromDuration::from_secs(600);

fn default_pre_deploy_timeout() -> PromDuration {
    DEFAULT_PRE_DEPLOY_TIMEOUT
}

/// A command run on a schedule with the service's current task definition and network, by an
/// EventBridge Scheduler schedule `<service>-<name>` in the operator's schedule group. Every
/// run's exit code is watched: a failed run fires `JobRunFailed`, and no successful run within
/// the schedule's interval plus `missedAfter` fires `JobRunMissed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Job {
    /// Letters, digits, `-`, `_` and `.`; the schedule is named `<service>-<name>` (at most
    /// 64 characters).
    pub name: String,
    /// When to run, in EventBridge Scheduler's syntax: `cron(minutes hours day-of-month month
    /// day-of-week year)` (e.g. `cron(0 3 * * ? *)`), `rate(1 hour)` or a one-time
    /// `at(2027-01-31T03:00:00)`.
    pub schedule: String,
    /// IANA time zone the cron or at expression is read in (e.g. `Europe/Berlin`); default
    /// UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Replaces the container's `args` (the image's CMD) for the run; the entry point stays.
    pub command: Vec<String>,
    /// How often EventBridge Scheduler retries starting the task when RunTask fails (not when
    /// the task exits non-zero).
    #[serde(default)]
    pub retry: JobRetry,
    /// SQS queue receiving the events EventBridge Scheduler could not deliver after its
    /// retries. Defaults to the settings' `scheduler.deadLetterQueueArn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_queue_arn: Option<String>,
    /// How long after a run was due without success `JobRunMissed` fires (default 15m).
    #[serde(default = "default_missed_after")]
    pub missed_after: PromDuration,
    /// `false` keeps the schedule but disables it (no runs, no missed-run alert).
    #[serde(default = "super::yes")]
    pub enabled: bool,
}

fn default_missed_after() -> PromDuration {
    PromDuration::from_secs(900)
}

/// EventBridge Scheduler's `RetryPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobRetry {
    /// Retries after a failed start (0-185).
    #[serde(default = "default_maximum_attempts")]
    pub maximum_attempts: u32,
    /// How long after the scheduled time a start is still attempted (60s-24h).
    #[serde(default = "default_maximum_event_age")]
    pub maximum_event_age: PromDuration,
}

impl Default for JobRetry {
    fn default() -> Self {
        Self {
            maximum_attempts: default_maximum_attempts(),
            maximum_event_age: default_maximum_event_age(),
        }
    }
}

fn default_maximum_attempts() -> u32 {
    3
}
fn default_maximum_event_age() -> PromDuration {
    PromDuration::from_secs(3600)
}
