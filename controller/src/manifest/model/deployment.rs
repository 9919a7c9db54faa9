//! How a new revision replaces the old one: rolling limits, the circuit breaker, deployment
//! alarms, and ECS's blue/green, linear and canary strategies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{yes, RolloutGuard};
use crate::duration::PromDuration;

/// Deployment behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deployment {
    /// Percentage of desired tasks that must stay healthy during a deployment.
    #[serde(default = "default_min_healthy")]
    pub min_healthy_percent: u32,
    /// Upper bound on tasks during a deployment, as a percentage of desired.
    #[serde(default = "default_max_percent")]
    pub max_percent: u32,
    #[serde(default)]
    pub circuit_breaker: CircuitBreaker,
    /// CloudWatch alarms that fail a deployment when one goes into ALARM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<DeploymentAlarms>,
    /// `rolling` replaces tasks in place; `blueGreen`, `linear` and `canary` start the new
    /// revision beside the old one and shift load balancer traffic to it (they need
    /// `traffic.loadBalancer` with `alternateTargetGroupArn` and `productionListenerRuleArn`).
    #[serde(default)]
    pub strategy: Strategy,
    /// blueGreen, linear and canary: how long both revisions keep running after all
    /// production traffic moved, whole minutes up to 24h. Default 10m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_time: Option<PromDuration>,
    /// canary: the share of traffic the new revision gets first, and for how long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryShift>,
    /// linear: the share of traffic each step moves, and the wait between steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<LinearShift>,
    /// blueGreen, linear and canary: Lambda functions ECS runs at stages of the deployment;
    /// one that fails rolls the deployment back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lifecycle_hooks: Vec<LifecycleHook>,
    /// Roll back a release whose error ratio is worse than the previous one's (needs
    /// `spec.slo`).
    #[serde(default)]
    pub guard: RolloutGuard,
}

impl Default for Deployment {
    fn default() -> Self {
        Self {
            min_healthy_percent: default_min_healthy(),
            max_percent: default_max_percent(),
            circuit_breaker: CircuitBreaker::default(),
            alarms: None,
            strategy: Strategy::default(),
            guard: RolloutGuard::default(),
            bake_time: None,
            canary: None,
            linear: None,
            lifecycle_hooks: Vec::new(),
        }
    }
}

fn default_min_healthy() -> u32 {
    100
}
fn default_max_percent() -> u32 {
    200
}

/// The bake time when a manifest gives none (ECS requires one for blue/green).
pub const DEFAULT_BAKE_TIME: PromDuration = PromDuration::from_secs(600);

/// ECS deployment circuit breaker: stop a failing rollout, optionally roll back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreaker {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "yes")]
    pub rollback: bool,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            enabled: true,
            rollback: true,
        }
    }
}

/// CloudWatch alarms watched during a deployment (ECS `deploymentConfiguration.alarms`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentAlarms {
    /// Alarm names (not ARNs), in the service's region.
    pub names: Vec<String>,
    /// Roll back to the last completed deployment when an alarm fires.
    #[serde(default = "yes")]
    pub rollback: bool,
}

/// The ECS deployment strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Strategy {
    #[default]
    Rolling,
    BlueGreen,
    Linear,
    Canary,
}

impl Strategy {
    /// The name ECS uses (`deploymentConfiguration.strategy`).
    pub fn ecs_name(self) -> &'static str {
        match self {
            Strategy::Rolling => "ROLLING",
            Strategy::BlueGreen => "BLUE_GREEN",
            Strategy::Linear => "LINEAR",
            Strategy::Canary => "CANARY",
        }
    }

    /// The manifest's name, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Rolling => "rolling",
            Strategy::BlueGreen => "blueGreen",
            Strategy::Linear => "linear",
            Strategy::Canary => "canary",
        }
    }

    /// Whether ECS shifts load balancer traffic between two revisions.
    pub fn shifts_traffic(self) -> bool {
        self != Strategy::Rolling
    }
}

/// A canary deployment's first step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CanaryShift {
    /// Percent of production traffic, 0.1 to 100 in steps of 0.1. Default 5.
    #[serde(default = "default_canary_percent")]
    pub percent: f64,
    /// How long the canary serves before the rest moves, whole minutes up to 24h. Default 10m.
    #[serde(default = "default_canary_bake_time")]
    pub bake_time: PromDuration,
}

impl Default for CanaryShift {
    fn default() -> Self {
        Self {
            percent: default_canary_percent(),
            bake_time: default_canary_bake_time(),
        }
    }
}

fn default_canary_percent() -> f64 {
    5.0
}
fn default_canary_bake_time() -> PromDuration {
    PromDuration::from_secs(600)
}

/// A linear deployment's steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinearShift {
    /// Percent of production traffic per step, 3 to 100 in steps of 0.1. Default 10.
    #[serde(default = "default_step_percent")]
    pub step_percent: f64,
    /// Wait between steps, whole minutes up to 24h. Default 6m.
    #[serde(default = "default_step_bake_time")]
    pub step_bake_time: PromDuration,
}

impl Default for LinearShift {
    fn default() -> Self {
        Self {
            step_percent: default_step_percent(),
            step_bake_time: default_step_bake_time(),
        }
    }
}

fn default_step_percent() -> f64 {
    10.0
}
fn default_step_bake_time() -> PromDuration {
    PromDuration::from_secs(360)
}

/// A Lambda function ECS invokes at stages of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LifecycleHook {
    /// The function's ARN.
    pub lambda_arn: String,
    /// The stages at which ECS runs it.
    pub stages: Vec<LifecycleStage>,
    /// The role ECS assumes to invoke the function; must be one the settings allow.
    pub role_arn: String,
}

/// A stage of a blue/green, linear or canary deployment at which a hook may run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleStage {
    ReconcileService,
    PreScaleUp,
    PostScaleUp,
    TestTrafficShift,
    PostTestTrafficShift,
    ProductionTrafficShift,
    PostProductionTrafficShift,
}

impl LifecycleStage {
    /// The name ECS uses (`DeploymentLifecycleHook.lifecycleStages`).
    pub fn ecs_name(self) -> &'static str {
        match self {
            LifecycleStage::ReconcileService => "RECONCILE_SERVICE",
            LifecycleStage::PreScaleUp => "PRE_SCALE_UP",
            LifecycleStage::PostScaleUp => "POST_SCALE_UP",
            LifecycleStage::TestTrafficShift => "TEST_TRAFFIC_SHIFT",
            LifecycleStage::PostTestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
            LifecycleStage::ProductionTrafficShift => "PRODUCTION_TRAFFIC_SHIFT",
            LifecycleStage::PostProductionTrafficShift => "POST_PRODUCTION_TRAFFIC_SHIFT",
        }
    }
}
