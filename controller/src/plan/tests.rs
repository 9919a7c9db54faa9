//! The planner against hand-built observations: no AWS, no clock.

use std::collections::BTreeSet;

use super::*;
use crate::domain::tags;
use crate::observe::ObservedScaling;
use crate::render::render_service;
use crate::settings::Settings;
use crate::yaml;

const OPERATOR: &str = "op";

fn settings() -> Settings {
    let mut s = Settings::local_defaults();
    s.operator_id = OPERATOR.into();
    s.service_discovery_namespace_id = Some("ns-1".into());
    s
}

fn desired(name: &str, extra: &str) -> DesiredService {
    let text = format!(
        "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: {name}\nspec:\n  container:\n    image: nginx:1\n  notify:\n    team: web\n{extra}"
    );
    render_service(&yaml::from_str(&text).unwrap(), &settings())
}

fn as_created(d: &DesiredService) -> ObservedService {
    ObservedService::as_created(d)
}

fn observed_of(services: Vec<ObservedService>) -> Observed {
    Observed {
        services: services.into_iter().map(|s| (s.key(), s)).collect(),
        ..Observed::default()
    }
}

fn plan_one(d: &DesiredService, observed: &Observed) -> ServicePlan {
    plan_all(std::slice::from_ref(d), observed)
        .services
        .into_iter()
        .find(|s| s.name == d.name)
        .unwrap()
}

fn plan_all(desired: &[DesiredService], observed: &Observed) -> Plan {
    let known: BTreeSet<String> = desired.iter().map(|d| d.name.clone()).collect();
    let adopt = BTreeSet::new();
    let options = PlanOptions {
        operator_id: OPERATOR,
        known_names: &known,
        adopt: &adopt,
        source_complete: true,
        allow_empty: false,
        max_prune: 3,
        discovery_description: discovery_description(OPERATOR, "ns-1"),
    };
    plan(desired, observed, &options)
}

fn without_discovery(d: &mut DesiredService) {
    d.discovery = None;
}

fn fields(sp: &ServicePlan) -> Vec<&str> {
    sp.changes.iter().map(|c| c.field.as_str()).collect()
}

#[test]
fn a_service_observed_exactly_as_rendered_is_in_sync_with_no_step() {
    let mut d = desired(
        "web",
        "  scaling:\n    minTasks: 2\n    maxTasks: 4\n    targetCpuPercent: 60\n",
    );
    without_discovery(&mut d);
    let mut observed = observed_of(vec![as_created(&d)]);
    let scaling = d.scaling.clone().unwrap();
    observed.scaling.insert(
        scaling.resource_id.clone(),
        ObservedScaling::as_registered(&scaling),
    );
    let sp = plan_one(&d, &observed);
    assert_eq!(sp.outcome, Outcome::InSync, "{:?}", sp.changes);
    assert!(sp.steps.is_empty());
}

#[test]
fn fields_ecs_does_not_report_are_unknown_not_drift() {
    let mut d = desired("web", "");
    without_discovery(&mut d);
    let mut o = as_created(&d);
    o.config.service.minimum_healthy_percent = 0;
    o.config.service.capacity_provider = String::new();
    o.config.unknown = ["minimumHealthyPercent", "capacityProvider"].into();
    let sp = plan_one(&d, &observed_of(vec![o]));
    assert_eq!(sp.outcome, Outcome::InSync, "{:?}", sp.changes);
}

#[test]
fn a_reported_field_that_differs_is_drift_with_its_own_path() {
    let mut d = desired("web", "");
    without_discovery(&mut d);
    let mut o = as_created(&d);
    o.config.service.circuit_breaker_rollback = false;
    o.config.service.security_groups = vec!["sg-other".into()];
    let sp = plan_one(&d, &observed_of(vec![o]));
    assert_eq!(sp.outcome, Outcome::Update);
    assert_eq!(
        fields(&sp),
        vec!["service.circuitBreakerRollback", "service.securityGroups"]
    );
    assert!(matches!(
        sp.steps.as_slice(),
        [Step::UpdateService {
            desired_count: None,
            new_task_definition: false
        }]
    ));
}

#[test]
fn a_load_balancer_attached_by_hand_is_drift_because_none_is_wanted() {
    let mut d = desired("web", "");
    without_discovery(&mut d);
    let mut o = as_created(&d);
    o.config.service.load_balancers = vec![crate::render::aws::LoadBalancerAttachment {
        target_group_arn: "arn:tg".into(),
        container_name: "app".into(),
        container_port: 80,
    }];
    let sp = plan_one(&d, &observed_of(vec![o]));
    assert_eq!(fields(&sp), vec!["service.loadBalancers"]);
}

#[test]
fn a_grace_period_the_manifest_leaves_unset_is_ecs_choice() {
    let mut d = desired("web", "");
    without_discovery(&mut d);
    assert_eq!(d.service.health_check_grace_period_seconds, None);
    let mut o = as_created(&d);
    o.config.service.health_check_grace_period_seconds = Some(0);
    let sp = plan_one(&d, &observed_of(vec![o]));
    assert_eq!(sp.outcome, Outcome::InSync, "{:?}", sp.changes);
}

#[test]
fn inside_the_autoscaling_range_the_desired_count_belongs_to_the_autoscaler() {
    let mut d = desired(
        "web",
        "  scaling:\n    minTasks: 2\n    maxTasks: 6\n    targetCpuPercent: 60\n",
    );
    without_discovery(&mut d);
    d.scaling = None; // only the count rule is under test here
    for (count, want) in [(4, None), (1, Some(2)), (9, Some(6))] {
        let mut o = as_created(&d);
        o.tasks.desired = count;
        let sp = plan_one(&d, &observed_of(vec![o]));
        let planned = sp.steps.iter().find_map(|s| match s {
            Step::UpdateService { desired_count, .. } => Some(*desired_count),
            _ => None,
        });
        assert_eq!(planned.flatten(), want, "observed {count}");
    }
}

#[test]
fn a_changed_image_registers_a_new_revision_and_updates_the_service() {
    let mut d = desired("web", "");
    without_discovery(&mut d);
    let mut o = as_created(&d);
    if let Some(td) = o.task_definition.as_mut() {
        td.container.image = "nginx:0".into();
    }
    let sp = plan_one(&d, &observed_of(vec![o]));
    assert_eq!(fields(&sp), vec!["taskDefinition.container.image"]);
    assert_eq!(
        sp.steps,
        vec![
            Step::RegisterTaskDefinition,
            Step::UpdateService {
                desired_count: None,
                new_task_definition: true
            }
        ]
    );
}

#[test]
fn a_service_of_another_owner_is_a_conflict_without_steps() {
    let mut d = desired("web", "");
    without_discovery(&mut d);
    let mut o = as_created(&d);
    o.tags.insert(tags::OWNER.into(), "someone-else".into());
    let sp = plan_one(&d, &observed_of(vec![o]));
    assert!(matches!(sp.outcome, Outcome::Conflict(_)));
    assert!(sp.steps.is_empty());
}

#[test]
fn a_missing_service_is_created_after_its_cloud_map_service() {
    let d = desired("web", "");
    let sp = plan_one(&d, &Observed::default());
    assert_eq!(sp.outcome, Outcome::Create);
    assert_eq!(
        sp.steps,
        vec![
            Step::CreateDiscovery,
            Step::RegisterTaskDefinition,
            Step::CreateService
        ]
    );
}

#[test]
fn dependencies_go_in_later_waves_and_wait_for_what_is_not_there() {
    let db = desired("db", "");
    let api = desired("api", "  lifecycle:\n    dependsOn: [db]\n");
    let plan = plan_all(&[api.clone(), db], &Observed::default());
    let wave = |name: &str| plan.services.iter().find(|s| s.name == name).unwrap().wave;
    assert_eq!((wave("db"), wave("api")), (0, 1));
    let alone = plan_all(&[api], &Observed::default());
    assert!(matches!(alone.services[0].outcome, Outcome::Waiting(_)));
    assert!(alone.services[0].steps.is_empty());
}

#[test]
fn an_owned_orphan_with_prune_on_is_deleted_with_its_scaling() {
    let mut gone = desired("gone", "  lifecycle:\n    prune: true\n");
    without_discovery(&mut gone);
    let o = as_created(&gone);
    let mut observed = observed_of(vec![o]);
    let id = gone.key().scaling_resource_id();
    observed.scaling.insert(
        id.clone(),
        ObservedScaling {
            resource_id: id.clone(),
            min_capacity: 1,
            max_capacity: 2,
            policies: Vec::new(),
            other_policies: Vec::new(),
        },
    );
    let mut other = desired("other", "");
    without_discovery(&mut other);
    let plan = plan_all(&[other], &observed);
    let sp = plan.services.iter().find(|s| s.name == "gone").unwrap();
    assert_eq!(sp.outcome, Outcome::Delete);
    assert!(sp.desired.is_none());
    assert_eq!(
        sp.steps,
        vec![
            Step::DeregisterScalableTarget { resource_id: id },
            Step::DeleteService {
                arn: as_created(&gone).arn
            }
        ]
    );
}
