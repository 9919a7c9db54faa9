//! The shape of a task beyond its application container: sidecars (proxies, agents, the
//! FireLens log router), the order containers start in, and EFS volumes.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{yes, HealthCheck, Logging};

/// The name the application container gets in every task definition; `dependsOn` names it.
pub const CONTAINER_NAME: &str = "app";

/// A container that runs next to the application in every task (a proxy, an agent, a log
/// router). Its CPU and memory come out of the task's `container.cpu` / `container.memory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sidecar {
    /// Container name, unique in the task: 1-255 letters, digits, `_` or `-` (`app` is the
    /// application's). Plans name the sidecar by it (`sidecars[envoy].image`).
    pub name: String,
    /// Image reference; prefer immutable tags or digests.
    pub image: String,
    /// CPU units reserved for this container out of the task's (0: none reserved).
    #[serde(default)]
    pub cpu: u32,
    /// Hard memory limit in MiB: the container is killed above it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    /// Memory in MiB reserved for this container out of the task's (soft limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<u32>,
    /// Overrides the image's ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Overrides the image's CMD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Plain environment variables (as `container.env`).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "super::unique_keys::map"
    )]
    pub env: BTreeMap<String, String>,
    /// Environment variables from Secrets Manager or SSM Parameter Store, by ARN (as
    /// `container.secrets`).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "super::unique_keys::map"
    )]
    pub secrets: BTreeMap<String, String>,
    /// TCP ports it listens on; every port is unique across the task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// Whether the task stops when this container stops (ECS `essential`). A crash of an
    /// essential sidecar stops the task and counts in the built-in `TasksStopping` alert.
    #[serde(default = "yes")]
    pub essential: bool,
    /// Containers that must reach a condition before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ContainerDependency>,
    /// ECS container health check: only `command`, `interval`, `timeout`, `retries` and
    /// `gracePeriod` apply. Needed by a `HEALTHY` dependency on this sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Its logs: the service's log group (stream prefix the service name) unless set.
    #[serde(default)]
    pub logging: Logging,
    /// Volumes mounted into this container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// Run the root filesystem read-only.
    #[serde(default)]
    pub read_only_root_filesystem: bool,
    /// Prometheus metrics this sidecar serves: its own scrape job, `<service>/<sidecar>`, of
    /// the service's tasks on this port, labelled `container: <sidecar>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<SidecarMetrics>,
    /// Makes this sidecar the task's FireLens log router (ECS `firelensConfiguration`): the
    /// containers whose `logging.driver` is `firelens` send their logs through it. At most
    /// one per task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firelens: Option<Firelens>,
}

/// Where a sidecar serves Prometheus metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SidecarMetrics {
    /// One of the sidecar's `ports`.
    pub port: u16,
    #[serde(default = "default_metrics_path")]
    pub path: String,
}

fn default_metrics_path() -> String {
    "/metrics".into()
}

/// A FireLens log router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Firelens {
    /// `fluentbit` or `fluentd`.
    #[serde(rename = "type")]
    pub router: FirelensType,
    /// Router options (`enable-ecs-log-metadata`, `config-file-type`, `config-file-value`).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "super::unique_keys::map"
    )]
    pub options: BTreeMap<String, String>,
}

/// The log router a FireLens container runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FirelensType {
    Fluentbit,
    Fluentd,
}

impl FirelensType {
    /// ECS's `firelensConfiguration.type`.
    pub fn ecs_name(self) -> &'static str {
        match self {
            FirelensType::Fluentbit => "fluentbit",
            FirelensType::Fluentd => "fluentd",
        }
    }
}

/// A container this one waits for (ECS `dependsOn`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerDependency {
    /// `app` or a sidecar's name.
    pub container: String,
    pub condition: DependencyCondition,
}

/// What the awaited container must have done: `START` (started), `HEALTHY` (passes its
/// health check), `COMPLETE` (exited) or `SUCCESS` (exited 0). `COMPLETE` and `SUCCESS` need
/// a non-essential container.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum DependencyCondition {
    Start,
    Healthy,
    Complete,
    Success,
}

impl DependencyCondition {
    /// ECS's `condition` value.
    pub fn ecs_name(self) -> &'static str {
        match self {
            DependencyCondition::Start => "START",
            DependencyCondition::Healthy => "HEALTHY",
            DependencyCondition::Complete => "COMPLETE",
            DependencyCondition::Success => "SUCCESS",
        }
    }
}

/// A volume mounted into a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mount {
    /// The name of one of `spec.volumes`.
    pub volume: String,
    /// Absolute path inside the container; unique per container.
    pub path: String,
    /// Mount read-only. A volume every container mounts read-only needs no
    /// `elasticfilesystem:ClientWrite` (`ecs-operator task-policy`).
    #[serde(default)]
    pub read_only: bool,
}

/// A volume of the task. Fargate task storage is `container.ephemeralStorageGiB`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Volume {
    /// Unique in the task: 1-255 letters, digits, `_` or `-`; mounts refer to it.
    pub name: String,
    /// An Amazon EFS file system (Fargate platform 1.4.0 or later, ECS's default).
    pub efs: EfsVolume,
}

/// ECS `efsVolumeConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EfsVolume {
    /// `fs-...`.
    pub file_system_id: String,
    /// `fsap-...`: mount through this access point (its root directory and POSIX user).
    /// Needs `transitEncryption: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_point_id: Option<String>,
    /// Mount with the task role (EFS IAM authorisation): the task role must allow
    /// `elasticfilesystem:ClientMount` (and `ClientWrite` unless every mount is read-only) on
    /// this file system. Needs `transitEncryption: true`.
    #[serde(default)]
    pub iam: bool,
    /// TLS between the task and EFS (on by default; ECS's own default is off).
    #[serde(default = "yes")]
    pub transit_encryption: bool,
    /// Directory of the file system mounted as the volume's root; omit (or `/`) with an
    /// access point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    /// With `iam`: root in the containers keeps root's rights on the file system (the task
    /// role then needs `elasticfilesystem:ClientRootAccess`). Off: EFS squashes root to
    /// nobody.
    #[serde(default)]
    pub root_access: bool,
}
