//! The fake ECS's deployment configuration: what CreateService and UpdateService accept for
//! deployment alarms and the blue/green, linear and canary strategies, and what ECS stores.
//!
//! Modelled from the Amazon ECS API reference (moto 5.2.5 has none of it):
//! - DeploymentConfiguration `bakeTimeInMinutes`: "You must provide this parameter when you
//!   use the BLUE_GREEN deployment strategy"; 0-1440 minutes.
//! - CanaryConfiguration: "Only valid when the deployment strategy is CANARY"; canaryPercent
//!   0.1-100 in multiples of 0.1 (default 5.0), canaryBakeTimeInMinutes 0-1440 (default 10).
//! - LinearConfiguration: only with LINEAR; stepPercent 3.0-100 in multiples of 0.1 (default
//!   10.0), stepBakeTimeInMinutes 0-1440 (default 6).
//! - AdvancedConfiguration (Developer Guide, "Required resources for Amazon ECS blue/green
//!   deployments"): a load balancer shifting traffic names the alternate target group, the
//!   production listener rule and the infrastructure role.
//! - DeploymentAlarms: `alarmNames`, `enable` and `rollback` are all required.
//!
//! A refused request answers InvalidParameterException, as ECS does for invalid parameters.

use aws_sdk_ecs::types::{
    CanaryConfiguration, DeploymentConfiguration, DeploymentStrategy, LinearConfiguration,
    LoadBalancer,
};

/// Why ECS would refuse this configuration, if it would.
pub fn refusal(
    config: Option<&DeploymentConfiguration>,
    load_balancers: &[LoadBalancer],
) -> Option<String> {
    let config = config?;
    if let Some(alarms) = config.alarms() {
        if alarms.enable() && alarms.alarm_names().is_empty() {
            return Some("alarms: enabled alarms need at least one alarm name.".into());
        }
    }
    let strategy = config
        .strategy()
        .cloned()
        .unwrap_or(DeploymentStrategy::Rolling);
    let minutes = |m: Option<i32>| m.is_none_or(|m| (0..=1440).contains(&m));
    if !minutes(config.bake_time_in_minutes()) {
        return Some("bakeTimeInMinutes must be between 0 and 1440.".into());
    }
    if strategy == DeploymentStrategy::BlueGreen && config.bake_time_in_minutes().is_none() {
        return Some("bakeTimeInMinutes is required for the BLUE_GREEN strategy.".into());
    }
    if let Some(c) = config.canary_configuration() {
        if strategy != DeploymentStrategy::Canary {
            return Some("canaryConfiguration is only valid with the CANARY strategy.".into());
        }
        if !percent(c.canary_percent(), 0.1) || !minutes(c.canary_bake_time_in_minutes()) {
            return Some("canaryConfiguration is out of range.".into());
        }
    }
    if let Some(l) = config.linear_configuration() {
        if strategy != DeploymentStrategy::Linear {
            return Some("linearConfiguration is only valid with the LINEAR strategy.".into());
        }
        if !percent(l.step_percent(), 3.0) || !minutes(l.step_bake_time_in_minutes()) {
            return Some("linearConfiguration is out of range.".into());
        }
    }
    if strategy != DeploymentStrategy::Rolling {
        for lb in load_balancers {
            let complete = lb.advanced_configuration().is_some_and(|a| {
                a.alternate_target_group_arn().is_some()
                    && a.production_listener_rule().is_some()
                    && a.role_arn().is_some()
            });
            if !complete {
                return Some(format!(
                    "{}: load balancers of a {} service need advancedConfiguration with alternateTargetGroupArn, productionListenerRule and roleArn.",
                    lb.target_group_arn().unwrap_or_default(),
                    strategy.as_str()
                ));
            }
        }
    }
    None
}

fn percent(p: Option<f64>, min: f64) -> bool {
    p.is_none_or(|p| {
        let tenths = p * 10.0;
        (min..=100.0).contains(&p) && (tenths - tenths.round()).abs() < 1e-6
    })
}

/// What ECS keeps: the configuration as sent, with the documented defaults of the traffic
/// steps filled in for CANARY and LINEAR.
pub fn stored(config: &DeploymentConfiguration) -> DeploymentConfiguration {
    let mut config = config.clone();
    match config.strategy() {
        Some(DeploymentStrategy::Canary) => {
            let c = config.canary_configuration();
            config.canary_configuration = Some(
                CanaryConfiguration::builder()
                    .canary_percent(c.and_then(|c| c.canary_percent()).unwrap_or(5.0))
                    .canary_bake_time_in_minutes(
                        c.and_then(|c| c.canary_bake_time_in_minutes())
                            .unwrap_or(10),
                    )
                    .build(),
            );
        }
        Some(DeploymentStrategy::Linear) => {
            let l = config.linear_configuration();
            config.linear_configuration = Some(
                LinearConfiguration::builder()
                    .step_percent(l.and_then(|l| l.step_percent()).unwrap_or(10.0))
                    .step_bake_time_in_minutes(
                        l.and_then(|l| l.step_bake_time_in_minutes()).unwrap_or(6),
                    )
                    .build(),
            );
        }
        _ => {}
    }
    config
}

/// The parts of a deployment configuration a test asserts on.
pub fn summary(config: Option<&DeploymentConfiguration>) -> serde_json::Value {
    let Some(c) = config else {
        return serde_json::Value::Null;
    };
    serde_json::json!({
        "alarms": c.alarms().map(|a| serde_json::json!({
            "alarmNames": a.alarm_names(),
            "enable": a.enable(),
            "rollback": a.rollback(),
        })),
        "strategy": c.strategy().map(|s| s.as_str().to_string()),
        "bakeTimeInMinutes": c.bake_time_in_minutes(),
        "canaryPercent": c.canary_configuration().and_then(|c| c.canary_percent()),
        "stepPercent": c.linear_configuration().and_then(|l| l.step_percent()),
        "lifecycleHooks": c.lifecycle_hooks().len(),
    })
}
