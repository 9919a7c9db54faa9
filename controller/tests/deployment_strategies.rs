//! Deployment alarms and the blue/green, linear and canary strategies (fast tier).
//!
//! moto 5.2.5 has no deployment strategies and keeps no deployment configuration on create,
//! so the requests are proved against `testkit::fake_aws`, whose ECS refuses what the API
//! reference says ECS refuses and stores what it says ECS stores (`fake_aws::deployment`).
//! Validation errors name the file, line and field.

use ecs_operator::aws::CallCounter;
use ecs_operator::manifest::ManifestSet;
use ecs_operator::reconcile::{ReconcileOptions, Reconciler, ServiceResult};
use ecs_operator::settings::Settings;
use serde_json::json;
use testkit::fake_aws::{Behaviour, FakeAws};

const CLUSTER: &str = "main";
const ROLE: &str = "arn:aws:iam::123456789012:role/ecs-infrastructure";
const HOOK_ROLE: &str = "arn:aws:iam::123456789012:role/ecs-hooks";
const ELB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012";

fn settings() -> Settings {
    let mut s = Settings::local_defaults();
    s.operator_id = "op".into();
    s.cluster = CLUSTER.into();
    s.service_discovery_namespace_id = Some("ns-1".into());
    s.deployment_role_arn = Some(ROLE.into());
    s.allowed_deployment_role_arns = vec![HOOK_ROLE.into()];
    s
}

const BASE: &str = "\
apiVersion: ecs-operator.io/v1alpha1
kind: MonitoredService
metadata:
  name: web
spec:
  container:
    image: nginx:1.27
  notify:
    team: web
";

/// A load balancer with everything traffic shifting needs.
fn shifting_lb() -> String {
    format!(
        "  traffic:\n    loadBalancer:\n      targetGroupArn: {ELB}:targetgroup/web-blue/1\n      alternateTargetGroupArn: {ELB}:targetgroup/web-green/2\n      productionListenerRuleArn: {ELB}:listener-rule/app/shop/3/4/5\n"
    )
}

const ALARMS: &str = "  deployment:\n    alarms:\n      names: [web-5xx]\n";

fn canary() -> String {
    format!(
        "  deployment:\n    alarms:\n      names: [web-5xx, web-latency]\n    strategy: canary\n    bakeTime: 5m\n    canary:\n      percent: 10\n      bakeTime: 3m\n    lifecycleHooks:\n      - lambdaArn: arn:aws:lambda:us-east-1:123456789012:function:web-smoke\n        stages: [postTestTrafficShift]\n        roleArn: {HOOK_ROLE}\n{}",
        shifting_lb()
    )
}

fn load(text: &str, settings: Option<&Settings>) -> ManifestSet {
    let mut set = ManifestSet::default();
    set.add_source("case.yaml", text.as_bytes(), settings);
    set.finish();
    set
}

fn reconciler(fake: &FakeAws) -> Reconciler {
    let mut r = Reconciler::new(fake.clients(), settings(), ReconcileOptions::default());
    r.generation = Some(1);
    r
}

/// One pass; every service must succeed. Returns the writes it made.
async fn pass(r: &Reconciler, extra: &str) -> u64 {
    let settings = settings();
    let set = load(&format!("{BASE}{extra}"), Some(&settings));
    let problems: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}");
    let before = r.aws.calls.snapshot();
    let (plan, _) = r.plan(&set, true).await.expect("observation succeeds");
    let results: Vec<ServiceResult> = r.apply(&plan).await;
    let failed: Vec<_> = results.iter().filter(|r| r.error.is_some()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    CallCounter::totals(&CallCounter::since(&before, &r.aws.calls.snapshot()), None).writes
}

#[tokio::test]
async fn changing_only_the_alarms_sends_only_the_deployment_configuration_and_forces_no_deployment()
{
    let fake = FakeAws::new(Behaviour::default());
    let r = reconciler(&fake);
    pass(&r, ALARMS).await;
    let created = &fake.requests("CreateService")[0]["deploymentConfiguration"];
    assert_eq!(
        created["alarms"],
        json!({"alarmNames": ["web-5xx"], "enable": true, "rollback": true})
    );
    let more =
        "  deployment:\n    alarms:\n      names: [web-latency, web-5xx]\n      rollback: false\n";
    assert!(pass(&r, more).await > 0);
    let updates = fake.requests("UpdateService");
    assert_eq!(updates.len(), 1, "{updates:?}");
    let u = &updates[0];
    assert_eq!(
        u["deployment"]["alarms"],
        json!({"alarmNames": ["web-5xx", "web-latency"], "enable": true, "rollback": false})
    );
    assert_eq!(u["taskDefinition"], serde_json::Value::Null, "{u}");
    assert_eq!(u["forceNewDeployment"], serde_json::Value::Null, "{u}");
    assert_eq!(u["desiredCount"], serde_json::Value::Null, "{u}");
    assert_eq!(u["networkConfiguration"], false, "{u}");
    assert_eq!(u["capacityProviderStrategy"], json!([]), "{u}");
    assert_eq!(u["loadBalancers"], 0, "{u}");
    assert_eq!(u["serviceRegistries"], 0, "{u}");
    let revisions: usize = fake.state().task_definitions.values().map(Vec::len).sum();
    assert_eq!(revisions, 1, "no new task definition");
    assert_eq!(pass(&r, more).await, 0, "the next pass is idle");
}

#[tokio::test]
async fn a_second_pass_over_services_with_alarms_and_a_canary_strategy_writes_nothing() {
    let fake = FakeAws::new(Behaviour::default());
    let r = reconciler(&fake);
    assert!(pass(&r, ALARMS).await > 0);
    assert_eq!(
        pass(&r, ALARMS).await,
        0,
        "an unchanged service with alarms"
    );

    let fake = FakeAws::new(Behaviour::default());
    let r = reconciler(&fake);
    let canary = canary();
    let first = pass(&r, &canary).await;
    assert!(
        first >= 3,
        "Cloud Map, task definition and service: {first}"
    );
    let created = &fake.requests("CreateService")[0]["deploymentConfiguration"];
    assert_eq!(created["strategy"], "CANARY");
    assert_eq!(created["bakeTimeInMinutes"], 5);
    assert_eq!(created["canaryPercent"], 10.0);
    assert_eq!(created["lifecycleHooks"], 1);
    for _ in 0..2 {
        assert_eq!(pass(&r, &canary).await, 0, "an unchanged canary service");
    }
}

#[tokio::test]
async fn moving_from_canary_back_to_rolling_turns_the_strategy_and_alarms_off_in_ecs() {
    let fake = FakeAws::new(Behaviour::default());
    let r = reconciler(&fake);
    pass(&r, &canary()).await;
    let plain_lb = format!(
        "  traffic:\n    loadBalancer:\n      targetGroupArn: {ELB}:targetgroup/web-blue/1\n"
    );
    assert!(pass(&r, &plain_lb).await > 0);
    let u = &fake.requests("UpdateService")[0];
    assert_eq!(u["deployment"]["strategy"], "ROLLING", "{u}");
    assert_eq!(u["deployment"]["lifecycleHooks"], 0, "{u}");
    assert_eq!(u["deployment"]["alarms"]["enable"], false, "{u}");
    assert_eq!(
        u["loadBalancers"], 1,
        "the advanced configuration goes too: {u}"
    );
    assert_eq!(u["taskDefinition"], serde_json::Value::Null, "{u}");
    assert_eq!(
        pass(&r, &plain_lb).await,
        0,
        "then nothing is left to change"
    );
}

#[tokio::test]
async fn linear_and_blue_green_services_are_created_as_ecs_accepts_them_and_then_left_alone() {
    for (strategy, extra) in [
        (
            "LINEAR",
            "    strategy: linear\n    linear:\n      stepPercent: 25\n      stepBakeTime: 2m\n",
        ),
        ("BLUE_GREEN", "    strategy: blueGreen\n"),
    ] {
        let fake = FakeAws::new(Behaviour::default());
        let r = reconciler(&fake);
        let manifest = format!("  deployment:\n{extra}{}", shifting_lb());
        pass(&r, &manifest).await;
        let created = &fake.requests("CreateService")[0]["deploymentConfiguration"];
        assert_eq!(created["strategy"], strategy);
        assert_eq!(created["bakeTimeInMinutes"], 10, "the default bake time");
        assert_eq!(pass(&r, &manifest).await, 0, "{strategy}");
    }
}

#[tokio::test]
async fn the_fake_refuses_what_ecs_refuses() {
    // Guards the fake the tests above rely on: a request it would let through, ECS refuses.
    use aws_sdk_ecs::types::{DeploymentConfiguration, DeploymentStrategy, LoadBalancer};
    use testkit::fake_aws::deployment::refusal;
    let bg = DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::BlueGreen)
        .build();
    assert!(refusal(Some(&bg), &[])
        .unwrap()
        .contains("bakeTimeInMinutes"));
    let lb = LoadBalancer::builder().target_group_arn("tg").build();
    let canary = DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::Canary)
        .build();
    assert!(refusal(Some(&canary), &[lb])
        .unwrap()
        .contains("advancedConfiguration"));
    assert_eq!(refusal(Some(&canary), &[]), None);
}

#[track_caller]
fn assert_error(extra: &str, path: &str, line: usize, contains: &str) {
    let text = format!("{BASE}{extra}");
    let settings = settings();
    let set = load(&text, Some(&settings));
    let diags: Vec<_> = set.diagnostics().collect();
    let found = diags
        .iter()
        .find(|d| d.path == path && d.line == line && d.message.contains(contains));
    assert!(
        found.is_some() && set.manifests.is_empty(),
        "expected an error at {path} line {line} containing {contains:?}, got:\n{}",
        diags
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let d = found.unwrap();
    assert!(
        d.to_string().starts_with(&format!("case.yaml:{line}:")),
        "{d}"
    );
}

#[test]
fn every_strategy_and_alarm_mistake_is_reported_at_its_field_and_line() {
    // BASE has 9 lines: `  deployment:` is line 10.
    assert_error(
        "  deployment:\n    strategy: blueGreen\n",
        "spec.deployment.strategy",
        11,
        "needs spec.traffic.loadBalancer",
    );
    assert_error(
        "  deployment:\n    alarms:\n      names: []\n",
        "spec.deployment.alarms.names",
        12,
        "at least one",
    );
    assert_error(
        "  deployment:\n    alarms:\n      names: [a, a]\n",
        "spec.deployment.alarms.names[1]",
        12,
        "twice",
    );
    let canary_at = |percent: &str| {
        format!(
            "  deployment:\n    strategy: canary\n    canary:\n      percent: {percent}\n{}",
            shifting_lb()
        )
    };
    assert_error(
        &canary_at("0"),
        "spec.deployment.canary.percent",
        13,
        "between 0.1 and 100",
    );
    assert_error(
        &canary_at("100.5"),
        "spec.deployment.canary.percent",
        13,
        "between 0.1 and 100",
    );
    assert_error(
        &canary_at("12.34"),
        "spec.deployment.canary.percent",
        13,
        "steps of 0.1",
    );
    assert_error(
        &format!(
            "  deployment:\n    strategy: linear\n    linear:\n      stepPercent: 2\n{}",
            shifting_lb()
        ),
        "spec.deployment.linear.stepPercent",
        13,
        "between 3 and 100",
    );
    assert_error(
        &format!(
            "  deployment:\n    strategy: canary\n    bakeTime: 90s\n{}",
            shifting_lb()
        ),
        "spec.deployment.bakeTime",
        12,
        "whole minutes",
    );
    assert_error(
        &format!(
            "  deployment:\n    strategy: canary\n    bakeTime: 25h\n{}",
            shifting_lb()
        ),
        "spec.deployment.bakeTime",
        12,
        "24h",
    );
    assert_error(
        &format!(
            "  deployment:\n    linear:\n      stepPercent: 10\n{}",
            shifting_lb()
        ),
        "spec.deployment.linear",
        11,
        "only used by the linear strategy",
    );
    assert_error(
        &shifting_lb(),
        "spec.traffic.loadBalancer.alternateTargetGroupArn",
        13,
        "only used by the blueGreen, linear and canary",
    );
    let without_rule = format!(
        "  deployment:\n    strategy: canary\n  traffic:\n    loadBalancer:\n      targetGroupArn: {ELB}:targetgroup/web-blue/1\n      alternateTargetGroupArn: {ELB}:targetgroup/web-green/2\n"
    );
    assert_error(
        &without_rule,
        "spec.traffic.loadBalancer.productionListenerRuleArn",
        13,
        "needs spec.traffic.loadBalancer.productionListenerRuleArn",
    );
    let foreign_role = canary().replace(HOOK_ROLE, "arn:aws:iam::123456789012:role/admin");
    assert_error(
        &foreign_role,
        "spec.deployment.lifecycleHooks[0].roleArn",
        21,
        "settings allow",
    );
}

#[test]
fn without_a_default_role_in_the_settings_a_strategy_needs_the_manifest_to_name_one() {
    let mut s = settings();
    s.deployment_role_arn = None;
    let text = format!(
        "{BASE}  deployment:\n    strategy: blueGreen\n{}",
        shifting_lb()
    );
    let set = load(&text, Some(&s));
    let messages: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("spec.traffic.loadBalancer.roleArn")
                && m.contains("infrastructure role")),
        "{messages:?}"
    );
}
