//! The fake Application Auto Scaling (API reference): scalable targets of ECS services and
//! their target-tracking policies. RegisterScalableTarget answers `ValidationException` for a
//! service it cannot see, which happens for a while right after ECS created it.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::operation::delete_scaling_policy::DeleteScalingPolicyOutput;
use aws_sdk_applicationautoscaling::operation::deregister_scalable_target::DeregisterScalableTargetOutput;
use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::DescribeScalableTargetsOutput;
use aws_sdk_applicationautoscaling::operation::describe_scaling_policies::DescribeScalingPoliciesOutput;
use aws_sdk_applicationautoscaling::operation::put_scaling_policy::PutScalingPolicyOutput;
use aws_sdk_applicationautoscaling::operation::register_scalable_target::RegisterScalableTargetOutput;
use aws_sdk_applicationautoscaling::types::{
    PolicyType, ScalableDimension, ScalableTarget, ScalingPolicy, ServiceNamespace,
};
use aws_sdk_applicationautoscaling::Client;
use aws_smithy_mocks::{mock, MockResponse, Rule};

use super::{aws_error, FakeAws};

/// One scalable target and its policies (name -> the policy as put).
#[derive(Debug, Clone)]
pub struct Target {
    pub min: i32,
    pub max: i32,
    pub policies: BTreeMap<String, ScalingPolicy>,
}

fn service_of(resource_id: &str) -> Option<(String, String)> {
    let mut parts = resource_id.strip_prefix("service/")?.splitn(2, '/');
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

pub(super) fn rules(fake: &FakeAws) -> Vec<Rule> {
    let f = fake.clone();
    let describe = mock!(Client::describe_scalable_targets).then_compute_response(move |req| {
        if req.resource_ids().len() > 50 {
            return aws_error("ValidationException", "At most 50 resource ids.");
        }
        let state = f.state();
        let found = req
            .resource_ids()
            .iter()
            .filter_map(|id| state.targets.get(id).map(|t| (id, t)))
            .map(|(id, t)| {
                ScalableTarget::builder()
                    .service_namespace(ServiceNamespace::Ecs)
                    .resource_id(id)
                    .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                    .min_capacity(t.min)
                    .max_capacity(t.max)
                    .role_arn("arn:aws:iam::123456789012:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService")
                    .creation_time(aws_smithy_types::DateTime::from_secs(0))
                    .build()
                    .unwrap()
            })
            .collect();
        MockResponse::Output(
            DescribeScalableTargetsOutput::builder()
                .set_scalable_targets(Some(found))
                .build(),
        )
    });
    let f = fake.clone();
    let policies = mock!(Client::describe_scaling_policies).then_compute_response(move |req| {
        let state = f.state();
        let all: Vec<ScalingPolicy> = state
            .targets
            .values()
            .flat_map(|t| t.policies.values().cloned())
            .collect();
        // "MaxResults ... the maximum value is 10" for ECS policies.
        let start: usize = req.next_token().and_then(|t| t.parse().ok()).unwrap_or(0);
        let end = (start + 10).min(all.len());
        MockResponse::Output(
            DescribeScalingPoliciesOutput::builder()
                .set_scaling_policies(Some(all[start..end].to_vec()))
                .set_next_token((end < all.len()).then(|| end.to_string()))
                .build(),
        )
    });
    let f = fake.clone();
    let register = mock!(Client::register_scalable_target).then_compute_response(move |req| {
        let mut state = f.state();
        let id = req.resource_id().unwrap_or_default().to_string();
        state.record(
            "RegisterScalableTarget",
            serde_json::json!({"resourceId": id}),
        );
        let visible = match service_of(&id).and_then(|key| state.services.get_mut(&key)) {
            Some(s) if s.status == "ACTIVE" && s.scaling_lag_left == 0 => true,
            Some(s) => {
                s.scaling_lag_left = s.scaling_lag_left.saturating_sub(1);
                false
            }
            None => false,
        };
        if !visible {
            return aws_error(
                "ValidationException",
                "ECS service doesn't exist: the service must be ACTIVE.",
            );
        }
        let target = state.targets.entry(id).or_insert(Target {
            min: 0,
            max: 0,
            policies: BTreeMap::new(),
        });
        target.min = req.min_capacity().unwrap_or(target.min);
        target.max = req.max_capacity().unwrap_or(target.max);
        MockResponse::Output(RegisterScalableTargetOutput::builder().build())
    });
    let f = fake.clone();
    let put = mock!(Client::put_scaling_policy).then_compute_response(move |req| {
        let mut state = f.state();
        let id = req.resource_id().unwrap_or_default().to_string();
        let name = req.policy_name().unwrap_or_default().to_string();
        let Some(target) = state.targets.get_mut(&id) else {
            return aws_error("ObjectNotFoundException", "No scalable target.");
        };
        let policy = ScalingPolicy::builder()
            .policy_arn(format!("arn:aws:autoscaling:policy/{name}"))
            .policy_name(&name)
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .policy_type(PolicyType::TargetTrackingScaling)
            .set_target_tracking_scaling_policy_configuration(
                req.target_tracking_scaling_policy_configuration().cloned(),
            )
            .creation_time(aws_smithy_types::DateTime::from_secs(0))
            .build()
            .unwrap();
        target.policies.insert(name, policy);
        MockResponse::Output(
            PutScalingPolicyOutput::builder()
                .policy_arn("arn:aws:autoscaling:policy")
                .build()
                .unwrap(),
        )
    });
    let f = fake.clone();
    let delete = mock!(Client::delete_scaling_policy).then_compute_response(move |req| {
        let mut state = f.state();
        let id = req.resource_id().unwrap_or_default();
        let name = req.policy_name().unwrap_or_default();
        let removed = state
            .targets
            .get_mut(id)
            .and_then(|t| t.policies.remove(name));
        match removed {
            Some(_) => MockResponse::Output(DeleteScalingPolicyOutput::builder().build()),
            None => aws_error("ObjectNotFoundException", "No such policy."),
        }
    });
    let f = fake.clone();
    let deregister = mock!(Client::deregister_scalable_target).then_compute_response(move |req| {
        let mut state = f.state();
        match state.targets.remove(req.resource_id().unwrap_or_default()) {
            Some(_) => MockResponse::Output(DeregisterScalableTargetOutput::builder().build()),
            None => aws_error("ObjectNotFoundException", "No such scalable target."),
        }
    });
    vec![describe, policies, register, put, delete, deregister]
}
