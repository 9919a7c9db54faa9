//! Deployment alarms and a canary strategy against moto_server (full tier): what moto 5.2.5
//! keeps of them, and that an unchanged world is left alone. What moto does not model (it keeps
//! no `deploymentConfiguration` from CreateService and validates none) is proved against the
//! fake ECS in `deployment_strategies.rs`.

use ecs_operator::aws::CallCounter;
use ecs_operator::manifest::ManifestSet;
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use testkit::*;

const ELB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/ecs-infrastructure";

async fn writes_of_a_pass(r: &Reconciler, set: &ManifestSet) -> u64 {
    let before = r.aws.calls.snapshot();
    let (plan, _) = r.plan(set, true).await.unwrap();
    for res in r.apply(&plan).await {
        assert!(res.error.is_none(), "{}: {:?}", res.name, res.error);
    }
    CallCounter::totals(&CallCounter::since(&before, &r.aws.calls.snapshot()), None).writes
}

#[tokio::test]
async fn moto_keeps_the_advanced_configuration_and_an_unchanged_canary_service_is_left_alone() {
    let world = World::new("canary");
    let mut settings = world.settings.clone();
    settings.deployment_role_arn = Some(ROLE.into());
    let r = Reconciler::new(
        clients().await,
        settings.clone(),
        ReconcileOptions::default(),
    );
    let canary = format!(
        "  deployment:\n    alarms:\n      names: [web-5xx]\n    strategy: canary\n    canary:\n      percent: 10\n      bakeTime: 3m\n  traffic:\n    loadBalancer:\n      targetGroupArn: {ELB}:targetgroup/web-blue/1\n      alternateTargetGroupArn: {ELB}:targetgroup/web-green/2\n      productionListenerRuleArn: {ELB}:listener-rule/app/shop/3/4/5\n"
    );
    let alarms_only = "  deployment:\n    alarms:\n      names: [api-5xx]\n";
    let set = manifests(
        &[
            ("web.yaml", &manifest("web", "nginx:1.27", &canary)),
            ("api.yaml", &manifest("api", "nginx:1.27", alarms_only)),
        ],
        &settings,
    );
    assert!(writes_of_a_pass(&r, &set).await >= 4);
    let web = &aws_cli(&[
        "ecs",
        "describe-services",
        "--cluster",
        &settings.cluster,
        "--services",
        "web",
    ])["services"][0];
    let advanced = &web["loadBalancers"][0]["advancedConfiguration"];
    assert_eq!(
        advanced["alternateTargetGroupArn"],
        format!("{ELB}:targetgroup/web-green/2")
    );
    assert_eq!(advanced["roleArn"], ROLE, "the settings' default role");
    // moto 5.2.5 drops deploymentConfiguration on CreateService: the operator treats what
    // ECS does not report as unknown, never as drift.
    assert!(web["deploymentConfiguration"].is_null(), "{web}");
    for _ in 0..2 {
        assert_eq!(writes_of_a_pass(&r, &set).await, 0);
    }
}
