//! Pruning: owned services whose manifest is gone, deleted only when every guard allows it.

use std::sync::Arc;

use std::collections::BTreeSet;

use super::{change, owned_by, Outcome, Plan, PlanOptions, ServicePlan, Step};
use crate::domain::{tags, ServiceKey};
use crate::observe::{Observed, ObservedService};
use crate::render::aws::DesiredService;

/// Cloud Map services of this operator that nothing uses or wants any more: what is left when
/// Cloud Map refused a deletion (`ResourceInUse` while the deleted service's tasks were still
/// registered) or a manifest renamed its discovery name. Their tags say whose they were; one
/// is deleted when its manifest is gone with `prune: true`, or is valid and wants another name.
/// The ECS service is gone by then, so only the observation of Cloud Map finishes the job, on
/// this operator or a restarted one.
pub(super) fn plan_discovery_leftovers(
    plan: &mut Plan,
    desired: &[Arc<DesiredService>],
    observed: &Observed,
    options: &PlanOptions<'_>,
) {
    let planned: BTreeSet<&str> = plan
        .services
        .iter()
        .flat_map(|sp| sp.steps.iter())
        .filter_map(|step| match step {
            Step::DeleteDiscovery { id } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let valid: BTreeSet<&str> = desired.iter().map(|d| d.name.as_str()).collect();
    let mut leftovers = Vec::new();
    for found in observed.discovery.values() {
        let Some(found_tags) = &found.tags else {
            continue;
        };
        let manifest = found_tags.get(tags::MANIFEST).map(String::as_str);
        let ours = found.description == options.discovery_description
            && found_tags.get(tags::OWNER).map(String::as_str) == Some(options.operator_id);
        let gone_with_prune = manifest.is_some_and(|m| !options.known_names.contains(m))
            && found_tags.get(tags::PRUNE).map(String::as_str) == Some("true");
        let renamed = manifest.is_some_and(|m| valid.contains(m));
        if ours && (gone_with_prune || renamed) && !planned.contains(found.id.as_str()) {
            // Named apart from the manifest's own plan, so its result never stands for the
            // service's status.
            let owner = manifest.unwrap_or(&found.name);
            leftovers.push((format!("{owner} (Cloud Map service {})", found.name), found));
        }
    }
    if leftovers.is_empty() {
        return;
    }
    let held = prune_guard(desired, options, leftovers.len());
    let mut budget = options.max_prune.saturating_sub(
        plan.services
            .iter()
            .filter(|sp| sp.outcome == Outcome::Delete && !sp.steps.is_empty())
            .count(),
    );
    for (name, found) in leftovers {
        let mut sp = ServicePlan {
            name,
            cluster: "-".into(),
            outcome: Outcome::Delete,
            changes: vec![change(
                &format!("discovery.{}", found.name),
                "Cloud Map service",
                "(deleted)",
            )],
            steps: vec![Step::DeleteDiscovery {
                id: found.id.clone(),
            }],
            wave: 0,
            desired: None,
            observed: None,
            registry_arn: None,
            target_group_arn: None,
        };
        if let Some(reason) = &held {
            sp.outcome = Outcome::Kept(reason.clone());
        } else if budget == 0 {
            sp.outcome = Outcome::Kept(format!(
                "deletion deferred: at most {} service(s) are deleted per pass",
                options.max_prune
            ));
        } else {
            budget -= 1;
        }
        if sp.outcome != Outcome::Delete {
            sp.changes.clear();
            sp.steps.clear();
        }
        plan.services.push(sp);
    }
}

/// Why nothing may be pruned this pass, if so: the source failed (or held documents that
/// name no service), or it is empty while `owned` resources exist and `--allow-empty` was
/// not given. ECS services and Cloud Map leftovers share it.
pub(super) fn prune_guard(
    desired: &[Arc<DesiredService>],
    options: &PlanOptions<'_>,
    owned: usize,
) -> Option<String> {
    if !options.source_complete {
        Some("the manifest source failed or held unreadable documents; nothing is pruned until it is complete".to_string())
    } else if desired.is_empty()
        && options.known_names.is_empty()
        && owned > 0
        && !options.allow_empty
    {
        Some(format!(
            "the manifest source is empty while {owned} service(s) are owned; nothing is pruned (use --allow-empty to prune everything)"
        ))
    } else {
        None
    }
}

pub(super) fn plan_prune(
    plan: &mut Plan,
    desired: &[Arc<DesiredService>],
    observed: &Observed,
    options: &PlanOptions<'_>,
) {
    let wanted: BTreeSet<ServiceKey> = desired.iter().map(|d| d.key()).collect();
    let orphans: Vec<&ObservedService> = observed
        .services
        .values()
        .filter(|s| s.is_active() && owned_by(s, options.operator_id))
        .filter(|s| !wanted.contains(&s.key()))
        .filter(|s| {
            let manifest = s.tags.get(tags::MANIFEST).unwrap_or(&s.name);
            !options.known_names.contains(manifest)
        })
        .map(|s| s.as_ref())
        .collect();
    if orphans.is_empty() {
        return;
    }
    let owned_total = observed
        .services
        .values()
        .filter(|s| s.is_active() && owned_by(s, options.operator_id))
        .count();
    let guard = prune_guard(desired, options, owned_total);
    if let Some(reason) = &guard {
        plan.notes.push(reason.clone());
    }
    let mut pruned = 0;
    for s in orphans {
        let mut sp = ServicePlan {
            name: s.name.clone(),
            cluster: s.cluster.clone(),
            outcome: Outcome::Delete,
            changes: vec![change("service", &s.name, "(deleted)")],
            steps: Vec::new(),
            wave: 0,
            desired: None,
            observed: Some(Arc::new(s.clone())),
            registry_arn: None,
            target_group_arn: None,
        };
        let prune_allowed = s.tags.get(tags::PRUNE).map(String::as_str) == Some("true");
        if let Some(reason) = &guard {
            sp.outcome = Outcome::Kept(reason.clone());
            sp.changes.clear();
        } else if !prune_allowed {
            sp.outcome = Outcome::Kept(
                "manifest removed; kept because its lifecycle.prune was false".into(),
            );
            sp.changes.clear();
        } else if pruned >= options.max_prune {
            sp.outcome = Outcome::Kept(format!(
                "deletion deferred: at most {} service(s) are deleted per pass",
                options.max_prune
            ));
            sp.changes.clear();
        } else {
            pruned += 1;
            let resource_id = s.key().scaling_resource_id();
            if observed.scaling.contains_key(&resource_id) {
                sp.steps
                    .push(Step::DeregisterScalableTarget { resource_id });
            }
            sp.steps.push(Step::DeleteService { arn: s.arn.clone() });
            for registry in &s.registry_arns {
                if let Some(found) = observed
                    .discovery
                    .values()
                    .find(|x| &x.arn == registry && x.description == options.discovery_description)
                {
                    sp.steps.push(Step::DeleteDiscovery {
                        id: found.id.clone(),
                    });
                }
            }
        }
        plan.services.push(sp);
    }
}
