//! Behaviours of real ECS, Cloud Map and Application Auto Scaling that moto does not emulate,
//! against `testkit::fake_aws` (an in-process fake built from the API references; the
//! behaviours and their sources are listed in RELIABILITY.md): the operator must get through
//! each without stalling, leaking or being refused.

use std::collections::{BTreeMap, BTreeSet};

use ecs_operator::domain::tags;
use ecs_operator::error::ErrorClass;
use ecs_operator::manifest::ManifestSet;
use ecs_operator::plan::Outcome;
use ecs_operator::reconcile::pass::Memory;
use ecs_operator::reconcile::rollback::RetryRequest;
use ecs_operator::reconcile::{ReconcileOptions, Reconciler, ServiceResult};
use ecs_operator::settings::Settings;
use testkit::fake_aws::{Behaviour, FakeAws, FakeService};

const CLUSTER: &str = "main";
const OPERATOR: &str = "op";

fn settings() -> Settings {
    let mut s = Settings::local_defaults();
    s.operator_id = OPERATOR.into();
    s.cluster = CLUSTER.into();
    s.service_discovery_namespace_id = Some("ns-1".into());
    s
}

fn manifest(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: {name}\nspec:\n  container:\n    image: nginx:1.27\n  notify:\n    team: web\n{extra}"
    )
}

fn set_of(docs: &[String]) -> ManifestSet {
    let settings = settings();
    let mut set = ManifestSet::default();
    for (i, doc) in docs.iter().enumerate() {
        set.add_source(&format!("m{i}.yaml"), doc.as_bytes(), Some(&settings));
    }
    set.finish();
    let problems: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}");
    set
}

fn reconciler(fake: &FakeAws, generation: u64) -> Reconciler {
    let mut r = Reconciler::new(fake.clients(), settings(), ReconcileOptions::default());
    r.generation = Some(generation);
    r
}

/// One pass: observe, plan, apply. Returns the results.
async fn pass(r: &Reconciler, docs: &[String]) -> Vec<ServiceResult> {
    let set = set_of(docs);
    let (plan, _) = r.plan(&set, true).await.expect("observation succeeds");
    r.apply(&plan).await
}

fn result<'a>(results: &'a [ServiceResult], name: &str) -> &'a ServiceResult {
    results
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no result for {name}: {results:?}"))
}

fn assert_ok(results: &[ServiceResult]) {
    let failed: Vec<_> = results.iter().filter(|r| r.error.is_some()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[tokio::test]
async fn moving_a_service_to_spot_forces_the_new_deployment_ecs_requires() {
    let fake = FakeAws::new(Behaviour::default());
    let r = reconciler(&fake, 1);
    assert_ok(&pass(&r, &[manifest("web", "")]).await);
    let results = pass(&r, &[manifest("web", "  placement:\n    spot: true\n")]).await;
    assert_ok(&results);
    let updates = fake.requests("UpdateService");
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["capacityProviderStrategy"][0], "FARGATE_SPOT");
    assert_eq!(updates[0]["forceNewDeployment"], true);
}

#[tokio::test]
async fn a_spot_mix_is_a_two_provider_strategy_kept_as_sent_and_changed_with_a_new_deployment() {
    let fake = FakeAws::new(Behaviour::default());
    let r = reconciler(&fake, 1);
    let spot = |yaml: &str| manifest("web", &format!("  placement:\n    spot: {yaml}\n"));
    assert_ok(&pass(&r, &[spot("{base: 2, weight: 3}")]).await);
    let created = fake.requests("CreateService");
    assert_eq!(
        created[0]["strategy"],
        serde_json::json!([["FARGATE", 2, 1], ["FARGATE_SPOT", 0, 3]]),
        "{created:?}"
    );
    assert_ok(&pass(&r, &[spot("{base: 2, weight: 3}")]).await);
    assert!(
        fake.requests("UpdateService").is_empty(),
        "an unchanged mix is in sync"
    );
    assert_ok(&pass(&r, &[spot("{base: 1, weight: 3}")]).await);
    assert_ok(&pass(&r, &[spot("false")]).await);
    let updates = fake.requests("UpdateService");
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert_eq!(
        updates[0]["strategy"],
        serde_json::json!([["FARGATE", 1, 1], ["FARGATE_SPOT", 0, 3]])
    );
    assert_eq!(
        updates[1]["strategy"],
        serde_json::json!([["FARGATE", 0, 1]])
    );
    assert!(updates
        .iter()
        .all(|u| u["forceNewDeployment"] == true && u["taskDefinition"].is_null()));
}

#[tokio::test]
async fn switching_ecs_exec_forces_the_new_deployment_running_tasks_need() {
    let fake = FakeAws::new(Behaviour::default());
    let r = reconciler(&fake, 1);
    let exec = |on: bool| {
        manifest("web", "").replace(
            "    image: nginx:1.27\n",
            &format!("    image: nginx:1.27\n    exec: {on}\n"),
        )
    };
    assert_ok(&pass(&r, &[exec(true)]).await);
    let created = fake.requests("CreateService");
    assert_eq!(created[0]["enableExecuteCommand"], true, "{created:?}");
    assert_ok(&pass(&r, &[exec(true)]).await);
    assert!(
        fake.requests("UpdateService").is_empty(),
        "unchanged: no update"
    );
    assert_ok(&pass(&r, &[exec(false)]).await);
    let updates = fake.requests("UpdateService");
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["enableExecuteCommand"], false);
    assert_eq!(updates[0]["forceNewDeployment"], true);
    assert!(
        updates[0]["taskDefinition"].is_null(),
        "the task definition is unchanged"
    );
}

#[tokio::test]
async fn an_adopted_service_on_a_launch_type_is_claimed_then_moved_to_a_strategy() {
    let fake = FakeAws::new(Behaviour::default());
    fake.state().services.insert(
        (CLUSTER.into(), "legacy".into()),
        FakeService::hand_made(CLUSTER, "legacy", "legacy:1"),
    );
    let adopt = manifest("legacy", "").replace(
        "metadata:\n  name: legacy\n",
        "metadata:\n  name: legacy\n  annotations:\n    ecs-operator.io/adopt: \"true\"\n",
    );
    let r = reconciler(&fake, 1);
    let results = pass(&r, &[adopt]).await;
    assert_ok(&results);
    let writes: Vec<String> = fake
        .state()
        .requests
        .iter()
        .map(|r| r.operation.to_string())
        .filter(|op| op == "TagResource" || op == "UpdateService")
        .collect();
    assert_eq!(writes, ["TagResource", "UpdateService", "TagResource"]);
    let claim = &fake.requests("TagResource")[0];
    assert_eq!(claim["tags"], serde_json::json!({tags::OWNER: OPERATOR}));
    assert_eq!(
        fake.requests("UpdateService")[0]["forceNewDeployment"],
        true
    );
}

#[tokio::test]
async fn bringing_the_desired_count_back_into_range_sends_only_the_count() {
    let fake = FakeAws::new(Behaviour::default());
    let scaled = "  scaling:\n    minTasks: 2\n    maxTasks: 4\n    targetCpuPercent: 60\n";
    let r = reconciler(&fake, 1);
    assert_ok(&pass(&r, &[manifest("web", scaled)]).await);
    fake.state()
        .services
        .get_mut(&(CLUSTER.into(), "web".into()))
        .unwrap()
        .desired = 9;
    assert_ok(&pass(&r, &[manifest("web", scaled)]).await);
    let update = &fake.requests("UpdateService")[0];
    assert_eq!(update["desiredCount"], 4);
    for absent in ["networkConfiguration", "deploymentConfiguration"] {
        assert_eq!(update[absent], false, "{absent} was sent: {update}");
    }
    assert_eq!(update["taskDefinition"], serde_json::Value::Null);
    assert_eq!(update["capacityProviderStrategy"], serde_json::json!([]));
    assert_eq!(update["loadBalancers"], 0);
    assert_eq!(update["serviceRegistries"], 0);
    assert_eq!(update["propagateTags"], serde_json::Value::Null);
}

/// Prunes `web` (its Cloud Map service still has registered tasks), then lets time pass with
/// a new operator process each pass: the Cloud Map service is gone once its tasks are.
async fn prune_and_drain(behaviour: Behaviour) {
    let fake = FakeAws::new(behaviour);
    let keep = manifest("other", "");
    let web = manifest("web", "  lifecycle:\n    prune: true\n");
    assert_ok(&pass(&reconciler(&fake, 1), &[keep.clone(), web]).await);
    assert_eq!(fake.state().discovery.len(), 2);

    let results = pass(&reconciler(&fake, 2), std::slice::from_ref(&keep)).await;
    let pruned = result(&results, "web");
    assert_eq!(pruned.outcome, Outcome::Delete);
    assert_eq!(
        pruned.error_class,
        Some(ErrorClass::Waiting),
        "Cloud Map refuses while tasks are registered: {pruned:?}"
    );
    for generation in 3..8 {
        fake.tick();
        let results = pass(&reconciler(&fake, generation), std::slice::from_ref(&keep)).await;
        assert!(
            results
                .iter()
                .all(|r| r.error_class != Some(ErrorClass::Stalled)),
            "{results:?}"
        );
    }
    let names: Vec<String> = fake
        .state()
        .discovery
        .values()
        .map(|d| d.name.clone())
        .collect();
    assert_eq!(
        names,
        ["other"],
        "the pruned service's Cloud Map service is deleted"
    );
}

#[tokio::test]
async fn a_pruned_service_leaves_no_cloud_map_service_once_its_tasks_stopped() {
    prune_and_drain(Behaviour::default()).await;
}

#[tokio::test]
async fn a_pruned_service_leaves_no_cloud_map_service_when_list_services_hides_draining_ones() {
    prune_and_drain(Behaviour {
        list_draining_services: false,
        ..Behaviour::default()
    })
    .await;
}

async fn recreate_while_draining(behaviour: Behaviour) {
    let fake = FakeAws::new(behaviour);
    let keep = manifest("other", "");
    let web = manifest("web", "  lifecycle:\n    prune: true\n");
    assert_ok(&pass(&reconciler(&fake, 1), &[keep.clone(), web.clone()]).await);
    pass(&reconciler(&fake, 2), std::slice::from_ref(&keep)).await;
    // The manifest comes back while ECS still drains the deleted service.
    let results = pass(&reconciler(&fake, 3), &[keep.clone(), web.clone()]).await;
    let web_result = result(&results, "web");
    let waiting = matches!(web_result.outcome, Outcome::Waiting(_))
        || web_result.error_class == Some(ErrorClass::Waiting);
    assert!(waiting, "a wait, never stalled: {web_result:?}");
    for generation in 4..8 {
        fake.tick();
        pass(&reconciler(&fake, generation), &[keep.clone(), web.clone()]).await;
    }
    let state = fake.state();
    let service = &state.services[&(CLUSTER.to_string(), "web".to_string())];
    assert_eq!(service.status, "ACTIVE", "re-created once drained");
}

#[tokio::test]
async fn re_creating_a_draining_service_waits_when_list_services_shows_it() {
    recreate_while_draining(Behaviour::default()).await;
}

#[tokio::test]
async fn re_creating_a_draining_service_waits_when_only_create_service_says_so() {
    recreate_while_draining(Behaviour {
        list_draining_services: false,
        ..Behaviour::default()
    })
    .await;
}

#[tokio::test]
async fn idempotency_tokens_differ_when_a_pruned_service_is_created_again() {
    let fake = FakeAws::new(Behaviour {
        drain_ticks: 1,
        ..Behaviour::default()
    });
    let keep = manifest("other", "");
    let web = manifest("web", "  lifecycle:\n    prune: true\n");
    assert_ok(&pass(&reconciler(&fake, 1_000), &[keep.clone(), web.clone()]).await);
    pass(&reconciler(&fake, 2_000), std::slice::from_ref(&keep)).await;
    fake.tick();
    pass(&reconciler(&fake, 2_500), std::slice::from_ref(&keep)).await;
    assert_ok(&pass(&reconciler(&fake, 3_000), &[keep, web]).await);

    let creates: Vec<serde_json::Value> = fake
        .requests("CreateService")
        .into_iter()
        .filter(|r| r["name"] == "web")
        .collect();
    assert_eq!(creates.len(), 2, "{creates:?}");
    assert_ne!(creates[0]["clientToken"], creates[1]["clientToken"]);
    let cloud_map: BTreeSet<String> = fake
        .requests("servicediscovery:CreateService")
        .into_iter()
        .filter(|r| r["name"] == "web")
        .map(|r| r["creatorRequestId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(cloud_map.len(), 2, "{cloud_map:?}");
    let state = fake.state();
    assert_eq!(
        state.services[&(CLUSTER.to_string(), "web".to_string())].status,
        "ACTIVE",
        "the new create made a new service, not the deleted one back"
    );
}

#[tokio::test(start_paused = true)]
async fn a_scalable_target_refused_right_after_create_is_retried_then_waited_for() {
    let scaled = "  scaling:\n    minTasks: 1\n    maxTasks: 3\n    targetCpuPercent: 60\n";
    let fake = FakeAws::new(Behaviour {
        scaling_lag: 2,
        ..Behaviour::default()
    });
    assert_ok(&pass(&reconciler(&fake, 1), &[manifest("web", scaled)]).await);
    assert_eq!(fake.requests("RegisterScalableTarget").len(), 3);

    let slow = FakeAws::new(Behaviour {
        scaling_lag: 100,
        ..Behaviour::default()
    });
    let results = pass(&reconciler(&slow, 1), &[manifest("web", scaled)]).await;
    assert_eq!(
        result(&results, "web").error_class,
        Some(ErrorClass::Waiting),
        "{results:?}"
    );
}

/// The controller's pass (`pass::run`) over `docs`, carrying `memory` (statuses, holds) from
/// pass to pass as the runtime does.
async fn controller_pass(
    r: &Reconciler,
    docs: &[String],
    memory: &mut Memory,
    retries: &BTreeMap<String, RetryRequest>,
    now: u64,
) -> Vec<ServiceResult> {
    testkit::leader_pass(r, &set_of(docs), memory, retries, now)
        .await
        .results
}

/// Deployments of `web` to a new revision (UpdateService with a task definition).
fn deployments(fake: &FakeAws) -> usize {
    fake.requests("UpdateService")
        .iter()
        .filter(|r| r["name"] == "web" && r["taskDefinition"].is_string())
        .count()
}

#[tokio::test]
async fn a_spec_the_circuit_breaker_rolled_back_is_not_deployed_again_until_retried_or_changed() {
    let fake = FakeAws::default();
    let r = reconciler(&fake, 1);
    let mut memory = Memory::default();
    let none = BTreeMap::new();
    let v1 = manifest(
        "web",
        "  scaling:\n    minTasks: 1\n    maxTasks: 3\n    targetCpuPercent: 60\n",
    );
    let v2 = v1.replace("nginx:1.27", "nginx:1.28");
    assert_ok(&controller_pass(&r, std::slice::from_ref(&v1), &mut memory, &none, 100).await);
    assert_ok(&controller_pass(&r, std::slice::from_ref(&v2), &mut memory, &none, 110).await);
    assert_eq!(deployments(&fake), 1, "1.28 deployed");

    // The circuit breaker fails 1.28 and rolls back to 1.27.
    fake.circuit_breaker_rolls_back(CLUSTER, "web");
    for i in 0..10 {
        let results =
            controller_pass(&r, std::slice::from_ref(&v2), &mut memory, &none, 120 + i).await;
        assert_ok(&results);
        if i == 2 {
            // Its tasks drained: ECS no longer lists the failed deployment.
            fake.rollback_drained(CLUSTER, "web");
        }
    }
    assert_eq!(
        deployments(&fake),
        1,
        "the rolled-back spec was deployed again"
    );
    let status = memory.statuses["web"].clone();
    let held = status.held.clone().expect("the spec is held");
    assert!(held.revision.ends_with(":2"), "{held:?}");
    assert!(held.reason.contains("circuit breaker"), "{held:?}");
    assert!(status
        .conditions
        .iter()
        .any(|c| c.status && format!("{:?}", c.kind) == "Stalled"));

    // Everything else is still corrected: the desired count, moved out of range by hand.
    fake.state()
        .services
        .get_mut(&(CLUSTER.to_string(), "web".to_string()))
        .unwrap()
        .desired = 9;
    assert_ok(&controller_pass(&r, std::slice::from_ref(&v2), &mut memory, &none, 140).await);
    let last = fake.requests("UpdateService").pop().unwrap();
    assert_eq!(last["desiredCount"], 3, "{last}");
    assert!(last["taskDefinition"].is_null(), "{last}");

    // `ecs-operator retry web`: deployed once more; failed again, held again.
    let retry = BTreeMap::from([(
        "web".to_string(),
        RetryRequest {
            spec_hash: held.spec_hash.clone(),
            at: 150,
        },
    )]);
    assert_ok(&controller_pass(&r, std::slice::from_ref(&v2), &mut memory, &retry, 151).await);
    assert_eq!(deployments(&fake), 2, "the retry deploys the spec again");
    fake.circuit_breaker_rolls_back(CLUSTER, "web");
    for i in 0..3 {
        controller_pass(&r, std::slice::from_ref(&v2), &mut memory, &retry, 160 + i).await;
    }
    assert_eq!(deployments(&fake), 2, "the second rollback is held too");
    assert!(memory.statuses["web"].held.as_ref().unwrap().since >= 160);

    // A new spec is deployed at once.
    let v3 = v1.replace("nginx:1.27", "nginx:1.29");
    assert_ok(&controller_pass(&r, std::slice::from_ref(&v3), &mut memory, &retry, 170).await);
    assert_eq!(deployments(&fake), 3, "a changed manifest is deployed");
    assert!(memory.statuses["web"].held.is_none());
}
