//! A service's deployments as DescribeServices lists them (its `deployments` array): the
//! PRIMARY one (the revision ECS is moving to or runs), ACTIVE ones still running tasks of an
//! older revision, and FAILED ones while ECS rolls them back.
//!
//! # Caveats
//! - ECS reports `rolloutState` only for deployments made with the circuit breaker or
//!   deployment alarms configured (API reference, Deployment); otherwise it is
//!   [`RolloutState::Unknown`] and the rollout is judged from the task counts.

use super::TaskCounts;

/// The rollout state of a deployment (`rolloutState` in DescribeServices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutState {
    InProgress,
    Completed,
    /// The circuit breaker (or an alarm) stopped it; with rollback on, ECS rolled back.
    Failed,
    /// ECS reported none (deployments made without the circuit breaker) or a new value.
    Unknown(String),
}

impl RolloutState {
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("IN_PROGRESS") => RolloutState::InProgress,
            Some("COMPLETED") => RolloutState::Completed,
            Some("FAILED") => RolloutState::Failed,
            other => RolloutState::Unknown(other.unwrap_or_default().to_string()),
        }
    }
}

/// A deployment's `status`: PRIMARY (the newest), ACTIVE (older, still running tasks) or
/// INACTIVE (finished).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentStatus {
    Primary,
    Active,
    Inactive,
}

impl DeploymentStatus {
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("PRIMARY") => DeploymentStatus::Primary,
            Some("ACTIVE") => DeploymentStatus::Active,
            _ => DeploymentStatus::Inactive,
        }
    }
}

/// One deployment of a service, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedDeployment {
    /// The deployment id (`ecs-svc/...`).
    pub id: String,
    pub status: DeploymentStatus,
    pub task_definition_arn: String,
    pub rollout: RolloutState,
    /// `rolloutStateReason`: why ECS failed or completed it.
    pub reason: String,
    /// Unix seconds.
    pub created_at: Option<u64>,
    pub updated_at: Option<u64>,
    /// The tasks of this deployment's revision.
    pub tasks: TaskCounts,
    /// Tasks of this deployment that failed to start or stay healthy (`failedTasks`).
    pub failed_tasks: i32,
}

impl ObservedDeployment {
    pub fn from_sdk(d: &aws_sdk_ecs::types::Deployment) -> Self {
        let secs = |t: Option<&aws_sdk_ecs::primitives::DateTime>| {
            t.and_then(|t| u64::try_from(t.secs()).ok())
        };
        ObservedDeployment {
            id: d.id().unwrap_or_default().to_string(),
            status: DeploymentStatus::parse(d.status()),
            task_definition_arn: d.task_definition().unwrap_or_default().to_string(),
            rollout: RolloutState::parse(d.rollout_state().map(|r| r.as_str())),
            reason: d.rollout_state_reason().unwrap_or_default().to_string(),
            created_at: secs(d.created_at()),
            updated_at: secs(d.updated_at()),
            tasks: TaskCounts {
                desired: d.desired_count(),
                running: d.running_count(),
                pending: d.pending_count(),
            },
            failed_tasks: d.failed_tasks(),
        }
    }

    /// Normalises a `deployments` array, newest first.
    pub fn all_from_sdk(deployments: &[aws_sdk_ecs::types::Deployment]) -> Vec<Self> {
        let mut all: Vec<Self> = deployments.iter().map(Self::from_sdk).collect();
        all.sort_by_key(|d| std::cmp::Reverse(d.created_at));
        all
    }
}
