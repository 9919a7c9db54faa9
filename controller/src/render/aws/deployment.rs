//! The deployment parts of the ECS service: alarms, the strategy and the load balancer's
//! advanced configuration that blue/green, linear and canary deployments shift traffic with.

use super::{
    AdvancedConfiguration, DeploymentAlarms, DeploymentStrategy, LifecycleHook, TrafficStep,
};
use crate::duration::PromDuration;
use crate::manifest::{self, Deployment, LoadBalancer, Spec, Strategy};
use crate::settings::Settings;

fn minutes(d: PromDuration) -> i32 {
    (d.as_millis() / 60_000).min(i32::MAX as u64) as i32
}

pub(super) fn alarms(d: &Deployment) -> Option<DeploymentAlarms> {
    d.alarms.as_ref().map(|a| {
        let mut alarm_names = a.names.clone();
        alarm_names.sort();
        alarm_names.dedup();
        DeploymentAlarms {
            alarm_names,
            rollback: a.rollback,
        }
    })
}

/// `None` for a rolling update. The traffic steps are always written out (ECS's defaults when
/// the manifest gives none), so what ECS reports back compares equal.
pub(super) fn strategy(d: &Deployment) -> Option<DeploymentStrategy> {
    if !d.strategy.shifts_traffic() {
        return None;
    }
    let canary = (d.strategy == Strategy::Canary).then(|| {
        let c = d.canary.clone().unwrap_or_default();
        TrafficStep {
            percent: c.percent,
            bake_time_in_minutes: minutes(c.bake_time),
        }
    });
    let linear = (d.strategy == Strategy::Linear).then(|| {
        let l = d.linear.clone().unwrap_or_default();
        TrafficStep {
            percent: l.step_percent,
            bake_time_in_minutes: minutes(l.step_bake_time),
        }
    });
    Some(DeploymentStrategy {
        strategy: d.strategy.ecs_name().into(),
        bake_time_in_minutes: minutes(d.bake_time.unwrap_or(manifest::DEFAULT_BAKE_TIME)),
        canary,
        linear,
        lifecycle_hooks: d
            .lifecycle_hooks
            .iter()
            .map(|h| LifecycleHook {
                hook_target_arn: h.lambda_arn.clone(),
                role_arn: h.role_arn.clone(),
                lifecycle_stages: h.stages.iter().map(|s| s.ecs_name().to_string()).collect(),
            })
            .collect(),
    })
}

/// Only for strategies that shift traffic; the role falls back to the settings' default.
pub(super) fn advanced_configuration(
    spec: &Spec,
    lb: &LoadBalancer,
    settings: &Settings,
) -> Option<AdvancedConfiguration> {
    if !spec.deployment.strategy.shifts_traffic() {
        return None;
    }
    Some(AdvancedConfiguration {
        alternate_target_group_arn: lb.alternate_target_group_arn.clone()?,
        production_listener_rule: lb.production_listener_rule_arn.clone()?,
        test_listener_rule: lb.test_listener_rule_arn.clone(),
        role_arn: lb
            .role_arn
            .clone()
            .or_else(|| settings.deployment_role_arn.clone()),
    })
}
