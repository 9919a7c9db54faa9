//! The rendered desired state as SDK requests: one place that knows how a
//! [`DesiredService`] becomes a RegisterTaskDefinition, CreateService, Cloud Map CreateService,
//! RegisterScalableTarget or PutScalingPolicy request. The actuator and the benchmark's
//! write floor both send exactly these, so the floor measures the same payloads.
//!
//! Each function returns a request ready to `.send()`; building fails only when a required
//! field is missing, which the renderer never allows (an [`ErrorKind::Invalid`] error).

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, Compatibility, HealthCheck,
    KeyValuePair, LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode, PortMapping,
    PropagateTags, Secret, ServiceRegistry, Tag, TransportProtocol,
};

use super::{AwsError, ErrorKind};
use crate::render::aws::{
    ContainerDefinition, DesiredService, DiscoveryService, FARGATE, FARGATE_SPOT,
};

mod deployment;
mod scaling;
mod tasks;
pub use deployment::{deployment, load_balancers};
pub use scaling::{put_scaling_policy, register_scalable_target};
pub use tasks::{run_task, OneOff};

type EcsClient = aws_sdk_ecs::Client;

fn invalid(
    operation: &'static str,
) -> impl Fn(aws_smithy_types::error::operation::BuildError) -> AwsError {
    move |e| AwsError::local(operation, ErrorKind::Invalid, e.to_string())
}

/// The desired tags as ECS tags.
pub fn ecs_tags(d: &DesiredService) -> Vec<Tag> {
    d.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The application container of a task definition.
pub fn container_definition(
    c: &ContainerDefinition,
) -> Result<aws_sdk_ecs::types::ContainerDefinition, AwsError> {
    const OP: &str = "ecs:RegisterTaskDefinition";
    let mut container = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .essential(c.essential)
        .readonly_root_filesystem(c.readonly_root_filesystem)
        .set_port_mappings(Some(
            c.port_mappings
                .iter()
                .map(|p| {
                    PortMapping::builder()
                        .name(&p.name)
                        .container_port(p.container_port)
                        .protocol(TransportProtocol::from(p.protocol.as_str()))
                        .build()
                })
                .collect(),
        ))
        .set_environment(Some(
            c.environment
                .iter()
                .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                .collect(),
        ))
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::from(c.log_configuration.log_driver.as_str()))
                .set_options(Some(
                    c.log_configuration.options.clone().into_iter().collect(),
                ))
                .build()
                .map_err(invalid(OP))?,
        );
    container = container
        .set_cpu(c.cpu)
        .set_memory(c.memory)
        .set_memory_reservation(c.memory_reservation);
    if !c.depends_on.is_empty() {
        let deps = c
            .depends_on
            .iter()
            .map(|d| {
                aws_sdk_ecs::types::ContainerDependency::builder()
                    .container_name(&d.container_name)
                    .condition(aws_sdk_ecs::types::ContainerCondition::from(
                        d.condition.as_str(),
                    ))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid(OP))?;
        container = container.set_depends_on(Some(deps));
    }
    if !c.mount_points.is_empty() {
        container = container.set_mount_points(Some(
            c.mount_points
                .iter()
                .map(|m| {
                    aws_sdk_ecs::types::MountPoint::builder()
                        .source_volume(&m.source_volume)
                        .container_path(&m.container_path)
                        .read_only(m.read_only)
                        .build()
                })
                .collect(),
        ));
    }
    if let Some(f) = &c.firelens_configuration {
        container = container.firelens_configuration(
            aws_sdk_ecs::types::FirelensConfiguration::builder()
                .r#type(aws_sdk_ecs::types::FirelensConfigurationType::from(
                    f.router.as_str(),
                ))
                .set_options(
                    (!f.options.is_empty()).then(|| f.options.clone().into_iter().collect()),
                )
                .build()
                .map_err(invalid(OP))?,
        );
    }
    if !c.entry_point.is_empty() {
        container = container.set_entry_point(Some(c.entry_point.clone()));
    }
    if !c.command.is_empty() {
        container = container.set_command(Some(c.command.clone()));
    }
    if !c.secrets.is_empty() {
        let secrets = c
            .secrets
            .iter()
            .map(|(name, arn)| Secret::builder().name(name).value_from(arn).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid(OP))?;
        container = container.set_secrets(Some(secrets));
    }
    if let Some(h) = &c.health_check {
        container = container.health_check(
            HealthCheck::builder()
                .set_command(Some(h.command.clone()))
                .interval(h.interval)
                .timeout(h.timeout)
                .retries(h.retries)
                .start_period(h.start_period)
                .build()
                .map_err(invalid(OP))?,
        );
    }
    Ok(container.build())
}

/// RegisterTaskDefinition of the rendered task definition, tagged like the service.
pub fn register_task_definition(
    ecs: &EcsClient,
    d: &DesiredService,
) -> Result<
    aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder,
    AwsError,
> {
    let td = &d.task_definition;
    Ok(ecs
        .register_task_definition()
        .family(&td.family)
        .cpu(&td.cpu)
        .memory(&td.memory)
        .network_mode(NetworkMode::from(td.network_mode.as_str()))
        .set_requires_compatibilities(Some(
            td.requires_compatibilities
                .iter()
                .map(|c| Compatibility::from(c.as_str()))
                .collect(),
        ))
        .execution_role_arn(&td.execution_role_arn)
        .set_task_role_arn(td.task_role_arn.clone())
        .set_ephemeral_storage(td.ephemeral_storage_gib.map(|gib| {
            aws_sdk_ecs::types::EphemeralStorage::builder()
                .size_in_gib(gib)
                .build()
        }))
        .set_runtime_platform(td.runtime_platform.as_ref().map(|p| {
            aws_sdk_ecs::types::RuntimePlatform::builder()
                .cpu_architecture(aws_sdk_ecs::types::CpuArchitecture::from(
                    p.cpu_architecture.as_str(),
                ))
                .operating_system_family(aws_sdk_ecs::types::OsFamily::from(
                    p.operating_system_family.as_str(),
                ))
                .build()
        }))
        .set_container_definitions(Some(
            td.containers()
                .map(container_definition)
                .collect::<Result<Vec<_>, _>>()?,
        ))
        .set_volumes(if td.volumes.is_empty() {
            None
        } else {
            Some(
                td.volumes
                    .iter()
                    .map(volume)
                    .collect::<Result<Vec<_>, _>>()?,
            )
        })
        .set_tags(Some(ecs_tags(d))))
}

/// An EFS volume of a task definition.
pub fn volume(v: &crate::render::aws::Volume) -> Result<aws_sdk_ecs::types::Volume, AwsError> {
    use aws_sdk_ecs::types::{
        EfsAuthorizationConfig, EfsAuthorizationConfigIam, EfsTransitEncryption,
        EfsVolumeConfiguration,
    };
    let on = |yes: bool| if yes { "ENABLED" } else { "DISABLED" };
    let efs = &v.efs;
    let authorization = (efs.iam || efs.access_point_id.is_some()).then(|| {
        EfsAuthorizationConfig::builder()
            .set_access_point_id(efs.access_point_id.clone())
            .iam(EfsAuthorizationConfigIam::from(on(efs.iam)))
            .build()
    });
    Ok(aws_sdk_ecs::types::Volume::builder()
        .name(&v.name)
        .efs_volume_configuration(
            EfsVolumeConfiguration::builder()
                .file_system_id(&efs.file_system_id)
                .set_root_directory(efs.root_directory.clone())
                .transit_encryption(EfsTransitEncryption::from(on(efs.transit_encryption)))
                .set_authorization_config(authorization)
                .build()
                .map_err(invalid("ecs:RegisterTaskDefinition"))?,
        )
        .build())
}

/// The awsvpc network of the service.
pub fn network(d: &DesiredService) -> Result<NetworkConfiguration, AwsError> {
    let s = &d.service;
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(s.subnets.clone()))
                .set_security_groups(Some(s.security_groups.clone()))
                .assign_public_ip(if s.assign_public_ip {
                    AssignPublicIp::Enabled
                } else {
                    AssignPublicIp::Disabled
                })
                .build()
                .map_err(invalid("ecs:CreateService"))?,
        )
        .build())
}

/// The capacity provider strategy: one provider (FARGATE or FARGATE_SPOT), weight 1; or the
/// Fargate / Fargate Spot mix: FARGATE with the base and weight 1, FARGATE_SPOT with its weight.
pub fn capacity(d: &DesiredService) -> Result<Vec<CapacityProviderStrategyItem>, AwsError> {
    let item = |provider: &str, base: i32, weight: i32| {
        CapacityProviderStrategyItem::builder()
            .capacity_provider(provider)
            .base(base)
            .weight(weight)
            .build()
            .map_err(invalid("ecs:CreateService"))
    };
    match &d.service.spot_mix {
        Some(mix) => Ok(vec![
            item(FARGATE, mix.on_demand_base, 1)?,
            item(FARGATE_SPOT, 0, mix.spot_weight)?,
        ]),
        None => Ok(vec![item(&d.service.capacity_provider, 0, 1)?]),
    }
}

/// The Cloud Map registration of the service's application container.
pub fn registries(d: &DesiredService, registry_arn: Option<&str>) -> Vec<ServiceRegistry> {
    let container = &d.task_definition.container;
    registry_arn
        .map(|arn| {
            vec![ServiceRegistry::builder()
                .registry_arn(arn)
                .container_name(&container.name)
                .set_container_port(container.port_mappings.first().map(|p| p.container_port))
                .build()]
        })
        .unwrap_or_default()
}

/// CreateService with the full desired configuration and an idempotency token.
pub fn create_service(
    ecs: &EcsClient,
    d: &DesiredService,
    task_definition: &str,
    registry_arn: Option<&str>,
    client_token: &str,
) -> Result<aws_sdk_ecs::operation::create_service::builders::CreateServiceFluentBuilder, AwsError>
{
    let s = &d.service;
    Ok(ecs
        .create_service()
        .cluster(&d.cluster)
        .service_name(&s.name)
        .task_definition(task_definition)
        .desired_count(s.desired_count)
        .set_capacity_provider_strategy(Some(capacity(d)?))
        .network_configuration(network(d)?)
        .deployment_configuration(deployment(d, false)?)
        .set_load_balancers(Some(load_balancers(d)))
        .set_service_registries(Some(registries(d, registry_arn)))
        .set_health_check_grace_period_seconds(s.health_check_grace_period_seconds)
        .enable_execute_command(s.enable_execute_command)
        .propagate_tags(PropagateTags::from(s.propagate_tags.as_str()))
        .enable_ecs_managed_tags(s.enable_ecs_managed_tags)
        .client_token(client_token)
        .set_tags(Some(ecs_tags(d))))
}

/// UpdateService sending only what changed: the task definition when a new revision was
/// registered, the desired count when it must change (inside the autoscaling range the
/// autoscaler owns it), and the setting groups in `fields`. A capacity provider change also
/// forces a new deployment, which ECS requires to move tasks to a new strategy, and so does
/// switching ECS Exec, which only new tasks pick up.
pub fn update_service(
    ecs: &EcsClient,
    d: &DesiredService,
    update: &ServiceUpdate<'_>,
) -> Result<aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder, AwsError>
{
    use crate::domain::ServiceField as F;
    let s = &d.service;
    let mut request = ecs
        .update_service()
        .cluster(&d.cluster)
        .service(&s.name)
        .set_task_definition(update.task_definition.map(str::to_string))
        .set_desired_count(update.desired_count);
    for field in update.fields {
        request = match field {
            F::CapacityProvider => request
                .set_capacity_provider_strategy(Some(capacity(d)?))
                .force_new_deployment(true),
            F::Network => request.network_configuration(network(d)?),
            // One structure in the request: each group sends the whole desired configuration.
            F::Deployment | F::DeploymentAlarms | F::DeploymentStrategy => {
                request.deployment_configuration(deployment(d, true)?)
            }
            F::LoadBalancers => request.set_load_balancers(Some(load_balancers(d))),
            F::ServiceRegistries => {
                request.set_service_registries(Some(registries(d, update.registry_arn)))
            }
            F::HealthCheckGracePeriod => {
                request.set_health_check_grace_period_seconds(s.health_check_grace_period_seconds)
            }
            // Running tasks get (or lose) the SSM agent only when replaced: "update-service
            // --enable-execute-command --force-new-deployment" (ECS Developer Guide, ECS Exec).
            F::ExecuteCommand => request
                .enable_execute_command(s.enable_execute_command)
                .force_new_deployment(true),
            F::PropagateTags => {
                request.propagate_tags(PropagateTags::from(s.propagate_tags.as_str()))
            }
        };
    }
    Ok(request)
}

/// What one UpdateService changes.
#[derive(Debug, Clone)]
pub struct ServiceUpdate<'a> {
    /// The new revision, when one was registered.
    pub task_definition: Option<&'a str>,
    pub desired_count: Option<i32>,
    pub fields: &'a std::collections::BTreeSet<crate::domain::ServiceField>,
    /// The Cloud Map service to register in, for [`crate::domain::ServiceField::ServiceRegistries`].
    pub registry_arn: Option<&'a str>,
}

/// The DNS records of a Cloud Map service, as rendered (A and SRV, one TTL).
pub fn dns_records(
    want: &DiscoveryService,
) -> Result<Vec<aws_sdk_servicediscovery::types::DnsRecord>, AwsError> {
    use aws_sdk_servicediscovery::types::{DnsRecord, RecordType};
    want.record_types
        .iter()
        .map(|t| {
            DnsRecord::builder()
                .r#type(RecordType::from(t.as_str()))
                .ttl(want.dns_ttl_seconds)
                .build()
                .map_err(invalid("servicediscovery:CreateService"))
        })
        .collect()
}

/// Cloud Map CreateService: multivalue A + SRV records and custom health (ECS reports task
/// health; AWS fixes the failure threshold at 1).
pub fn create_discovery(
    discovery: &aws_sdk_servicediscovery::Client,
    d: &DesiredService,
    want: &DiscoveryService,
    description: &str,
    creator_request_id: &str,
) -> Result<
    aws_sdk_servicediscovery::operation::create_service::builders::CreateServiceFluentBuilder,
    AwsError,
> {
    use aws_sdk_servicediscovery::types::{DnsConfig, HealthCheckCustomConfig, RoutingPolicy};
    const OP: &str = "servicediscovery:CreateService";
    let tags = d
        .tags
        .iter()
        .map(|(k, v)| {
            aws_sdk_servicediscovery::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid(OP))?;
    Ok(discovery
        .create_service()
        .name(&want.name)
        .set_namespace_id(want.namespace_id.clone())
        .description(description)
        .creator_request_id(creator_request_id)
        .dns_config(
            DnsConfig::builder()
                .routing_policy(RoutingPolicy::Multivalue)
                .set_dns_records(Some(dns_records(want)?))
                .build()
                .map_err(invalid(OP))?,
        )
        .health_check_custom_config(HealthCheckCustomConfig::builder().build())
        .set_tags(Some(tags)))
}
