//! Plan: desired vs observed -> what to do, per service. Pure: no I/O, no clock.
//!
//! The guards live here. A resource without this operator's ownership tag is never changed or
//! deleted (a same-named hand-made service is a conflict unless the manifest asks to adopt it).
//! Nothing is pruned when the source failed, came back empty while services are owned, or held
//! a document that could not be attributed to a service; deletions per pass are capped.
//!
//! | module | plans |
//! | --- | --- |
//! | [`service`] | one manifest's task definition, ECS service, Cloud Map service and tags |
//! | [`scaling`] | its scalable target and policies |
//! | [`prune`] | owned services whose manifest is gone, under the guards |
//! | [`predeploy`] | a deployment waiting for (or held by) its pre-deploy task |
//! | [`schedules`] | the EventBridge Scheduler schedules of the manifests' jobs |
//! | [`ingress`] | the target group and listener rule of `traffic.ingress`, and the operator's leftovers |
//!
//! # Guarantees
//! - The same desired state and observation always give the same plan (no I/O, no clock,
//!   sorted output).
//! - An unchanged world plans no step at all: an idle pass makes zero writes.

mod ingress;
pub mod predeploy;
pub mod priorities;
mod prune;
pub mod scaling;
pub mod schedules;
mod service;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use crate::domain::ScalingResourceId;
pub use crate::domain::ServiceField;
use crate::observe::{Observed, ObservedService};
use crate::render::aws::DesiredService;
use priorities::ResolvedPriorities;
use prune::{plan_discovery_leftovers, plan_prune};
use service::plan_service;

/// One field that differs, for people.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub field: String,
    pub from: String,
    pub to: String,
}

/// One write call (or a small group of them) to make.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "camelCase")]
pub enum Step {
    RegisterTaskDefinition,
    CreateDiscovery,
    UpdateDiscoveryTtl {
        id: String,
    },
    CreateService,
    /// Sends only what changed: the new task definition, the desired count (only when it
    /// must change) and the groups of settings in `fields`.
    UpdateService {
        #[serde(rename = "desiredCount")]
        desired_count: Option<i32>,
        #[serde(rename = "newTaskDefinition")]
        new_task_definition: bool,
        #[serde(skip_serializing_if = "BTreeSet::is_empty")]
        fields: BTreeSet<ServiceField>,
    },
    TagService {
        tags: BTreeMap<String, String>,
    },
    /// Removes tags of the operator's own that no longer apply (a released hold).
    UntagService {
        keys: Vec<String>,
    },
    RegisterScalableTarget,
    PutScalingPolicy {
        policy: String,
    },
    DeleteScalingPolicy {
        policy: String,
    },
    DeregisterScalableTarget {
        resource_id: ScalingResourceId,
    },
    DeleteService {
        arn: String,
    },
    DeleteDiscovery {
        id: String,
    },
    /// Runs the pre-deploy task (`spec.preDeploy`) with the task definition the step before
    /// registered (ECS RunTask); the deployment waits for it.
    RunPreDeploy,
    /// Stops a pre-deploy task that ran past its timeout (ECS StopTask).
    StopPreDeploy {
        #[serde(rename = "taskArn")]
        task_arn: String,
    },
    /// The target group of `traffic.ingress`, with its attributes when they differ from
    /// ELBv2's defaults.
    CreateTargetGroup,
    /// Its health check.
    ModifyTargetGroup {
        arn: String,
    },
    ModifyTargetGroupAttributes {
        arn: String,
    },
    CreateListenerRule,
    /// Its conditions and forward action.
    ModifyListenerRule {
        arn: String,
    },
    SetRulePriority {
        arn: String,
        priority: i32,
    },
    DeleteListenerRule {
        arn: String,
    },
    DeleteTargetGroup {
        arn: String,
    },
}

/// What happens to a service overall.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "camelCase")]
pub enum Outcome {
    Create,
    Update,
    InSync,
    Delete,
    /// A resource with this name exists and is not ours.
    Conflict(String),
    Suspended,
    /// Waiting for a dependency.
    Waiting(String),
    /// Owned, manifest gone, but not deleted (prune off, or a guard held).
    Kept(String),
    /// ECS rolled this spec back: it is not deployed again until the manifest changes or a
    /// retry is asked for (`reconcile::rollback`).
    Held(String),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlan {
    pub name: String,
    pub cluster: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// Dependency wave: services in wave n are applied after wave n-1.
    pub wave: usize,
    #[serde(skip)]
    pub desired: Option<Arc<DesiredService>>,
    #[serde(skip)]
    pub observed: Option<Arc<ObservedService>>,
    /// The Cloud Map service ARN, if one exists already.
    #[serde(skip)]
    pub registry_arn: Option<String>,
    /// The owned target group's ARN (`traffic.ingress`), if it exists already.
    #[serde(skip)]
    pub target_group_arn: Option<String>,
}

impl ServicePlan {
    /// Takes the new revision out of the steps: no RegisterTaskDefinition, no new task
    /// definition in UpdateService, no spec-hash tag (the service will not run that spec);
    /// steps left with nothing to do go. What else an update corrects (desired count,
    /// network, other tags) stays. Returns whether the plan held a new revision.
    pub fn withhold_new_revision(&mut self) -> bool {
        let before = self.steps.len();
        self.steps.retain(|s| *s != Step::RegisterTaskDefinition);
        let mut held = self.steps.len() != before;
        for step in &mut self.steps {
            match step {
                Step::UpdateService {
                    new_task_definition,
                    ..
                } => {
                    held |= *new_task_definition;
                    *new_task_definition = false;
                }
                Step::TagService { tags } => {
                    tags.remove(crate::domain::tags::SPEC_HASH);
                }
                _ => {}
            }
        }
        self.steps.retain(|s| match s {
            Step::UpdateService {
                desired_count: None,
                new_task_definition: false,
                fields,
            } => !fields.is_empty(),
            Step::TagService { tags } => !tags.is_empty(),
            _ => true,
        });
        held
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub services: Vec<ServicePlan>,
    /// The schedules of the manifests' jobs ([`schedules`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<schedules::SchedulePlan>,
    /// Guard decisions and other remarks for the operator's user.
    pub notes: Vec<String>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.services.iter().any(|s| !s.steps.is_empty())
            || (self.schedules.iter()).any(|s| {
                matches!(
                    s.action,
                    schedules::ScheduleAction::Create
                        | schedules::ScheduleAction::Update
                        | schedules::ScheduleAction::Delete
                )
            })
    }
}

/// What the planner needs besides desired and observed.
#[derive(Debug, Clone)]
pub struct PlanOptions<'a> {
    pub operator_id: &'a str,
    /// Every service name the source mentions, valid or not (those are never pruned).
    pub known_names: &'a BTreeSet<String>,
    /// Names whose manifests carry the adopt annotation.
    pub adopt: &'a BTreeSet<String>,
    /// False when the source failed or held documents without a readable name.
    pub source_complete: bool,
    /// Prune even when the source holds no manifests at all.
    pub allow_empty: bool,
    pub max_prune: usize,
    pub discovery_description: String,
}

/// Marker written into Cloud Map service descriptions: ListServices returns descriptions, so
/// ownership (and the namespace) is known without a lookup per service.
pub fn discovery_description(operator_id: &str, namespace_id: &str) -> String {
    format!("managed by ecs-operator ({operator_id}) in {namespace_id}")
}

///
/// The desired services may be given shared (`Arc`, as a pass renders them: the plan then
/// holds the same copy, not another) or owned (tests).
pub fn plan<D>(desired: &[D], observed: &Observed, options: &PlanOptions<'_>) -> Plan
where
    D: Clone + Into<Arc<DesiredService>>,
{
    let desired: Vec<Arc<DesiredService>> = desired.iter().cloned().map(Into::into).collect();
    let desired = desired.as_slice();
    let mut plan = Plan::default();
    let waves = dependency_waves(desired);
    let priorities = ResolvedPriorities::resolve(desired, observed, options.operator_id);
    for d in desired {
        let wave = waves.get(&d.name).copied().unwrap_or(0);
        plan.services
            .push(plan_service(priorities.apply(d), observed, options, wave));
    }
    // Dependencies that do not exist yet and are not created in this pass make a service wait.
    let existing_or_planned: BTreeSet<String> = plan
        .services
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                Outcome::Create | Outcome::Update | Outcome::InSync
            )
        })
        .map(|s| s.name.clone())
        .collect();
    for s in &mut plan.services {
        if let Some(d) = &s.desired {
            let missing: Vec<&String> = d
                .depends_on
                .iter()
                .filter(|dep| !existing_or_planned.contains(*dep))
                .collect();
            if !missing.is_empty() && s.outcome == Outcome::Create {
                s.outcome = Outcome::Waiting(format!(
                    "waiting for {}",
                    missing
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                s.steps.clear();
            }
        }
    }
    plan_prune(&mut plan, desired, observed, options);
    plan_discovery_leftovers(&mut plan, desired, observed, options);
    ingress::plan_ingress_leftovers(&mut plan, desired, observed, options);
    plan.services
        .sort_by(|a, b| (a.wave, &a.name).cmp(&(b.wave, &b.name)));
    plan
}

fn dependency_waves(desired: &[Arc<DesiredService>]) -> BTreeMap<String, usize> {
    let by_name: BTreeMap<&str, &DesiredService> =
        desired.iter().map(|d| (d.name.as_str(), &**d)).collect();
    let mut waves = BTreeMap::new();
    fn depth<'a>(
        name: &'a str,
        by_name: &BTreeMap<&'a str, &'a DesiredService>,
        waves: &mut BTreeMap<String, usize>,
        guard: usize,
    ) -> usize {
        if let Some(w) = waves.get(name) {
            return *w;
        }
        let w = match by_name.get(name) {
            Some(d) if guard < 64 => d
                .depends_on
                .iter()
                .map(|dep| depth(dep, by_name, waves, guard + 1) + 1)
                .max()
                .unwrap_or(0),
            _ => 0,
        };
        waves.insert(name.to_string(), w);
        w
    }
    for d in desired {
        depth(&d.name, &by_name, &mut waves, 0);
    }
    waves
}

fn owned_by(service: &ObservedService, operator_id: &str) -> bool {
    service.owner() == Some(operator_id)
}

fn change(field: &str, from: impl std::fmt::Display, to: impl std::fmt::Display) -> Change {
    Change {
        field: field.to_string(),
        from: from.to_string(),
        to: to.to_string(),
    }
}

/// The elements of a list by their `name`, when every element is an object with a name of
/// its own (containers, volumes, port mappings): such lists are compared element by element.
fn by_name(items: &[serde_json::Value]) -> Option<BTreeMap<&str, &serde_json::Value>> {
    let mut out = BTreeMap::new();
    for item in items {
        let name = item.get("name")?.as_str()?;
        if out.insert(name, item).is_some() {
            return None;
        }
    }
    Some(out)
}

/// Field-level differences between two serialisable values, as dotted paths; lists of named
/// elements by name (`taskDefinition.sidecars[envoy].image`), an element added or removed as
/// a change of `list[name]` from or to null.
pub fn diff_values(
    prefix: &str,
    from: &serde_json::Value,
    to: &serde_json::Value,
    out: &mut Vec<Change>,
) {
    use serde_json::Value;
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let null = Value::Null;
                diff_values(
                    &format!("{prefix}.{k}"),
                    a.get(k).unwrap_or(&null),
                    b.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        // A list left out when empty (sidecars, volumes) against one with named elements.
        (Value::Null, Value::Array(b)) if by_name(b).is_some() => {
            diff_values(prefix, &Value::Array(Vec::new()), to, out)
        }
        (Value::Array(a), Value::Null) if by_name(a).is_some() => {
            diff_values(prefix, from, &Value::Array(Vec::new()), out)
        }
        (Value::Array(a), Value::Array(b)) if a != b => match (by_name(a), by_name(b)) {
            (Some(a), Some(b)) => {
                let names: BTreeSet<&str> = a.keys().chain(b.keys()).copied().collect();
                for name in names {
                    let null = Value::Null;
                    diff_values(
                        &format!("{prefix}[{name}]"),
                        a.get(name).copied().unwrap_or(&null),
                        b.get(name).copied().unwrap_or(&null),
                        out,
                    );
                }
            }
            _ => out.push(change(prefix, from, to)),
        },
        (a, b) if a != b => out.push(change(prefix, a, b)),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
