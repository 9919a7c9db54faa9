//! Plan: desired vs observed -> what to do, per service. Pure: no I/O, no clock.
//!
//! The guards live here. A resource without this operator's ownership tag is never changed or
//! deleted (a same-named hand-made service is a conflict unless the manifest asks to adopt it).
//! Nothing is pruned when the source failed, came back empty while services are owned, or held
//! a document that could not be attributed to a service; deletions per pass are capped.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::observe::{Observed, ObservedService};
use crate::render::aws::{DesiredService, TargetTrackingPolicy, PRUNE_TAG};
use crate::settings::MANIFEST_TAG;

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
    /// Sends the full desired configuration; `desired_count` only when it must change.
    UpdateService {
        #[serde(rename = "desiredCount")]
        desired_count: Option<i32>,
        #[serde(rename = "newTaskDefinition")]
        new_task_definition: bool,
    },
    TagService {
        tags: BTreeMap<String, String>,
    },
    RegisterScalableTarget,
    PutScalingPolicy {
        policy: String,
    },
    DeleteScalingPolicy {
        policy: String,
    },
    DeregisterScalableTarget {
        resource_id: String,
    },
    DeleteService {
        arn: String,
    },
    DeleteDiscovery {
        id: String,
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
    pub desired: Option<DesiredService>,
    #[serde(skip)]
    pub observed: Option<ObservedService>,
    /// The Cloud Map service ARN, if one exists already.
    #[serde(skip)]
    pub registry_arn: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub services: Vec<ServicePlan>,
    /// Guard decisions and other remarks for the operator's user.
    pub notes: Vec<String>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.services.iter().any(|s| !s.steps.is_empty())
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

pub fn plan(desired: &[DesiredService], observed: &Observed, options: &PlanOptions<'_>) -> Plan {
    let mut plan = Plan::default();
    let waves = dependency_waves(desired);
    for d in desired {
        let wave = waves.get(&d.name).copied().unwrap_or(0);
        plan.services.push(plan_service(d, observed, options, wave));
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
    plan.services
        .sort_by(|a, b| (a.wave, &a.name).cmp(&(b.wave, &b.name)));
    plan
}

fn dependency_waves(desired: &[DesiredService]) -> BTreeMap<String, usize> {
    let by_name: BTreeMap<&str, &DesiredService> =
        desired.iter().map(|d| (d.name.as_str(), d)).collect();
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

fn plan_service(
    d: &DesiredService,
    observed: &Observed,
    options: &PlanOptions<'_>,
    wave: usize,
) -> ServicePlan {
    let mut sp = ServicePlan {
        name: d.name.clone(),
        cluster: d.cluster.clone(),
        outcome: Outcome::InSync,
        changes: Vec::new(),
        steps: Vec::new(),
        wave,
        desired: Some(d.clone()),
        observed: None,
        registry_arn: None,
    };
    let existing = observed
        .services
        .get(&(d.cluster.clone(), d.name.clone()))
        .filter(|s| s.is_active());
    if let Some(s) = existing {
        sp.observed = Some(s.clone());
        // Adopting takes over hand-made services only, never another operator's.
        let adoptable = options.adopt.contains(&d.name) && s.owner().is_none();
        if !owned_by(s, options.operator_id) && !adoptable {
            sp.outcome = Outcome::Conflict(match s.owner() {
                Some(other) => format!(
                    "ECS service {} in cluster {} is not managed by this operator: it belongs to another operator (owner tag {other:?}) and is never adopted",
                    d.name, d.cluster
                ),
                None => format!(
                    "ECS service {} exists in cluster {} and is not managed by this operator (owner tag missing); add the annotation ecs-operator.io/adopt: \"true\" to take it over",
                    d.name, d.cluster
                ),
            });
            return sp;
        }
    }
    if d.suspend {
        sp.outcome = Outcome::Suspended;
        return sp;
    }

    // Cloud Map first: the ECS service references it.
    if let Some(want) = d.discovery.as_ref().filter(|w| w.namespace_id.is_some()) {
        match observed.discovery.get(&want.name) {
            None => sp.steps.push(Step::CreateDiscovery),
            Some(found) if found.description != options.discovery_description => {
                sp.outcome = Outcome::Conflict(format!(
                    "Cloud Map service {} exists and is not managed by this operator",
                    want.name
                ));
                sp.steps.clear();
                return sp;
            }
            Some(found) => {
                sp.registry_arn = Some(found.arn.clone());
                if found
                    .dns_ttl_seconds
                    .is_some_and(|ttl| ttl != want.dns_ttl_seconds)
                {
                    sp.changes.push(change(
                        "discovery.dnsTtlSeconds",
                        found.dns_ttl_seconds.unwrap_or_default(),
                        want.dns_ttl_seconds,
                    ));
                    sp.steps.push(Step::UpdateDiscoveryTtl {
                        id: found.id.clone(),
                    });
                }
            }
        }
    }

    match existing {
        None => {
            sp.outcome = Outcome::Create;
            sp.steps.push(Step::RegisterTaskDefinition);
            sp.steps.push(Step::CreateService);
        }
        Some(s) => {
            let td_changes = diff_task_definition(d, s);
            let new_task_definition = !td_changes.is_empty();
            sp.changes.extend(td_changes);
            let (service_changes, desired_count) = diff_service(d, s, sp.registry_arn.as_deref());
            let service_changed = !service_changes.is_empty();
            sp.changes.extend(service_changes);
            if new_task_definition {
                sp.steps.push(Step::RegisterTaskDefinition);
            }
            if new_task_definition || service_changed {
                sp.steps.push(Step::UpdateService {
                    desired_count,
                    new_task_definition,
                });
            }
            let missing_tags: BTreeMap<String, String> = d
                .tags
                .iter()
                .filter(|(k, v)| s.tags.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !missing_tags.is_empty() {
                for (k, v) in &missing_tags {
                    sp.changes.push(change(
                        &format!("tags.{k}"),
                        s.tags.get(k).cloned().unwrap_or_else(|| "(none)".into()),
                        v,
                    ));
                }
                sp.steps.push(Step::TagService { tags: missing_tags });
            }
        }
    }

    plan_scaling(&mut sp, d, observed);
    if sp.outcome == Outcome::InSync && !sp.steps.is_empty() {
        sp.outcome = Outcome::Update;
    }
    sp
}

fn change(field: &str, from: impl std::fmt::Display, to: impl std::fmt::Display) -> Change {
    Change {
        field: field.to_string(),
        from: from.to_string(),
        to: to.to_string(),
    }
}

/// Field-level differences between two serialisable values, as dotted paths.
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
        (a, b) if a != b => out.push(change(prefix, a, b)),
        _ => {}
    }
}

fn diff_task_definition(d: &DesiredService, s: &ObservedService) -> Vec<Change> {
    let mut changes = Vec::new();
    match &s.task_definition {
        None => changes.push(change(
            "taskDefinition",
            s.task_definition_arn.as_str(),
            "(a new revision)",
        )),
        Some(current) => {
            let a = serde_json::to_value(current).unwrap_or_default();
            let b = serde_json::to_value(&d.task_definition).unwrap_or_default();
            diff_values("taskDefinition", &a, &b, &mut changes);
        }
    }
    changes
}

/// Compares the service settings ECS reports. A field ECS does not report is unknown, not
/// drift. Returns the changes and the desired count to set, if it must change.
fn diff_service(
    d: &DesiredService,
    s: &ObservedService,
    registry_arn: Option<&str>,
) -> (Vec<Change>, Option<i32>) {
    let want = &d.service;
    let mut changes = Vec::new();
    let desired_count = match want.autoscaled_range {
        // Inside the range the autoscaler decides; outside it, bring it back to the edge.
        Some((min, _)) if s.desired_count < min => Some(min),
        Some((_, max)) if s.desired_count > max => Some(max),
        Some(_) => None,
        None if s.desired_count != want.desired_count => Some(want.desired_count),
        None => None,
    };
    if let Some(count) = desired_count {
        changes.push(change("service.desiredCount", s.desired_count, count));
    }
    let list = |v: &[String]| v.join(",");
    if let Some(subnets) = &s.subnets {
        if *subnets != want.subnets {
            changes.push(change(
                "service.subnets",
                list(subnets),
                list(&want.subnets),
            ));
        }
    }
    if let Some(groups) = &s.security_groups {
        if *groups != want.security_groups {
            changes.push(change(
                "service.securityGroups",
                list(groups),
                list(&want.security_groups),
            ));
        }
    }
    if let Some(public) = s.assign_public_ip {
        if public != want.assign_public_ip {
            changes.push(change(
                "service.assignPublicIp",
                public,
                want.assign_public_ip,
            ));
        }
    }
    if let Some((min, max, enabled, rollback)) = s.deployment {
        let wanted = (
            want.minimum_healthy_percent,
            want.maximum_percent,
            want.circuit_breaker_enabled,
            want.circuit_breaker_rollback,
        );
        if (min, max, enabled, rollback) != wanted {
            changes.push(change(
                "service.deploymentConfiguration",
                format!("min {min}% max {max}% breaker {enabled} rollback {rollback}"),
                format!(
                    "min {}% max {}% breaker {} rollback {}",
                    wanted.0, wanted.1, wanted.2, wanted.3
                ),
            ));
        }
    }
    if let Some(provider) = &s.capacity_provider {
        if *provider != want.capacity_provider {
            changes.push(change(
                "service.capacityProvider",
                provider,
                &want.capacity_provider,
            ));
        }
    }
    let mut observed_lbs = s.load_balancers.clone();
    observed_lbs.sort_by(|a, b| a.target_group_arn.cmp(&b.target_group_arn));
    if observed_lbs != want.load_balancers {
        let show = |v: &[crate::render::aws::LoadBalancerAttachment]| {
            v.iter()
                .map(|l| l.target_group_arn.clone())
                .collect::<Vec<_>>()
                .join(",")
        };
        changes.push(change(
            "service.loadBalancers",
            show(&observed_lbs),
            show(&want.load_balancers),
        ));
    }
    if let Some(arn) = registry_arn {
        if s.registry_arns != [arn.to_string()] {
            changes.push(change(
                "service.serviceRegistries",
                s.registry_arns.join(","),
                arn,
            ));
        }
    }
    if s.enable_execute_command != want.enable_execute_command {
        changes.push(change(
            "service.enableExecuteCommand",
            s.enable_execute_command,
            want.enable_execute_command,
        ));
    }
    if let (Some(have), Some(wanted)) = (
        s.health_check_grace_period_seconds,
        want.health_check_grace_period_seconds,
    ) {
        if have != wanted {
            changes.push(change(
                "service.healthCheckGracePeriodSeconds",
                have,
                wanted,
            ));
        }
    }
    if let Some(propagate) = &s.propagate_tags {
        if *propagate != want.propagate_tags {
            changes.push(change(
                "service.propagateTags",
                propagate,
                &want.propagate_tags,
            ));
        }
    }
    (changes, desired_count)
}

fn same_policy(a: &TargetTrackingPolicy, b: &TargetTrackingPolicy) -> bool {
    a.name == b.name
        && a.metric == b.metric
        && a.resource_label == b.resource_label
        && (a.target_value - b.target_value).abs() < 1e-9
        && a.scale_in_cooldown == b.scale_in_cooldown
        && a.scale_out_cooldown == b.scale_out_cooldown
}

fn plan_scaling(sp: &mut ServicePlan, d: &DesiredService, observed: &Observed) {
    let resource_id = format!("service/{}/{}", d.cluster, d.name);
    let have = observed.scaling.get(&resource_id);
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
                        sp.changes.push(change(
                            &format!("scaling.policies.{}", p.name),
                            found
                                .map(|e| format!("{} {}", e.metric, e.target_value))
                                .unwrap_or_else(|| "(none)".into()),
                            format!("{} {}", p.metric, p.target_value),
                        ));
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
}

fn plan_prune(
    plan: &mut Plan,
    desired: &[DesiredService],
    observed: &Observed,
    options: &PlanOptions<'_>,
) {
    let wanted: BTreeSet<(&str, &str)> = desired
        .iter()
        .map(|d| (d.cluster.as_str(), d.name.as_str()))
        .collect();
    let orphans: Vec<&ObservedService> = observed
        .services
        .values()
        .filter(|s| s.is_active() && owned_by(s, options.operator_id))
        .filter(|s| !wanted.contains(&(s.cluster.as_str(), s.name.as_str())))
        .filter(|s| {
            let manifest = s.tags.get(MANIFEST_TAG).unwrap_or(&s.name);
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
        let prune_allowed = s.tags.get(PRUNE_TAG).map(String::as_str) == Some("true");
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
            let resource_id = format!("service/{}/{}", s.cluster, s.name);
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
