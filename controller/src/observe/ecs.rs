//! ECS reads: services (listed per cluster, described in batches of at most ten with their
//! tags) and task definitions, normalised into render's types with ECS's own defaults filled
//! in, so that a default never looks like drift.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ecs::types::{ServiceField, TaskDefinitionField};

use super::{
    ObservedConfig, ObservedDeployment, ObservedService, ServiceState, TaskCounts,
    DESCRIBE_SERVICES_BATCH,
};
use crate::aws::{AwsClients, AwsError};
use crate::render::aws::{
    AdvancedConfiguration, ContainerDefinition, ContainerDependency, ContainerHealthCheck,
    EcsService, EfsVolumeConfiguration, FirelensConfiguration, LoadBalancerAttachment,
    LogConfiguration, MountPoint, PortMapping, RuntimePlatform, SpotShare, TaskDefinition, Volume,
    CONTAINER_NAME, FARGATE, FARGATE_SPOT,
};

/// Every service of a cluster; none when the cluster does not exist (yet).
pub async fn list_and_describe(
    aws: &AwsClients,
    cluster: &str,
) -> Result<Vec<ObservedService>, AwsError> {
    let mut arns = Vec::new();
    // ListServices returns 10 ARNs a page unless asked for more; 100 is its maximum
    // (API reference, ListServices `maxResults`).
    let mut pages = aws
        .ecs
        .list_services()
        .cluster(cluster)
        .max_results(LIST_SERVICES_PAGE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => arns.extend(page.service_arns().iter().cloned()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_cluster_not_found_exception()) =>
            {
                return Ok(Vec::new())
            }
            Err(e) => return Err(aws.error("ecs:ListServices")(e)),
        }
    }
    describe(aws, cluster, &arns).await
}

/// ListServices page size asked for: the API's maximum.
pub const LIST_SERVICES_PAGE: i32 = 100;
/// DescribeServices calls in flight at once: a pass over N services makes N / 10 of them,
/// and one after another they were most of an idle pass's time.
pub const DESCRIBE_SERVICES_IN_FLIGHT: usize = 4;

/// DescribeServices (with tags) of services of one cluster by name or ARN, at most ten per
/// call, [`DESCRIBE_SERVICES_IN_FLIGHT`] calls at a time, in the order asked. Services ECS
/// does not know are left out; the first failed call fails the whole description.
pub async fn describe(
    aws: &AwsClients,
    cluster: &str,
    services: &[String],
) -> Result<Vec<ObservedService>, AwsError> {
    use futures::{StreamExt, TryStreamExt};
    let batches: Vec<Vec<ObservedService>> =
        futures::stream::iter(services.chunks(DESCRIBE_SERVICES_BATCH))
            .map(|batch| async move {
                let out = aws
                    .ecs
                    .describe_services()
                    .cluster(cluster)
                    .set_services(Some(batch.to_vec()))
                    .include(ServiceField::Tags)
                    .send()
                    .await
                    .map_err(aws.error("ecs:DescribeServices"))?;
                Ok::<_, AwsError>(
                    (out.services().iter())
                        .map(|s| normalise_service(cluster, s))
                        .collect(),
                )
            })
            .buffered(DESCRIBE_SERVICES_IN_FLIGHT)
            .try_collect()
            .await?;
    Ok(batches.into_iter().flatten().collect())
}

/// DescribeTaskDefinition by ARN or family (the latest ACTIVE revision). `None` when ECS does
/// not know it: ECS answers an unknown task definition with `ClientException` (API reference,
/// DescribeTaskDefinition, "Errors"), so for this operation that error means not found. Every
/// other failure (throttling, access denied, 5xx) is an error, never "no revision".
pub async fn describe_task_definition(
    aws: &AwsClients,
    arn_or_family: &str,
) -> Result<Option<aws_sdk_ecs::types::TaskDefinition>, AwsError> {
    let out = aws
        .ecs
        .describe_task_definition()
        .task_definition(arn_or_family)
        .include(TaskDefinitionField::Tags)
        .send()
        .await;
    match out {
        Ok(out) => Ok(out.task_definition().cloned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_client_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws.error("ecs:DescribeTaskDefinition")(e)),
    }
}

/// The task definition families that have an ACTIVE revision, as ListTaskDefinitionFamilies
/// (`status: ACTIVE`, 100 a page, its maximum) lists them, if the listing ends within
/// `max_pages` pages; `None` when it would take more (the caller then asks family by family).
///
/// # Caveats
/// The listing is eventually consistent: a revision registered seconds ago may be missing from
/// it. A caller that skips its describe for an unlisted family at worst registers one revision
/// more than needed, never fewer.
pub async fn families_with_active_revisions(
    aws: &AwsClients,
    max_pages: usize,
) -> Result<Option<BTreeSet<String>>, AwsError> {
    let mut families = BTreeSet::new();
    let mut pages = aws
        .ecs
        .list_task_definition_families()
        .status(aws_sdk_ecs::types::TaskDefinitionFamilyStatus::Active)
        .max_results(100)
        .into_paginator()
        .send();
    for _ in 0..max_pages {
        let Some(page) = pages.next().await else {
            return Ok(Some(families));
        };
        let page = page.map_err(aws.error("ecs:ListTaskDefinitionFamilies"))?;
        families.extend(page.families().iter().cloned());
        if page.next_token().is_none_or(str::is_empty) {
            return Ok(Some(families));
        }
    }
    Ok(None)
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// Normalises one described service into an [`ObservedService`].
pub fn normalise_service(cluster: &str, s: &aws_sdk_ecs::types::Service) -> ObservedService {
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
    ObservedService {
        arn: s.service_arn().unwrap_or_default().to_string(),
        name: s.service_name().unwrap_or_default().to_string(),
        cluster: cluster.to_string(),
        state: ServiceState::parse(s.status().unwrap_or_default()),
        tags,
        tasks: TaskCounts {
            desired: s.desired_count(),
            running: s.running_count(),
            pending: s.pending_count(),
        },
        task_definition_arn: s.task_definition().unwrap_or_default().to_string(),
        task_definition: None,
        config: observed_config(s),
        registry_arns: s
            .service_registries()
            .iter()
            .filter_map(|r| r.registry_arn().map(str::to_string))
            .collect(),
        deployments: ObservedDeployment::all_from_sdk(s.deployments()),
    }
}

/// The settings ECS reports, in render's shape. What ECS leaves out is marked unknown.
fn observed_config(s: &aws_sdk_ecs::types::Service) -> ObservedConfig {
    let mut unknown: BTreeSet<&'static str> = BTreeSet::new();
    let mut note = |known: bool, field: &'static str| {
        if !known {
            unknown.insert(field);
        }
    };
    let vpc = s
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration());
    note(vpc.is_some(), "subnets");
    note(vpc.is_some(), "securityGroups");
    let public_ip = vpc.and_then(|v| v.assign_public_ip());
    note(public_ip.is_some(), "assignPublicIp");
    let deployment = s.deployment_configuration();
    for field in [
        "minimumHealthyPercent",
        "maximumPercent",
        "circuitBreakerEnabled",
        "circuitBreakerRollback",
        "deploymentAlarms",
        "deploymentStrategy",
    ] {
        note(deployment.is_some(), field);
    }
    let breaker = deployment.and_then(|d| d.deployment_circuit_breaker());
    // A service on a launch type (made by hand, adopted) has no strategy: it differs from
    // every strategy the operator renders, and moving it to one needs a new deployment.
    let strategy = s.capacity_provider_strategy();
    let item = |name: &str| strategy.iter().find(|c| c.capacity_provider() == name);
    // FARGATE beside FARGATE_SPOT is the operator's mix; anything else is one provider.
    let spot_mix = match (item(FARGATE), item(FARGATE_SPOT)) {
        (Some(on_demand), Some(spot)) if strategy.len() == 2 => Some(SpotShare {
            on_demand_base: on_demand.base(),
            spot_weight: spot.weight(),
        }),
        _ => None,
    };
    let provider = (spot_mix.is_some())
        .then(|| FARGATE.to_string())
        .or_else(|| strategy.first().map(|c| c.capacity_provider().to_string()))
        .or_else(|| {
            s.launch_type()
                .map(|t| format!("{}{}", super::LAUNCH_TYPE_PREFIX, t.as_str()))
        });
    note(provider.is_some(), "capacityProvider");
    note(
        s.health_check_grace_period_seconds().is_some(),
        "healthCheckGracePeriodSeconds",
    );
    note(s.propagate_tags().is_some(), "propagateTags");
    let mut load_balancers: Vec<LoadBalancerAttachment> = s
        .load_balancers()
        .iter()
        .map(|lb| LoadBalancerAttachment {
            target_group_arn: lb.target_group_arn().unwrap_or_default().to_string(),
            container_name: lb.container_name().unwrap_or_default().to_string(),
            container_port: lb.container_port().unwrap_or_default(),
            advanced_configuration: lb.advanced_configuration().map(|a| AdvancedConfiguration {
                alternate_target_group_arn: a
                    .alternate_target_group_arn()
                    .unwrap_or_default()
                    .to_string(),
                production_listener_rule: a
                    .production_listener_rule()
                    .unwrap_or_default()
                    .to_string(),
                test_listener_rule: a.test_listener_rule().map(str::to_string),
                role_arn: a.role_arn().map(str::to_string),
            }),
        })
        .collect();
    load_balancers.sort_by(|a, b| a.target_group_arn.cmp(&b.target_group_arn));
    ObservedConfig {
        service: EcsService {
            name: s.service_name().unwrap_or_default().to_string(),
            desired_count: s.desired_count(),
            autoscaled_range: None,
            capacity_provider: provider.unwrap_or_default(),
            spot_mix,
            subnets: vpc.map(|v| sorted(v.subnets())).unwrap_or_default(),
            security_groups: vpc.map(|v| sorted(v.security_groups())).unwrap_or_default(),
            assign_public_ip: public_ip.is_some_and(|a| a.as_str() == "ENABLED"),
            minimum_healthy_percent: deployment
                .and_then(|d| d.minimum_healthy_percent())
                .unwrap_or(100),
            maximum_percent: deployment.and_then(|d| d.maximum_percent()).unwrap_or(200),
            circuit_breaker_enabled: breaker.is_some_and(|b| b.enable()),
            circuit_breaker_rollback: breaker.is_some_and(|b| b.rollback()),
            deployment_alarms: deployment.and_then(super::deployment::alarms),
            deployment_strategy: deployment.and_then(super::deployment::strategy),
            load_balancers,
            health_check_grace_period_seconds: s.health_check_grace_period_seconds(),
            enable_execute_command: s.enable_execute_command(),
            propagate_tags: s
                .propagate_tags()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            enable_ecs_managed_tags: s.enable_ecs_managed_tags(),
        },
        unknown,
    }
}

/// Maps an ECS task definition onto the rendered shape, filling in the defaults ECS applies
/// itself (so that they never look like drift). The application container is `app` (else
/// the first); the others are its sidecars, sorted by name as rendered.
pub fn normalise_task_definition(td: &aws_sdk_ecs::types::TaskDefinition) -> TaskDefinition {
    let containers = td.container_definitions();
    let main = containers
        .iter()
        .position(|c| c.name() == Some(CONTAINER_NAME))
        .unwrap_or(0);
    let container = containers
        .get(main)
        .map(normalise_container)
        .unwrap_or_else(|| {
            normalise_container(&aws_sdk_ecs::types::ContainerDefinition::builder().build())
        });
    let mut sidecars: Vec<ContainerDefinition> = containers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != main)
        .map(|(_, c)| normalise_container(c))
        .collect();
    sidecars.sort_by(|a, b| a.name.cmp(&b.name));
    let mut volumes: Vec<Volume> = td.volumes().iter().filter_map(normalise_volume).collect();
    volumes.sort_by(|a, b| a.name.cmp(&b.name));
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
        ephemeral_storage_gib: td.ephemeral_storage().map(|e| e.size_in_gib()),
        runtime_platform: td.runtime_platform().and_then(|p| {
            Some(RuntimePlatform {
                cpu_architecture: p.cpu_architecture()?.as_str().to_string(),
                operating_system_family: p
                    .operating_system_family()
                    .map_or("LINUX", |f| f.as_str())
                    .to_string(),
            })
        }),
        container,
        sidecars,
        volumes,
    }
}

/// One container as rendered. ECS reports `cpu: 0` for a container without a reservation.
fn normalise_container(c: &aws_sdk_ecs::types::ContainerDefinition) -> ContainerDefinition {
    let mut environment: Vec<(String, String)> = c
        .environment()
        .iter()
        .map(|kv| {
            (
                kv.name().unwrap_or_default().to_string(),
                kv.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    environment.sort();
    let mut secrets: Vec<(String, String)> = c
        .secrets()
        .iter()
        .map(|s| (s.name().to_string(), s.value_from().to_string()))
        .collect();
    secrets.sort();
    let mut depends_on: Vec<ContainerDependency> = c
        .depends_on()
        .iter()
        .map(|d| ContainerDependency {
            container_name: d.container_name().to_string(),
            condition: d.condition().as_str().to_string(),
        })
        .collect();
    depends_on.sort_by(|a, b| a.container_name.cmp(&b.container_name));
    let mut mount_points: Vec<MountPoint> = c
        .mount_points()
        .iter()
        .map(|m| MountPoint {
            source_volume: m.source_volume().unwrap_or_default().to_string(),
            container_path: m.container_path().unwrap_or_default().to_string(),
            read_only: m.read_only().unwrap_or(false),
        })
        .collect();
    mount_points.sort_by(|a, b| a.container_path.cmp(&b.container_path));
    ContainerDefinition {
        name: c.name().unwrap_or_default().to_string(),
        image: c.image().unwrap_or_default().to_string(),
        essential: c.essential().unwrap_or(true),
        cpu: Some(c.cpu()).filter(|cpu| *cpu > 0),
        memory: c.memory(),
        memory_reservation: c.memory_reservation(),
        port_mappings: c
            .port_mappings()
            .iter()
            .map(|p| PortMapping {
                name: p.name().unwrap_or_default().to_string(),
                container_port: p.container_port().unwrap_or_default(),
                protocol: p
                    .protocol()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "tcp".into()),
            })
            .collect(),
        entry_point: c.entry_point().to_vec(),
        command: c.command().to_vec(),
        environment,
        secrets,
        health_check: c.health_check().map(|h| ContainerHealthCheck {
            command: h.command().to_vec(),
            interval: h.interval().unwrap_or(30),
            timeout: h.timeout().unwrap_or(5),
            retries: h.retries().unwrap_or(3),
            start_period: h.start_period().unwrap_or(0),
        }),
        log_configuration: c
            .log_configuration()
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
        readonly_root_filesystem: c.readonly_root_filesystem().unwrap_or(false),
        depends_on,
        mount_points,
        firelens_configuration: c.firelens_configuration().map(|f| FirelensConfiguration {
            router: f.r#type().as_str().to_string(),
            options: f
                .options()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        }),
    }
}

/// An EFS volume as rendered (`rootDirectory: /` is the root, as absent; ECS's defaults for
/// transit encryption and IAM are off). Other kinds of volume are not the operator's.
fn normalise_volume(v: &aws_sdk_ecs::types::Volume) -> Option<Volume> {
    let efs = v.efs_volume_configuration()?;
    let auth = efs.authorization_config();
    Some(Volume {
        name: v.name().unwrap_or_default().to_string(),
        efs: EfsVolumeConfiguration {
            file_system_id: efs.file_system_id().to_string(),
            root_directory: efs
                .root_directory()
                .filter(|d| *d != "/")
                .map(str::to_string),
            transit_encryption: efs
                .transit_encryption()
                .is_some_and(|t| t.as_str() == "ENABLED"),
            access_point_id: auth.and_then(|a| a.access_point_id()).map(str::to_string),
            iam: auth
                .and_then(|a| a.iam())
                .is_some_and(|i| i.as_str() == "ENABLED"),
        },
    })
}
