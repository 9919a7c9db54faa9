//! The pre-deploy run of a service's spec, kept in its status record so that every replica, a
//! restarted leader and `ecs-operator apply` know it ran (and how) and never run it twice for
//! the same spec hash (`reconcile::predeploy`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ConditionType, Reason, ServiceStatus};

/// Where a pre-deploy run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PreDeployState {
    /// Started; not stopped yet.
    Running,
    /// Stopped with exit code 0: the deployment goes on.
    Succeeded,
    /// Stopped with another exit code, or without one (the container never ran).
    Failed,
    /// Ran past `spec.preDeploy.timeout` and was stopped.
    TimedOut,
}

/// One pre-deploy run: the task, and once it stopped, how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreDeployRun {
    /// The spec hash whose deployment it gates.
    pub spec_hash: String,
    pub task_arn: String,
    /// The task definition revision it ran (the one the deployment will set).
    pub task_definition_arn: String,
    pub state: PreDeployState,
    /// Unix seconds when it was started (ECS `createdAt` when known).
    pub started_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// The app container's exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// ECS `stopCode` and `stoppedReason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    /// `<log group>:<log stream>` of the app container (awslogs).
    pub log_stream: String,
}

impl PreDeployRun {
    pub fn failed(&self) -> bool {
        matches!(
            self.state,
            PreDeployState::Failed | PreDeployState::TimedOut
        )
    }

    /// Why the deployment is held, for the status and the plan.
    pub fn failure(&self, service: &str) -> String {
        let how = match (self.state, self.exit_code) {
            (PreDeployState::TimedOut, _) => "ran past its timeout and was stopped".to_string(),
            (_, Some(code)) => format!("exited with code {code}"),
            (_, None) => "stopped before its container exited".to_string(),
        };
        let why = match (&self.stop_code, &self.stopped_reason) {
            (Some(code), Some(reason)) => format!(" ({code}: {reason})"),
            (None, Some(reason)) => format!(" ({reason})"),
            (Some(code), None) => format!(" ({code})"),
            (None, None) => String::new(),
        };
        format!(
            "the pre-deploy task {} {how}{why}; logs: {}; {service} stays on its current revision until the manifest changes",
            self.task_arn, self.log_stream
        )
    }
}

/// Sets `s`'s conditions for the run of the spec the manifest wants (`desired_hash`): a failed
/// one stalls the service; a running one keeps it waiting.
pub fn apply(
    s: &mut ServiceStatus,
    run: &PreDeployRun,
    desired_hash: Option<&str>,
    previous: Option<&ServiceStatus>,
    now: u64,
) {
    s.pre_deploy = Some(run.clone());
    if desired_hash != Some(run.spec_hash.as_str()) {
        return;
    }
    if run.state != PreDeployState::Succeeded {
        // The spec is not deployed: what runs is still the last applied one.
        s.last_applied_hash = previous.and_then(|p| p.last_applied_hash.clone());
    }
    match run.state {
        PreDeployState::Failed | PreDeployState::TimedOut => {
            let message = run.failure(&s.name);
            s.last_error = Some(message.clone());
            s.set_condition(
                ConditionType::Ready,
                false,
                Reason::PreDeployFailed,
                &message,
                previous,
                now,
            );
            s.set_condition(
                ConditionType::Stalled,
                true,
                Reason::PreDeployFailed,
                &message,
                previous,
                now,
            );
        }
        PreDeployState::Running => {
            let message = format!(
                "the pre-deploy task {} is running; the deployment waits for it (logs: {})",
                run.task_arn, run.log_stream
            );
            s.set_condition(
                ConditionType::Ready,
                false,
                Reason::Waiting,
                &message,
                previous,
                now,
            );
        }
        PreDeployState::Succeeded => {}
    }
}

/// Writes a pass's runs (`reconcile::predeploy`) into the statuses [`super::derive`] made,
/// judged against the spec hash each service's plan wants.
pub fn record(
    statuses: &mut BTreeMap<String, ServiceStatus>,
    runs: &BTreeMap<String, PreDeployRun>,
    plan: &crate::plan::Plan,
    previous: &BTreeMap<String, ServiceStatus>,
    now: u64,
) {
    for (name, run) in runs {
        let Some(s) = statuses.get_mut(name) else {
            continue;
        };
        let desired = (plan.services.iter())
            .find(|sp| &sp.name == name)
            .and_then(|sp| sp.desired.as_ref())
            .map(|d| d.spec_hash.as_str());
        apply(s, run, desired, previous.get(name), now);
    }
}
