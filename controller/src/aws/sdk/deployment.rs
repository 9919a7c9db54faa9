//! ECS `deploymentConfiguration` and the load balancers' `advancedConfiguration` of a
//! [`DesiredService`].

use aws_sdk_ecs::types::{
    AdvancedConfiguration, CanaryConfiguration, DeploymentAlarms, DeploymentCircuitBreaker,
    DeploymentConfiguration, DeploymentLifecycleHook, DeploymentLifecycleHookStage,
    DeploymentStrategy, LinearConfiguration, LoadBalancer,
};

use super::invalid;
use crate::aws::AwsError;
use crate::render::aws::DesiredService;

/// Rolling limits, the circuit breaker, alarms and the strategy. CreateService leaves what is
/// off unsaid (ECS's defaults: no alarms, ROLLING); UpdateService says it, so that turning
/// alarms or a strategy off in the manifest turns it off in ECS too.
pub fn deployment(
    d: &DesiredService,
    on_update: bool,
) -> Result<DeploymentConfiguration, AwsError> {
    let op = if on_update {
        "ecs:UpdateService"
    } else {
        "ecs:CreateService"
    };
    let s = &d.service;
    let mut config = DeploymentConfiguration::builder()
        .minimum_healthy_percent(s.minimum_healthy_percent)
        .maximum_percent(s.maximum_percent)
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(s.circuit_breaker_enabled)
                .rollback(s.circuit_breaker_rollback)
                .build(),
        );
    match &s.deployment_alarms {
        Some(a) => {
            config = config.alarms(
                DeploymentAlarms::builder()
                    .set_alarm_names(Some(a.alarm_names.clone()))
                    .enable(true)
                    .rollback(a.rollback)
                    .build()
                    .map_err(invalid(op))?,
            )
        }
        None if on_update => {
            config = config.alarms(
                DeploymentAlarms::builder()
                    .set_alarm_names(Some(Vec::new()))
                    .enable(false)
                    .rollback(false)
                    .build()
                    .map_err(invalid(op))?,
            )
        }
        None => {}
    }
    match &s.deployment_strategy {
        Some(st) => {
            config = config
                .strategy(DeploymentStrategy::from(st.strategy.as_str()))
                .bake_time_in_minutes(st.bake_time_in_minutes)
                .set_canary_configuration(st.canary.as_ref().map(|c| {
                    CanaryConfiguration::builder()
                        .canary_percent(c.percent)
                        .canary_bake_time_in_minutes(c.bake_time_in_minutes)
                        .build()
                }))
                .set_linear_configuration(st.linear.as_ref().map(|l| {
                    LinearConfiguration::builder()
                        .step_percent(l.percent)
                        .step_bake_time_in_minutes(l.bake_time_in_minutes)
                        .build()
                }))
                .set_lifecycle_hooks((on_update || !st.lifecycle_hooks.is_empty()).then(|| {
                    st.lifecycle_hooks
                        .iter()
                        .map(|h| {
                            DeploymentLifecycleHook::builder()
                                .hook_target_arn(&h.hook_target_arn)
                                .role_arn(&h.role_arn)
                                .set_lifecycle_stages(Some(
                                    h.lifecycle_stages
                                        .iter()
                                        .map(|x| DeploymentLifecycleHookStage::from(x.as_str()))
                                        .collect(),
                                ))
                                .build()
                        })
                        .collect()
                }))
        }
        None if on_update => {
            config = config
                .strategy(DeploymentStrategy::Rolling)
                .set_lifecycle_hooks(Some(Vec::new()))
        }
        None => {}
    }
    Ok(config.build())
}

/// The target groups, with the advanced configuration of traffic-shifting strategies.
pub fn load_balancers(d: &DesiredService) -> Vec<LoadBalancer> {
    d.service
        .load_balancers
        .iter()
        .map(|lb| {
            LoadBalancer::builder()
                .target_group_arn(&lb.target_group_arn)
                .container_name(&lb.container_name)
                .container_port(lb.container_port)
                .set_advanced_configuration(lb.advanced_configuration.as_ref().map(|a| {
                    AdvancedConfiguration::builder()
                        .alternate_target_group_arn(&a.alternate_target_group_arn)
                        .production_listener_rule(&a.production_listener_rule)
                        .set_test_listener_rule(a.test_listener_rule.clone())
                        .set_role_arn(a.role_arn.clone())
                        .build()
                }))
                .build()
        })
        .collect()
}
