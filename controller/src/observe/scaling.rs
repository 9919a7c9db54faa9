//! Application Auto Scaling reads: scalable targets in batches of at most 50 resource ids, and
//! one paginated listing of every ECS scaling policy (cheaper than one call per service).

use std::collections::BTreeMap;

use super::{ObservedScaling, DESCRIBE_TARGETS_BATCH};
use crate::aws::{AwsClients, AwsError};
use crate::domain::ScalingResourceId;
use crate::render::aws::TargetTrackingPolicy;

pub async fn describe(
    aws: &AwsClients,
    resource_ids: &[ScalingResourceId],
) -> Result<BTreeMap<ScalingResourceId, ObservedScaling>, AwsError> {
    use aws_sdk_applicationautoscaling::types::{PolicyType, ServiceNamespace};
    let mut found: BTreeMap<ScalingResourceId, ObservedScaling> = BTreeMap::new();
    if resource_ids.is_empty() {
        return Ok(found);
    }
    for batch in resource_ids.chunks(DESCRIBE_TARGETS_BATCH) {
        let mut pages = aws
            .scaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .set_resource_ids(Some(batch.iter().map(|id| id.to_string()).collect()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(aws.error("application-autoscaling:DescribeScalableTargets"))?;
            for t in page.scalable_targets() {
                let id = ScalingResourceId::from_aws(t.resource_id());
                found.insert(
                    id.clone(),
                    ObservedScaling {
                        resource_id: id,
                        min_capacity: t.min_capacity(),
                        max_capacity: t.max_capacity(),
                        policies: Vec::new(),
                        other_policies: Vec::new(),
                    },
                );
            }
        }
    }
    if found.is_empty() {
        return Ok(found);
    }
    let mut pages = aws
        .scaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws.error("application-autoscaling:DescribeScalingPolicies"))?;
        for p in page.scaling_policies() {
            let Some(target) = found.get_mut(&ScalingResourceId::from_aws(p.resource_id())) else {
                continue;
            };
            let tt = p.target_tracking_scaling_policy_configuration();
            match (p.policy_type(), tt) {
                (PolicyType::TargetTrackingScaling, Some(tt)) => {
                    let predefined = tt.predefined_metric_specification();
                    target.policies.push(TargetTrackingPolicy {
                        name: p.policy_name().to_string(),
                        metric: predefined
                            .map(|m| m.predefined_metric_type().as_str().to_string())
                            .unwrap_or_default(),
                        resource_label: predefined
                            .and_then(|m| m.resource_label())
                            .map(str::to_string),
                        target_value: tt.target_value(),
                        scale_in_cooldown: tt.scale_in_cooldown().unwrap_or(300),
                        scale_out_cooldown: tt.scale_out_cooldown().unwrap_or(300),
                    });
                }
                _ => target.other_policies.push(p.policy_name().to_string()),
            }
        }
    }
    for target in found.values_mut() {
        target.policies.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(found)
}
