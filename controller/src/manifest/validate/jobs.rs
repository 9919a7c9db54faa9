//! Checks of `spec.preDeploy` and `spec.jobs`, with the limits of the EventBridge Scheduler
//! API reference (CreateSchedule: `Name` 1-64 of `[0-9a-zA-Z-_.]+`; RetryPolicy:
//! MaximumRetryAttempts 0-185, MaximumEventAgeInSeconds 60-86400; DeadLetterConfig: an SQS
//! queue ARN; `ScheduleExpressionTimezone`: an IANA time zone) and its user guide's schedule
//! expressions (`manifest::schedule`).

use std::collections::BTreeSet;

use super::workload::is_arn_of;
use super::Checker;
use crate::duration::PromDuration;
use crate::manifest::model::*;
use crate::manifest::schedule::{is_schedule_name, ScheduleExpression};
use crate::settings::Settings;

/// At most this many jobs per service.
pub const MAX_JOBS: usize = 10;
/// A command's arguments, like the container's.
const MAX_COMMAND_ARGS: usize = 64;
const MAX_ARG_LEN: usize = 4096;

pub(super) fn check_pre_deploy(c: &mut Checker, p: &PreDeploy) {
    check_command(c, "spec.preDeploy.command", &p.command);
    c.check(
        p.timeout >= PromDuration::from_secs(30) && p.timeout <= PromDuration::from_secs(86_400),
        "spec.preDeploy.timeout",
        || format!("{} must be between 30s and 24h", p.timeout),
    );
}

fn check_command(c: &mut Checker, path: &str, command: &[String]) {
    c.check(!command.is_empty(), path, || {
        "must name the command to run, e.g. [migrate]".into()
    });
    c.check(command.len() <= MAX_COMMAND_ARGS, path, || {
        format!("at most {MAX_COMMAND_ARGS} arguments")
    });
    for (i, arg) in command.iter().enumerate() {
        c.check(
            arg.len() <= MAX_ARG_LEN && !arg.contains('\0'),
            format_args!("{path}[{i}]"),
            || format!("at most {MAX_ARG_LEN} characters, no NUL"),
        );
    }
}

pub(super) fn check_jobs(
    c: &mut Checker,
    service: &str,
    jobs: &[Job],
    settings: Option<&Settings>,
) {
    if jobs.is_empty() {
        return;
    }
    c.check(jobs.len() <= MAX_JOBS, "spec.jobs", || {
        format!("at most {MAX_JOBS} jobs per service")
    });
    if let Some(s) = settings {
        c.check(s.scheduler.is_some(), "spec.jobs", || {
            "the operator's settings have no `scheduler` (role and schedule group): jobs cannot be scheduled".into()
        });
    }
    let mut names = BTreeSet::new();
    for (i, job) in jobs.iter().enumerate().take(MAX_JOBS) {
        let at = |field: &str| format!("spec.jobs[{i}].{field}");
        let schedule_name = format!("{service}-{}", job.name);
        c.check(is_schedule_name(&schedule_name), at("name"), || {
            format!(
                "{:?}: the schedule {schedule_name:?} must be at most 64 letters, digits, '-', '_' or '.'",
                job.name
            )
        });
        c.check(!job.name.is_empty(), at("name"), || {
            "must not be empty".into()
        });
        c.check(names.insert(job.name.clone()), at("name"), || {
            format!("{:?} is the name of another job of this service", job.name)
        });
        if let Err(why) = ScheduleExpression::parse(&job.schedule) {
            c.fail(at("schedule"), why);
        }
        if let Some(zone) = &job.timezone {
            c.check(zone.parse::<chrono_tz::Tz>().is_ok(), at("timezone"), || {
                format!("{zone:?} is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)")
            });
        }
        check_command(c, &at("command"), &job.command);
        c.check(
            job.retry.maximum_attempts <= 185,
            at("retry.maximumAttempts"),
            || format!("{} must be between 0 and 185", job.retry.maximum_attempts),
        );
        let age = job.retry.maximum_event_age;
        c.check(
            age.as_millis() % 1000 == 0 && (60..=86_400).contains(&(age.as_millis() / 1000)),
            at("retry.maximumEventAge"),
            || format!("{age} must be whole seconds between 1m and 24h"),
        );
        if let Some(arn) = &job.dead_letter_queue_arn {
            c.check(is_arn_of(arn, "sqs", ""), at("deadLetterQueueArn"), || {
                format!("{arn:?} is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)")
            });
        }
        c.check(
            job.missed_after >= PromDuration::from_secs(60),
            at("missedAfter"),
            || format!("{} must be at least 1m", job.missed_after),
        );
    }
}
