//! The floor: the operator's first-apply writes (same operations, same count, comparable
//! payloads from the same rendered desired state) issued directly with the SDK in a tight loop
//! at the same concurrency. No source, no observe, no plan, no read-before-write.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, Compatibility,
    ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, KeyValuePair,
    LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode, PortMapping, ServiceRegistry,
    Tag, TransportProtocol,
};
use aws_sdk_servicediscovery::types::{
    DnsConfig, DnsRecord, HealthCheckCustomConfig, RecordType, RoutingPolicy,
};
use ecs_operator::aws::calls::CallKey;
use ecs_operator::aws::{AwsClients, CallCounter};
use ecs_operator::render::DesiredService;
use futures::stream::{self, StreamExt};

pub struct Floor {
    pub secs: f64,
    pub calls: BTreeMap<CallKey, u64>,
    pub errors: Vec<String>,
}

/// Creates every service's resources, `concurrency` services at a time.
pub async fn run(aws: &AwsClients, desired: &[DesiredService], concurrency: usize) -> Floor {
    let before = aws.calls.snapshot();
    let started = Instant::now();
    let errors: Vec<String> = stream::iter(desired)
        .map(|d| async move {
            create(aws, d)
                .await
                .err()
                .map(|e| format!("{}: {e:#}", d.name))
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|e| async move { e })
        .collect()
        .await;
    Floor {
        secs: started.elapsed().as_secs_f64(),
        calls: CallCounter::since(&before, &aws.calls.snapshot()),
        errors,
    }
}

async fn create(aws: &AwsClients, d: &DesiredService) -> Result<()> {
    let tags: Vec<Tag> = d
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let td = &d.task_definition;
    let c = &td.container;
    let container = ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .essential(c.essential)
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
                .build()?,
        )
        .build();
    let registered = aws
        .ecs
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
        .container_definitions(container)
        .set_tags(Some(tags.clone()))
        .send()
        .await
        .context("RegisterTaskDefinition")?;
    let td_arn = registered
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .unwrap_or_default()
        .to_string();

    let mut registries = Vec::new();
    if let Some(want) = &d.discovery {
        let record = |t: RecordType| {
            DnsRecord::builder()
                .r#type(t)
                .ttl(want.dns_ttl_seconds)
                .build()
        };
        let out = aws
            .discovery
            .create_service()
            .name(&want.name)
            .set_namespace_id(want.namespace_id.clone())
            .description("floor")
            .dns_config(
                DnsConfig::builder()
                    .routing_policy(RoutingPolicy::Multivalue)
                    .dns_records(record(RecordType::A)?)
                    .dns_records(record(RecordType::Srv)?)
                    .build()?,
            )
            .health_check_custom_config(HealthCheckCustomConfig::builder().build())
            .send()
            .await
            .context("servicediscovery:CreateService")?;
        registries.push(
            ServiceRegistry::builder()
                .registry_arn(out.service().and_then(|s| s.arn()).unwrap_or_default())
                .container_name(&c.name)
                .container_port(c.port_mappings[0].container_port)
                .build(),
        );
    }

    let s = &d.service;
    aws.ecs
        .create_service()
        .cluster(&d.cluster)
        .service_name(&s.name)
        .task_definition(td_arn)
        .desired_count(s.desired_count)
        .capacity_provider_strategy(
            CapacityProviderStrategyItem::builder()
                .capacity_provider(&s.capacity_provider)
                .weight(1)
                .build()?,
        )
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(
                    AwsVpcConfiguration::builder()
                        .set_subnets(Some(s.subnets.clone()))
                        .set_security_groups(Some(s.security_groups.clone()))
                        .assign_public_ip(AssignPublicIp::Disabled)
                        .build()?,
                )
                .build(),
        )
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(s.minimum_healthy_percent)
                .maximum_percent(s.maximum_percent)
                .deployment_circuit_breaker(
                    DeploymentCircuitBreaker::builder()
                        .enable(s.circuit_breaker_enabled)
                        .rollback(s.circuit_breaker_rollback)
                        .build(),
                )
                .build(),
        )
        .set_service_registries(Some(registries))
        .set_tags(Some(tags))
        .send()
        .await
        .context("ecs:CreateService")?;

    if let Some(scaling) = &d.scaling {
        aws.scaling
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&scaling.resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .min_capacity(scaling.min_capacity)
            .max_capacity(scaling.max_capacity)
            .send()
            .await
            .context("RegisterScalableTarget")?;
        for p in &scaling.policies {
            aws.scaling
                .put_scaling_policy()
                .policy_name(&p.name)
                .service_namespace(ServiceNamespace::Ecs)
                .resource_id(&scaling.resource_id)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .policy_type(PolicyType::TargetTrackingScaling)
                .target_tracking_scaling_policy_configuration(
                    TargetTrackingScalingPolicyConfiguration::builder()
                        .target_value(p.target_value)
                        .predefined_metric_specification(
                            PredefinedMetricSpecification::builder()
                                .predefined_metric_type(MetricType::from(p.metric.as_str()))
                                .build()?,
                        )
                        .scale_in_cooldown(p.scale_in_cooldown)
                        .scale_out_cooldown(p.scale_out_cooldown)
                        .build()?,
                )
                .send()
                .await
                .context("PutScalingPolicy")?;
        }
    }
    Ok(())
}
