//! Pruning: owned services whose manifest is gone, deleted only when every guard allows it.

use std::collections::BTreeSet;

use super::{change, owned_by, Outcome, Plan, PlanOptions, ServicePlan, Step};
use crate::domain::{tags, ServiceKey};
use crate::observe::{Observed, ObservedService};
use crate::render::aws::DesiredService;

pub(super) fn plan_prune(
    plan: &mut Plan,
    desired: &[DesiredService],
    observed: &Observed,
    options: &PlanOptions<'_>,
) {
    let wanted: BTreeSet<ServiceKey> = desired.iter().map(DesiredService::key).collect();
    let orphans: Vec<&ObservedService> = observed
        .services
        .values()
        .filter(|s| s.is_active() && owned_by(s, options.operator_id))
        .filter(|s| !wanted.contains(&s.key()))
        .filter(|s| {
            let manifest = s.tags.get(tags::MANIFEST).unwrap_or(&s.name);
            !options.known_names.contains(manifest)
        })
        .collect();
    if orphans.is_empty() {
        return;
    }
    let owned_total = observed
        .services
        .values()
        .filter(|s| s.is_active() && owned_by(s, options.operator_id))
        .count();
    let guard = if !options.source_complete {
        Some("the manifest source failed or held unreadable documents; nothing is pruned until it is complete".to_string())
    } else if desired.is_empty()
        && options.known_names.is_empty()
        && owned_total > 0
        && !options.allow_empty
    {
        Some(format!(
            "the manifest source is empty while {owned_total} service(s) are owned; nothing is pruned (use --allow-empty to prune everything)"
        ))
    } else {
        None
    };
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
            observed: Some(s.clone()),
            registry_arn: None,
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
