//! Application Auto Scaling reads: scalable targets in batches of at most 50 resource ids, and
//! one paginated listing of every ECS scaling policy (cheaper than one call per service), kept
//! in a [`ScalingMemory`] between sweeps.
//!
//! # Guarantees
//! - A write is only ever planned on a fresh read: a service whose remembered scaling differs
//!   from what its manifest wants (a new or changed manifest, a write not yet read back, an
//!   owned service nothing wants any more) is read again before the planner sees it.
//! - The whole namespace is read again (a *sweep*) by the first full observation after each
//!   `sweep` interval, and at once when re-reading services one by one would cost more calls
//!   than the sweep. A scoped observation (a few changed manifests) never sweeps.
//!
//! # Caveats
//! - A scalable target or policy changed behind the operator's back while its manifest is
//!   unchanged is found by the next sweep (`run --scaling-sweep`, 5 minutes by default), not by
//!   the next pass. DescribeScalingPolicies returns at most 10 policies a page, so reading them
//!   every pass was the largest share of an idle pass's calls on real AWS.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{ObservedScaling, DESCRIBE_TARGETS_BATCH};
use crate::aws::{AwsClients, AwsError};
use crate::domain::ScalingResourceId;
use crate::render::aws::{
    CustomizedMetric, MetricQuery, MetricStat, TargetTrackingPolicy, CUSTOMIZED_METRIC,
};

pub async fn describe(
    aws: &AwsClients,
    resource_ids: &[ScalingResourceId],
) -> Result<BTreeMap<ScalingResourceId, ObservedScaling>, AwsError> {
    use aws_sdk_applicationautoscaling::types::ServiceNamespace;
    let mut found = targets(aws, resource_ids).await?;
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
        add_policies(&mut found, page.scaling_policies());
    }
    for target in found.values_mut() {
        target.policies.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(found)
}

/// The scalable targets of `resource_ids` (batches of 50), without their policies yet.
async fn targets(
    aws: &AwsClients,
    resource_ids: &[ScalingResourceId],
) -> Result<BTreeMap<ScalingResourceId, ObservedScaling>, AwsError> {
    use aws_sdk_applicationautoscaling::types::ServiceNamespace;
    let mut found: BTreeMap<ScalingResourceId, ObservedScaling> = BTreeMap::new();
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
    Ok(found)
}

/// Files each policy under its target (policies of targets not asked for are skipped).
fn add_policies(
    found: &mut BTreeMap<ScalingResourceId, ObservedScaling>,
    policies: &[aws_sdk_applicationautoscaling::types::ScalingPolicy],
) {
    use aws_sdk_applicationautoscaling::types::PolicyType;
    for p in policies {
        let Some(target) = found.get_mut(&ScalingResourceId::from_aws(p.resource_id())) else {
            continue;
        };
        let tt = p.target_tracking_scaling_policy_configuration();
        match (p.policy_type(), tt) {
            (PolicyType::TargetTrackingScaling, Some(tt)) => {
                let predefined = tt.predefined_metric_specification();
                target.policies.push(TargetTrackingPolicy {
                    name: p.policy_name().to_string(),
                    metric: match (predefined, tt.customized_metric_specification()) {
                        (Some(m), _) => m.predefined_metric_type().as_str().to_string(),
                        (None, Some(_)) => CUSTOMIZED_METRIC.to_string(),
                        (None, None) => String::new(),
                    },
                    resource_label: predefined
                        .and_then(|m| m.resource_label())
                        .map(str::to_string),
                    target_value: tt.target_value(),
                    scale_in_cooldown: tt.scale_in_cooldown().unwrap_or(300),
                    scale_out_cooldown: tt.scale_out_cooldown().unwrap_or(300),
                    customized: tt.customized_metric_specification().map(customized),
                });
            }
            _ => target.other_policies.push(p.policy_name().to_string()),
        }
    }
}

/// A customized metric as AWS holds it: the metric math queries (a single-metric form, which
/// the operator never writes, reads as one query returning data).
fn customized(
    c: &aws_sdk_applicationautoscaling::types::CustomizedMetricSpecification,
) -> CustomizedMetric {
    let dimensions =
        |dims: &[aws_sdk_applicationautoscaling::types::TargetTrackingMetricDimension]| {
            let mut pairs: Vec<(String, String)> = (dims.iter())
                .map(|d| (d.name().to_string(), d.value().to_string()))
                .collect();
            pairs.sort();
            pairs
        };
    let mut metrics: Vec<MetricQuery> = (c.metrics().iter())
        .map(|q| MetricQuery {
            id: q.id().to_string(),
            label: q.label().map(str::to_string),
            expression: q.expression().map(str::to_string),
            metric: q.metric_stat().map(|s| MetricStat {
                namespace: s
                    .metric()
                    .and_then(|m| m.namespace())
                    .unwrap_or_default()
                    .into(),
                metric_name: (s.metric().and_then(|m| m.metric_name()))
                    .unwrap_or_default()
                    .into(),
                dimensions: dimensions(s.metric().map_or(&[][..], |m| m.dimensions())),
                stat: s.stat().to_string(),
            }),
            return_data: q.return_data().unwrap_or(true),
        })
        .collect();
    if metrics.is_empty() {
        metrics.push(MetricQuery {
            id: String::new(),
            label: None,
            expression: None,
            metric: Some(MetricStat {
                namespace: c.namespace().unwrap_or_default().into(),
                metric_name: c.metric_name().unwrap_or_default().into(),
                dimensions: (c.dimensions().iter())
                    .map(|d| (d.name().to_string(), d.value().to_string()))
                    .collect(),
                stat: c
                    .statistic()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            }),
            return_data: true,
        });
    }
    CustomizedMetric { metrics }
}

/// Policies of single services, one DescribeScalingPolicies (filtered by ResourceId) each, and
/// their targets in batches of 50: cheaper than a sweep when few services need a fresh read.
pub async fn describe_each(
    aws: &AwsClients,
    resource_ids: &[ScalingResourceId],
) -> Result<BTreeMap<ScalingResourceId, ObservedScaling>, AwsError> {
    use aws_sdk_applicationautoscaling::types::ServiceNamespace;
    let mut found = targets(aws, resource_ids).await?;
    let ids: Vec<ScalingResourceId> = found.keys().cloned().collect();
    for id in ids {
        let mut pages = aws
            .scaling
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(id.to_string())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(aws.error("application-autoscaling:DescribeScalingPolicies"))?;
            add_policies(&mut found, page.scaling_policies());
        }
    }
    for target in found.values_mut() {
        target.policies.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(found)
}

/// What the observer last read of each service's scaling, and when it last read it all.
#[derive(Debug, Default)]
pub struct ScalingMemory {
    inner: Mutex<Remembered>,
}

#[derive(Debug, Default)]
struct Remembered {
    /// `None`: read, and no scalable target was registered.
    known: BTreeMap<ScalingResourceId, Option<ObservedScaling>>,
    swept_at: Option<Instant>,
    /// Policies the last sweep filed: a sweep reads at least a page per 10 of them.
    policies_seen: usize,
}

/// Which services to read and which remembered reads the planner may use.
pub struct ScalingScope<'a> {
    pub resource_ids: &'a [ScalingResourceId],
    /// Whether a remembered read is good enough: the planner would write nothing for it.
    pub trusted: &'a (dyn Fn(&ScalingResourceId, Option<&ObservedScaling>) -> bool + Sync),
    /// The longest a remembered read is used (zero: read everything every pass).
    pub sweep: Duration,
    /// `resource_ids` are every service's: a sweep may replace what is remembered. A scoped
    /// pass (`false`) never sweeps; it reads its services that need it one by one, so the
    /// memory of the others (and the time of the next sweep) stays as it was.
    pub whole: bool,
}

impl ScalingMemory {
    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next read is a sweep (e.g. after a user asked for a retry).
    pub fn forget(&self) {
        *self.lock() = Remembered::default();
    }

    /// The scaling of `scope.resource_ids`: remembered where trusted, read again where not,
    /// all of it read when a sweep is due.
    pub async fn observe(
        &self,
        aws: &AwsClients,
        scope: &ScalingScope<'_>,
    ) -> Result<BTreeMap<ScalingResourceId, ObservedScaling>, AwsError> {
        let now = Instant::now();
        let (stale, sweep) = {
            let memory = self.lock();
            let due = memory
                .swept_at
                .is_none_or(|at| now.duration_since(at) >= scope.sweep);
            let stale: Vec<ScalingResourceId> = (scope.resource_ids.iter())
                .filter(|id| match memory.known.get(*id) {
                    Some(have) => !(scope.trusted)(id, have.as_ref()),
                    None => true,
                })
                .cloned()
                .collect();
            // One call per stale service against the pages of a sweep.
            let sweep_cost = memory.policies_seen.div_ceil(10).max(1)
                + scope.resource_ids.len().div_ceil(DESCRIBE_TARGETS_BATCH);
            let sweep = scope.whole && (due || stale.len() > sweep_cost);
            (stale, sweep)
        };
        if sweep {
            let found = describe(aws, scope.resource_ids).await?;
            let mut memory = self.lock();
            memory.known = (scope.resource_ids.iter())
                .map(|id| (id.clone(), found.get(id).cloned()))
                .collect();
            memory.policies_seen = found.values().map(|s| s.policies.len()).sum();
            memory.swept_at = Some(now);
            return Ok(found);
        }
        if !stale.is_empty() {
            let fresh = describe_each(aws, &stale).await?;
            let mut memory = self.lock();
            for id in stale {
                let read = fresh.get(&id).cloned();
                memory.known.insert(id, read);
            }
        }
        let memory = self.lock();
        Ok((scope.resource_ids.iter())
            .filter_map(|id| Some((id.clone(), memory.known.get(id)?.clone()?)))
            .collect())
    }
}
