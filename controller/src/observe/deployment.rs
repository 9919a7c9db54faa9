//! What ECS reports of a service's deployment alarms and strategy, in render's shape: off
//! (disabled alarms, ROLLING or no strategy) is `None`, as the renderer writes it.

use aws_sdk_ecs::types::DeploymentConfiguration;

use crate::render::aws::{DeploymentAlarms, DeploymentStrategy, LifecycleHook, TrafficStep};

pub(super) fn alarms(d: &DeploymentConfiguration) -> Option<DeploymentAlarms> {
    let a = d.alarms().filter(|a| a.enable())?;
    let mut alarm_names = a.alarm_names().to_vec();
    alarm_names.sort();
    Some(DeploymentAlarms {
        alarm_names,
        rollback: a.rollback(),
    })
}

pub(super) fn strategy(d: &DeploymentConfiguration) -> Option<DeploymentStrategy> {
    let strategy = d.strategy().map(|s| s.as_str()).unwrap_or("ROLLING");
    if strategy == "ROLLING" {
        return None;
    }
    Some(DeploymentStrategy {
        strategy: strategy.to_string(),
        bake_time_in_minutes: d.bake_time_in_minutes().unwrap_or_default(),
        canary: d.canary_configuration().map(|c| TrafficStep {
            percent: c.canary_percent().unwrap_or_default(),
            bake_time_in_minutes: c.canary_bake_time_in_minutes().unwrap_or_default(),
        }),
        linear: d.linear_configuration().map(|l| TrafficStep {
            percent: l.step_percent().unwrap_or_default(),
            bake_time_in_minutes: l.step_bake_time_in_minutes().unwrap_or_default(),
        }),
        lifecycle_hooks: d
            .lifecycle_hooks()
            .iter()
            .map(|h| LifecycleHook {
                hook_target_arn: h.hook_target_arn().unwrap_or_default().to_string(),
                role_arn: h.role_arn().unwrap_or_default().to_string(),
                lifecycle_stages: h
                    .lifecycle_stages()
                    .iter()
                    .map(|s| s.as_str().to_string())
                    .collect(),
            })
            .collect(),
    })
}
