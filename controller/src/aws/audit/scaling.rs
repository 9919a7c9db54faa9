//! Application Auto Scaling requests as IAM evaluates them.
//!
//! | operation | recorded (action on resource {condition keys}) |
//! | --- | --- |
//! | DescribeScalableTargets, DescribeScalingPolicies | on `*` (no resource type); learn target ARNs and policy alarms |
//! | RegisterScalableTarget | on the scalable target {application-autoscaling:service-namespace, application-autoscaling:scalable-dimension, aws:RequestTag, aws:TagKeys}; with tags application-autoscaling:TagResource; for an ECS service also ecs:DescribeServices and ecs:UpdateService on it {ecs:cluster, aws:ResourceTag} (the caller must be allowed to scale the service) |
//! | PutScalingPolicy | on the target {namespace, dimension}; cloudwatch:DescribeAlarms and cloudwatch:PutMetricAlarm on each alarm of a target tracking policy (the response names them) |
//! | DeleteScalingPolicy | on the target {namespace, dimension}; cloudwatch:DescribeAlarms and cloudwatch:DeleteAlarms on the policy's alarms |
//! | DeregisterScalableTarget | on the target {namespace, dimension} |
//!
//! A scalable target's ARN ends in an id AWS assigns (`scalable-target/<id>`), known from
//! RegisterScalableTarget and DescribeScalableTargets responses; unknown, it is `*` (flagged).
//! The service-linked role AWS creates on an account's first ECS scalable target
//! (iam:CreateServiceLinkedRole) is not recorded: whether it exists is not visible to the client.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::operation as op;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_smithy_runtime_api::client::interceptors::context::Input;

use super::{output, Arns, Known, Line, Planned};

/// The target's ARN and its condition keys, for actions on a scalable target.
fn on_target(
    action: &str,
    k: &Known,
    namespace: Option<&ServiceNamespace>,
    resource_id: &str,
    dimension: Option<&ScalableDimension>,
) -> Line {
    let arn = k.targets.get(resource_id).cloned().unwrap_or("*".into());
    Line::new(action, arn)
        .with_some(
            "application-autoscaling:service-namespace",
            namespace.map(|n| n.as_str()),
        )
        .with_some(
            "application-autoscaling:scalable-dimension",
            dimension.map(|d| d.as_str()),
        )
}

fn alarm_lines(actions: [&str; 2], alarms: &[String]) -> Vec<Line> {
    alarms
        .iter()
        .flat_map(|arn| actions.map(|action| Line::new(action, arn)))
        .collect()
}

pub(super) fn plan(input: &Input, a: &Arns, k: &Known) -> Option<Planned> {
    use op::describe_scalable_targets::DescribeScalableTargetsInput;
    use op::describe_scaling_policies::DescribeScalingPoliciesInput;
    if input
        .downcast_ref::<DescribeScalableTargetsInput>()
        .is_some()
    {
        let line = Line::new("application-autoscaling:DescribeScalableTargets", "*");
        return Some(Planned::then(vec![line], |out, _, k| {
            use op::describe_scalable_targets::DescribeScalableTargetsOutput as Out;
            for t in output::<Out>(out).map_or(&[][..], |o| o.scalable_targets()) {
                if let Some(arn) = t.scalable_target_arn() {
                    k.targets
                        .insert(t.resource_id().to_string(), arn.to_string());
                }
            }
            Vec::new()
        }));
    }
    if input
        .downcast_ref::<DescribeScalingPoliciesInput>()
        .is_some()
    {
        let line = Line::new("application-autoscaling:DescribeScalingPolicies", "*");
        return Some(Planned::then(vec![line], |out, _, k| {
            use op::describe_scaling_policies::DescribeScalingPoliciesOutput as Out;
            for p in output::<Out>(out).map_or(&[][..], |o| o.scaling_policies()) {
                let alarms = p.alarms().iter().map(|a| a.alarm_arn().to_string());
                let key = (p.resource_id().to_string(), p.policy_name().to_string());
                k.alarms.insert(key, alarms.collect());
            }
            Vec::new()
        }));
    }
    if let Some(i) =
        input.downcast_ref::<op::register_scalable_target::RegisterScalableTargetInput>()
    {
        return Some(register(i, a, k));
    }
    if let Some(i) = input.downcast_ref::<op::put_scaling_policy::PutScalingPolicyInput>() {
        let resource_id = i.resource_id().unwrap_or_default().to_string();
        let key = (resource_id, i.policy_name().unwrap_or_default().to_string());
        let action = "application-autoscaling:PutScalingPolicy";
        let line = on_target(
            action,
            k,
            i.service_namespace(),
            &key.0,
            i.scalable_dimension(),
        );
        return Some(Planned::then(vec![line], move |out, _, k| {
            use op::put_scaling_policy::PutScalingPolicyOutput as Out;
            let Some(o) = output::<Out>(out) else {
                return Vec::new();
            };
            let alarms: Vec<String> = o
                .alarms()
                .iter()
                .map(|a| a.alarm_arn().to_string())
                .collect();
            let actions = ["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"];
            let lines = alarm_lines(actions, &alarms);
            k.alarms.insert(key, alarms);
            lines
        }));
    }
    if let Some(i) = input.downcast_ref::<op::delete_scaling_policy::DeleteScalingPolicyInput>() {
        let resource_id = i.resource_id().unwrap_or_default().to_string();
        let key = (resource_id, i.policy_name().unwrap_or_default().to_string());
        let action = "application-autoscaling:DeleteScalingPolicy";
        let mut lines = vec![on_target(
            action,
            k,
            i.service_namespace(),
            &key.0,
            i.scalable_dimension(),
        )];
        let alarms = k.alarms.get(&key).cloned().unwrap_or_default();
        let actions = ["cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"];
        lines.extend(alarm_lines(actions, &alarms));
        return Some(Planned::then(lines, move |out, _, k| {
            if out.is_some() {
                k.alarms.remove(&key);
            }
            Vec::new()
        }));
    }
    if let Some(i) =
        input.downcast_ref::<op::deregister_scalable_target::DeregisterScalableTargetInput>()
    {
        let resource_id = i.resource_id().unwrap_or_default().to_string();
        let action = "application-autoscaling:DeregisterScalableTarget";
        let line = on_target(
            action,
            k,
            i.service_namespace(),
            &resource_id,
            i.scalable_dimension(),
        );
        return Some(Planned::then(vec![line], move |out, _, k| {
            if out.is_some() {
                k.targets.remove(&resource_id);
                k.alarms.retain(|(id, _), _| *id != resource_id);
            }
            Vec::new()
        }));
    }
    None
}

fn register(
    i: &op::register_scalable_target::RegisterScalableTargetInput,
    a: &Arns,
    k: &Known,
) -> Planned {
    let resource_id = i.resource_id().unwrap_or_default().to_string();
    let sent: BTreeMap<String, String> = i
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let register = on_target(
        "application-autoscaling:RegisterScalableTarget",
        k,
        i.service_namespace(),
        &resource_id,
        i.scalable_dimension(),
    )
    .request_tags(&sent);
    let mut lines = Vec::new();
    // Application Auto Scaling checks that the caller may describe and update the service.
    if i.service_namespace() == Some(&ServiceNamespace::Ecs) {
        if let Some(("service", rest)) = resource_id.split_once('/') {
            if let Some((cluster, _)) = rest.split_once('/') {
                let cluster = a.regional("ecs", &format!("cluster/{cluster}"));
                let arn = a.regional("ecs", &format!("service/{rest}"));
                for action in ["ecs:DescribeServices", "ecs:UpdateService"] {
                    lines.push(
                        Line::new(action, &arn)
                            .with("ecs:cluster", cluster.clone())
                            .resource_tags(k.tags(&arn)),
                    );
                }
            }
        }
    }
    Planned::then(lines, move |out, _, k| {
        use op::register_scalable_target::RegisterScalableTargetOutput as Out;
        let arn = output::<Out>(out).and_then(|o| o.scalable_target_arn());
        let resource = arn.map_or(register.resource.clone(), str::to_string);
        if let Some(arn) = arn {
            k.targets.insert(resource_id, arn.to_string());
        }
        let mut lines = vec![Line {
            resource: resource.clone(),
            ..register
        }];
        if !sent.is_empty() {
            lines.push(
                Line::new("application-autoscaling:TagResource", resource).request_tags(&sent),
            );
        }
        lines
    })
}
