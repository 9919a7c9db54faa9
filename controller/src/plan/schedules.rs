//! The schedules of the manifests' jobs: desired vs the operator's schedule group, field by
//! field. Pure. A schedule without the operator's marker is never changed or deleted (a job
//! wanting its name is a conflict); an owned schedule no job wants is deleted only when the
//! source is complete and its service's manifest is not merely invalid.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{diff_values, Change};
use crate::observe::schedules::{ObservedSchedule, ScheduleSpec};

/// What to do with one schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", content = "reason", rename_all = "camelCase")]
pub enum ScheduleAction {
    Create,
    Update,
    Delete,
    InSync,
    /// A schedule of that name exists and is not the operator's.
    Conflict(String),
}

/// One schedule's plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulePlan {
    pub name: String,
    /// The service whose job it is (empty for a prune whose service is unknown).
    pub service: String,
    #[serde(flatten)]
    pub action: ScheduleAction,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    #[serde(skip)]
    pub desired: Option<ScheduleSpec>,
}

/// The marker starting the description of every schedule of the operator `operator_id`.
pub fn marker(operator_id: &str) -> String {
    format!("managed by ecs-operator ({operator_id})")
}

/// A wanted schedule: its service and spec.
pub struct WantedSchedule {
    pub service: String,
    pub spec: ScheduleSpec,
}

/// Plans every schedule. `invalid_services`: services whose manifests are known but invalid
/// (their schedules are kept); `prune`: the source is complete.
pub fn plan_schedules(
    wanted: &BTreeMap<String, WantedSchedule>,
    observed: &BTreeMap<String, ObservedSchedule>,
    marker: &str,
    invalid_services: &BTreeSet<String>,
    prune: bool,
) -> Vec<SchedulePlan> {
    let owned = |o: &ObservedSchedule| o.spec.description.starts_with(marker);
    let mut plans = Vec::new();
    for (name, w) in wanted {
        let mut plan = SchedulePlan {
            name: name.clone(),
            service: w.service.clone(),
            action: ScheduleAction::InSync,
            changes: Vec::new(),
            desired: Some(w.spec.clone()),
        };
        match observed.get(name) {
            None => plan.action = ScheduleAction::Create,
            Some(o) if !owned(o) => {
                plan.action = ScheduleAction::Conflict(format!(
                    "schedule {name} exists in the operator's group and is not managed by this operator"
                ))
            }
            Some(o) => {
                diff_values(
                    "schedule",
                    &serde_json::json!(o.spec),
                    &serde_json::json!(w.spec),
                    &mut plan.changes,
                );
                if !plan.changes.is_empty() {
                    plan.action = ScheduleAction::Update;
                }
            }
        }
        plans.push(plan);
    }
    for (name, o) in observed {
        if wanted.contains_key(name) || !owned(o) {
            continue;
        }
        let kept = invalid_services
            .iter()
            .any(|service| name.starts_with(&format!("{service}-")));
        if prune && !kept {
            plans.push(SchedulePlan {
                name: name.clone(),
                service: String::new(),
                action: ScheduleAction::Delete,
                changes: Vec::new(),
                desired: None,
            });
        }
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(expression: &str, description: &str) -> ScheduleSpec {
        ScheduleSpec {
            description: description.into(),
            schedule_expression: expression.into(),
            schedule_expression_timezone: "UTC".into(),
            state: "ENABLED".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:1:cluster/main".into(),
            role_arn: "arn:aws:iam::1:role/scheduler".into(),
            task_definition_arn: "arn:aws:ecs:us-east-1:1:task-definition/web:3".into(),
            capacity_provider_strategy: Vec::new(),
            subnets: vec!["subnet-a".into()],
            security_groups: Vec::new(),
            assign_public_ip: false,
            task_group: "job:web-nightly".into(),
            input: "{}".into(),
            maximum_retry_attempts: 3,
            maximum_event_age_in_seconds: 3600,
            dead_letter_queue_arn: None,
            task_tags: BTreeMap::from([("ecs-operator.io/owner".into(), "op".into())]),
            ecs_managed_tags: true,
        }
    }

    fn observed(name: &str, s: ScheduleSpec) -> (String, ObservedSchedule) {
        let o = ObservedSchedule {
            name: name.into(),
            spec: s,
            created_at: 0,
            last_modified: 0,
        };
        (name.to_string(), o)
    }

    #[test]
    fn a_changed_expression_is_an_update_naming_the_field_and_foreign_schedules_are_untouched() {
        let m = marker("op");
        let wanted = BTreeMap::from([(
            "web-nightly".to_string(),
            WantedSchedule {
                service: "web".into(),
                spec: spec("rate(1 hour)", &format!("{m}: job nightly of web")),
            },
        )]);
        let seen = BTreeMap::from([
            observed(
                "web-nightly",
                spec("rate(2 hours)", &format!("{m}: job nightly of web")),
            ),
            observed("hand-made", spec("rate(1 day)", "mine")),
            observed(
                "gone-job",
                spec("rate(1 day)", &format!("{m}: job job of gone")),
            ),
        ]);
        let plans = plan_schedules(&wanted, &seen, &m, &BTreeSet::new(), true);
        assert_eq!(plans[0].action, ScheduleAction::Update);
        assert_eq!(plans[0].changes[0].field, "schedule.scheduleExpression");
        assert_eq!(plans.len(), 2, "{plans:?}");
        assert_eq!(
            (plans[1].name.as_str(), &plans[1].action),
            ("gone-job", &ScheduleAction::Delete)
        );
        let kept = plan_schedules(
            &wanted,
            &seen,
            &m,
            &BTreeSet::from(["gone".to_string()]),
            true,
        );
        assert_eq!(kept.len(), 1, "an invalid manifest keeps its schedules");
        assert_eq!(
            plan_schedules(&wanted, &seen, &m, &BTreeSet::new(), false).len(),
            1
        );
        let foreign = BTreeMap::from([observed("web-nightly", spec("rate(1 hour)", "mine"))]);
        assert!(matches!(
            plan_schedules(&wanted, &foreign, &m, &BTreeSet::new(), true)[0].action,
            ScheduleAction::Conflict(_)
        ));
    }
}
