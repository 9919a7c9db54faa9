//! The ingress planner against hand-built observations: field-by-field changes, conflicts,
//! and the leftovers it deletes under the guards.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::super::{discovery_description, plan, Outcome, Plan, PlanOptions, Step};
use crate::domain::tags;
use crate::observe::{Observed, ObservedRule, ObservedService, ObservedTargetGroup};
use crate::render::aws::DesiredService;
use crate::render::render_service;
use crate::settings::{IngressSettings, Settings};
use crate::yaml;

const OPERATOR: &str = "op";
const LISTENER: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2";
const GROUP_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/eo-x/73e2d6bc24d8a067";
const RULE_ARN: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";

fn settings() -> Settings {
    let mut s = Settings::local_defaults();
    s.operator_id = OPERATOR.into();
    s.ingress = Some(IngressSettings {
        listener_arn: LISTENER.into(),
        vpc_id: "vpc-1".into(),
        public_host: "apps.example.com".into(),
        scheme: "https".into(),
        idle_timeout: crate::duration::PromDuration::from_secs(60),
    });
    s
}

fn desired(name: &str, ingress: &str) -> DesiredService {
    let text = format!(
        "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: {name}\nspec:\n  container:\n    image: nginx:1\n  scaling: {{minTasks: 1, maxTasks: 3, requestsPerTarget: 100}}\n  traffic:\n    ingress:\n{ingress}  notify:\n    team: web\n"
    );
    let m = yaml::from_str(&text).unwrap();
    assert!(crate::manifest::validate::validate(&m, Some(&settings())).is_empty());
    render_service(&m, &settings())
}

fn owned_tags(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (tags::OWNER.to_string(), OPERATOR.to_string()),
        (tags::MANIFEST.to_string(), name.to_string()),
    ])
}

/// What ELBv2 and ECS report once `d` was applied exactly.
fn as_applied(d: &DesiredService) -> Observed {
    let want = d.ingress.as_ref().unwrap();
    let resolved = d.with_target_group(GROUP_ARN);
    let mut observed = Observed::default();
    let service = ObservedService::as_created(&resolved);
    observed
        .services
        .insert(service.key(), std::sync::Arc::new(service));
    if let Some(scaling) = &resolved.scaling {
        let have = crate::observe::ObservedScaling::as_registered(scaling);
        observed.scaling.insert(scaling.resource_id.clone(), have);
    }
    observed.ingress.read = true;
    observed.ingress.target_groups.insert(
        want.target_group.name.clone(),
        ObservedTargetGroup {
            arn: GROUP_ARN.into(),
            name: want.target_group.name.clone(),
            health_check: want.target_group.health_check.clone(),
            attributes: Some(want.target_group.attributes.clone()),
            tags: owned_tags(&d.name),
        },
    );
    observed.ingress.rules.push(ObservedRule {
        arn: RULE_ARN.into(),
        priority: want.rule.priority,
        hosts: want.rule.hosts.clone(),
        paths: want.rule.paths.clone(),
        target_group_arns: vec![GROUP_ARN.into()],
        tags: Some(owned_tags(&d.name)),
    });
    observed
}

fn plan_with(desired: &[DesiredService], observed: &Observed, complete: bool) -> Plan {
    let known: BTreeSet<String> = desired.iter().map(|d| d.name.clone()).collect();
    let adopt = BTreeSet::new();
    let options = PlanOptions {
        operator_id: OPERATOR,
        known_names: &known,
        adopt: &adopt,
        source_complete: complete,
        allow_empty: false,
        max_prune: 3,
        discovery_description: discovery_description(OPERATOR, "-"),
    };
    plan(desired, observed, &options)
}

fn without_discovery(mut d: DesiredService) -> DesiredService {
    d.discovery = None;
    d
}

const SHOP: &str = "      hosts: [shop.example.com]\n      paths: ['/api/*']\n";

#[test]
fn an_ingress_observed_as_applied_plans_nothing_and_uses_the_observed_group() {
    let d = without_discovery(desired("shop", SHOP));
    assert_eq!(
        d.ingress.as_ref().unwrap().url,
        "https://shop.example.com/api/"
    );
    let p = plan_with(std::slice::from_ref(&d), &as_applied(&d), true);
    let sp = &p.services[0];
    assert_eq!(sp.outcome, Outcome::InSync, "{:?}", sp.changes);
    assert!(sp.steps.is_empty());
    let resolved = sp.desired.as_ref().unwrap();
    assert_eq!(
        resolved.service.load_balancers[0].target_group_arn,
        GROUP_ARN
    );
    let label = resolved.scaling.as_ref().unwrap().policies[0]
        .resource_label
        .clone();
    assert_eq!(
        label.as_deref(),
        Some("app/shared/50dc6c495c0c9188/targetgroup/eo-x/73e2d6bc24d8a067")
    );
}

#[test]
fn each_changed_field_is_named_and_gets_its_own_call() {
    let before = without_discovery(desired("shop", SHOP));
    let observed = as_applied(&before);
    let after = without_discovery(desired(
        "shop",
        "      hosts: [shop.example.com, www.shop.example.com]\n      paths: ['/api/*']\n      stickiness: 10m\n      healthCheck: {timeout: 3s}\n",
    ));
    let p = plan_with(std::slice::from_ref(&after), &observed, true);
    let sp = &p.services[0];
    let fields: Vec<&str> = sp.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields[..3],
        [
            "ingress.targetGroup.healthCheck.timeoutSeconds",
            "ingress.targetGroup.attributes.stickinessSeconds",
            "ingress.rule.hosts",
        ],
        "{:?}",
        sp.changes
    );
    assert_eq!(sp.changes[0].from, "5");
    assert_eq!(sp.changes[0].to, "3");
    assert_eq!(sp.changes[1].to, "600");
    assert_eq!(
        sp.steps[..3],
        [
            Step::ModifyTargetGroup {
                arn: GROUP_ARN.into()
            },
            Step::ModifyTargetGroupAttributes {
                arn: GROUP_ARN.into()
            },
            Step::ModifyListenerRule {
                arn: RULE_ARN.into()
            },
        ]
    );
}

#[test]
fn a_group_of_the_operator_s_name_it_does_not_own_is_a_conflict() {
    let d = without_discovery(desired("shop", SHOP));
    let mut observed = as_applied(&d);
    for g in observed.ingress.target_groups.values_mut() {
        g.tags.clear();
    }
    observed.ingress.rules.clear();
    let p = plan_with(std::slice::from_ref(&d), &observed, true);
    match &p.services[0].outcome {
        Outcome::Conflict(why) => assert!(why.contains("not managed by this operator"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(p.services[0].steps.is_empty());
}

#[test]
fn a_written_priority_held_by_another_service_of_the_operator_is_a_conflict_naming_it() {
    let d = without_discovery(desired("shop", &format!("{SHOP}      priority: 777\n")));
    let mut observed = as_applied(&d);
    observed.ingress.rules[0].tags = Some(owned_tags("checkout"));
    let p = plan_with(std::slice::from_ref(&d), &observed, true);
    let shop = p.services.iter().find(|sp| sp.name == "shop").unwrap();
    match &shop.outcome {
        Outcome::Conflict(why) => assert!(why.contains("rule of service checkout"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_removed_ingress_deletes_the_rule_now_and_the_group_once_nothing_uses_it() {
    let with = without_discovery(desired("shop", SHOP));
    let observed = as_applied(&with);
    let mut without = with.clone();
    without.ingress = None;
    let p = plan_with(std::slice::from_ref(&without), &observed, true);
    let entry = |name: &str| p.services.iter().find(|sp| sp.name == name);
    assert_eq!(
        entry("shop (listener rule)").unwrap().steps,
        [Step::DeleteListenerRule {
            arn: RULE_ARN.into()
        }]
    );
    // The rule forwards to it and the service still uses it: not yet.
    assert!(entry("shop (target group)").is_none());

    let mut later = observed.clone();
    later.ingress.rules.clear();
    for s in later.services.values_mut() {
        Arc::make_mut(s).config.service.load_balancers.clear();
    }
    let p = plan_with(std::slice::from_ref(&without), &later, true);
    let group = p
        .services
        .iter()
        .find(|sp| sp.name == "shop (target group)");
    assert_eq!(
        group.unwrap().steps,
        [Step::DeleteTargetGroup {
            arn: GROUP_ARN.into()
        }]
    );
    // An incomplete source deletes nothing.
    let p = plan_with(std::slice::from_ref(&without), &later, false);
    let group = p
        .services
        .iter()
        .find(|sp| sp.name == "shop (target group)");
    assert!(matches!(group.unwrap().outcome, Outcome::Kept(_)));
    assert!(group.unwrap().steps.is_empty());
}

#[test]
fn the_route_of_a_service_kept_after_its_manifest_went_is_kept_too() {
    let d = without_discovery(desired("shop", SHOP));
    let observed = as_applied(&d);
    // The manifest is gone; the service (prune false) stays, and so does its rule.
    let p = plan_with(&[], &observed, true);
    assert!(
        p.services
            .iter()
            .all(|sp| !sp.name.contains("listener rule")),
        "{p:?}"
    );
}

/// A rule on the listener at `priority`, forwarding nowhere the operator knows.
fn rule_at(priority: i32, tags: Option<BTreeMap<String, String>>) -> ObservedRule {
    ObservedRule {
        arn: format!("{RULE_ARN}-{priority}"),
        priority,
        hosts: vec![],
        paths: vec!["/other/*".into()],
        target_group_arns: vec![],
        tags,
    }
}

fn created_priority(p: &Plan, service: &str) -> i32 {
    let sp = p.services.iter().find(|sp| sp.name == service).unwrap();
    assert_eq!(sp.outcome, Outcome::Create, "{service}");
    assert!(
        sp.steps.contains(&Step::CreateListenerRule),
        "{:?}",
        sp.steps
    );
    let desired = sp.desired.as_ref().unwrap().ingress.as_ref().unwrap();
    let shown = sp
        .changes
        .iter()
        .find(|c| c.field == "ingress.rule")
        .unwrap();
    assert_eq!(shown.to, format!("priority {}", desired.rule.priority));
    desired.rule.priority
}

#[test]
fn a_derived_priority_held_by_other_rules_moves_to_the_next_free_one_and_takes_nothing() {
    let d = without_discovery(desired("shop", SHOP));
    let derived = d.ingress.as_ref().unwrap().rule.priority;
    let mut observed = Observed::default();
    observed.ingress.read = true;
    observed.ingress.rules = vec![
        rule_at(
            derived,
            Some(BTreeMap::from([(tags::OWNER.into(), "another".into())])),
        ),
        rule_at(derived + 1, None),
    ];
    let p = plan_with(std::slice::from_ref(&d), &observed, true);
    assert_eq!(created_priority(&p, "shop"), derived + 2);
    let steps: Vec<&Step> = p.services.iter().flat_map(|sp| &sp.steps).collect();
    assert!(
        !steps.iter().any(|s| matches!(
            s,
            Step::SetRulePriority { .. }
                | Step::ModifyListenerRule { .. }
                | Step::DeleteListenerRule { .. }
        )),
        "another rule was touched: {steps:?}"
    );
}

#[test]
fn new_services_colliding_on_a_derived_priority_are_placed_in_name_order_whatever_the_file_order() {
    let mut a = without_discovery(desired("alpha", SHOP));
    let mut b = without_discovery(desired("beta", SHOP));
    for d in [&mut a, &mut b] {
        d.ingress.as_mut().unwrap().rule.priority = 20_000;
    }
    let mut observed = Observed::default();
    observed.ingress.read = true;
    for order in [[a.clone(), b.clone()], [b.clone(), a.clone()]] {
        let p = plan_with(&order, &observed, true);
        assert_eq!(created_priority(&p, "alpha"), 20_000);
        assert_eq!(created_priority(&p, "beta"), 20_001);
    }
}

#[test]
fn an_existing_rule_keeps_its_priority_unless_one_is_written() {
    let d = without_discovery(desired("shop", SHOP));
    let mut observed = as_applied(&d);
    observed.ingress.rules[0].priority = 12_345;
    let p = plan_with(std::slice::from_ref(&d), &observed, true);
    assert_eq!(
        p.services[0].outcome,
        Outcome::InSync,
        "{:?}",
        p.services[0]
    );
    let written = without_discovery(desired("shop", &format!("{SHOP}      priority: 777\n")));
    let p = plan_with(std::slice::from_ref(&written), &observed, true);
    assert!(p.services[0].steps.contains(&Step::SetRulePriority {
        arn: RULE_ARN.into(),
        priority: 777
    }));
}
