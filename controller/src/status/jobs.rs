//! The runs of a service's scheduled jobs (`spec.jobs`), kept in its status record: the last
//! success and the last failure of each job, from the stopped tasks ECS reports. The metrics
//! the built-in alerts `JobRunFailed` and `JobRunMissed` read come from here, so a restarted
//! operator still knows when a job last succeeded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::observe::runs::TaskExit;

/// One stopped run of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRun {
    pub task_arn: String,
    /// Unix seconds when ECS stopped the task.
    pub stopped_at: u64,
    /// The exit code (none: it never ran, see the stop code), stop code and reason.
    #[serde(flatten)]
    pub exit: TaskExit,
    /// `<log group>:<log stream>` of the app container.
    pub log_stream: String,
}

impl JobRun {
    pub fn succeeded(&self) -> bool {
        self.exit.exit_code == Some(0)
    }
}

/// What is known of one job's runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// The EventBridge Scheduler schedule.
    pub schedule: String,
    /// Unix seconds since when the job is expected to run: the first time the operator saw
    /// its schedule. A job that never succeeds is missed from here.
    pub since: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<JobRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<JobRun>,
}

impl JobStatus {
    /// The latest run failed (no success since; a failure in the same second as a success
    /// counts, so that it is not lost).
    pub fn failing(&self) -> Option<&JobRun> {
        let failure = self.last_failure.as_ref()?;
        match &self.last_success {
            Some(s) if s.stopped_at > failure.stopped_at => None,
            _ => Some(failure),
        }
    }

    /// When the job last succeeded, or since when it should have.
    pub fn last_success_or_since(&self) -> u64 {
        self.last_success
            .as_ref()
            .map_or(self.since, |s| s.stopped_at.max(self.since))
    }

    /// Takes in one stopped run; an older run than the one recorded changes nothing (ECS
    /// lists stopped tasks for about an hour, so a restarted operator sees some again).
    pub fn record(&mut self, run: JobRun) {
        let slot = if run.succeeded() {
            &mut self.last_success
        } else {
            &mut self.last_failure
        };
        if slot.as_ref().is_none_or(|r| r.stopped_at < run.stopped_at) {
            *slot = Some(run);
        }
    }
}

/// The jobs of one service after this pass: the previous record of each job the manifest
/// still has (a removed job is forgotten), with the runs seen now (`job name -> runs`).
pub fn next(
    previous: &BTreeMap<String, JobStatus>,
    wanted: &[(String, String)],
    runs: &BTreeMap<String, Vec<JobRun>>,
    now: u64,
) -> BTreeMap<String, JobStatus> {
    wanted
        .iter()
        .map(|(job, schedule)| {
            let mut status = previous
                .get(job)
                .filter(|s| &s.schedule == schedule)
                .cloned()
                .unwrap_or_else(|| JobStatus {
                    schedule: schedule.clone(),
                    since: now,
                    ..JobStatus::default()
                });
            for run in runs.get(job).into_iter().flatten() {
                status.record(run.clone());
            }
            (job.clone(), status)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(at: u64, exit: i32) -> JobRun {
        JobRun {
            task_arn: format!("arn:aws:ecs:us-east-1:1:task/main/{at}"),
            stopped_at: at,
            exit: TaskExit {
                exit_code: Some(exit),
                stop_code: Some("EssentialContainerExited".into()),
                stopped_reason: None,
            },
            log_stream: format!("/ecs/services:web/app/{at}"),
        }
    }

    #[test]
    fn the_latest_run_decides_whether_a_job_is_failing_and_old_runs_change_nothing() {
        let wanted = vec![("nightly".to_string(), "web-nightly".to_string())];
        let first = next(&BTreeMap::new(), &wanted, &BTreeMap::new(), 100);
        assert_eq!(first["nightly"].last_success_or_since(), 100);
        let runs = BTreeMap::from([("nightly".to_string(), vec![run(200, 0), run(300, 2)])]);
        let second = next(&first, &wanted, &runs, 400);
        assert_eq!(second["nightly"].failing().unwrap().exit.exit_code, Some(2));
        assert_eq!(second["nightly"].last_success_or_since(), 200);
        let again = BTreeMap::from([("nightly".to_string(), vec![run(150, 0), run(500, 0)])]);
        let third = next(&second, &wanted, &again, 600);
        assert!(third["nightly"].failing().is_none());
        assert_eq!(third["nightly"].last_success_or_since(), 500);
        assert!(
            next(&third, &[], &BTreeMap::new(), 700).is_empty(),
            "a removed job is forgotten"
        );
    }
}
