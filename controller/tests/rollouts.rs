//! Rollouts by hand and followed to the end, against `testkit::fake_aws` (moto lists the
//! deployment made at creation forever, so no rollout ever completes there): what
//! `apply --wait` sees, `ecs-operator rollback` and the hold it leaves, and the rollout each
//! service's status reports.

use std::collections::BTreeMap;
use std::time::Duration;

use ecs_operator::domain::tags;
use ecs_operator::manifest::ManifestSet;
use ecs_operator::reconcile::pass::Memory;
use ecs_operator::reconcile::rollback::RetryRequest;
use ecs_operator::reconcile::rollout::{self, Progress, RollbackError, WaitTarget};
use ecs_operator::reconcile::{ReconcileOptions, Reconciler, ServiceResult};
use ecs_operator::settings::Settings;
use ecs_operator::status::RolloutPhase;
use testkit::fake_aws::{Behaviour, FakeAws, FakeService};
use testkit::leader_pass;

const CLUSTER: &str = "main";
const OPERATOR: &str = "op";

fn settings() -> Settings {
    let mut s = Settings::local_defaults();
    s.operator_id = OPERATOR.into();
    s.cluster = CLUSTER.into();
    s.service_discovery_namespace_id = Some("ns-1".into());
    s
}

fn manifest(image: &str) -> String {
    format!(
        "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: web\nspec:\n  container:\n    image: {image}\n  notify:\n    team: web\n"
    )
}

fn set_of(doc: &str) -> ManifestSet {
    let settings = settings();
    let mut set = ManifestSet::default();
    set.add_source("web.yaml", doc.as_bytes(), Some(&settings));
    set.finish();
    assert_eq!(set.diagnostics().count(), 0);
    set
}

fn reconciler(fake: &FakeAws) -> Reconciler {
    let mut r = Reconciler::new(fake.clients(), settings(), ReconcileOptions::default());
    r.generation = Some(1);
    r
}

/// The controller's pass over one manifest, carrying `memory` as the runtime does.
async fn controller_pass(
    r: &Reconciler,
    doc: &str,
    memory: &mut Memory,
    retries: &BTreeMap<String, RetryRequest>,
    now: u64,
) -> Vec<ServiceResult> {
    let results = leader_pass(r, &set_of(doc), memory, retries, now)
        .await
        .results;
    let failed: Vec<_> = results.iter().filter(|r| r.error.is_some()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    results
}

/// UpdateService calls that set a task definition on `web`.
fn deployments(fake: &FakeAws) -> Vec<String> {
    fake.requests("UpdateService")
        .iter()
        .filter(|r| r["name"] == "web")
        .filter_map(|r| r["taskDefinition"].as_str().map(str::to_string))
        .collect()
}

/// What `apply --wait` waits for after 1.28 was deployed.
fn web_at_revision_2() -> WaitTarget {
    WaitTarget {
        name: "web".into(),
        cluster: CLUSTER.into(),
        revision: revision(2),
    }
}

fn revision(n: u32) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task-definition/web:{n}")
}

/// What the runtime does between passes: web 1.27 created, then 1.28 deployed.
async fn deployed_twice(fake: &FakeAws, memory: &mut Memory) -> Reconciler {
    let r = reconciler(fake);
    let none = BTreeMap::new();
    controller_pass(&r, &manifest("nginx:1.27"), memory, &none, 100).await;
    controller_pass(&r, &manifest("nginx:1.28"), memory, &none, 110).await;
    assert_eq!(deployments(fake), [revision(2)]);
    r
}

#[tokio::test]
async fn waiting_follows_a_rollout_until_ecs_completes_it_and_the_status_says_so() {
    let fake = FakeAws::new(Behaviour {
        rollout_ticks: 3,
        ..Behaviour::default()
    });
    let mut memory = Memory::default();
    let r = deployed_twice(&fake, &mut memory).await;
    let status = memory.statuses["web"].rollout.clone().expect("a rollout");
    assert_eq!(status.phase, RolloutPhase::InProgress);
    assert_eq!(status.revision, revision(2));
    assert_eq!(status.image.as_deref(), Some("nginx:1.28"));
    assert_eq!(status.started_at, Some(110));

    let target = web_at_revision_2();
    let describes = |r: &Reconciler| -> u64 {
        (r.aws.calls.snapshot().iter())
            .filter(|(k, _)| k.1 == "DescribeServices")
            .map(|(_, n)| n)
            .sum()
    };
    let describes_before = describes(&r);
    let mut rounds: Vec<Progress> = Vec::new();
    let last = rollout::wait(
        &r.aws,
        std::slice::from_ref(&target),
        Duration::from_millis(1),
        Duration::from_secs(30),
        |round| {
            rounds.push(round[0].1.clone());
            fake.tick();
        },
    )
    .await
    .expect("describes succeed");
    assert_eq!(last, [(target, Progress::Completed)]);
    assert_eq!(rounds.len(), 4, "{rounds:?}");
    assert_eq!(
        rounds[0],
        Progress::Pending(
            "0 of 2 new tasks running, 2 pending, 0 failed; 2 old still running".into()
        )
    );
    assert_eq!(
        describes(&r) - describes_before,
        4,
        "one DescribeServices per round"
    );

    // The next pass reports the rollout completed.
    controller_pass(
        &r,
        &manifest("nginx:1.28"),
        &mut memory,
        &BTreeMap::new(),
        130,
    )
    .await;
    let status = memory.statuses["web"].rollout.clone().expect("a rollout");
    assert_eq!(status.phase, RolloutPhase::Completed, "{status:?}");
    assert_eq!(status.image.as_deref(), Some("nginx:1.28"));
}

#[tokio::test]
async fn waiting_reports_a_circuit_breaker_rollback_as_a_failure_with_its_reason() {
    let fake = FakeAws::new(Behaviour {
        rollout_ticks: 5,
        ..Behaviour::default()
    });
    let mut memory = Memory::default();
    let r = deployed_twice(&fake, &mut memory).await;
    let target = web_at_revision_2();
    let mut rounds = 0;
    let last = rollout::wait(
        &r.aws,
        std::slice::from_ref(&target),
        Duration::from_millis(1),
        Duration::from_secs(30),
        |_| {
            rounds += 1;
            if rounds == 2 {
                fake.circuit_breaker_rolls_back(CLUSTER, "web");
            }
        },
    )
    .await
    .expect("describes succeed");
    assert_eq!(
        last[0].1,
        Progress::RolledBack("ECS deployment circuit breaker: tasks failed to start.".into())
    );
    assert_eq!(rounds, 3, "pending twice, then rolled back");
    // The controller's next pass holds the spec, and its status names the rollback.
    controller_pass(
        &r,
        &manifest("nginx:1.28"),
        &mut memory,
        &BTreeMap::new(),
        140,
    )
    .await;
    let status = &memory.statuses["web"];
    assert!(status.held.is_some());
    let rollout = status.rollout.clone().expect("a rollout");
    assert_eq!(rollout.phase, RolloutPhase::RolledBack);
    assert_eq!(rollout.revision, revision(2));
    assert_eq!(rollout.rolled_back_to, Some(revision(1)));
}

#[tokio::test]
async fn waiting_gives_up_at_the_timeout_with_the_progress_so_far() {
    let fake = FakeAws::new(Behaviour {
        rollout_ticks: 1000,
        ..Behaviour::default()
    });
    let mut memory = Memory::default();
    let r = deployed_twice(&fake, &mut memory).await;
    let target = web_at_revision_2();
    let last = rollout::wait(
        &r.aws,
        &[target],
        Duration::from_millis(5),
        Duration::from_millis(30),
        |_| {},
    )
    .await
    .expect("describes succeed");
    assert!(matches!(last[0].1, Progress::Pending(_)), "{last:?}");
}

#[tokio::test]
async fn a_rollback_by_hand_goes_back_one_revision_and_the_controller_holds_the_spec() {
    let fake = FakeAws::default();
    let mut memory = Memory::default();
    let r = deployed_twice(&fake, &mut memory).await;
    let done = rollout::rollback(&r.aws, OPERATOR, CLUSTER, "web", 200)
        .await
        .expect("the operator owns web");
    assert_eq!(
        (done.from.as_str(), done.to.as_str()),
        (revision(2).as_str(), revision(1).as_str())
    );
    assert_eq!(deployments(&fake), [revision(2), revision(1)]);
    // The hold was written before the service was touched.
    let ops: Vec<String> = fake
        .state()
        .requests
        .iter()
        .map(|r| r.operation.to_string())
        .filter(|op| op == "TagResource" || op == "UpdateService")
        .collect();
    assert_eq!(ops.last().map(String::as_str), Some("UpdateService"));
    assert_eq!(ops[ops.len() - 2], "TagResource");
    let tag = fake.requests("TagResource").pop().unwrap();
    assert_eq!(
        tag["tags"][tags::HELD],
        format!("{} 200 web:2 hand", done.hold.spec_hash)
    );

    // The controller does not deploy 1.28 again: no pass fights the rollback.
    let none = BTreeMap::new();
    for i in 0..3 {
        controller_pass(&r, &manifest("nginx:1.28"), &mut memory, &none, 210 + i).await;
    }
    assert_eq!(deployments(&fake).len(), 2, "{:?}", deployments(&fake));
    // ... and does not call the held service drift.
    let report = leader_pass(
        &r,
        &set_of(&manifest("nginx:1.28")),
        &mut memory,
        &none,
        215,
    )
    .await;
    assert!(report.drifted.is_empty(), "{:?}", report.drifted);
    let status = &memory.statuses["web"];
    let held = status.held.clone().expect("held");
    assert!(held.reason.contains("by hand"), "{held:?}");
    assert_eq!(held.since, 200);

    // `ecs-operator retry web` lifts it; a new manifest is deployed at once too.
    let retry = BTreeMap::from([(
        "web".to_string(),
        RetryRequest {
            spec_hash: held.spec_hash.clone(),
            at: 220,
        },
    )]);
    controller_pass(&r, &manifest("nginx:1.28"), &mut memory, &retry, 221).await;
    assert_eq!(deployments(&fake).len(), 3, "the retry deploys 1.28 again");
    assert!(memory.statuses["web"].held.is_none());
}

#[tokio::test]
async fn a_rollback_by_hand_never_touches_a_service_the_operator_does_not_own() {
    let fake = FakeAws::default();
    fake.state().services.insert(
        (CLUSTER.into(), "legacy".into()),
        FakeService::hand_made(CLUSTER, "legacy", "legacy:2"),
    );
    let aws = fake.clients();
    let err = rollout::rollback(&aws, OPERATOR, CLUSTER, "legacy", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, RollbackError::NotOwned(..)), "{err}");
    assert!(err.to_string().contains("not touched"), "{err}");
    assert!(fake.requests("TagResource").is_empty());
    assert!(fake.requests("UpdateService").is_empty());
    let missing = rollout::rollback(&aws, OPERATOR, CLUSTER, "nope", 1)
        .await
        .unwrap_err();
    assert!(matches!(missing, RollbackError::NotFound(..)), "{missing}");
}

#[tokio::test]
async fn a_rollback_by_hand_needs_an_earlier_revision() {
    let fake = FakeAws::default();
    let r = reconciler(&fake);
    let mut memory = Memory::default();
    controller_pass(
        &r,
        &manifest("nginx:1.27"),
        &mut memory,
        &BTreeMap::new(),
        100,
    )
    .await;
    let err = rollout::rollback(&r.aws, OPERATOR, CLUSTER, "web", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, RollbackError::NoEarlierRevision(..)), "{err}");
    assert!(fake
        .requests("TagResource")
        .iter()
        .all(|t| t["tags"].get(tags::HELD).is_none()));
}
