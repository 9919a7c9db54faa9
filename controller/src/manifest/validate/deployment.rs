//! Checks of `spec.deployment`: rolling limits, deployment alarms and the blue/green, linear
//! and canary strategies with what each needs of `spec.traffic.loadBalancer`.
//!
//! Limits are those of the Amazon ECS API reference: DeploymentConfiguration (bake time,
//! "must provide this parameter when you use the BLUE_GREEN deployment strategy"),
//! CanaryConfiguration (0.1-100 % in steps of 0.1, 0-1440 minutes), LinearConfiguration
//! (3-100 % in steps of 0.1, 0-1440 minutes), AdvancedConfiguration, DeploymentAlarms and
//! DeploymentLifecycleHook; CloudWatch alarm names are 1-255 characters (PutMetricAlarm).

use std::collections::BTreeSet;

use super::workload::is_arn_of;
use super::Checker;
use crate::duration::PromDuration;
use crate::manifest::model::*;
use crate::settings::Settings;

/// The longest bake time ECS accepts, in minutes (24 hours).
const MAX_BAKE_MINUTES: u64 = 1440;

pub(super) fn check_deployment(
    c: &mut Checker,
    d: &Deployment,
    traffic: &Traffic,
    settings: Option<&Settings>,
) {
    check_rolling_limits(c, d);
    if let Some(alarms) = &d.alarms {
        check_alarms(c, alarms);
    }
    check_minutes(c, "spec.deployment.bakeTime", d.bake_time);
    if let Some(canary) = &d.canary {
        check_percent(c, "spec.deployment.canary.percent", canary.percent, 0.1);
        check_minutes(c, "spec.deployment.canary.bakeTime", Some(canary.bake_time));
    }
    if let Some(linear) = &d.linear {
        check_percent(
            c,
            "spec.deployment.linear.stepPercent",
            linear.step_percent,
            3.0,
        );
        check_minutes(
            c,
            "spec.deployment.linear.stepBakeTime",
            Some(linear.step_bake_time),
        );
    }
    check_strategy_fields(c, d);
    for (i, hook) in d.lifecycle_hooks.iter().enumerate() {
        check_hook(c, i, hook, settings);
    }
    check_load_balancer(c, d.strategy, traffic, settings);
}

fn check_rolling_limits(c: &mut Checker, d: &Deployment) {
    c.check(
        d.min_healthy_percent <= 100,
        "spec.deployment.minHealthyPercent",
        || format!("{} must be between 0 and 100", d.min_healthy_percent),
    );
    c.check(
        (100..=200).contains(&d.max_percent),
        "spec.deployment.maxPercent",
        || format!("{} must be between 100 and 200", d.max_percent),
    );
    c.check(
        d.max_percent > d.min_healthy_percent,
        "spec.deployment.maxPercent",
        || {
            format!(
                "{} leaves no room to deploy: it must be above minHealthyPercent ({})",
                d.max_percent, d.min_healthy_percent
            )
        },
    );
    c.check(
        d.circuit_breaker.enabled || !d.circuit_breaker.rollback,
        "spec.deployment.circuitBreaker.rollback",
        || "rollback needs the circuit breaker enabled".into(),
    );
}

fn check_alarms(c: &mut Checker, alarms: &DeploymentAlarms) {
    c.check(
        !alarms.names.is_empty(),
        "spec.deployment.alarms.names",
        || "needs at least one CloudWatch alarm name (remove alarms to watch none)".into(),
    );
    let mut seen = BTreeSet::new();
    for (i, name) in alarms.names.iter().enumerate() {
        let path = format!("spec.deployment.alarms.names[{i}]");
        c.check(
            !name.trim().is_empty()
                && name.chars().count() <= 255
                && !name.chars().any(char::is_control),
            &path,
            || format!("{name:?} is not a CloudWatch alarm name (1-255 characters, no control characters)"),
        );
        c.check(!name.starts_with("arn:"), &path, || {
            format!("{name:?}: ECS takes alarm names, not ARNs")
        });
        c.check(seen.insert(name), &path, || {
            format!("{name:?} is listed twice")
        });
    }
}

/// Whole minutes from 0 to 24 hours: what ECS's `...InMinutes` fields accept.
fn check_minutes(c: &mut Checker, path: &str, d: Option<PromDuration>) {
    let Some(d) = d else { return };
    c.check(
        d.as_millis() % 60_000 == 0 && d.as_millis() / 60_000 <= MAX_BAKE_MINUTES,
        path,
        || format!("{d} must be whole minutes between 0m and 24h (ECS limit)"),
    );
}

/// `min` to 100 in steps of 0.1 (ECS limit).
fn check_percent(c: &mut Checker, path: &str, p: f64, min: f64) {
    let tenths = p * 10.0;
    c.check(
        p.is_finite() && (min..=100.0).contains(&p) && (tenths - tenths.round()).abs() < 1e-6,
        path,
        || format!("{p} must be between {min} and 100 in steps of 0.1 (ECS limit)"),
    );
}

/// Fields that belong to one strategy are refused under another, as ECS refuses them.
fn check_strategy_fields(c: &mut Checker, d: &Deployment) {
    let s = d.strategy;
    let wrong = |field: &str, wants: &str| {
        format!(
            "{field} is only used by the {wants} strategy, and spec.deployment.strategy is {}",
            s.as_str()
        )
    };
    c.check(
        d.canary.is_none() || s == Strategy::Canary,
        "spec.deployment.canary",
        || wrong("canary", "canary"),
    );
    c.check(
        d.linear.is_none() || s == Strategy::Linear,
        "spec.deployment.linear",
        || wrong("linear", "linear"),
    );
    c.check(
        d.bake_time.is_none() || s.shifts_traffic(),
        "spec.deployment.bakeTime",
        || wrong("bakeTime", "blueGreen, linear or canary"),
    );
    c.check(
        d.lifecycle_hooks.is_empty() || s.shifts_traffic(),
        "spec.deployment.lifecycleHooks",
        || wrong("lifecycleHooks", "blueGreen, linear or canary"),
    );
}

fn check_hook(c: &mut Checker, i: usize, hook: &LifecycleHook, settings: Option<&Settings>) {
    let at = format!("spec.deployment.lifecycleHooks[{i}]");
    c.check(
        is_arn_of(&hook.lambda_arn, "lambda", "function:"),
        format_args!("{at}.lambdaArn"),
        || format!("{:?} is not a Lambda function ARN", hook.lambda_arn),
    );
    c.check(!hook.stages.is_empty(), format_args!("{at}.stages"), || {
        "needs at least one stage".into()
    });
    let distinct: BTreeSet<_> = hook.stages.iter().collect();
    c.check(
        distinct.len() == hook.stages.len(),
        format_args!("{at}.stages"),
        || "a stage is listed twice".into(),
    );
    check_role(c, &format!("{at}.roleArn"), &hook.role_arn, settings);
}

fn check_role(c: &mut Checker, path: &str, role: &str, settings: Option<&Settings>) {
    c.check(is_arn_of(role, "iam", "role/"), path, || {
        format!("{role:?} is not an IAM role ARN")
    });
    if let Some(s) = settings {
        c.check(s.permitted_deployment_roles().any(|r| r == role), path, || {
            format!("{role:?} is not one of the deployment roles the operator's settings allow (deploymentRoleArn, allowedDeploymentRoleArns)")
        });
    }
}

fn is_listener_rule(arn: &str) -> bool {
    is_arn_of(arn, "elasticloadbalancing", "listener-rule/")
        || is_arn_of(arn, "elasticloadbalancing", "listener/")
}

/// Traffic shifting needs both target groups, the production listener rule and a role;
/// under `rolling` the same fields would do nothing, so they are refused.
fn check_load_balancer(
    c: &mut Checker,
    strategy: Strategy,
    traffic: &Traffic,
    settings: Option<&Settings>,
) {
    const LB: &str = "spec.traffic.loadBalancer";
    let Some(lb) = &traffic.load_balancer else {
        c.check(!strategy.shifts_traffic(), "spec.deployment.strategy", || {
            format!(
                "{} shifts load balancer traffic: it needs {LB} with alternateTargetGroupArn and productionListenerRuleArn",
                strategy.as_str()
            )
        });
        return;
    };
    let advanced = [
        ("alternateTargetGroupArn", &lb.alternate_target_group_arn),
        (
            "productionListenerRuleArn",
            &lb.production_listener_rule_arn,
        ),
        ("testListenerRuleArn", &lb.test_listener_rule_arn),
        ("roleArn", &lb.role_arn),
    ];
    if !strategy.shifts_traffic() {
        for (field, value) in advanced {
            c.check(value.is_none(), format_args!("{LB}.{field}"), || {
                format!("only used by the blueGreen, linear and canary strategies, and spec.deployment.strategy is {}", strategy.as_str())
            });
        }
        return;
    }
    let needs = |field: &str| {
        format!(
            "spec.deployment.strategy {} needs {LB}.{field}",
            strategy.as_str()
        )
    };
    match &lb.alternate_target_group_arn {
        None => c.fail(
            format!("{LB}.alternateTargetGroupArn"),
            needs("alternateTargetGroupArn"),
        ),
        Some(arn) => {
            let path = format!("{LB}.alternateTargetGroupArn");
            c.check(
                is_arn_of(arn, "elasticloadbalancing", "targetgroup/"),
                &path,
                || format!("{arn:?} is not a target group ARN"),
            );
            c.check(arn != &lb.target_group_arn, &path, || {
                "must be another target group than targetGroupArn".into()
            });
        }
    }
    match &lb.production_listener_rule_arn {
        None => c.fail(
            format!("{LB}.productionListenerRuleArn"),
            needs("productionListenerRuleArn"),
        ),
        Some(arn) => c.check(
            is_listener_rule(arn),
            format_args!("{LB}.productionListenerRuleArn"),
            || format!("{arn:?} is not a listener rule (ALB) or listener (NLB) ARN"),
        ),
    }
    if let Some(arn) = &lb.test_listener_rule_arn {
        c.check(
            is_listener_rule(arn),
            format_args!("{LB}.testListenerRuleArn"),
            || format!("{arn:?} is not a listener rule (ALB) or listener (NLB) ARN"),
        );
    }
    match (&lb.role_arn, settings) {
        (Some(role), _) => check_role(c, &format!("{LB}.roleArn"), role, settings),
        (None, Some(s)) => c.check(s.deployment_role_arn.is_some(), format_args!("{LB}.roleArn"), || {
            format!("{} needs the ECS infrastructure role for load balancers: set {LB}.roleArn, or deploymentRoleArn in the settings", strategy.as_str())
        }),
        (None, None) => {}
    }
}
