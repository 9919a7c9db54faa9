//! `traffic.ingress` against moto_server's ELBv2 and ECS: the operator creates and owns a
//! target group and a listener rule on the platform's HTTPS listener, attaches the group to the
//! service, changes exactly the fields a manifest changes, never touches a rule or target group
//! it does not own, and prunes rule then group. Everything is read back with the aws CLI.

use ecs_operator::aws::CallCounter;
use ecs_operator::manifest::ManifestSet;
use ecs_operator::plan::{Outcome, Plan, Step};
use ecs_operator::reconcile::Reconciler;
use testkit::*;

/// One full pass: the plan it made and its (reads, writes).
async fn pass(r: &Reconciler, set: &ManifestSet) -> (Plan, u64, u64) {
    apply_counted(r, set, true).await
}

/// A world with the platform's listener, its operator, and one manifest with an ingress.
async fn start(
    test: &str,
    service: &str,
    ingress: &str,
) -> (World, String, Reconciler, ManifestSet) {
    let mut world = World::new(test);
    let listener = world.add_listener();
    let r = world.reconciler().await;
    let set = manifests(
        &[("m.yaml", &ingress_manifest(service, ingress))],
        &world.settings,
    );
    assert!(set.rejected.is_empty());
    (world, listener, r, set)
}

fn ingress_manifest(name: &str, ingress: &str) -> String {
    manifest(
        name,
        "nginx:1.27",
        &format!(
            "  scaling:\n    minTasks: 1\n    maxTasks: 3\n    requestsPerTarget: 500\n  traffic:\n    ingress:\n{ingress}  lifecycle:\n    prune: true\n"
        ),
    )
}

const SHOP: &str = "      hosts: [shop.example.com]\n      paths: ['/api/*']\n      deregistrationDelay: 30s\n      stickiness: 1h\n";

/// The target group of that name, as the aws CLI reads it (`Null` when there is none).
fn target_group(name: &str) -> serde_json::Value {
    let all = aws_cli(&["elbv2", "describe-target-groups"]);
    (all["TargetGroups"].as_array().unwrap().iter())
        .find(|g| g["TargetGroupName"] == name)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

fn rules(listener: &str) -> Vec<serde_json::Value> {
    let out = aws_cli(&["elbv2", "describe-rules", "--listener-arn", listener]);
    (out["Rules"].as_array().unwrap().iter())
        .filter(|r| r["IsDefault"] == false)
        .cloned()
        .collect()
}

fn tags(arn: &str) -> Vec<(String, String)> {
    let out = aws_cli(&["elbv2", "describe-tags", "--resource-arns", arn]);
    (out["TagDescriptions"][0]["Tags"].as_array().unwrap().iter())
        .map(|t| {
            let text = |k: &str| t[k].as_str().unwrap().to_string();
            (text("Key"), text("Value"))
        })
        .collect()
}

/// A target group made by hand (no tags) in the world's VPC; returns its ARN.
fn hand_made_group(world: &World, name: &str) -> String {
    aws_cli(&[
        "elbv2",
        "create-target-group",
        "--name",
        name,
        "--protocol",
        "HTTP",
        "--port",
        "80",
        "--vpc-id",
        &world.vpc,
        "--target-type",
        "ip",
    ])["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A rule made by hand (no tags) at `priority`, forwarding `/hand/*` to `group`.
fn hand_made_rule(listener: &str, priority: i32, group: &str) {
    aws_cli(&[
        "elbv2",
        "create-rule",
        "--listener-arn",
        listener,
        "--priority",
        &priority.to_string(),
        "--conditions",
        r#"[{"Field":"path-pattern","PathPatternConfig":{"Values":["/hand/*"]}}]"#,
        "--actions",
        &format!("Type=forward,TargetGroupArn={group}"),
    ]);
}

fn service(world: &World, name: &str) -> serde_json::Value {
    aws_cli(&[
        "ecs",
        "describe-services",
        "--cluster",
        &world.settings.cluster,
        "--services",
        name,
    ])["services"][0]
        .clone()
}

fn owned_group_name(world: &World, service: &str) -> String {
    ecs_operator::render::aws::target_group_name(
        &world.settings.operator_id,
        &world.settings.cluster,
        service,
    )
}

fn steps(plan: &Plan, name: &str) -> Vec<Step> {
    (plan.services.iter())
        .find(|sp| sp.name == name)
        .map(|sp| sp.steps.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_ingress_gets_an_owned_target_group_and_rule_and_a_second_pass_writes_nothing() {
    let (world, listener, r, set) = start("ingress-create", "shop-ing", SHOP).await;
    let (plan, _, writes) = pass(&r, &set).await;
    assert!(writes >= 6, "first apply wrote {writes}");
    // The group and its rule before the ECS service that attaches the group.
    let first = steps(&plan, "shop-ing");
    let at = |step: Step| first.iter().position(|s| *s == step).unwrap();
    assert!(at(Step::CreateTargetGroup) < at(Step::CreateListenerRule));
    assert!(at(Step::CreateListenerRule) < at(Step::CreateService));

    let name = owned_group_name(&world, "shop-ing");
    let group = target_group(&name);
    assert_eq!(group["TargetType"], "ip");
    assert_eq!(group["Protocol"], "HTTP");
    assert_eq!(group["Port"], 8080);
    assert_eq!(group["VpcId"], world.vpc.as_str());
    assert_eq!(group["HealthCheckPath"], "/healthz");
    assert_eq!(group["HealthCheckIntervalSeconds"], 30);
    assert_eq!(group["UnhealthyThresholdCount"], 3);
    let group_arn = group["TargetGroupArn"].as_str().unwrap().to_string();
    let group_tags = tags(&group_arn);
    assert!(group_tags.contains(&(
        "ecs-operator.io/owner".into(),
        world.settings.operator_id.clone()
    )));
    assert!(group_tags.contains(&("ecs-operator.io/manifest".into(), "shop-ing".into())));
    let attributes = aws_cli(&[
        "elbv2",
        "describe-target-group-attributes",
        "--target-group-arn",
        &group_arn,
    ]);
    let attribute = |key: &str| {
        (attributes["Attributes"].as_array().unwrap().iter())
            .find(|a| a["Key"] == key)
            .map(|a| a["Value"].as_str().unwrap().to_string())
    };
    assert_eq!(
        attribute("deregistration_delay.timeout_seconds").as_deref(),
        Some("30")
    );
    assert_eq!(attribute("stickiness.enabled").as_deref(), Some("true"));
    assert_eq!(
        attribute("stickiness.lb_cookie.duration_seconds").as_deref(),
        Some("3600")
    );

    let on_listener = rules(&listener);
    assert_eq!(on_listener.len(), 1, "{on_listener:?}");
    let rule = &on_listener[0];
    let priority = ecs_operator::render::aws::derived_priority(&world.settings.cluster, "shop-ing");
    assert_eq!(rule["Priority"], priority.to_string());
    assert_eq!(rule["Actions"][0]["TargetGroupArn"], group_arn.as_str());
    let conditions = rule["Conditions"].to_string();
    assert!(
        conditions.contains("shop.example.com") && conditions.contains("/api/*"),
        "{conditions}"
    );
    let rule_tags = tags(rule["RuleArn"].as_str().unwrap());
    assert!(rule_tags.contains(&("ecs-operator.io/manifest".into(), "shop-ing".into())));

    let ecs = service(&world, "shop-ing");
    assert_eq!(
        ecs["loadBalancers"][0]["targetGroupArn"],
        group_arn.as_str()
    );
    assert_eq!(ecs["loadBalancers"][0]["containerPort"], 8080);
    let policies = aws_cli(&[
        "application-autoscaling",
        "describe-scaling-policies",
        "--service-namespace",
        "ecs",
        "--resource-id",
        &format!("service/{}/shop-ing", world.settings.cluster),
    ]);
    let label = policies["ScalingPolicies"][0]["TargetTrackingScalingPolicyConfiguration"]
        ["PredefinedMetricSpecification"]["ResourceLabel"]
        .as_str()
        .unwrap()
        .to_string();
    let group_id = group_arn.split_once(":targetgroup/").unwrap().1;
    assert!(
        label.starts_with("app/") && label.ends_with(&format!("/targetgroup/{group_id}")),
        "{label}"
    );

    let (plan, _, writes) = pass(&r, &set).await;
    assert_eq!(writes, 0, "second pass wrote: {:?}", plan.services);
    assert!(!plan.has_changes());
    // Once everything written has been read back (the second pass), an idle pass's ELBv2 costs one page of rules, one of target groups and one DescribeTags (20 ARNs);
    // the attributes are remembered between sweeps.
    let before = r.aws.calls.snapshot();
    let (_, reads, writes) = pass(&r, &set).await;
    assert_eq!(writes, 0);
    let calls = CallCounter::since(&before, &r.aws.calls.snapshot());
    let elbv2: Vec<(&str, u64)> = (calls.iter())
        .filter(|((_, op, _), _)| {
            [
                "DescribeRules",
                "DescribeTargetGroups",
                "DescribeTags",
                "DescribeTargetGroupAttributes",
            ]
            .contains(&op.as_str())
        })
        .map(|((_, op, _), n)| (op.as_str(), *n))
        .collect();
    assert_eq!(
        elbv2,
        [
            ("DescribeRules", 1),
            ("DescribeTags", 1),
            ("DescribeTargetGroups", 1)
        ],
        "{calls:?}"
    );
    println!("idle pass with one ingress service: {reads} reads: {calls:?}");
}

#[tokio::test]
async fn changing_the_health_check_path_and_the_priority_changes_exactly_those() {
    let (world, listener, r, set) = start("ingress-change", "chg-ing", SHOP).await;
    pass(&r, &set).await;
    let rule_before = rules(&listener)[0].clone();

    let changed = format!("{SHOP}      priority: 123\n      healthCheck: {{path: /ready}}\n");
    let set = manifests(
        &[("a.yaml", &ingress_manifest("chg-ing", &changed))],
        &world.settings,
    );
    let (plan, _, writes) = pass(&r, &set).await;
    let sp = plan.services.iter().find(|s| s.name == "chg-ing").unwrap();
    // The two fields, and the service's revision tag (the spec hash covers the ingress).
    let fields: Vec<&str> = sp.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "ingress.targetGroup.healthCheck.path",
            "ingress.rule.priority",
            "tags.ecs-operator.io/spec-hash"
        ],
        "{:?}",
        sp.changes
    );
    let group = target_group(&owned_group_name(&world, "chg-ing"));
    let arn = group["TargetGroupArn"].as_str().unwrap().to_string();
    let rule_arn = rule_before["RuleArn"].as_str().unwrap().to_string();
    assert_eq!(
        sp.steps[..2],
        [
            Step::ModifyTargetGroup { arn },
            Step::SetRulePriority {
                arn: rule_arn.clone(),
                priority: 123
            }
        ]
    );
    assert!(
        matches!(&sp.steps[2..], [Step::TagService { .. }]),
        "{:?}",
        sp.steps
    );
    assert_eq!(writes, 3);
    assert_eq!(group["HealthCheckPath"], "/ready");
    let rule_after = rules(&listener)[0].clone();
    assert_eq!(rule_after["RuleArn"], rule_arn.as_str());
    assert_eq!(rule_after["Priority"], "123");
    assert_eq!(rule_after["Conditions"], rule_before["Conditions"]);
    let (_, _, writes) = pass(&r, &set).await;
    assert_eq!(writes, 0);
}

#[tokio::test]
async fn a_rule_the_operator_does_not_own_holding_the_priority_is_reported_and_left_alone() {
    let mut world = World::new("ingress-foreign");
    let listener = world.add_listener();
    let foreign_group = hand_made_group(&world, &format!("hand-{}", std::process::id()));
    hand_made_rule(&listener, 777, &foreign_group);
    let before = rules(&listener);
    let r = world.reconciler().await;
    let wants_777 = format!("{SHOP}      priority: 777\n");
    let set = manifests(
        &[("f.yaml", &ingress_manifest("fgn-ing", &wants_777))],
        &world.settings,
    );
    let (plan, _, writes) = pass(&r, &set).await;
    let sp = plan.services.iter().find(|s| s.name == "fgn-ing").unwrap();
    match &sp.outcome {
        Outcome::Conflict(why) => assert!(
            why.contains("priority 777") && why.contains("does not own"),
            "{why}"
        ),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(writes, 0);
    assert_eq!(rules(&listener), before, "the foreign rule was touched");
    assert!(target_group(&owned_group_name(&world, "fgn-ing")).is_null());
    assert!(service(&world, "fgn-ing")["status"] != "ACTIVE");
}

#[tokio::test]
async fn a_derived_priority_another_rule_holds_moves_on_and_stays_there() {
    let mut world = World::new("ingress-derived");
    let listener = world.add_listener();
    let derived =
        ecs_operator::render::aws::derived_priority(&world.settings.cluster, "drv-ing") as i32;
    let foreign_group = hand_made_group(&world, &format!("drv-{}", std::process::id()));
    hand_made_rule(&listener, derived, &foreign_group);
    let foreign = rules(&listener);
    let r = world.reconciler().await;
    let set = manifests(
        &[("d.yaml", &ingress_manifest("drv-ing", SHOP))],
        &world.settings,
    );
    let (plan, _, writes) = pass(&r, &set).await;
    let sp = plan.services.iter().find(|s| s.name == "drv-ing").unwrap();
    assert_eq!(sp.outcome, Outcome::Create, "{sp:?}");
    assert!(writes > 0);
    let after = rules(&listener);
    for rule in &foreign {
        assert!(after.contains(rule), "the foreign rule changed: {rule}");
    }
    let group_arn = target_group(&owned_group_name(&world, "drv-ing"))["TargetGroupArn"].clone();
    let ours: Vec<&serde_json::Value> = (after.iter())
        .filter(|r| r["Actions"][0]["TargetGroupArn"] == group_arn)
        .collect();
    assert_eq!(ours.len(), 1, "{after:?}");
    assert_eq!(ours[0]["Priority"], (derived + 1).to_string());
    // The next pass keeps the rule where it is, with nothing to write.
    let (plan, _, writes) = pass(&r, &set).await;
    assert_eq!(writes, 0, "{:?}", steps(&plan, "drv-ing"));
}

#[tokio::test]
async fn removing_the_ingress_then_the_manifest_deletes_rule_before_group_and_no_foreign_group() {
    let mut world = World::new("ingress-prune");
    let listener = world.add_listener();
    // A target group with the operator's name prefix that it does not own.
    let foreign = format!("eo-hand-{}", std::process::id());
    hand_made_group(&world, &foreign);
    let r = world.reconciler().await;
    let with = ingress_manifest("prn-ing", SHOP);
    let set = manifests(&[("p.yaml", &with)], &world.settings);
    pass(&r, &set).await;
    let name = owned_group_name(&world, "prn-ing");
    assert!(!target_group(&name).is_null());

    // The ingress goes, the service stays: detached and rule deleted, then the group.
    let without = manifest(
        "prn-ing",
        "nginx:1.27",
        "  scaling:\n    minTasks: 1\n    maxTasks: 3\n    targetCpuPercent: 60\n  lifecycle:\n    prune: true\n",
    );
    let set = manifests(&[("p.yaml", &without)], &world.settings);
    let (plan, _, _) = pass(&r, &set).await;
    assert!(rules(&listener).is_empty());
    assert!(
        !target_group(&name).is_null(),
        "deleted while the service still used it"
    );
    assert_eq!(
        service(&world, "prn-ing")["loadBalancers"],
        serde_json::json!([])
    );
    assert!(steps(&plan, "prn-ing (listener rule)")
        .iter()
        .all(|s| matches!(s, Step::DeleteListenerRule { .. })));
    let (plan, _, _) = pass(&r, &set).await;
    assert!(target_group(&name).is_null(), "{plan:?}");
    let (_, _, writes) = pass(&r, &set).await;
    assert_eq!(writes, 0);

    // The ingress comes back, then the manifest goes (prune: true): service and rule first,
    // the group at the next pass.
    let set = manifests(&[("p.yaml", &with)], &world.settings);
    pass(&r, &set).await;
    assert_eq!(rules(&listener).len(), 1);
    let empty = manifests(&[], &world.settings);
    let r = {
        let mut r = r;
        r.options.allow_empty = true;
        r
    };
    pass(&r, &empty).await;
    assert!(rules(&listener).is_empty());
    pass(&r, &empty).await;
    assert!(target_group(&name).is_null());
    assert!(
        !target_group(&foreign).is_null(),
        "a foreign target group was deleted"
    );
}
