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
        services: services
            .into_iter()
            .map(|s| (s.key(), Arc::new(s)))
            .collect(),
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
    assert_eq!(
        sp.steps,
        vec![Step::UpdateService {
            desired_count: None,
            new_task_definition: false,
            fields: [ServiceField::Deployment, ServiceField::Network].into(),
        }],
        "only the groups that changed are sent"
    );
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
        advanced_configuration: None,
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
        Arc::make_mut(td).container.image = "nginx:0".into();
    }
    let sp = plan_one(&d, &observed_of(vec![o]));
    assert_eq!(fields(&sp), vec!["taskDefinition.container.image"]);
    assert_eq!(
        sp.steps,
        vec![
            Step::RegisterTaskDefinition,
            Step::UpdateService {
                desired_count: None,
                new_task_definition: true,
                fields: BTreeSet::new(),
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

#[test]
fn a_desired_count_back_in_range_updates_only_the_count() {
    let mut d = desired(
        "web",
        "  scaling:\n    minTasks: 2\n    maxTasks: 6\n    targetCpuPercent: 60\n",
    );
    without_discovery(&mut d);
    d.scaling = None;
    let mut o = as_created(&d);
    o.tasks.desired = 0;
    let sp = plan_one(&d, &observed_of(vec![o]));
    assert_eq!(
        sp.steps,
        vec![Step::UpdateService {
            desired_count: Some(2),
            new_task_definition: false,
            fields: BTreeSet::new(),
        }]
    );
}

#[test]
fn moving_to_spot_is_a_capacity_provider_change() {
    let mut d = desired("web", "  placement:\n    spot: true\n");
    without_discovery(&mut d);
    let mut o = as_created(&d);
    o.config.service.capacity_provider = "FARGATE".into();
    let sp = plan_one(&d, &observed_of(vec![o]));
    assert!(
        matches!(&sp.steps[..], [Step::UpdateService { fields, .. }] if fields.contains(&ServiceField::CapacityProvider)),
        "{:?}",
        sp.steps
    );
}

#[test]
fn an_owned_service_reporting_a_launch_type_is_not_moved() {
    // ECS cannot put a service created with a strategy on a launch type; moto reports one
    // anyway. Adoption (aws_fidelity.rs) is the one case that moves a service off it.
    let mut d = desired("web", "  placement:\n    spot: true\n");
    without_discovery(&mut d);
    let mut o = as_created(&d);
    o.config.service.capacity_provider = "launchType:EC2".into();
    let sp = plan_one(&d, &observed_of(vec![o]));
    assert!(sp.steps.is_empty(), "{:?}", sp.steps);
}

#[test]
fn adopting_claims_the_service_with_the_owner_tag_before_changing_it() {
    let mut d = desired("web", "");
    without_discovery(&mut d);
    let mut o = as_created(&d);
    o.tags.clear();
    o.config.service.security_groups = vec!["sg-hand".into()];
    let known: BTreeSet<String> = ["web".to_string()].into();
    let adopt: BTreeSet<String> = ["web".to_string()].into();
    let options = PlanOptions {
        operator_id: OPERATOR,
        known_names: &known,
        adopt: &adopt,
        source_complete: true,
        allow_empty: false,
        max_prune: 3,
        discovery_description: discovery_description(OPERATOR, "ns-1"),
    };
    let plan = plan(std::slice::from_ref(&d), &observed_of(vec![o]), &options);
    let steps = &plan.services[0].steps;
    assert_eq!(
        steps[0],
        Step::TagService {
            tags: [(tags::OWNER.to_string(), OPERATOR.to_string())].into()
        },
        "{steps:?}"
    );
    assert!(matches!(steps[1], Step::UpdateService { .. }), "{steps:?}");
    assert!(
        matches!(&steps[2], Step::TagService { tags } if tags.contains_key(tags::SPEC_HASH) && !tags.contains_key(tags::OWNER)),
        "{steps:?}"
    );
}

#[test]
fn a_service_still_draining_makes_its_re_creation_wait() {
    let mut d = desired("web", "");
    without_discovery(&mut d);
    let mut o = as_created(&d);
    o.state = crate::observe::ServiceState::Draining;
    let sp = plan_one(&d, &observed_of(vec![o]));
    assert!(
        matches!(&sp.outcome, Outcome::Waiting(why) if why.contains("draining")),
        "{:?}",
        sp.outcome
    );
    assert!(sp.steps.is_empty());
}

fn leftover(name: &str, manifest: &str, prune: &str) -> crate::observe::ObservedDiscovery {
    crate::observe::ObservedDiscovery {
        id: format!("srv-{name}"),
        arn: format!("arn:aws:servicediscovery:us-east-1:1:service/srv-{name}"),
        name: name.into(),
        description: discovery_description(OPERATOR, "ns-1"),
        dns_ttl_seconds: Some(10),
        instance_count: 1,
        tags: Some(
            [
                (tags::OWNER.to_string(), OPERATOR.to_string()),
                (tags::MANIFEST.to_string(), manifest.to_string()),
                (tags::PRUNE.to_string(), prune.to_string()),
            ]
            .into(),
        ),
    }
}

fn deleted_discovery(plan: &Plan) -> Vec<String> {
    plan.services
        .iter()
        .flat_map(|s| s.steps.iter())
        .filter_map(|step| match step {
            Step::DeleteDiscovery { id } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_cloud_map_service_left_by_a_pruned_manifest_is_deleted_on_a_later_pass() {
    let mut other = desired("other", "");
    without_discovery(&mut other);
    let mut observed = Observed::default();
    observed
        .discovery
        .insert("gone".into(), leftover("gone", "gone", "true"));
    observed
        .discovery
        .insert("kept".into(), leftover("kept", "kept", "false"));
    let plan = plan_all(&[other], &observed);
    assert_eq!(deleted_discovery(&plan), vec!["srv-gone".to_string()]);
    let sp = plan.services.iter().find(|s| !s.steps.is_empty()).unwrap();
    assert_eq!(sp.name, "gone (Cloud Map service gone)");
    assert_eq!(sp.outcome, Outcome::Delete);
}

#[test]
fn a_cloud_map_service_renamed_away_by_a_valid_manifest_is_deleted() {
    let d = desired("web", "  traffic:\n    discovery:\n      name: web-v2\n");
    let mut observed = observed_of(vec![as_created(&d)]);
    observed
        .discovery
        .insert("web".into(), leftover("web", "web", "false"));
    let plan = plan_all(std::slice::from_ref(&d), &observed);
    assert_eq!(deleted_discovery(&plan), vec!["srv-web".to_string()]);
    let web = plan.services.iter().find(|s| s.name == "web").unwrap();
    assert!(web.desired.is_some(), "the service's own plan is untouched");
}

#[test]
fn cloud_map_leftovers_wait_while_the_source_is_incomplete_and_foreign_ones_are_never_touched() {
    let mut observed = Observed::default();
    observed
        .discovery
        .insert("gone".into(), leftover("gone", "gone", "true"));
    let mut foreign = leftover("theirs", "theirs", "true");
    foreign
        .tags
        .as_mut()
        .unwrap()
        .insert(tags::OWNER.into(), "someone".into());
    observed.discovery.insert("theirs".into(), foreign);
    let known = BTreeSet::new();
    let adopt = BTreeSet::new();
    let options = PlanOptions {
        operator_id: OPERATOR,
        known_names: &known,
        adopt: &adopt,
        source_complete: false,
        allow_empty: false,
        max_prune: 3,
        discovery_description: discovery_description(OPERATOR, "ns-1"),
    };
    let plan = plan::<DesiredService>(&[], &observed, &options);
    assert!(deleted_discovery(&plan).is_empty(), "{plan:?}");
    assert!(matches!(plan.services[0].outcome, Outcome::Kept(_)));
    assert_eq!(plan.services.len(), 1, "the foreign one is not even listed");
}

#[test]
fn an_empty_source_deletes_no_cloud_map_leftover_unless_allowed_and_deletions_share_the_budget() {
    let mut observed = Observed::default();
    for name in ["a", "b", "c", "d"] {
        observed
            .discovery
            .insert(name.into(), leftover(name, name, "true"));
    }
    let known = BTreeSet::new();
    let adopt = BTreeSet::new();
    let options = |allow_empty| PlanOptions {
        operator_id: OPERATOR,
        known_names: &known,
        adopt: &adopt,
        source_complete: true,
        allow_empty,
        max_prune: 3,
        discovery_description: discovery_description(OPERATOR, "ns-1"),
    };
    let held = plan::<DesiredService>(&[], &observed, &options(false));
    assert!(deleted_discovery(&held).is_empty(), "{held:?}");
    assert!(held
        .services
        .iter()
        .all(|s| matches!(&s.outcome, Outcome::Kept(r) if r.contains("--allow-empty"))));
    let allowed = plan::<DesiredService>(&[], &observed, &options(true));
    assert_eq!(
        deleted_discovery(&allowed).len(),
        3,
        "at most max_prune per pass"
    );
}

#[test]
fn changed_alarms_are_one_field_group_and_alarms_or_a_strategy_left_in_ecs_are_drift() {
    let mut d = desired("web", "  deployment:\n    alarms:\n      names: [b, a]\n");
    without_discovery(&mut d);
    let mut o = as_created(&d);
    o.config.service.deployment_alarms = Some(crate::render::aws::DeploymentAlarms {
        alarm_names: vec!["a".into()],
        rollback: true,
    });
    let sp = plan_one(&d, &observed_of(vec![o.clone()]));
    assert_eq!(fields(&sp), vec!["service.deploymentAlarms.alarmNames"]);
    assert_eq!(
        sp.steps,
        vec![Step::UpdateService {
            desired_count: None,
            new_task_definition: false,
            fields: [ServiceField::DeploymentAlarms].into(),
        }]
    );
    // The manifest drops its alarms and ECS still has a strategy: both must go.
    let mut plain = desired("web", "");
    without_discovery(&mut plain);
    o.config.service.deployment_strategy = Some(crate::render::aws::DeploymentStrategy {
        strategy: "CANARY".into(),
        bake_time_in_minutes: 10,
        canary: None,
        linear: None,
        lifecycle_hooks: vec![],
    });
    let sp = plan_one(&plain, &observed_of(vec![o.clone()]));
    let service_fields: Vec<&str> = (fields(&sp).into_iter())
        .filter(|f| f.starts_with("service."))
        .collect();
    assert_eq!(
        service_fields,
        vec!["service.deploymentAlarms", "service.deploymentStrategy"]
    );
    // Unknown (ECS reported no deployment configuration, as moto after CreateService): no drift.
    o.config.unknown = ["deploymentAlarms", "deploymentStrategy"].into();
    o.tags = plain.tags.clone();
    assert_eq!(
        plan_one(&plain, &observed_of(vec![o])).outcome,
        Outcome::InSync
    );
}

#[test]
fn sidecars_and_volumes_are_diffed_by_name() {
    let shape = |image: &str, fs: &str| {
        format!("  sidecars:\n    - name: envoy\n      image: {image}\n      mounts: [{{volume: data, path: /data}}]\n    - name: agent\n      image: agent:1\n  volumes:\n    - name: data\n      efs: {{fileSystemId: {fs}}}\n")
    };
    let d = desired("web", &shape("envoy:2", "fs-0000000b"));
    let observed = as_created(&desired("web", &shape("envoy:1", "fs-0000000a")));
    let sp = plan_one(&d, &observed_of(vec![observed]));
    let td_fields: Vec<&str> = fields(&sp)
        .into_iter()
        .filter(|f| f.starts_with("taskDefinition"))
        .collect();
    assert_eq!(
        td_fields,
        [
            "taskDefinition.sidecars[envoy].image",
            "taskDefinition.volumes[data].efs.fileSystemId"
        ]
    );
    assert!(sp.steps.contains(&Step::RegisterTaskDefinition));
    let sp = plan_one(&desired("web", ""), &observed_of(vec![as_created(&d)]));
    for gone in [
        "taskDefinition.sidecars[agent]",
        "taskDefinition.sidecars[envoy]",
        "taskDefinition.volumes[data]",
    ] {
        assert!(fields(&sp).contains(&gone), "{gone}: {:?}", sp.changes);
    }
}
