//! Planning `traffic.ingress`: the service's target group and listener rule, compared field by
//! field with what ELBv2 reports, and the operator's rules and groups nothing wants any more.
//!
//! # Guarantees
//! - Only rules and target groups carrying this operator's ownership tag are ever changed or
//!   deleted. A priority held by any other rule is reported as a conflict of the service, never
//!   taken over; so is a target group of the operator's name that it does not own.
//! - A target group is deleted only once no rule forwards to it and no ECS service uses it
//!   (ELBv2 refuses with ResourceInUse otherwise): when an ingress or its manifest goes, the
//!   service is detached and the rule deleted first, the group at the next pass.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::prune::prune_guard;
use super::{change, diff_values, Change, Outcome, Plan, PlanOptions, ServicePlan, Step};
use crate::domain::tags;
use crate::observe::{Observed, ObservedRule, ObservedTargetGroup};
use crate::render::aws::{DesiredIngress, DesiredService};

/// What one service's ingress needs.
#[derive(Debug, Default)]
pub(super) struct IngressPlan {
    pub changes: Vec<Change>,
    pub steps: Vec<Step>,
    /// The owned target group's ARN, when it exists.
    pub target_group_arn: Option<String>,
}

/// The rule the operator keeps for `service`, if any.
pub(super) fn own_rule<'a>(
    observed: &'a Observed,
    operator_id: &str,
    service: &str,
) -> Option<&'a ObservedRule> {
    (observed.ingress.rules.iter())
        .find(|r| r.owner() == Some(operator_id) && r.manifest() == Some(service))
}

/// Plans the target group and rule of `d`. `Err`: a conflict, reported for the service.
pub(super) fn plan_ingress(
    d: &DesiredService,
    observed: &Observed,
    options: &PlanOptions<'_>,
) -> Result<IngressPlan, String> {
    let mut out = IngressPlan::default();
    let Some(want) = &d.ingress else {
        return Ok(out);
    };
    let group = observed.ingress.target_groups.get(&want.target_group.name);
    if let Some(g) = group.filter(|g| g.owner() != Some(options.operator_id)) {
        return Err(format!(
            "target group {} exists and is not managed by this operator (owner tag {:?}); it is never taken over",
            g.name,
            g.owner().unwrap_or("missing")
        ));
    }
    let rule = own_rule(observed, options.operator_id, &d.name);
    if let Some(holder) = observed.ingress.rule_at(want.rule.priority) {
        if Some(holder.arn.as_str()) != rule.map(|r| r.arn.as_str()) {
            let whose = match (holder.owner(), holder.manifest()) {
                (Some(o), Some(m)) if o == options.operator_id => {
                    format!("this operator's rule of service {m}")
                }
                _ => "a rule this operator does not own".to_string(),
            };
            return Err(format!(
                "listener rule priority {} is held by {whose} ({}); it is never taken over: choose another spec.traffic.ingress.priority",
                want.rule.priority, holder.arn
            ));
        }
    }
    match group {
        None => {
            out.changes.push(change(
                "ingress.targetGroup",
                "(none)",
                &want.target_group.name,
            ));
            out.steps.push(Step::CreateTargetGroup);
        }
        Some(g) => {
            out.target_group_arn = Some(g.arn.clone());
            plan_group(want, g, &mut out);
        }
    }
    match rule {
        None => {
            out.changes.push(change(
                "ingress.rule",
                "(none)",
                format!("priority {}", want.rule.priority),
            ));
            out.steps.push(Step::CreateListenerRule);
        }
        Some(r) => plan_rule(want, r, group, &mut out),
    }
    Ok(out)
}

fn plan_group(want: &DesiredIngress, g: &ObservedTargetGroup, out: &mut IngressPlan) {
    let t = &want.target_group;
    if g.health_check != t.health_check {
        let from = serde_json::to_value(&g.health_check).unwrap_or_default();
        let to = serde_json::to_value(&t.health_check).unwrap_or_default();
        diff_values(
            "ingress.targetGroup.healthCheck",
            &from,
            &to,
            &mut out.changes,
        );
        out.steps
            .push(Step::ModifyTargetGroup { arn: g.arn.clone() });
    }
    if let Some(have) = g.attributes.as_ref().filter(|a| **a != t.attributes) {
        let from = serde_json::to_value(have).unwrap_or_default();
        let to = serde_json::to_value(&t.attributes).unwrap_or_default();
        diff_values(
            "ingress.targetGroup.attributes",
            &from,
            &to,
            &mut out.changes,
        );
        out.steps
            .push(Step::ModifyTargetGroupAttributes { arn: g.arn.clone() });
    }
}

fn plan_rule(
    want: &DesiredIngress,
    r: &ObservedRule,
    group: Option<&ObservedTargetGroup>,
    out: &mut IngressPlan,
) {
    let w = &want.rule;
    if r.priority != w.priority {
        out.changes
            .push(change("ingress.rule.priority", r.priority, w.priority));
        out.steps.push(Step::SetRulePriority {
            arn: r.arn.clone(),
            priority: w.priority,
        });
    }
    let mut modify = false;
    for (field, have, to) in [("hosts", &r.hosts, &w.hosts), ("paths", &r.paths, &w.paths)] {
        if have != to {
            out.changes.push(change(
                &format!("ingress.rule.{field}"),
                have.join(","),
                to.join(","),
            ));
            modify = true;
        }
    }
    let forwards_to = group.map(|g| vec![g.arn.clone()]);
    if forwards_to.as_ref() != Some(&r.target_group_arns) {
        out.changes.push(change(
            "ingress.rule.targetGroup",
            r.target_group_arns.join(","),
            &want.target_group.name,
        ));
        modify = true;
    }
    if modify {
        out.steps
            .push(Step::ModifyListenerRule { arn: r.arn.clone() });
    }
}

/// The operator's rules and target groups that no manifest wants any more: the ingress was
/// removed from a valid manifest, or the manifest is gone and so is its service (pruned).
/// Each becomes an entry of its own (`<service> (listener rule)`), under the prune guards.
pub(super) fn plan_ingress_leftovers(
    plan: &mut Plan,
    desired: &[Arc<DesiredService>],
    observed: &Observed,
    options: &PlanOptions<'_>,
) {
    if !observed.ingress.read {
        return;
    }
    let with_ingress: BTreeSet<&str> = (desired.iter())
        .filter(|d| d.ingress.is_some())
        .map(|d| d.name.as_str())
        .collect();
    let valid: BTreeSet<&str> = desired.iter().map(|d| d.name.as_str()).collect();
    // A service whose manifest is gone keeps its route while it stays (`lifecycle.prune`
    // false, or a guard held): the rule goes in the pass that deletes the service.
    let deleted: BTreeSet<&str> = (plan.services.iter())
        .filter(|sp| sp.outcome == Outcome::Delete && !sp.steps.is_empty())
        .map(|sp| sp.name.as_str())
        .collect();
    let staying: BTreeSet<&str> = (observed.services.values())
        .filter(|s| s.is_active() && s.owner() == Some(options.operator_id))
        .map(|s| s.tags.get(tags::MANIFEST).unwrap_or(&s.name).as_str())
        .filter(|m| !deleted.contains(m))
        .collect();
    let unwanted = |owner: Option<&str>, manifest: Option<&str>| {
        let Some(m) = manifest.filter(|_| owner == Some(options.operator_id)) else {
            return false;
        };
        let removed = valid.contains(m) && !with_ingress.contains(m);
        let gone = !options.known_names.contains(m) && !staying.contains(m);
        removed || gone
    };
    let mut leftovers: Vec<(String, Change, Step)> = Vec::new();
    for r in &observed.ingress.rules {
        if unwanted(r.owner(), r.manifest()) {
            leftovers.push((
                format!("{} (listener rule)", r.manifest().unwrap_or("-")),
                change(
                    "ingress.rule",
                    format!("priority {}", r.priority),
                    "(deleted)",
                ),
                Step::DeleteListenerRule { arn: r.arn.clone() },
            ));
        }
    }
    let in_use: BTreeSet<&str> = (observed.ingress.rules.iter())
        .flat_map(|r| r.target_group_arns.iter().map(String::as_str))
        .chain(
            (observed.services.values())
                .filter(|s| s.is_active())
                .flat_map(|s| s.config.service.load_balancers.iter())
                .map(|lb| lb.target_group_arn.as_str()),
        )
        .collect();
    for g in observed.ingress.target_groups.values() {
        if unwanted(g.owner(), g.manifest()) && !in_use.contains(g.arn.as_str()) {
            leftovers.push((
                format!("{} (target group)", g.manifest().unwrap_or("-")),
                change("ingress.targetGroup", &g.name, "(deleted)"),
                Step::DeleteTargetGroup { arn: g.arn.clone() },
            ));
        }
    }
    if leftovers.is_empty() {
        return;
    }
    let held = prune_guard(desired, options, leftovers.len());
    for (name, what, step) in leftovers {
        let kept = held.clone();
        plan.services.push(ServicePlan {
            name,
            cluster: "-".into(),
            outcome: kept.clone().map_or(Outcome::Delete, Outcome::Kept),
            changes: if kept.is_some() {
                Vec::new()
            } else {
                vec![what]
            },
            steps: if kept.is_some() {
                Vec::new()
            } else {
                vec![step]
            },
            wave: 0,
            desired: None,
            observed: None,
            registry_arn: None,
            target_group_arn: None,
        });
    }
}

#[cfg(test)]
#[path = "ingress_tests.rs"]
mod tests;
