//! Observe: read what exists, in as few calls as the real APIs allow, and normalise it into the
//! same types `render` produces so that planning is a plain comparison.
//!
//! Per pass: ListServices per cluster (paginated), DescribeServices in batches of at most 10
//! with tags, one paginated Cloud Map ListServices for the namespace, DescribeScalableTargets
//! in batches of at most 50 resource ids, one paginated DescribeScalingPolicies for the ECS
//! namespace. Task definitions are immutable, so each is described once per process and cached.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use aws_sdk_ecs::types::{ServiceField, TaskDefinitionField};

use super::ReconcileError;
use crate::aws::AwsClients;
use crate::render::aws::{
    ContainerDefinition, ContainerHealthCheck, LoadBalancerAttachment, LogConfiguration,
    PortMapping, TargetTrackingPolicy, TaskDefinition, CONTAINER_NAME,
};
use crate::settings::OWNER_TAG;

/// DescribeServices accepts at most this many services per call.
pub const DESCRIBE_SERVICES_BATCH: usize = 10;
/// DescribeScalableTargets accepts at most this many resource ids per call.
pub const DESCRIBE_TARGETS_BATCH: usize = 50;

/// An ECS service as it exists, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedService {
    pub arn: String,
    pub name: String,
    pub cluster: String,
    pub status: String,
    pub tags: BTreeMap<String, String>,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub task_definition_arn: String,
    /// Filled for services the operator manages (one cached describe per revision).
    pub task_definition: Option<TaskDefinition>,
    pub subnets: Option<Vec<String>>,
    pub security_groups: Option<Vec<String>>,
    pub assign_public_ip: Option<bool>,
    /// (minimum healthy %, maximum %, breaker enabled, rollback), when ECS reports it.
    pub deployment: Option<(i32, i32, bool, bool)>,
    pub capacity_provider: Option<String>,
    pub load_balancers: Vec<LoadBalancerAttachment>,
    pub registry_arns: Vec<String>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub enable_execute_command: bool,
    pub propagate_tags: Option<String>,
    /// Rollout of the PRIMARY deployment: (state, reason).
    pub rollout: Option<(String, String)>,
    pub deployments_in_progress: usize,
}

impl ObservedService {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }

    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

/// A Cloud Map service in the operator's namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedDiscovery {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub description: String,
    pub dns_ttl_seconds: Option<i64>,
    pub instance_count: i32,
}

/// A scalable target and the policies attached to it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservedScaling {
    pub resource_id: String,
    pub min_capacity: i32,
    pub max_capacity: i32,
    pub policies: Vec<TargetTrackingPolicy>,
    /// Policies that are not target tracking (kept as names only).
    pub other_policies: Vec<String>,
}

/// Everything observed in one pass.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Keyed by (cluster, service name).
    pub services: BTreeMap<(String, String), ObservedService>,
    /// Keyed by Cloud Map service name.
    pub discovery: BTreeMap<String, ObservedDiscovery>,
    /// Keyed by resource id (`service/<cluster>/<name>`).
    pub scaling: BTreeMap<String, ObservedScaling>,
}

/// Reads the world. Holds the task definition cache, so keep one per process.
#[derive(Debug, Default)]
pub struct Observer {
    task_definitions: Mutex<HashMap<String, TaskDefinition>>,
}

fn last_segment(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}

fn aws_err<E: std::fmt::Debug>(context: &str) -> impl Fn(E) -> ReconcileError + '_ {
    move |e| ReconcileError::from_sdk(context, &e)
}

impl Observer {
    /// Observes every cluster in `clusters`, the Cloud Map namespace and the scaling of the
    /// services found. `managed` decides which services get their task definitions described
    /// (those the operator owns or may adopt).
    pub async fn observe(
        &self,
        aws: &AwsClients,
        clusters: &[String],
        discovery: Option<(&str, String, &std::collections::BTreeSet<String>)>,
        managed: impl Fn(&ObservedService) -> bool,
    ) -> Result<Observed, ReconcileError> {
        let mut observed = Observed::default();
        for cluster in clusters {
            for service in self.observe_cluster(aws, cluster).await? {
                observed
                    .services
                    .insert((cluster.clone(), service.name.clone()), service);
            }
        }
        for service in observed.services.values_mut() {
            if service.is_active() && managed(service) {
                let td = self
                    .task_definition(aws, &service.task_definition_arn)
                    .await?;
                service.task_definition = td;
            }
        }
        if let Some((namespace, ours, wanted)) = discovery {
            observed.discovery = observe_discovery(aws, namespace, &ours, wanted).await?;
        }
        let resource_ids: Vec<String> = observed
            .services
            .values()
            .filter(|s| s.is_active())
            .map(|s| format!("service/{}/{}", s.cluster, s.name))
            .collect();
        observed.scaling = observe_scaling(aws, &resource_ids).await?;
        Ok(observed)
    }

    async fn observe_cluster(
        &self,
        aws: &AwsClients,
        cluster: &str,
    ) -> Result<Vec<ObservedService>, ReconcileError> {
        let mut arns = Vec::new();
        let mut pages = aws
            .ecs
            .list_services()
            .cluster(cluster)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => arns.extend(page.service_arns().iter().cloned()),
                Err(e) => {
                    if format!("{e:?}").contains("ClusterNotFoundException") {
                        return Ok(Vec::new());
                    }
                    return Err(ReconcileError::from_sdk("ecs:ListServices", &e));
                }
            }
        }
        let mut services = Vec::new();
        for batch in arns.chunks(DESCRIBE_SERVICES_BATCH) {
            let out = aws
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(batch.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(aws_err("ecs:DescribeServices"))?;
            services.extend(out.services().iter().map(|s| normalise_service(cluster, s)));
        }
        Ok(services)
    }

    /// Describes a task definition, once per ARN per process (they are immutable).
    pub async fn task_definition(
        &self,
        aws: &AwsClients,
        arn: &str,
    ) -> Result<Option<TaskDefinition>, ReconcileError> {
        if arn.is_empty() {
            return Ok(None);
        }
        if let Some(td) = self.cached(arn) {
            return Ok(Some(td));
        }
        let out = aws
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if format!("{e:?}").contains("ClientException") => return Ok(None),
            Err(e) => return Err(ReconcileError::from_sdk("ecs:DescribeTaskDefinition", &e)),
        };
        let Some(td) = out.task_definition() else {
            return Ok(None);
        };
        let normalised = normalise_task_definition(td);
        self.remember(arn, normalised.clone());
        Ok(Some(normalised))
    }

    pub fn cached(&self, arn: &str) -> Option<TaskDefinition> {
        self.task_definitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(arn)
            .cloned()
    }

    pub fn remember(&self, arn: &str, td: TaskDefinition) {
        let mut cache = self
            .task_definitions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Bounded: a long-running controller sees few revisions per service.
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(arn.to_string(), td);
    }
}

fn normalise_service(cluster: &str, s: &aws_sdk_ecs::types::Service) -> ObservedService {
    let tags = s
        .tags()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect();
    let vpc = s
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration());
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let primary = s
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"));
    ObservedService {
        arn: s.service_arn().unwrap_or_default().to_string(),
        name: s.service_name().unwrap_or_default().to_string(),
        cluster: cluster.to_string(),
        status: s.status().unwrap_or_default().to_string(),
        tags,
        desired_count: s.desired_count(),
        running_count: s.running_count(),
        pending_count: s.pending_count(),
        task_definition_arn: s.task_definition().unwrap_or_default().to_string(),
        task_definition: None,
        subnets: vpc.map(|v| sorted(v.subnets())),
        security_groups: vpc.map(|v| sorted(v.security_groups())),
        assign_public_ip: vpc
            .and_then(|v| v.assign_public_ip())
            .map(|a| a.as_str() == "ENABLED"),
        deployment: s.deployment_configuration().map(|d| {
            let breaker = d.deployment_circuit_breaker();
            (
                d.minimum_healthy_percent().unwrap_or(100),
                d.maximum_percent().unwrap_or(200),
                breaker.is_some_and(|b| b.enable()),
                breaker.is_some_and(|b| b.rollback()),
            )
        }),
        capacity_provider: s
            .capacity_provider_strategy()
            .first()
            .map(|c| c.capacity_provider().to_string()),
        load_balancers: s
            .load_balancers()
            .iter()
            .map(|lb| LoadBalancerAttachment {
                target_group_arn: lb.target_group_arn().unwrap_or_default().to_string(),
                container_name: lb.container_name().unwrap_or_default().to_string(),
                container_port: lb.container_port().unwrap_or_default(),
            })
            .collect(),
        registry_arns: s
            .service_registries()
            .iter()
            .filter_map(|r| r.registry_arn().map(str::to_string))
            .collect(),
        health_check_grace_period_seconds: s.health_check_grace_period_seconds(),
        enable_execute_command: s.enable_execute_command(),
        propagate_tags: s.propagate_tags().map(|p| p.as_str().to_string()),
        rollout: primary.map(|d| {
            (
                d.rollout_state()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                d.rollout_state_reason().unwrap_or_default().to_string(),
            )
        }),
        deployments_in_progress: s
            .deployments()
            .iter()
            .filter(|d| {
                d.rollout_state()
                    .is_some_and(|r| r.as_str() == "IN_PROGRESS")
            })
            .count(),
    }
}

/// Maps an ECS task definition onto the rendered shape, filling in the defaults ECS applies
/// itself (so that they never look like drift).
pub fn normalise_task_definition(td: &aws_sdk_ecs::types::TaskDefinition) -> TaskDefinition {
    let containers = td.container_definitions();
    let c = containers
        .iter()
        .find(|c| c.name() == Some(CONTAINER_NAME))
        .or_else(|| containers.first());
    let mut environment: Vec<(String, String)> = c
        .map(|c| {
            c.environment()
                .iter()
                .map(|kv| {
                    (
                        kv.name().unwrap_or_default().to_string(),
                        kv.value().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    environment.sort();
    let mut secrets: Vec<(String, String)> = c
        .map(|c| {
            c.secrets()
                .iter()
                .map(|s| (s.name().to_string(), s.value_from().to_string()))
                .collect()
        })
        .unwrap_or_default();
    secrets.sort();
    let container = ContainerDefinition {
        name: c.and_then(|c| c.name()).unwrap_or_default().to_string(),
        image: c.and_then(|c| c.image()).unwrap_or_default().to_string(),
        essential: c.and_then(|c| c.essential()).unwrap_or(true),
        port_mappings: c
            .map(|c| {
                c.port_mappings()
                    .iter()
                    .map(|p| PortMapping {
                        name: p.name().unwrap_or_default().to_string(),
                        container_port: p.container_port().unwrap_or_default(),
                        protocol: p
                            .protocol()
                            .map(|p| p.as_str().to_string())
                            .unwrap_or_else(|| "tcp".into()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        entry_point: c.map(|c| c.entry_point().to_vec()).unwrap_or_default(),
        command: c.map(|c| c.command().to_vec()).unwrap_or_default(),
        environment,
        secrets,
        health_check: c
            .and_then(|c| c.health_check())
            .map(|h| ContainerHealthCheck {
                command: h.command().to_vec(),
                interval: h.interval().unwrap_or(30),
                timeout: h.timeout().unwrap_or(5),
                retries: h.retries().unwrap_or(3),
                start_period: h.start_period().unwrap_or(0),
            }),
        log_configuration: c
            .and_then(|c| c.log_configuration())
            .map(|l| LogConfiguration {
                log_driver: l.log_driver().as_str().to_string(),
                options: l
                    .options()
                    .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            })
            .unwrap_or(LogConfiguration {
                log_driver: String::new(),
                options: BTreeMap::new(),
            }),
        readonly_root_filesystem: c
            .and_then(|c| c.readonly_root_filesystem())
            .unwrap_or(false),
    };
    TaskDefinition {
        family: td.family().unwrap_or_default().to_string(),
        cpu: td.cpu().unwrap_or_default().to_string(),
        memory: td.memory().unwrap_or_default().to_string(),
        network_mode: td
            .network_mode()
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        requires_compatibilities: td
            .requires_compatibilities()
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        execution_role_arn: td.execution_role_arn().unwrap_or_default().to_string(),
        task_role_arn: td.task_role_arn().map(str::to_string),
        container,
    }
}

/// Lists the namespace's services. Ours are recognised by their description; a same-named
/// service with another description is confirmed to be in our namespace with one GetService
/// (only on such collisions) before it is reported, since some emulators ignore the filter.
async fn observe_discovery(
    aws: &AwsClients,
    namespace_id: &str,
    ours: &str,
    wanted: &std::collections::BTreeSet<String>,
) -> Result<BTreeMap<String, ObservedDiscovery>, ReconcileError> {
    use aws_sdk_servicediscovery::types::{FilterCondition, ServiceFilter, ServiceFilterName};
    let filter = ServiceFilter::builder()
        .name(ServiceFilterName::NamespaceId)
        .values(namespace_id)
        .condition(FilterCondition::Eq)
        .build()
        .map_err(|e| ReconcileError::Invalid(e.to_string()))?;
    let mut found = BTreeMap::new();
    let mut pages = aws
        .discovery
        .list_services()
        .filters(filter)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws_err("servicediscovery:ListServices"))?;
        for s in page.services() {
            let name = s.name().unwrap_or_default().to_string();
            let description = s.description().unwrap_or_default();
            if description != ours {
                if !wanted.contains(&name) || found.contains_key(&name) {
                    continue;
                }
                let detail = aws
                    .discovery
                    .get_service()
                    .id(s.id().unwrap_or_default())
                    .send()
                    .await
                    .map_err(aws_err("servicediscovery:GetService"))?;
                if detail.service().and_then(|d| d.namespace_id()) != Some(namespace_id) {
                    continue;
                }
            }
            found.insert(
                name.clone(),
                ObservedDiscovery {
                    id: s.id().unwrap_or_default().to_string(),
                    arn: s.arn().unwrap_or_default().to_string(),
                    name,
                    description: s.description().unwrap_or_default().to_string(),
                    dns_ttl_seconds: s
                        .dns_config()
                        .and_then(|d| d.dns_records().first())
                        .map(|r| r.ttl()),
                    instance_count: s.instance_count().unwrap_or_default(),
                },
            );
        }
    }
    Ok(found)
}

async fn observe_scaling(
    aws: &AwsClients,
    resource_ids: &[String],
) -> Result<BTreeMap<String, ObservedScaling>, ReconcileError> {
    use aws_sdk_applicationautoscaling::types::{PolicyType, ServiceNamespace};
    let mut found: BTreeMap<String, ObservedScaling> = BTreeMap::new();
    if resource_ids.is_empty() {
        return Ok(found);
    }
    for batch in resource_ids.chunks(DESCRIBE_TARGETS_BATCH) {
        let mut pages = aws
            .scaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .set_resource_ids(Some(batch.to_vec()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("application-autoscaling:DescribeScalableTargets"))?;
            for t in page.scalable_targets() {
                found.insert(
                    t.resource_id().to_string(),
                    ObservedScaling {
                        resource_id: t.resource_id().to_string(),
                        min_capacity: t.min_capacity(),
                        max_capacity: t.max_capacity(),
                        ..ObservedScaling::default()
                    },
                );
            }
        }
    }
    if found.is_empty() {
        return Ok(found);
    }
    // One paginated listing of every ECS policy beats one call per service.
    let mut pages = aws
        .scaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws_err("application-autoscaling:DescribeScalingPolicies"))?;
        for p in page.scaling_policies() {
            let Some(target) = found.get_mut(p.resource_id()) else {
                continue;
            };
            let tt = p.target_tracking_scaling_policy_configuration();
            match (p.policy_type(), tt) {
                (PolicyType::TargetTrackingScaling, Some(tt)) => {
                    let predefined = tt.predefined_metric_specification();
                    target.policies.push(TargetTrackingPolicy {
                        name: p.policy_name().to_string(),
                        metric: predefined
                            .map(|m| m.predefined_metric_type().as_str().to_string())
                            .unwrap_or_default(),
                        resource_label: predefined
                            .and_then(|m| m.resource_label())
                            .map(str::to_string),
                        target_value: tt.target_value(),
                        scale_in_cooldown: tt.scale_in_cooldown().unwrap_or(300),
                        scale_out_cooldown: tt.scale_out_cooldown().unwrap_or(300),
                    });
                }
                _ => target.other_policies.push(p.policy_name().to_string()),
            }
        }
    }
    for target in found.values_mut() {
        target.policies.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(found)
}

/// The ECS service name of an ARN (`.../service/<cluster>/<name>`).
pub fn service_name_of(arn: &str) -> String {
    last_segment(arn)
}
