//! Planning one manifest: Cloud Map first, then the task definition and the ECS service,
//! compared field by field with what ECS reports, then the tags.

use std::sync::Arc;

use std::collections::{BTreeMap, BTreeSet};

use super::scaling::plan_scaling;
use super::{
    change, diff_values, owned_by, Change, Outcome, PlanOptions, ServiceField, ServicePlan, Step,
};
use crate::domain::tags;
use crate::observe::{Observed, ObservedService, ServiceState};
use crate::render::aws::DesiredService;

pub(super) fn plan_service(
    shared: Arc<DesiredService>,
    observed: &Observed,
    options: &PlanOptions<'_>,
    wave: usize,
) -> ServicePlan {
    let d: &DesiredService = &shared;
    let mut sp = ServicePlan {
        name: d.name.clone(),
        cluster: d.cluster.clone(),
        outcome: Outcome::InSync,
        changes: Vec::new(),
        steps: Vec::new(),
        wave,
        desired: Some(Arc::clone(&shared)),
        observed: None,
        registry_arn: None,
        target_group_arn: None,
    };
    // A deleted service drains its tasks before its name is free again: creating it now
    // would fail (real ECS; moto never drains), so wait for ECS to finish.
    if observed
        .services
        .get(&d.key())
        .is_some_and(|s| s.state == ServiceState::Draining)
    {
        sp.outcome = Outcome::Waiting(format!(
            "a service named {} is still draining in cluster {}; it is created once ECS has removed it",
            d.name, d.cluster
        ));
        return sp;
    }
    let existing = observed.active(&d.key());
    if let Some(s) = existing {
        sp.observed = Some(Arc::clone(s));
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

    // The target group and its rule before the ECS service: ECS attaches only a target group
    // that a load balancer routes to.
    let resolved;
    let d = match super::ingress::plan_ingress(d, observed, options) {
        Err(conflict) => {
            sp.outcome = Outcome::Conflict(conflict);
            sp.steps.clear();
            sp.changes.clear();
            return sp;
        }
        Ok(ingress) => {
            sp.changes.extend(ingress.changes);
            sp.steps.extend(ingress.steps);
            sp.target_group_arn.clone_from(&ingress.target_group_arn);
            match ingress.target_group_arn {
                Some(arn) => {
                    resolved = Arc::new(d.with_target_group(&arn));
                    sp.desired = Some(resolved.clone());
                    resolved.as_ref()
                }
                None => d,
            }
        }
    };
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
            // ECS has no way to put a service created with a capacity provider strategy (as
            // the operator creates them) on a launch type: UpdateService takes no launchType.
            // So an owned service reporting one is an emulator's artefact (moto drops the
            // strategy and reports "EC2") or a legacy; only a service being adopted is moved
            // from its launch type to the strategy.
            let moving_off_launch_type = s.owner().is_none() || options.adopt.contains(&d.name);
            let (service_changes, desired_count) =
                diff_service(d, s, sp.registry_arn.as_deref(), moving_off_launch_type);
            let fields: BTreeSet<ServiceField> = service_changes
                .iter()
                .filter_map(|c| c.field.strip_prefix("service."))
                .filter_map(|path| ServiceField::of(path.split('.').next().unwrap_or(path)))
                .collect();
            let service_changed = !service_changes.is_empty();
            sp.changes.extend(service_changes);
            let mut missing_tags: BTreeMap<String, String> = d
                .tags
                .iter()
                .filter(|(k, v)| s.tags.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (k, v) in &missing_tags {
                sp.changes.push(change(
                    &format!("tags.{k}"),
                    s.tags.get(k).cloned().unwrap_or_else(|| "(none)".into()),
                    v,
                ));
            }
            // Adopting: claim the service with the ownership tag before changing it. The
            // bootstrap's IAM allows UpdateService only on services that carry it, and a
            // half-done adoption is then finished by the next pass as an owned service.
            if s.owner().is_none() {
                if let Some(owner) = missing_tags.remove_entry(tags::OWNER) {
                    sp.steps.push(Step::TagService {
                        tags: BTreeMap::from([owner]),
                    });
                }
            }
            if new_task_definition {
                sp.steps.push(Step::RegisterTaskDefinition);
            }
            if new_task_definition || service_changed {
                sp.steps.push(Step::UpdateService {
                    desired_count,
                    new_task_definition,
                    fields,
                });
            }
            if !missing_tags.is_empty() {
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

fn diff_task_definition(d: &DesiredService, s: &ObservedService) -> Vec<Change> {
    let mut changes = Vec::new();
    match &s.task_definition {
        None => changes.push(change(
            "taskDefinition",
            s.task_definition_arn.as_str(),
            "(a new revision)",
        )),
        // Equal values serialise equally: the field-by-field diff is only for the others
        // (most services in a pass are in sync, and serialising both was most of a plan).
        Some(current) if **current == d.task_definition => {}
        Some(current) => {
            let a = serde_json::to_value(&**current).unwrap_or_default();
            let b = serde_json::to_value(&d.task_definition).unwrap_or_default();
            diff_values("taskDefinition", &a, &b, &mut changes);
        }
    }
    changes
}

/// Fields of [`crate::render::aws::EcsService`] the service diff never compares: the name is
/// the key, the desired count has its own rule (the autoscaler owns it inside the range), and
/// ECS-managed tags cannot be changed after creation.
const NOT_COMPARED: [&str; 4] = [
    "name",
    "desiredCount",
    "autoscaledRange",
    "enableEcsManagedTags",
];

/// Lists where "empty" is a statement (no load balancer), not "unset".
const EMPTY_MEANS_NONE: [&str; 1] = ["loadBalancers"];

/// Settings the desired state leaves out when they are off (no deployment alarms, a rolling
/// update): absent is a statement, so one ECS still reports is drift to remove.
const ABSENT_MEANS_OFF: [&str; 3] = ["deploymentAlarms", "deploymentStrategy", "spotMix"];

/// Compares the service settings ECS reports with the desired ones, field by field, the way
/// task definitions are compared. A field ECS does not report is unknown, not drift; a field
/// the desired state leaves unset is ECS's choice. Returns the changes and the desired count
/// to set, if it must change.
fn diff_service(
    d: &DesiredService,
    s: &ObservedService,
    registry_arn: Option<&str>,
    moving_off_launch_type: bool,
) -> (Vec<Change>, Option<i32>) {
    let want = &d.service;
    let mut changes = Vec::new();
    let have = s.tasks.desired;
    let desired_count = match want.autoscaled_range {
        // Inside the range the autoscaler decides; outside it, bring it back to the edge.
        Some((min, _)) if have < min => Some(min),
        Some((_, max)) if have > max => Some(max),
        Some(_) => None,
        None if have != want.desired_count => Some(want.desired_count),
        None => None,
    };
    if let Some(count) = desired_count {
        changes.push(change("service.desiredCount", have, count));
    }
    // Equal but for the fields never compared, with nothing unknown: no field can differ,
    // so the serialising diff below (most of a plan's time) is left out.
    let same = s.config.unknown.is_empty() && {
        let mut have = s.config.service.clone();
        have.name.clone_from(&want.name);
        have.desired_count = want.desired_count;
        have.autoscaled_range = want.autoscaled_range;
        have.enable_ecs_managed_tags = want.enable_ecs_managed_tags;
        have == *want
    };
    if !same {
        diff_service_fields(want, s, moving_off_launch_type, &mut changes);
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
    (changes, desired_count)
}

/// The field-by-field part of [`diff_service`].
fn diff_service_fields(
    want: &crate::render::aws::EcsService,
    s: &ObservedService,
    moving_off_launch_type: bool,
    changes: &mut Vec<Change>,
) {
    let mut desired_fields = serde_json::to_value(want).unwrap_or_default();
    let mut observed_fields = serde_json::to_value(&s.config.service).unwrap_or_default();
    if let (Some(desired_map), Some(observed_map)) = (
        desired_fields.as_object_mut(),
        observed_fields.as_object_mut(),
    ) {
        for field in EMPTY_MEANS_NONE {
            for map in [&mut *desired_map, &mut *observed_map] {
                map.entry(field)
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            }
        }
        for field in ABSENT_MEANS_OFF {
            for map in [&mut *desired_map, &mut *observed_map] {
                map.entry(field).or_insert(serde_json::Value::Null);
            }
        }
        for field in NOT_COMPARED.iter().chain(s.config.unknown.iter()) {
            desired_map.remove(*field);
            observed_map.remove(*field);
        }
        let on_launch_type = observed_map
            .get("capacityProvider")
            .and_then(|v| v.as_str())
            .is_some_and(|p| p.starts_with(crate::observe::LAUNCH_TYPE_PREFIX));
        if on_launch_type && !moving_off_launch_type {
            desired_map.remove("capacityProvider");
        }
        observed_map.retain(|field, _| desired_map.contains_key(field));
    }
    diff_values("service", &observed_fields, &desired_fields, changes);
}
