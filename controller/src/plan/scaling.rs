//! Planning the scalable target and target-tracking policies of one service.

use super::{change, Change, ServicePlan, Step};
use crate::observe::{Observed, ObservedScaling};
use crate::render::aws::{DesiredService, TargetTrackingPolicy};

fn same_policy(a: &TargetTrackingPolicy, b: &TargetTrackingPolicy) -> bool {
    a.name == b.name
        && a.metric == b.metric
        && a.resource_label == b.resource_label
        && (a.target_value - b.target_value).abs() < 1e-9
        && a.scale_in_cooldown == b.scale_in_cooldown
        && a.scale_out_cooldown == b.scale_out_cooldown
        && a.customized == b.customized
}

/// What a plan shows of a changed policy: the fields that differ, as they are and as they
/// will be (every field of a policy that is new).
fn policy_change(
    field: &str,
    have: Option<&TargetTrackingPolicy>,
    want: &TargetTrackingPolicy,
) -> Change {
    let wanted = want.fields();
    let Some(have) = have else {
        let to: Vec<String> = wanted.iter().map(|(k, v)| format!("{k} {v}")).collect();
        return change(field, "(none)", to.join(", "));
    };
    let had = have.fields();
    let named = |fields: &[(&str, String)], other: &[(&str, String)]| -> Vec<String> {
        (fields.iter())
            .filter(|f| !other.contains(f))
            .map(|(k, v)| format!("{k} {v}"))
            .collect()
    };
    let from = named(&had, &wanted);
    let to = named(&wanted, &had);
    let or_none = |v: Vec<String>| {
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.join(", ")
        }
    };
    change(field, or_none(from), or_none(to))
}

pub(super) fn plan_scaling(sp: &mut ServicePlan, d: &DesiredService, observed: &Observed) {
    let have = observed.scaling.get(&d.key().scaling_resource_id());
    let (changes, steps) = diff(d, have);
    sp.changes.extend(changes);
    sp.steps.extend(steps);
}

/// Whether `have` (a scalable target and its policies as last read) is what `d` wants: the
/// planner would write nothing. The observer trusts a remembered read only when it is.
pub fn in_sync(d: &DesiredService, have: Option<&ObservedScaling>) -> bool {
    // The owned target group's ARN comes from ELBv2, read after this: a remembered label that
    // names the group (`.../targetgroup/<name>/<id>`) stands for it.
    let resolved = d.ingress.as_ref().and_then(|i| {
        let named = format!("/targetgroup/{}/", i.target_group.name);
        let label = (have?.policies.iter())
            .filter_map(|p| p.resource_label.as_deref())
            .find(|l| l.contains(&named))?;
        let group = label.split_once("/targetgroup/")?.1;
        Some(d.with_target_group(&format!(
            "arn:aws:elasticloadbalancing:::targetgroup/{group}"
        )))
    });
    diff(resolved.as_ref().unwrap_or(d), have).1.is_empty()
}

/// The changes and steps that make `have` what `d` wants.
fn diff(d: &DesiredService, have: Option<&ObservedScaling>) -> (Vec<Change>, Vec<Step>) {
    let resource_id = d.key().scaling_resource_id();
    let mut sp = Diff::default();
    match (&d.scaling, have) {
        (None, None) => {}
        (None, Some(_)) => {
            sp.changes
                .push(change("scaling", "scalable target", "(none)"));
            sp.steps
                .push(Step::DeregisterScalableTarget { resource_id });
        }
        (Some(want), have) => {
            let (min, max) = have
                .map(|h| (h.min_capacity, h.max_capacity))
                .unwrap_or((-1, -1));
            if (min, max) != (want.min_capacity, want.max_capacity) {
                sp.changes.push(change(
                    "scaling.capacity",
                    if have.is_some() {
                        format!("{min}..{max}")
                    } else {
                        "(none)".into()
                    },
                    format!("{}..{}", want.min_capacity, want.max_capacity),
                ));
                sp.steps.push(Step::RegisterScalableTarget);
            }
            let existing: &[TargetTrackingPolicy] =
                have.map(|h| h.policies.as_slice()).unwrap_or(&[]);
            for p in &want.policies {
                match existing.iter().find(|e| e.name == p.name) {
                    Some(e) if same_policy(e, p) => {}
                    found => {
                        let field = format!("scaling.policies.{}", p.name);
                        sp.changes.push(policy_change(&field, found, p));
                        sp.steps.push(Step::PutScalingPolicy {
                            policy: p.name.clone(),
                        });
                    }
                }
            }
            // Policies the operator named (`<service>-...`) and no longer wants.
            let prefix = format!("{}-", d.name);
            for e in existing {
                if e.name.starts_with(&prefix) && !want.policies.iter().any(|p| p.name == e.name) {
                    sp.changes.push(change(
                        &format!("scaling.policies.{}", e.name),
                        &e.metric,
                        "(none)",
                    ));
                    sp.steps.push(Step::DeleteScalingPolicy {
                        policy: e.name.clone(),
                    });
                }
            }
        }
    }
    (sp.changes, sp.steps)
}

/// What [`diff`] collects, named like a [`ServicePlan`]'s fields.
#[derive(Default)]
struct Diff {
    changes: Vec<Change>,
    steps: Vec<Step>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::aws::{CustomizedMetric, MetricQuery};

    fn policy(target: f64, expression: &str) -> TargetTrackingPolicy {
        TargetTrackingPolicy {
            name: "worker-queue".into(),
            metric: crate::render::aws::CUSTOMIZED_METRIC.into(),
            resource_label: None,
            target_value: target,
            scale_in_cooldown: 300,
            scale_out_cooldown: 60,
            customized: Some(CustomizedMetric {
                metrics: vec![MetricQuery {
                    id: "backlog".into(),
                    label: None,
                    expression: Some(expression.into()),
                    metric: None,
                    return_data: true,
                }],
            }),
        }
    }

    #[test]
    fn a_changed_policy_shows_only_the_fields_that_differ() {
        let field = "scaling.policies.worker-queue";
        let c = policy_change(field, Some(&policy(100.0, "a / b")), &policy(20.0, "a / b"));
        assert_eq!(
            (c.from.as_str(), c.to.as_str()),
            ("targetValue 100", "targetValue 20")
        );
        let c = policy_change(field, Some(&policy(20.0, "a / b")), &policy(20.0, "a / c"));
        assert_eq!(
            (c.from.as_str(), c.to.as_str()),
            (
                "metrics backlog: a / b (result)",
                "metrics backlog: a / c (result)"
            )
        );
        assert!(!same_policy(&policy(20.0, "a / b"), &policy(20.0, "a / c")));
        let new = policy_change(field, None, &policy(20.0, "a / b"));
        assert_eq!(new.from, "(none)");
        assert!(
            new.to
                .starts_with("metric CustomizedMetric, targetValue 20"),
            "{}",
            new.to
        );
    }
}
