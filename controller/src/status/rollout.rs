//! The rollout of each service as `/status` and the status records report it: in progress,
//! completed, failed or rolled back, with the revision, its image and when it began.
//!
//! [`rollout_of`] is pure: one pass's result (what was observed before acting, and what the
//! pass deployed) in, the rollout out.
//!
//! # Caveats
//! - The observation precedes the pass's own writes: a deployment this pass started is
//!   reported from the result (revision and image known, task counts not yet).
//! - Without the circuit breaker or deployment alarms ECS reports no `rolloutState`; such a
//!   rollout is in progress while older deployments still run tasks or the new one is short.

use serde::{Deserialize, Serialize};

use crate::actuate::aws::ServiceResult;
pub use crate::domain::short_revision;
use crate::observe::{ObservedDeployment, ObservedService, RolloutState};

/// Where a service's latest rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RolloutPhase {
    InProgress,
    Completed,
    /// ECS stopped the rollout (circuit breaker or alarm) and did not roll back.
    Failed,
    /// ECS (or `ecs-operator rollback`) went back to the previous revision.
    RolledBack,
}

impl RolloutPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutPhase::InProgress => "InProgress",
            RolloutPhase::Completed => "Completed",
            RolloutPhase::Failed => "Failed",
            RolloutPhase::RolledBack => "RolledBack",
        }
    }
}

/// Task counts of a rollout: the new revision's, and what older revisions still run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RolloutTasks {
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed: i32,
    /// Tasks of older revisions still running.
    pub old_running: i32,
}

/// A service's latest rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    pub phase: RolloutPhase,
    /// The task definition being rolled out (or rolled back from).
    pub revision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<u64>,
    /// ECS's `rolloutStateReason`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// After a rollback: the revision running again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<String>,
    /// The SLO guard's last verdict on this rollout, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<String>,
    /// Live counts (served, not persisted: they change without any reconcile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<RolloutTasks>,
}

/// The rollout of one service after a pass. `None` when the service does not exist (yet)
/// or ECS listed no deployment.
pub fn rollout_of(r: &ServiceResult, now: u64) -> Option<RolloutStatus> {
    let desired_image = r
        .desired
        .as_ref()
        .map(|d| d.task_definition.container.image.clone());
    let o = r.observed.as_ref();
    // A deployment this pass started (the observation does not know it yet).
    let deployed_now = r.error.is_none()
        && r.steps_done > 0
        && r.task_definition_arn
            .as_deref()
            .is_some_and(|td| o.is_none_or(|o| o.task_definition_arn != td));
    if deployed_now {
        return Some(RolloutStatus {
            phase: RolloutPhase::InProgress,
            revision: r.task_definition_arn.clone().unwrap_or_default(),
            image: desired_image,
            started_at: Some(now),
            updated_at: Some(now),
            reason: String::new(),
            rolled_back_to: None,
            guard: None,
            tasks: None,
        });
    }
    let o = o?;
    if let Some(failed) = o.rolled_back_from() {
        return Some(RolloutStatus {
            phase: RolloutPhase::RolledBack,
            revision: failed.task_definition_arn.clone(),
            // The failed revision is the manifest's (only applied specs are held).
            image: desired_image,
            started_at: failed.created_at,
            updated_at: failed.updated_at,
            reason: failed.reason.clone(),
            rolled_back_to: Some(o.task_definition_arn.clone()),
            guard: None,
            tasks: Some(tasks(o, failed)),
        });
    }
    let primary = o.primary()?;
    let phase = match &primary.rollout {
        RolloutState::InProgress => RolloutPhase::InProgress,
        RolloutState::Completed => RolloutPhase::Completed,
        RolloutState::Failed => RolloutPhase::Failed,
        RolloutState::Unknown(_) => {
            let settling = o.deployments.len() > 1 || primary.tasks.running < primary.tasks.desired;
            if settling {
                RolloutPhase::InProgress
            } else {
                RolloutPhase::Completed
            }
        }
    };
    Some(RolloutStatus {
        phase,
        revision: primary.task_definition_arn.clone(),
        image: o
            .task_definition
            .as_ref()
            .filter(|_| o.task_definition_arn == primary.task_definition_arn)
            .map(|td| td.container.image.clone()),
        started_at: primary.created_at,
        updated_at: primary.updated_at,
        reason: primary.reason.clone(),
        rolled_back_to: None,
        guard: None,
        tasks: Some(tasks(o, primary)),
    })
}

/// The counts of `new` and of the service's other deployments.
fn tasks(o: &ObservedService, new: &ObservedDeployment) -> RolloutTasks {
    RolloutTasks {
        desired: new.tasks.desired,
        running: new.tasks.running,
        pending: new.tasks.pending,
        failed: new.failed_tasks,
        old_running: o
            .deployments
            .iter()
            .filter(|d| d.id != new.id)
            .map(|d| d.tasks.running)
            .sum(),
    }
}
