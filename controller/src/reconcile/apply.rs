//! Apply: run a plan's steps in dependency order. Each step is safe to repeat, so a pass that
//! fails half-way is finished by the next one.

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, DeploymentCircuitBreaker,
    DeploymentConfiguration, HealthCheck, KeyValuePair, LoadBalancer, LogConfiguration, LogDriver,
    NetworkConfiguration, NetworkMode, PortMapping, PropagateTags, Secret, ServiceRegistry, Tag,
    TransportProtocol,
};

use super::observe::Observer;
use super::plan::{ServicePlan, Step};
use super::ReconcileError;
use crate::aws::AwsClients;
use crate::render::aws::DesiredService;
use crate::settings::OWNER_TAG;

/// What applying one service did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub steps_done: usize,
    pub task_definition_arn: Option<String>,
    pub service_arn: Option<String>,
    pub registry_arn: Option<String>,
}

pub struct Applier<'a> {
    pub aws: &'a AwsClients,
    pub observer: &'a Observer,
    pub operator_id: &'a str,
    pub discovery_description: String,
    pub keep_revisions: u32,
    /// Checked before every write: false once this replica may no longer act.
    pub fence: Option<Fence>,
}

/// A check that this replica may still write (the leader lease).
pub type Fence = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

fn err<E: std::fmt::Debug>(context: &'static str) -> impl Fn(E) -> ReconcileError {
    move |e| ReconcileError::from_sdk(context, &e)
}

fn ecs_tags(d: &DesiredService) -> Vec<Tag> {
    d.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

impl Applier<'_> {
    /// Runs every step of one service's plan, in order, stopping at the first failure.
    pub async fn apply_service(&self, sp: &ServicePlan) -> Result<Applied, ReconcileError> {
        let mut applied = Applied {
            registry_arn: sp.registry_arn.clone(),
            service_arn: sp.observed.as_ref().map(|o| o.arn.clone()),
            task_definition_arn: sp.observed.as_ref().map(|o| o.task_definition_arn.clone()),
            ..Applied::default()
        };
        for step in &sp.steps {
            if let Some(fence) = &self.fence {
                if !fence() {
                    return Err(ReconcileError::Aws {
                        context: "leader lease".into(),
                        message: "leadership lost: no further writes".into(),
                        class: super::ErrorClass::Waiting,
                    });
                }
            }
            self.apply_step(sp, step, &mut applied).await?;
            applied.steps_done += 1;
        }
        Ok(applied)
    }

    async fn apply_step(
        &self,
        sp: &ServicePlan,
        step: &Step,
        applied: &mut Applied,
    ) -> Result<(), ReconcileError> {
        let desired = sp.desired.as_ref();
        match step {
            Step::RegisterTaskDefinition => {
                let d =
                    desired.ok_or_else(|| ReconcileError::Invalid("no desired state".into()))?;
                applied.task_definition_arn = Some(self.register_task_definition(d).await?);
            }
            Step::CreateDiscovery => {
                let d =
                    desired.ok_or_else(|| ReconcileError::Invalid("no desired state".into()))?;
                applied.registry_arn = Some(self.create_discovery(d).await?);
            }
            Step::UpdateDiscoveryTtl { id } => {
                let d =
                    desired.ok_or_else(|| ReconcileError::Invalid("no desired state".into()))?;
                self.update_discovery_ttl(d, id).await?;
            }
            Step::CreateService => {
                let d =
                    desired.ok_or_else(|| ReconcileError::Invalid("no desired state".into()))?;
                let td = applied.task_definition_arn.clone().unwrap_or_default();
                applied.service_arn = Some(
                    self.create_service(d, &td, applied.registry_arn.as_deref())
                        .await?,
                );
            }
            Step::UpdateService { desired_count, .. } => {
                let d =
                    desired.ok_or_else(|| ReconcileError::Invalid("no desired state".into()))?;
                let td = applied.task_definition_arn.clone().unwrap_or_default();
                self.update_service(d, &td, *desired_count, applied.registry_arn.as_deref())
                    .await?;
            }
            Step::TagService { tags } => {
                let arn = applied.service_arn.clone().unwrap_or_default();
                let tags: Vec<Tag> = tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect();
                self.aws
                    .ecs
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(err("ecs:TagResource"))?;
            }
            Step::RegisterScalableTarget => {
                let d =
                    desired.ok_or_else(|| ReconcileError::Invalid("no desired state".into()))?;
                let Some(scaling) = &d.scaling else {
                    return Ok(());
                };
                self.aws
                    .scaling
                    .register_scalable_target()
                    .service_namespace(ServiceNamespace::Ecs)
                    .resource_id(&scaling.resource_id)
                    .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                    .min_capacity(scaling.min_capacity)
                    .max_capacity(scaling.max_capacity)
                    .send()
                    .await
                    .map_err(err("application-autoscaling:RegisterScalableTarget"))?;
            }
            Step::PutScalingPolicy { policy } => {
                let d =
                    desired.ok_or_else(|| ReconcileError::Invalid("no desired state".into()))?;
                let Some(scaling) = &d.scaling else {
                    return Ok(());
                };
                let Some(p) = scaling.policies.iter().find(|p| &p.name == policy) else {
                    return Ok(());
                };
                let mut metric = PredefinedMetricSpecification::builder()
                    .predefined_metric_type(MetricType::from(p.metric.as_str()));
                if let Some(label) = &p.resource_label {
                    metric = metric.resource_label(label);
                }
                let config = TargetTrackingScalingPolicyConfiguration::builder()
                    .target_value(p.target_value)
                    .predefined_metric_specification(
                        metric
                            .build()
                            .map_err(|e| ReconcileError::Invalid(e.to_string()))?,
                    )
                    .scale_in_cooldown(p.scale_in_cooldown)
                    .scale_out_cooldown(p.scale_out_cooldown)
                    .build()
                    .map_err(|e| ReconcileError::Invalid(e.to_string()))?;
                self.aws
                    .scaling
                    .put_scaling_policy()
                    .policy_name(&p.name)
                    .service_namespace(ServiceNamespace::Ecs)
                    .resource_id(&scaling.resource_id)
                    .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                    .policy_type(PolicyType::TargetTrackingScaling)
                    .target_tracking_scaling_policy_configuration(config)
                    .send()
                    .await
                    .map_err(err("application-autoscaling:PutScalingPolicy"))?;
            }
            Step::DeleteScalingPolicy { policy } => {
                let d =
                    desired.ok_or_else(|| ReconcileError::Invalid("no desired state".into()))?;
                let resource_id = format!("service/{}/{}", d.cluster, d.name);
                let result = self
                    .aws
                    .scaling
                    .delete_scaling_policy()
                    .policy_name(policy)
                    .service_namespace(ServiceNamespace::Ecs)
                    .resource_id(resource_id)
                    .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                    .send()
                    .await;
                ignore_not_found(result, "application-autoscaling:DeleteScalingPolicy")?;
            }
            Step::DeregisterScalableTarget { resource_id } => {
                let result = self
                    .aws
                    .scaling
                    .deregister_scalable_target()
                    .service_namespace(ServiceNamespace::Ecs)
                    .resource_id(resource_id)
                    .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                    .send()
                    .await;
                ignore_not_found(result, "application-autoscaling:DeregisterScalableTarget")?;
            }
            Step::DeleteService { arn } => {
                let result = self
                    .aws
                    .ecs
                    .delete_service()
                    .cluster(&sp.cluster)
                    .service(arn)
                    .force(true)
                    .send()
                    .await;
                ignore_not_found(result, "ecs:DeleteService")?;
            }
            Step::DeleteDiscovery { id } => {
                let result = self.aws.discovery.delete_service().id(id).send().await;
                ignore_not_found(result, "servicediscovery:DeleteService")?;
            }
        }
        Ok(())
    }

    /// Registers the rendered task definition, unless the family's latest revision already is
    /// exactly that (a crash between register and create must not leak revisions).
    async fn register_task_definition(&self, d: &DesiredService) -> Result<String, ReconcileError> {
        // Describing by family returns its latest ACTIVE revision (not cached: it moves).
        if let Ok(out) = self
            .aws
            .ecs
            .describe_task_definition()
            .task_definition(&d.task_definition.family)
            .send()
            .await
        {
            if let Some(latest) = out.task_definition() {
                if super::observe::normalise_task_definition(latest) == d.task_definition {
                    if let Some(arn) = latest.task_definition_arn() {
                        self.observer.remember(arn, d.task_definition.clone());
                        return Ok(arn.to_string());
                    }
                }
            }
        }
        let td = &d.task_definition;
        let c = &td.container;
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
            .set_log_configuration(Some(
                LogConfiguration::builder()
                    .log_driver(LogDriver::from(c.log_configuration.log_driver.as_str()))
                    .set_options(Some(
                        c.log_configuration.options.clone().into_iter().collect(),
                    ))
                    .build()
                    .map_err(|e| ReconcileError::Invalid(e.to_string()))?,
            ));
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
                .map_err(|e| ReconcileError::Invalid(e.to_string()))?;
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
                    .map_err(|e| ReconcileError::Invalid(e.to_string()))?,
            );
        }
        let out = self
            .aws
            .ecs
            .register_task_definition()
            .family(&td.family)
            .cpu(&td.cpu)
            .memory(&td.memory)
            .network_mode(NetworkMode::from(td.network_mode.as_str()))
            .set_requires_compatibilities(Some(
                td.requires_compatibilities
                    .iter()
                    .map(|c| aws_sdk_ecs::types::Compatibility::from(c.as_str()))
                    .collect(),
            ))
            .execution_role_arn(&td.execution_role_arn)
            .set_task_role_arn(td.task_role_arn.clone())
            .container_definitions(container.build())
            .set_tags(Some(ecs_tags(d)))
            .send()
            .await
            .map_err(err("ecs:RegisterTaskDefinition"))?;
        let registered = out.task_definition().ok_or_else(|| {
            ReconcileError::Invalid("RegisterTaskDefinition returned nothing".into())
        })?;
        let arn = registered
            .task_definition_arn()
            .unwrap_or_default()
            .to_string();
        self.observer.remember(&arn, td.clone());
        self.deregister_old_revisions(&td.family, &arn).await;
        Ok(arn)
    }

    /// Keeps the newest `keep_revisions` revisions of a family and deregisters older ones that
    /// this operator registered. Best effort: hygiene never fails a reconcile.
    async fn deregister_old_revisions(&self, family: &str, keep_arn: &str) {
        let mut arns = Vec::new();
        let mut pages = self
            .aws
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .sort(aws_sdk_ecs::types::SortOrder::Desc)
            .into_paginator()
            .send();
        while let Some(Ok(page)) = pages.next().await {
            arns.extend(
                page.task_definition_arns()
                    .iter()
                    .filter(|a| family_of(a) == family)
                    .cloned(),
            );
        }
        for arn in arns
            .iter()
            .skip(self.keep_revisions.max(1) as usize)
            .take(10)
        {
            if arn == keep_arn {
                continue;
            }
            let owned = self
                .aws
                .ecs
                .describe_task_definition()
                .task_definition(arn)
                .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                .send()
                .await
                .ok()
                .is_some_and(|out| {
                    out.tags()
                        .iter()
                        .any(|t| t.key() == Some(OWNER_TAG) && t.value() == Some(self.operator_id))
                });
            if owned {
                let _ = self
                    .aws
                    .ecs
                    .deregister_task_definition()
                    .task_definition(arn)
                    .send()
                    .await;
            }
        }
    }

    async fn create_discovery(&self, d: &DesiredService) -> Result<String, ReconcileError> {
        use aws_sdk_servicediscovery::types::{DnsConfig, HealthCheckCustomConfig, RoutingPolicy};
        let want = d
            .discovery
            .as_ref()
            .ok_or_else(|| ReconcileError::Invalid("no discovery wanted".into()))?;
        let records = dns_records(want)?;
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
            .map_err(|e| ReconcileError::Invalid(e.to_string()))?;
        let out = self
            .aws
            .discovery
            .create_service()
            .name(&want.name)
            .set_namespace_id(want.namespace_id.clone())
            .description(&self.discovery_description)
            // Idempotency token: a retried create returns the same service on AWS.
            .creator_request_id(creator_request_id(self.operator_id, &d.name))
            .dns_config(
                DnsConfig::builder()
                    .routing_policy(RoutingPolicy::Multivalue)
                    .set_dns_records(Some(records))
                    .build()
                    .map_err(|e| ReconcileError::Invalid(e.to_string()))?,
            )
            // Custom health: ECS reports task health to Cloud Map (the failure threshold is
            // fixed at 1 by AWS).
            .health_check_custom_config(HealthCheckCustomConfig::builder().build())
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(err("servicediscovery:CreateService"))?;
        Ok(out
            .service()
            .and_then(|s| s.arn())
            .unwrap_or_default()
            .to_string())
    }

    async fn update_discovery_ttl(
        &self,
        d: &DesiredService,
        id: &str,
    ) -> Result<(), ReconcileError> {
        use aws_sdk_servicediscovery::types::{DnsConfigChange, ServiceChange};
        let Some(want) = &d.discovery else {
            return Ok(());
        };
        let records = dns_records(want)?;
        self.aws
            .discovery
            .update_service()
            .id(id)
            .service(
                ServiceChange::builder()
                    .description(&self.discovery_description)
                    .dns_config(
                        DnsConfigChange::builder()
                            .set_dns_records(Some(records))
                            .build()
                            .map_err(|e| ReconcileError::Invalid(e.to_string()))?,
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(err("servicediscovery:UpdateService"))?;
        Ok(())
    }

    fn network(d: &DesiredService) -> Result<NetworkConfiguration, ReconcileError> {
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
                    .map_err(|e| ReconcileError::Invalid(e.to_string()))?,
            )
            .build())
    }

    fn deployment(d: &DesiredService) -> Result<DeploymentConfiguration, ReconcileError> {
        let s = &d.service;
        Ok(DeploymentConfiguration::builder()
            .minimum_healthy_percent(s.minimum_healthy_percent)
            .maximum_percent(s.maximum_percent)
            .deployment_circuit_breaker(
                DeploymentCircuitBreaker::builder()
                    .enable(s.circuit_breaker_enabled)
                    .rollback(s.circuit_breaker_rollback)
                    .build(),
            )
            .build())
    }

    fn capacity(d: &DesiredService) -> Result<CapacityProviderStrategyItem, ReconcileError> {
        CapacityProviderStrategyItem::builder()
            .capacity_provider(&d.service.capacity_provider)
            .weight(1)
            .build()
            .map_err(|e| ReconcileError::Invalid(e.to_string()))
    }

    fn load_balancers(d: &DesiredService) -> Vec<LoadBalancer> {
        d.service
            .load_balancers
            .iter()
            .map(|lb| {
                LoadBalancer::builder()
                    .target_group_arn(&lb.target_group_arn)
                    .container_name(&lb.container_name)
                    .container_port(lb.container_port)
                    .build()
            })
            .collect()
    }

    fn registries(d: &DesiredService, registry_arn: Option<&str>) -> Vec<ServiceRegistry> {
        registry_arn
            .map(|arn| {
                vec![ServiceRegistry::builder()
                    .registry_arn(arn)
                    .container_name(&d.task_definition.container.name)
                    .container_port(d.task_definition.container.port_mappings[0].container_port)
                    .build()]
            })
            .unwrap_or_default()
    }

    async fn create_service(
        &self,
        d: &DesiredService,
        task_definition: &str,
        registry_arn: Option<&str>,
    ) -> Result<String, ReconcileError> {
        let s = &d.service;
        let out = self
            .aws
            .ecs
            .create_service()
            .cluster(&d.cluster)
            .service_name(&s.name)
            .task_definition(task_definition)
            .desired_count(s.desired_count)
            .capacity_provider_strategy(Self::capacity(d)?)
            .network_configuration(Self::network(d)?)
            .deployment_configuration(Self::deployment(d)?)
            .set_load_balancers(Some(Self::load_balancers(d)))
            .set_service_registries(Some(Self::registries(d, registry_arn)))
            .set_health_check_grace_period_seconds(s.health_check_grace_period_seconds)
            .enable_execute_command(s.enable_execute_command)
            .propagate_tags(PropagateTags::from(s.propagate_tags.as_str()))
            .enable_ecs_managed_tags(s.enable_ecs_managed_tags)
            // Idempotency token: a retried create returns the same service on AWS.
            .client_token(client_token(d))
            .set_tags(Some(ecs_tags(d)))
            .send()
            .await
            .map_err(err("ecs:CreateService"))?;
        Ok(out
            .service()
            .and_then(|s| s.service_arn())
            .unwrap_or_default()
            .to_string())
    }

    async fn update_service(
        &self,
        d: &DesiredService,
        task_definition: &str,
        desired_count: Option<i32>,
        registry_arn: Option<&str>,
    ) -> Result<(), ReconcileError> {
        let s = &d.service;
        self.aws
            .ecs
            .update_service()
            .cluster(&d.cluster)
            .service(&s.name)
            .task_definition(task_definition)
            .set_desired_count(desired_count)
            .capacity_provider_strategy(Self::capacity(d)?)
            .network_configuration(Self::network(d)?)
            .deployment_configuration(Self::deployment(d)?)
            .set_load_balancers(Some(Self::load_balancers(d)))
            .set_service_registries(Some(Self::registries(d, registry_arn)))
            .set_health_check_grace_period_seconds(s.health_check_grace_period_seconds)
            .enable_execute_command(s.enable_execute_command)
            .propagate_tags(PropagateTags::from(s.propagate_tags.as_str()))
            .send()
            .await
            .map_err(err("ecs:UpdateService"))?;
        Ok(())
    }
}

/// CreateService's idempotency token, `<name>-<spec hash>`: the same for one desired state,
/// new for a changed spec. ECS takes at most 36 characters, so a long name is shortened (the
/// spec hash covers the full name and cluster, so tokens stay distinct).
fn client_token(d: &DesiredService) -> String {
    let keep = 36usize.saturating_sub(d.spec_hash.len() + 1);
    let name: String = d.name.chars().take(keep).collect();
    format!("{name}-{}", d.spec_hash)
}

/// Cloud Map's CreatorRequestId, `<operator id>-<name>`, hashed when over its 64 characters.
fn creator_request_id(operator_id: &str, name: &str) -> String {
    use sha2::Digest;
    let id = format!("{operator_id}-{name}");
    if id.len() <= 64 {
        id
    } else {
        hex::encode(sha2::Sha256::digest(id.as_bytes()))
    }
}

fn family_of(arn: &str) -> &str {
    arn.rsplit('/')
        .next()
        .and_then(|s| s.split(':').next())
        .unwrap_or(arn)
}

fn ignore_not_found<T, E: std::fmt::Debug>(
    result: Result<T, E>,
    context: &'static str,
) -> Result<(), ReconcileError> {
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            let text = format!("{e:?}");
            if text.contains("NotFound")
                || text.contains("ObjectNotFound")
                || text.contains("ServiceNotFound")
            {
                Ok(())
            } else {
                Err(ReconcileError::from_sdk(context, &e))
            }
        }
    }
}

/// The DNS records of a Cloud Map service, as rendered (A and SRV, one TTL).
fn dns_records(
    want: &crate::render::aws::DiscoveryService,
) -> Result<Vec<aws_sdk_servicediscovery::types::DnsRecord>, ReconcileError> {
    use aws_sdk_servicediscovery::types::{DnsRecord, RecordType};
    want.record_types
        .iter()
        .map(|t| {
            DnsRecord::builder()
                .r#type(RecordType::from(t.as_str()))
                .ttl(want.dns_ttl_seconds)
                .build()
                .map_err(|e| ReconcileError::Invalid(e.to_string()))
        })
        .collect()
}
