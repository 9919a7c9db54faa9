//! Where a service's tasks run: their CPU architecture (the task definition's
//! `runtimePlatform`) and their Fargate capacity providers.

use serde::{Deserialize, Serialize};

/// ECS `runtimePlatform`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    /// `X86_64` or `ARM64`.
    pub cpu_architecture: String,
    /// `LINUX` (the only family the operator renders).
    pub operating_system_family: String,
}

/// ECS's Fargate capacity providers.
pub const FARGATE: &str = "FARGATE";
pub const FARGATE_SPOT: &str = "FARGATE_SPOT";

/// The share of a service's tasks on Fargate Spot when it mixes providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpotShare {
    /// FARGATE `base`: tasks that never run on Spot.
    pub on_demand_base: i32,
    /// FARGATE_SPOT `weight` (FARGATE's is 1).
    pub spot_weight: i32,
}
