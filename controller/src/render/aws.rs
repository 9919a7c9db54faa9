//! The AWS side of the desired state: task definition, ECS service, Cloud Map service and
//! Application Auto Scaling, as typed values the planner compares field by field.

mod containers;
mod hash;
mod ingress;
pub mod jobs;
mod platform;
mod scaling;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use hash::spec_hash;

pub use containers::{
    port_mapping_name, ContainerDependency, EfsVolumeConfiguration, FirelensConfiguration,
    MountPoint, Volume,
};
pub use ingress::{
    derived_priority, target_group_name, target_group_placeholder, DesiredIngress, DesiredRule,
    DesiredTargetGroup, TargetGroupAttributes, TargetGroupHealthCheck, DERIVED_PRIORITY,
    TARGET_GROUP_PREFIX,
};
pub use jobs::{DesiredJob, PreDeployTask};
pub use platform::{RuntimePlatform, SpotShare, FARGATE, FARGATE_SPOT};
pub use scaling::{
    backlog_expression, CustomizedMetric, MetricQuery, MetricStat, ScalingTarget,
    TargetTrackingPolicy, CUSTOMIZED_METRIC,
};

use crate::domain::{tags as tag, ServiceKey};
use crate::manifest::{MonitoredService, Spot};
use crate::settings::Settings;

/// Everything one manifest asks for in AWS.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredService {
    pub name: String,
    pub cluster: String,
    pub team: String,
    pub suspend: bool,
    pub depends_on: Vec<String>,
    /// Hash of everything below; stored as a tag so status can say which revision is live.
    pub spec_hash: String,
    pub task_definition: TaskDefinition,
    pub service: EcsService,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling: Option<ScalingTarget>,
    /// The target group and listener rule of `traffic.ingress`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<DesiredIngress>,
    /// Tags for every resource (ownership, manifest name, spec hash, user labels).
    pub tags: BTreeMap<String, String>,
    /// What Prometheus scrapes, when the service exposes metrics and is discoverable.
    #[serde(skip)]
    pub scrape: Option<ScrapeTarget>,
    /// The task run with a new task definition before it is deployed (part of the spec hash
    /// when set: a changed command is tried again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_deploy: Option<PreDeployTask>,
    /// The schedules of the service's jobs (not part of the spec hash: changing one deploys
    /// nothing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<DesiredJob>,
}

impl DesiredService {
    /// The ECS service this desired state is for.
    pub fn key(&self) -> ServiceKey {
        ServiceKey::new(&self.cluster, &self.name)
    }
}

/// Where the tasks of a service are found (its Cloud Map service) and which port serves its
/// metrics: the input of service discovery for Prometheus.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScrapeTarget {
    pub service: String,
    pub team: String,
    pub cluster: String,
    pub discovery_name: String,
    /// A metrics port distinct from the container port, when the manifest sets one.
    pub metrics_port: Option<i32>,
    pub container_port: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    pub family: String,
    /// CPU units, as the string ECS returns.
    pub cpu: String,
    /// MiB, as the string ECS returns.
    pub memory: String,
    pub network_mode: String,
    pub requires_compatibilities: Vec<String>,
    pub execution_role_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// Absent unless the manifest names an architecture: a task definition registered without
    /// one keeps its spec hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    /// `ephemeralStorage.sizeInGiB`; absent: Fargate's default 20 GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage_gib: Option<i32>,
    pub container: ContainerDefinition,
    /// The other containers, sorted by name (absent when none, so that services without
    /// sidecars keep their spec hash).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecars: Vec<ContainerDefinition>,
    /// EFS volumes, sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
}

impl TaskDefinition {
    /// The application container, then the sidecars.
    pub fn containers(&self) -> impl DoubleEndedIterator<Item = &ContainerDefinition> {
        std::iter::once(&self.container).chain(&self.sidecars)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    pub name: String,
    pub image: String,
    pub essential: bool,
    /// CPU units reserved for the container (sidecars; the application takes the rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i32>,
    /// Hard memory limit, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i32>,
    /// Soft memory reservation, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i32>,
    pub port_mappings: Vec<PortMapping>,
    /// ECS `entryPoint` (the manifest's `command`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_point: Vec<String>,
    /// ECS `command` (the manifest's `args`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Sorted by name: ECS keeps the order it is given, and a reordering is not a change.
    pub environment: Vec<(String, String)>,
    /// Name -> ARN, sorted by name.
    pub secrets: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ContainerHealthCheck>,
    pub log_configuration: LogConfiguration,
    pub readonly_root_filesystem: bool,
    /// Sorted by container name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ContainerDependency>,
    /// Sorted by container path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<MountPoint>,
    /// Set on the task's FireLens log router.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firelens_configuration: Option<FirelensConfiguration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub name: String,
    pub container_port: i32,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerHealthCheck {
    pub command: Vec<String>,
    pub interval: i32,
    pub timeout: i32,
    pub retries: i32,
    pub start_period: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    pub log_driver: String,
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsService {
    pub name: String,
    /// Desired count when the service is created, or when no autoscaler owns it.
    pub desired_count: i32,
    /// When set, a desired count inside `[min, max]` is the autoscaler's business, not drift.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscaled_range: Option<(i32, i32)>,
    pub capacity_provider: String,
    /// With a Fargate / Fargate Spot mix (`capacity_provider` is then FARGATE): the tasks kept
    /// on FARGATE first and the FARGATE_SPOT weight against 1. Absent for one provider, so
    /// services without a mix keep their spec hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_mix: Option<SpotShare>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    pub minimum_healthy_percent: i32,
    pub maximum_percent: i32,
    pub circuit_breaker_enabled: bool,
    pub circuit_breaker_rollback: bool,
    /// Absent: no alarm watches deployments. Skipped when absent, like the strategy, so that
    /// services without them keep their spec hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_alarms: Option<DeploymentAlarms>,
    /// Absent: ECS's default, a rolling update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_strategy: Option<DeploymentStrategy>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<LoadBalancerAttachment>,
    /// Seconds; only meaningful with a load balancer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period_seconds: Option<i32>,
    pub enable_execute_command: bool,
    pub propagate_tags: String,
    pub enable_ecs_managed_tags: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerAttachment {
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: i32,
    /// What blue/green, linear and canary deployments shift traffic with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advanced_configuration: Option<AdvancedConfiguration>,
}

/// ECS `loadBalancers[].advancedConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedConfiguration {
    pub alternate_target_group_arn: String,
    pub production_listener_rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_listener_rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// ECS `deploymentConfiguration.alarms`, enabled.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentAlarms {
    /// Sorted: a reordering is not a change.
    pub alarm_names: Vec<String>,
    pub rollback: bool,
}

/// A blue/green, linear or canary deployment: the parts of ECS `deploymentConfiguration`
/// that only those strategies use.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStrategy {
    /// `BLUE_GREEN`, `LINEAR` or `CANARY`.
    pub strategy: String,
    pub bake_time_in_minutes: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<TrafficStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linear: Option<TrafficStep>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lifecycle_hooks: Vec<LifecycleHook>,
}

/// A traffic shift: canary (`canaryPercent`, `canaryBakeTimeInMinutes`) or one linear step
/// (`stepPercent`, `stepBakeTimeInMinutes`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficStep {
    pub percent: f64,
    pub bake_time_in_minutes: i32,
}

/// ECS `DeploymentLifecycleHook` with a Lambda target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleHook {
    pub hook_target_arn: String,
    pub role_arn: String,
    pub lifecycle_stages: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryService {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_id: Option<String>,
    pub dns_ttl_seconds: i64,
    /// A and SRV records, multivalue routing, custom health (ECS reports task health).
    pub record_types: Vec<String>,
}

mod deployment;

pub use crate::manifest::CONTAINER_NAME;

fn secs(d: crate::duration::PromDuration) -> i32 {
    d.as_secs_ceil().min(i32::MAX as u64) as i32
}

/// Renders one manifest. The manifest must have passed validation.
pub fn render_service(m: &MonitoredService, settings: &Settings) -> DesiredService {
    let spec = &m.spec;
    let name = m.metadata.name.clone();
    let k = &spec.container;
    let cluster = spec
        .placement
        .cluster
        .clone()
        .unwrap_or_else(|| settings.cluster.clone());

    let hc = &k.health_check;

    let mut port_mappings = vec![PortMapping {
        name: "http".into(),
        container_port: i32::from(k.port),
        protocol: "tcp".into(),
    }];
    if let Some(metrics_port) = spec
        .metrics
        .port
        .filter(|p| spec.metrics.enabled && *p != k.port)
    {
        port_mappings.push(PortMapping {
            name: "metrics".into(),
            container_port: i32::from(metrics_port),
            protocol: "tcp".into(),
        });
    }

    let mut task_definition = TaskDefinition {
        family: name.clone(),
        cpu: k.cpu.to_string(),
        memory: k.memory.to_string(),
        network_mode: "awsvpc".into(),
        requires_compatibilities: vec!["FARGATE".into()],
        execution_role_arn: settings.execution_role_arn.clone(),
        task_role_arn: k
            .task_role_arn
            .clone()
            .or_else(|| settings.task_role_arn.clone()),
        ephemeral_storage_gib: k.ephemeral_storage_gib.map(|g| g as i32),
        runtime_platform: spec.placement.architecture.map(|a| RuntimePlatform {
            cpu_architecture: a.ecs_name().into(),
            operating_system_family: "LINUX".into(),
        }),
        container: ContainerDefinition {
            name: CONTAINER_NAME.into(),
            image: k.image.clone(),
            essential: true,
            cpu: None,
            memory: None,
            memory_reservation: None,
            port_mappings,
            entry_point: k.command.clone(),
            command: k.args.clone(),
            environment: containers::pairs(&k.env),
            secrets: containers::pairs(&k.secrets),
            health_check: containers::health_check(hc),
            log_configuration: containers::log_configuration(&k.logging, &name, settings),
            readonly_root_filesystem: k.read_only_root_filesystem,
            depends_on: containers::depends_on(&k.depends_on),
            mount_points: containers::mount_points(&k.mounts),
            firelens_configuration: None,
        },
        sidecars: containers::sidecars(spec, &name, settings),
        volumes: containers::volumes(spec),
    };
    containers::wait_for_log_router(&mut task_definition);

    let network = spec
        .placement
        .network
        .as_ref()
        .and_then(|n| settings.networks.get(n))
        .unwrap_or(&settings.network);
    let subnets = if spec.placement.subnets.is_empty() {
        network.subnets.clone()
    } else {
        spec.placement.subnets.clone()
    };
    let security_groups = if spec.placement.security_groups.is_empty() {
        network.security_groups.clone()
    } else {
        spec.placement.security_groups.clone()
    };
    let scaling_spec = &spec.scaling;
    let ingress = (spec.traffic.ingress.as_ref()).and_then(|i| {
        let platform = settings.ingress.as_ref();
        ingress::render(i, k, platform, &settings.operator_id, &cluster, &name)
    });
    let owned_group = (ingress.as_ref()).map(|i| target_group_placeholder(&i.target_group.name));
    let mut load_balancers: Vec<LoadBalancerAttachment> = spec
        .traffic
        .load_balancer
        .iter()
        .map(|lb| LoadBalancerAttachment {
            target_group_arn: lb.target_group_arn.clone(),
            container_name: CONTAINER_NAME.into(),
            container_port: i32::from(k.port),
            advanced_configuration: deployment::advanced_configuration(spec, lb, settings),
        })
        .collect();
    load_balancers.extend(owned_group.iter().map(|arn| LoadBalancerAttachment {
        target_group_arn: arn.clone(),
        container_name: CONTAINER_NAME.into(),
        container_port: i32::from(k.port),
        advanced_configuration: None,
    }));
    let service = EcsService {
        name: name.clone(),
        desired_count: scaling_spec.min_tasks as i32,
        autoscaled_range: scaling_spec
            .autoscaling()
            .then_some((scaling_spec.min_tasks as i32, scaling_spec.max_tasks as i32)),
        spot_mix: match spec.placement.spot {
            Spot::Mix(m) => Some(SpotShare {
                on_demand_base: m.base as i32,
                spot_weight: m.weight as i32,
            }),
            Spot::All(_) => None,
        },
        capacity_provider: if spec.placement.spot == Spot::All(true) {
            FARGATE_SPOT
        } else {
            FARGATE
        }
        .into(),
        subnets: sorted(subnets),
        security_groups: sorted(security_groups),
        assign_public_ip: spec
            .placement
            .assign_public_ip
            .unwrap_or(network.assign_public_ip),
        minimum_healthy_percent: spec.deployment.min_healthy_percent as i32,
        maximum_percent: spec.deployment.max_percent as i32,
        circuit_breaker_enabled: spec.deployment.circuit_breaker.enabled,
        circuit_breaker_rollback: spec.deployment.circuit_breaker.rollback,
        deployment_alarms: deployment::alarms(&spec.deployment),
        deployment_strategy: deployment::strategy(&spec.deployment),
        health_check_grace_period_seconds: (!load_balancers.is_empty())
            .then(|| secs(hc.grace_period)),
        load_balancers,
        enable_execute_command: k.exec,
        propagate_tags: "SERVICE".into(),
        enable_ecs_managed_tags: true,
    };

    let discovery = spec.traffic.discovery.enabled.then(|| DiscoveryService {
        name: spec
            .traffic
            .discovery
            .name
            .clone()
            .unwrap_or_else(|| name.clone()),
        namespace_id: settings.service_discovery_namespace_id.clone(),
        dns_ttl_seconds: spec.traffic.discovery.dns_ttl.as_secs_ceil() as i64,
        record_types: vec!["A".into(), "SRV".into()],
    });

    let scaling = scaling::render(spec, &cluster, &name, owned_group.as_ref());

    let mut tags: BTreeMap<String, String> = m
        .metadata
        .labels
        .iter()
        .map(|(k, v)| (format!("{}{k}", tag::LABEL_PREFIX), v.clone()))
        .collect();
    tags.insert(tag::OWNER.into(), settings.operator_id.clone());
    tags.insert(tag::MANIFEST.into(), name.clone());
    tags.insert(tag::TEAM.into(), spec.notify.team.clone());
    tags.insert(tag::PRUNE.into(), spec.lifecycle.prune.to_string());

    // Sidecar metrics are scraped on the same tasks, so they need the targets too.
    let scraped = spec.metrics.enabled || spec.sidecars.iter().any(|s| s.metrics.is_some());
    let scrape = match (&discovery, scraped) {
        (Some(discovery), true) => Some(ScrapeTarget {
            service: name.clone(),
            team: spec.notify.team.clone(),
            cluster: cluster.clone(),
            discovery_name: discovery.name.clone(),
            metrics_port: spec.metrics.port.filter(|p| *p != k.port).map(i32::from),
            container_port: i32::from(k.port),
        }),
        _ => None,
    };

    let mut desired = DesiredService {
        name,
        cluster,
        team: spec.notify.team.clone(),
        suspend: spec.lifecycle.suspend,
        depends_on: spec.lifecycle.depends_on.clone(),
        spec_hash: String::new(),
        task_definition,
        service,
        discovery,
        scaling,
        ingress,
        tags,
        scrape,
        pre_deploy: jobs::pre_deploy(m),
        jobs: jobs::jobs(
            m,
            (settings.scheduler.as_ref()).and_then(|s| s.dead_letter_queue_arn.as_deref()),
        ),
    };
    desired.spec_hash = spec_hash(&desired);
    desired
        .tags
        .insert(tag::SPEC_HASH.into(), desired.spec_hash.clone());
    desired
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
