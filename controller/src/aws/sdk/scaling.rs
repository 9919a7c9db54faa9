//! Application Auto Scaling requests: the scalable target and target tracking policies, on a
//! predefined metric or on customized metric math (a queue worker's backlog per task).

use aws_sdk_applicationautoscaling::operation::put_scaling_policy::builders::PutScalingPolicyFluentBuilder;
use aws_sdk_applicationautoscaling::operation::register_scalable_target::builders::RegisterScalableTargetFluentBuilder;
use aws_sdk_applicationautoscaling::types::{
    CustomizedMetricSpecification, MetricType, PolicyType, PredefinedMetricSpecification,
    ScalableDimension, ServiceNamespace, TargetTrackingMetric, TargetTrackingMetricDataQuery,
    TargetTrackingMetricDimension, TargetTrackingMetricStat,
    TargetTrackingScalingPolicyConfiguration,
};

use super::invalid;
use crate::aws::{AwsClients, AwsError};
use crate::render::aws::{CustomizedMetric, ScalingTarget, TargetTrackingPolicy};

pub fn register_scalable_target(
    aws: &AwsClients,
    scaling: &ScalingTarget,
) -> RegisterScalableTargetFluentBuilder {
    aws.scaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(scaling.resource_id.as_str())
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(scaling.min_capacity)
        .max_capacity(scaling.max_capacity)
}

const OP: &str = "application-autoscaling:PutScalingPolicy";

/// A target tracking policy on a predefined metric, or on customized metric math.
pub fn put_scaling_policy(
    aws: &AwsClients,
    scaling: &ScalingTarget,
    p: &TargetTrackingPolicy,
) -> Result<PutScalingPolicyFluentBuilder, AwsError> {
    let mut config = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(p.target_value)
        .scale_in_cooldown(p.scale_in_cooldown)
        .scale_out_cooldown(p.scale_out_cooldown);
    config = match &p.customized {
        Some(c) => config.customized_metric_specification(customized(c)?),
        None => {
            let mut metric = PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::from(p.metric.as_str()));
            if let Some(label) = &p.resource_label {
                metric = metric.resource_label(label);
            }
            config.predefined_metric_specification(metric.build().map_err(invalid(OP))?)
        }
    };
    Ok(aws
        .scaling
        .put_scaling_policy()
        .policy_name(&p.name)
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(scaling.resource_id.as_str())
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(config.build().map_err(invalid(OP))?))
}

/// `CustomizedMetricSpecification.Metrics` of the rendered metric math.
fn customized(c: &CustomizedMetric) -> Result<CustomizedMetricSpecification, AwsError> {
    let mut queries = Vec::with_capacity(c.metrics.len());
    for q in &c.metrics {
        let mut query = TargetTrackingMetricDataQuery::builder()
            .id(&q.id)
            .return_data(q.return_data)
            .set_label(q.label.clone())
            .set_expression(q.expression.clone());
        if let Some(m) = &q.metric {
            let mut dimensions = Vec::new();
            for (name, value) in &m.dimensions {
                dimensions.push(
                    TargetTrackingMetricDimension::builder()
                        .name(name)
                        .value(value)
                        .build()
                        .map_err(invalid(OP))?,
                );
            }
            let metric = TargetTrackingMetric::builder()
                .namespace(&m.namespace)
                .metric_name(&m.metric_name)
                .set_dimensions(Some(dimensions))
                .build();
            let stat = TargetTrackingMetricStat::builder()
                .metric(metric)
                .stat(&m.stat)
                .build()
                .map_err(invalid(OP))?;
            query = query.metric_stat(stat);
        }
        queries.push(query.build().map_err(invalid(OP))?);
    }
    Ok(CustomizedMetricSpecification::builder()
        .set_metrics(Some(queries))
        .build())
}
