//! The `MonitoredService` manifest: the product's main interface.
//!
//! One document describes one microservice completely: how it runs on ECS, how it scales, how it
//! is found, and how its owners learn that it misbehaves. Field docs here become the JSON Schema
//! descriptions editors show, so they are written for the people writing manifests.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::PromDuration;

mod deployment;
mod guard;
mod ingress;
mod jobs;
mod monitoring;
mod queue;
mod task;
pub mod unique_keys;
pub use deployment::*;
pub use guard::RolloutGuard;
pub use ingress::{EffectiveHealthCheck, Ingress, IngressHealthCheck};
pub use jobs::*;
pub use monitoring::*;
pub use queue::{QueueArn, QueueScaling};
pub use task::*;

pub const API_VERSION: &str = "ecs-operator.io/v1alpha1";
pub const KIND: &str = "MonitoredService";

/// A microservice on Amazon ECS, with its monitoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "MonitoredService")]
pub struct MonitoredService {
    /// Always `ecs-operator.io/v1alpha1`.
    pub api_version: String,
    /// Always `MonitoredService`.
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

impl MonitoredService {
    /// Frees the spare capacity of the lists of large sections. A list read from YAML grows
    /// by doubling from four: one alert of ~300 bytes kept room for four, for as long as the
    /// manifest is kept (every manifest, for the life of the process).
    pub fn shrink_to_fit(&mut self) {
        let spec = &mut self.spec;
        spec.alerts.shrink_to_fit();
        spec.sidecars.shrink_to_fit();
        spec.volumes.shrink_to_fit();
        spec.jobs.shrink_to_fit();
        spec.container.mounts.shrink_to_fit();
        spec.container.depends_on.shrink_to_fit();
    }
}

/// Identity of the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// DNS label (lower-case letters, digits, `-`; at most 32 characters so every derived AWS
    /// name fits). Names the ECS service, task definition family, Cloud Map service and
    /// dashboard.
    pub name: String,
    /// Free-form labels; copied to AWS tags and to every alert.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique_keys::map"
    )]
    pub labels: BTreeMap<String, String>,
    /// Free-form annotations. `ecs-operator.io/adopt: "true"` lets the operator take over an
    /// existing service of the same name that it did not create.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique_keys::map"
    )]
    pub annotations: BTreeMap<String, String>,
}

/// Everything about the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    pub container: Container,
    /// Containers that run next to the application in every task (at most 9: ECS allows 10
    /// containers per task definition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecars: Vec<Sidecar>,
    /// Volumes the containers mount (`container.mounts`, `sidecars[].mounts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub placement: Placement,
    #[serde(default)]
    pub deployment: Deployment,
    #[serde(default)]
    pub traffic: Traffic,
    #[serde(default)]
    pub scaling: Scaling,
    #[serde(default)]
    pub metrics: Metrics,
    /// Conditions that notify the owning team. Built-in health alerts are added on top.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<Alert>,
    /// Thresholds of the built-in health alerts every service gets.
    #[serde(default)]
    pub health_alerts: HealthAlerts,
    /// Service level objective; generates multi-window burn-rate alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<Slo>,
    #[serde(default)]
    pub dashboard: Dashboard,
    pub notify: Notify,
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// A command run with the new task definition before each deployment (e.g. database
    /// migrations); the deployment waits for it and does not happen when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_deploy: Option<PreDeploy>,
    /// Commands run on a schedule (EventBridge Scheduler) with the service's task definition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<Job>,
    /// Overrides per environment, by environment name (lower-case letters, digits and `-`, at
    /// most 32 characters): the operator whose settings say `environment: NAME` deploys this
    /// spec with `environments.NAME` merged in. An override holds any fields of `spec` except
    /// `environments` (typically `container.image`, `container.cpu` / `memory`,
    /// `container.env`, `scaling.minTasks` / `maxTasks`, `alerts`, `healthAlerts`,
    /// `notify.receivers`); mappings merge key by key, lists and values replace. Each
    /// environment's result is validated like a whole manifest.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique_keys::map"
    )]
    #[schemars(extend("propertyNames" = {"pattern": crate::domain::ENVIRONMENT_NAME_PATTERN}))]
    pub environments: BTreeMap<String, EnvironmentOverride>,
}

/// Fields of `spec` that one environment changes (checked once merged into the spec).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct EnvironmentOverride(
    #[serde(deserialize_with = "unique_keys::json_map")] pub BTreeMap<String, serde_json::Value>,
);

/// The single application container of the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Container {
    /// Image reference, e.g. `123456789012.dkr.ecr.eu-central-1.amazonaws.com/pizza:1.4.2`.
    /// Prefer immutable tags or digests.
    pub image: String,
    /// CPU units for the task (1024 = 1 vCPU). Fargate accepts 256, 512, 1024, 2048, 4096,
    /// 8192, 16384.
    #[serde(default = "default_cpu")]
    pub cpu: u32,
    /// Memory in MiB; must be valid for the chosen CPU on Fargate (256 CPU: 512, 1024, 2048).
    #[serde(default = "default_memory")]
    pub memory: u32,
    /// The port the application listens on.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Overrides the image's ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Overrides the image's CMD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Plain environment variables. Never put secrets here: use `secrets`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique_keys::map"
    )]
    pub env: BTreeMap<String, String>,
    /// Environment variables filled from Secrets Manager or SSM Parameter Store, by ARN.
    /// Values are never written anywhere by the operator.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique_keys::map"
    )]
    pub secrets: BTreeMap<String, String>,
    #[serde(default)]
    pub health_check: HealthCheck,
    #[serde(default)]
    pub logging: Logging,
    /// Task role ARN (what the application may call in AWS); must be one the operator's
    /// settings allow. Defaults to the settings' task role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// Run the root filesystem read-only (recommended).
    #[serde(default)]
    pub read_only_root_filesystem: bool,
    /// Task storage on Fargate, in GiB (21-200; unset: Fargate's 20 GiB): the task
    /// definition's `ephemeralStorage.sizeInGiB`.
    #[serde(
        default,
        rename = "ephemeralStorageGiB",
        skip_serializing_if = "Option::is_none"
    )]
    pub ephemeral_storage_gib: Option<u32>,
    /// ECS Exec (`aws ecs execute-command`) into the tasks: the service's
    /// `enableExecuteCommand`. The task role must allow the four `ssmmessages` channel actions
    /// (`taskRoleArn`: the bootstrap's default task role denies everything), and the SSM agent
    /// needs a writable root filesystem. Switching it replaces the running tasks.
    #[serde(default)]
    pub exec: bool,
    /// Containers that must reach a condition before the application starts (ECS
    /// `dependsOn`), e.g. a proxy sidecar `HEALTHY`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ContainerDependency>,
    /// Volumes mounted into the application container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
}

fn default_cpu() -> u32 {
    256
}
fn default_memory() -> u32 {
    512
}
fn default_port() -> u16 {
    8080
}

/// How ECS, the load balancer and Cloud Map decide that a task is healthy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    /// HTTP path answering 200 when the service is healthy.
    #[serde(default = "default_health_path")]
    pub path: String,
    #[serde(default = "default_health_interval")]
    pub interval: PromDuration,
    #[serde(default = "default_health_timeout")]
    pub timeout: PromDuration,
    /// Consecutive failures before a task counts as unhealthy.
    #[serde(default = "default_health_retries")]
    pub retries: u32,
    /// Time after start during which failed checks do not count (slow starters).
    #[serde(default = "default_grace_period")]
    pub grace_period: PromDuration,
    /// Command run inside the container for the ECS container health check
    /// (`["CMD", "/app/healthcheck"]`). Without it only the load balancer / discovery checks
    /// apply, since many minimal images have no curl.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: default_health_path(),
            interval: default_health_interval(),
            timeout: default_health_timeout(),
            retries: default_health_retries(),
            grace_period: default_grace_period(),
            command: Vec::new(),
        }
    }
}

fn default_health_path() -> String {
    "/healthz".into()
}
fn default_health_interval() -> PromDuration {
    PromDuration::from_secs(30)
}
fn default_health_timeout() -> PromDuration {
    PromDuration::from_secs(5)
}
fn default_health_retries() -> u32 {
    3
}
fn default_grace_period() -> PromDuration {
    PromDuration::from_secs(60)
}

/// Container logs: CloudWatch Logs through the awslogs driver, or a FireLens log router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Logging {
    /// `awslogs` (the default: `logGroup`, `streamPrefix` and `mode` apply) or `firelens`
    /// (ECS's `awsfirelens` driver: the logs go through the task's FireLens router sidecar,
    /// configured by `options`).
    #[serde(default, skip_serializing_if = "LogDriver::is_awslogs")]
    pub driver: LogDriver,
    /// FireLens output options (`Name: cloudwatch_logs`, `region`, `log_group_name`, ...);
    /// `firelens` driver only.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique_keys::map"
    )]
    pub options: BTreeMap<String, String>,
    /// Log group; defaults to the operator's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    /// Stream prefix; defaults to the service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_prefix: Option<String>,
    /// `non-blocking` never stalls the application when CloudWatch is slow (may drop logs);
    /// `blocking` never drops logs (may stall).
    #[serde(default)]
    pub mode: LogMode,
}

impl Default for Logging {
    fn default() -> Self {
        Self {
            driver: LogDriver::Awslogs,
            options: BTreeMap::new(),
            log_group: None,
            stream_prefix: None,
            mode: LogMode::NonBlocking,
        }
    }
}

/// Where a container's logs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogDriver {
    #[default]
    Awslogs,
    Firelens,
}

impl LogDriver {
    fn is_awslogs(&self) -> bool {
        *self == LogDriver::Awslogs
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogMode {
    #[default]
    NonBlocking,
    Blocking,
}

/// Where tasks run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Placement {
    /// ECS cluster; defaults to the operator's cluster. Must be one the settings allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// A named network from the operator's settings (e.g. `private`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Explicit subnet ids; overrides `network`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    /// Explicit security group ids; overrides `network`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// Give tasks a public IP (only for public subnets without NAT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<bool>,
    /// Fargate Spot (cheaper, may be interrupted): `true` runs every task on Spot; a mix
    /// `{base, weight}` runs the first `base` tasks on regular Fargate and then `weight` Spot
    /// tasks for each regular one (ECS's capacity provider strategy).
    #[serde(default)]
    pub spot: Spot,
    /// The CPU architecture of the tasks (the task definition's `runtimePlatform`): `arm64`
    /// (Graviton) or `x86_64`. Unset: ECS's default, x86_64. The image must be built for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<CpuArchitecture>,
}

/// Where tasks run between Fargate and Fargate Spot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "expected true, false, or a mix {base, weight} of Fargate and Fargate Spot"
)]
pub enum Spot {
    /// All tasks on Fargate Spot (`true`) or none (`false`).
    All(bool),
    /// Some of each.
    Mix(SpotMix),
}

impl Default for Spot {
    fn default() -> Self {
        Spot::All(false)
    }
}

impl Spot {
    /// Whether any task may run on Spot.
    pub fn any(&self) -> bool {
        match self {
            Spot::All(on) => *on,
            Spot::Mix(m) => m.weight > 0,
        }
    }
}

/// A Fargate / Fargate Spot mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpotMix {
    /// Tasks always on regular Fargate, before any goes to Spot (ECS `base`, 0-100000).
    #[serde(default)]
    pub base: u32,
    /// Spot tasks for each regular one beyond the base (ECS `weight` of FARGATE_SPOT against
    /// 1 for FARGATE; 1-1000).
    pub weight: u32,
}

/// A task's CPU architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CpuArchitecture {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl CpuArchitecture {
    /// ECS's `cpuArchitecture` value.
    pub fn ecs_name(self) -> &'static str {
        match self {
            CpuArchitecture::X86_64 => "X86_64",
            CpuArchitecture::Arm64 => "ARM64",
        }
    }
}

pub(super) fn yes() -> bool {
    true
}

/// How requests reach the service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Traffic {
    // Boxed, as `ingress`: most services have neither, and every manifest is kept for the
    // life of the process (the two were a quarter of a manifest's inline size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<Box<LoadBalancer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Box<Ingress>>,
    /// Cloud Map registration (on by default, so Prometheus and peers can find the tasks).
    #[serde(default)]
    pub discovery: Discovery,
}

/// Attach tasks to an ALB target group, or have one routed by a listener rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancer {
    /// An existing target group (type `ip`).
    pub target_group_arn: String,
    /// The load balancer the target group belongs to; needed for scaling on
    /// `requestsPerTarget` (the ALB metric is labelled with both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_arn: Option<String>,
    /// Listener rule conditions documented for the platform team; the operator registers the
    /// service with the target group only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The second target group blue/green, linear and canary deployments move the new
    /// revision's tasks into (ECS `advancedConfiguration.alternateTargetGroupArn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_target_group_arn: Option<String>,
    /// The listener rule (ALB) or listener (NLB) whose production traffic ECS shifts between
    /// the two target groups; required by blue/green, linear and canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_listener_rule_arn: Option<String>,
    /// A listener rule for test traffic, which reaches the new revision before production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_listener_rule_arn: Option<String>,
    /// The ECS infrastructure role ECS assumes to change the listener rules. Defaults to the
    /// settings' `deploymentRoleArn`; must be one the settings allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// Cloud Map service discovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Discovery {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Name in the namespace; defaults to the service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// TTL of the DNS records.
    #[serde(default = "default_dns_ttl")]
    pub dns_ttl: PromDuration,
}

impl Default for Discovery {
    fn default() -> Self {
        Self {
            enabled: true,
            name: None,
            dns_ttl: default_dns_ttl(),
        }
    }
}

fn default_dns_ttl() -> PromDuration {
    PromDuration::from_secs(10)
}

/// Task count and Application Auto Scaling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scaling {
    /// Lowest number of tasks (also the initial desired count). 0 only with `queue`: a
    /// worker with nothing to do runs no task.
    #[serde(default = "default_min_tasks")]
    pub min_tasks: u32,
    /// Highest number of tasks. Equal to `minTasks` disables autoscaling.
    #[serde(default = "default_max_tasks")]
    pub max_tasks: u32,
    /// Target average CPU utilisation, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_cpu_percent: Option<f64>,
    /// Target average memory utilisation, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_memory_percent: Option<f64>,
    /// Target ALB requests per task per minute (needs `traffic.ingress`, or
    /// `traffic.loadBalancer` with `loadBalancerArn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_target: Option<f64>,
    /// Scale on the backlog of an SQS queue the tasks consume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueScaling>,
    #[serde(default = "default_scale_in_cooldown")]
    pub scale_in_cooldown: PromDuration,
    #[serde(default = "default_scale_out_cooldown")]
    pub scale_out_cooldown: PromDuration,
}

impl Default for Scaling {
    fn default() -> Self {
        Self {
            min_tasks: default_min_tasks(),
            max_tasks: default_max_tasks(),
            target_cpu_percent: None,
            target_memory_percent: None,
            requests_per_target: None,
            queue: None,
            scale_in_cooldown: default_scale_in_cooldown(),
            scale_out_cooldown: default_scale_out_cooldown(),
        }
    }
}

fn default_min_tasks() -> u32 {
    2
}
fn default_max_tasks() -> u32 {
    2
}
fn default_scale_in_cooldown() -> PromDuration {
    PromDuration::from_secs(300)
}
fn default_scale_out_cooldown() -> PromDuration {
    PromDuration::from_secs(60)
}

impl Scaling {
    /// Whether an autoscaler owns the desired count.
    pub fn autoscaling(&self) -> bool {
        self.max_tasks > self.min_tasks
    }
}

/// How the operator treats the service over time.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lifecycle {
    /// Leave the service exactly as it is (no reconcile) until unset.
    #[serde(default)]
    pub suspend: bool,
    /// Delete the service's AWS resources when its manifest is removed. Off by default: deleting
    /// a running service is never the accident the operator makes for you.
    #[serde(default)]
    pub prune: bool,
    /// Services that must exist before this one is created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}
