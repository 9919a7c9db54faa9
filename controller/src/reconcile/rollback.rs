//! Never fight a rollback. When ECS rolls a deployment back (the deployment circuit breaker,
//! or a CloudWatch alarm), the service runs the previous revision again and the next pass
//! would see that as drift and deploy the failed revision once more: every pass, forever.
//! This step finds such rollbacks and holds the spec that failed.
//!
//! # Guarantees
//! - A held spec is not deployed again (no new task definition is registered or set) while
//!   the manifest keeps that spec hash; everything else about the service (desired count,
//!   network, scaling, tags) is still corrected.
//! - A hold ends when the manifest changes (a new spec hash) or when `ecs-operator retry NAME`
//!   asked for it after the hold began.
//! - Holds live in the status records, so every replica and a restarted leader honour them.
//!   A rollback by hand (`ecs-operator rollback`) is also written on the service itself (the
//!   `ecs-operator.io/held` tag), which every pass reads anyway: no extra call.
//!
//! # Caveats
//! - A rollback is seen while ECS still lists the failed deployment (until the rolled-back
//!   tasks have drained: minutes). An operator that is down for the whole rollback misses it
//!   and deploys the spec once more; ECS fails it again and the next pass sees that.
//! - Only a spec the operator applied (the status record's last applied hash) is held: a
//!   revision someone else deployed and ECS rolled back is not the operator's to hold.

use std::collections::BTreeMap;

use crate::aws::AwsClients;
use crate::plan::{Outcome, Plan, Step};
pub use crate::status::{HeldRollout, RetryRequest};
use crate::status::{ServiceStatus, StatusStore};

/// The holds after this pass's observations, by service: those still standing from the
/// status records, plus rollbacks seen now. Pure.
pub fn holds(
    plan: &Plan,
    statuses: &BTreeMap<String, ServiceStatus>,
    retries: &BTreeMap<String, RetryRequest>,
    now: u64,
) -> BTreeMap<String, HeldRollout> {
    let mut held = BTreeMap::new();
    for sp in &plan.services {
        let Some(desired) = &sp.desired else { continue };
        let status = statuses.get(&sp.name);
        let retried = |h: &HeldRollout| {
            retries
                .get(&sp.name)
                .is_some_and(|r| r.spec_hash == h.spec_hash && r.at >= h.since)
        };
        let recorded = status.and_then(|s| s.held.as_deref().cloned());
        let standing = recorded
            .clone()
            .filter(|h| h.spec_hash == desired.spec_hash && !retried(h));
        let applied_this_spec = status
            .and_then(|s| s.last_applied_hash.as_deref())
            .is_some_and(|h| h == desired.spec_hash);
        let seen_now = sp
            .observed
            .as_ref()
            .and_then(|o| o.rolled_back_from())
            .filter(|_| applied_this_spec)
            // A retried rollback ECS still lists (its tasks are draining) is not a new one.
            .filter(|failed| recorded.as_ref().is_none_or(|h| h.deployment != failed.id))
            .map(|failed| HeldRollout {
                spec_hash: desired.spec_hash.clone(),
                revision: failed.task_definition_arn.clone(),
                deployment: failed.id.clone(),
                reason: failed.reason.clone(),
                since: now,
            });
        // A rollback by hand (`ecs-operator rollback`) tags the service itself.
        let by_hand = sp
            .observed
            .as_ref()
            .and_then(|o| o.tags.get(crate::domain::tags::HELD))
            .and_then(|v| HeldRollout::from_tag(v))
            .filter(|h| h.spec_hash == desired.spec_hash && !retried(h));
        if let Some(h) = standing.or(seen_now).or(by_hand) {
            held.insert(sp.name.clone(), h);
        }
    }
    held
}

/// [`holds`] for a one-shot command: from the records `store` loaded and the retry requests
/// of the services held in them (read only while a hold stands).
pub async fn rolled_back(
    store: &StatusStore,
    aws: &AwsClients,
    plan: &Plan,
    now: u64,
) -> BTreeMap<String, HeldRollout> {
    let retries = store.retries(aws, &store.statuses).await;
    holds(plan, &store.statuses, &retries, now)
}

/// Removes the `ecs-operator.io/held` tag of a rollback by hand once its hold no longer stands
/// (retried, or the manifest changed), so that it cannot come back. Pure.
pub fn release_holds(plan: &mut Plan, held: &BTreeMap<String, HeldRollout>) {
    for sp in &mut plan.services {
        let tagged = (sp.observed.as_ref())
            .is_some_and(|o| o.is_active() && o.tags.contains_key(crate::domain::tags::HELD));
        let deletes = sp
            .steps
            .iter()
            .any(|s| matches!(s, Step::DeleteService { .. }));
        if !tagged || deletes || held.contains_key(&sp.name) || sp.desired.is_none() {
            continue;
        }
        sp.steps.push(Step::UntagService {
            keys: vec![crate::domain::tags::HELD.to_string()],
        });
        if sp.outcome == Outcome::InSync {
            sp.outcome = Outcome::Update;
        }
    }
}

/// Takes the held specs' deployments out of the plan: no new task definition for them. The
/// rest of a service's update stays; a service left with nothing to do is `Held`.
pub fn hold_rolled_back(plan: &mut Plan, held: &BTreeMap<String, HeldRollout>) {
    for sp in &mut plan.services {
        let Some(h) = held.get(&sp.name) else {
            continue;
        };
        // The service does not run the held spec: its spec-hash tag must not say so.
        let deployment_held = sp.withhold_new_revision();
        if !deployment_held {
            continue;
        }
        sp.changes
            .retain(|c| !c.field.starts_with("taskDefinition"));
        if sp.steps.is_empty() {
            sp.outcome = Outcome::Held(format!(
                "{} was rolled back ({}); this spec is not deployed again until the manifest changes or `ecs-operator retry {}`",
                h.revision, h.reason, sp.name
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::domain::tags;
    use crate::plan::{Change, ServicePlan};

    fn plan_of(steps: Vec<Step>) -> Plan {
        Plan {
            services: vec![ServicePlan {
                name: "web".into(),
                cluster: "main".into(),
                outcome: Outcome::Update,
                changes: vec![Change {
                    field: "taskDefinition.containerDefinitions[0].image".into(),
                    from: "nginx:1.27".into(),
                    to: "nginx:1.28".into(),
                }],
                steps,
                wave: 0,
                desired: None,
                observed: None,
                registry_arn: None,
                target_group_arn: None,
            }],
            ..Plan::default()
        }
    }

    fn held() -> BTreeMap<String, HeldRollout> {
        BTreeMap::from([(
            "web".to_string(),
            HeldRollout {
                spec_hash: "h2".into(),
                revision: "arn:aws:ecs:eu-central-1:1:task-definition/web:2".into(),
                deployment: "ecs-svc/1".into(),
                reason: "ECS deployment circuit breaker: tasks failed to start.".into(),
                since: 10,
            },
        )])
    }

    #[test]
    fn a_held_deployment_leaves_the_rest_of_the_update() {
        let mut plan = plan_of(vec![
            Step::RegisterTaskDefinition,
            Step::UpdateService {
                desired_count: Some(3),
                new_task_definition: true,
                fields: BTreeSet::new(),
            },
            Step::TagService {
                tags: BTreeMap::from([
                    (tags::SPEC_HASH.to_string(), "h2".to_string()),
                    ("team".to_string(), "web".to_string()),
                ]),
            },
        ]);
        hold_rolled_back(&mut plan, &held());
        let sp = &plan.services[0];
        assert_eq!(
            sp.steps,
            vec![
                Step::UpdateService {
                    desired_count: Some(3),
                    new_task_definition: false,
                    fields: BTreeSet::new(),
                },
                Step::TagService {
                    tags: BTreeMap::from([("team".to_string(), "web".to_string())]),
                },
            ]
        );
        assert_eq!(sp.outcome, Outcome::Update);
        assert!(sp.changes.is_empty(), "the image change is not planned");
    }

    #[test]
    fn a_held_deployment_alone_is_held_with_the_revision_and_the_reason() {
        let mut plan = plan_of(vec![
            Step::RegisterTaskDefinition,
            Step::UpdateService {
                desired_count: None,
                new_task_definition: true,
                fields: BTreeSet::new(),
            },
        ]);
        hold_rolled_back(&mut plan, &held());
        let sp = &plan.services[0];
        assert!(sp.steps.is_empty());
        assert!(
            matches!(&sp.outcome, Outcome::Held(why) if why.contains("web:2") && why.contains("circuit breaker") && why.contains("ecs-operator retry web")),
            "{:?}",
            sp.outcome
        );
    }
}
