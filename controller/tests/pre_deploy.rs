//! Pre-deploy tasks (`spec.preDeploy`) against moto_server (full tier), with the one-off
//! tasks answered by `testkit::task_standin` through the fault proxy: moto 5.2.5's RunTask
//! fails on the operator's Fargate task definitions (no container-level memory) and its tasks
//! never exit, so the stand-in runs them and the test decides their exit code. Everything
//! else (task definitions, services, the status records in S3) is moto's.

use std::collections::BTreeMap;

use ecs_operator::aws::{AwsClients, CallCounter};
use ecs_operator::manifest::ManifestSet;
use ecs_operator::plan::{Outcome, Step};
use ecs_operator::reconcile::pass::{Memory, PassReport};
use ecs_operator::reconcile::predeploy::pre_deploy_marker;
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use ecs_operator::settings::Settings;
use ecs_operator::status::{ConditionType, PreDeployState, Reason, StatusStore};
use testkit::fault_proxy::FaultProxy;
use testkit::task_standin::TaskStandIn;
use testkit::*;

/// An operator process: its reconciler, the memory it carries from pass to pass and its
/// status records in S3, as the controller keeps them.
struct Operator {
    r: Reconciler,
    memory: Memory,
    store: StatusStore,
}

impl Operator {
    /// A fresh process: it knows only what the status records in S3 say.
    async fn start(aws: AwsClients, settings: &Settings) -> Operator {
        let location =
            ecs_operator::domain::S3Location::parse(settings.state_location.as_deref().unwrap())
                .unwrap()
                .map(|l| l.as_dir());
        let mut store = StatusStore::new(location);
        store.load(&aws).await;
        let memory = Memory {
            statuses: std::sync::Arc::new(std::mem::take(&mut store.statuses)),
            ..Memory::default()
        };
        Operator {
            r: Reconciler::new(aws, settings.clone(), ReconcileOptions::default()),
            memory,
            store,
        }
    }

    /// One leader pass, then the status records flushed as the controller does.
    async fn pass(&mut self, set: &ManifestSet, now: u64) -> PassReport {
        let report = leader_pass(&self.r, set, &mut self.memory, &BTreeMap::new(), now).await;
        let statuses = &self.memory.statuses;
        assert!(self
            .store
            .flush_from(&self.r.aws, statuses)
            .await
            .is_empty());
        report
    }

    /// Writes of a pass (to the services named, or all), status records included.
    async fn writes_to(&mut self, services: Option<&[&str]>, set: &ManifestSet, now: u64) -> u64 {
        let before = self.r.aws.calls.snapshot();
        let report = self.pass(set, now).await;
        for res in &report.results {
            assert!(res.error.is_none(), "{}: {:?}", res.name, res.error);
        }
        let since = CallCounter::since(&before, &self.r.aws.calls.snapshot());
        CallCounter::totals(&since, services).writes
    }

    async fn writes_of_a_pass(&mut self, set: &ManifestSet, now: u64) -> u64 {
        self.writes_to(None, set, now).await
    }
}

struct Setup {
    world: World,
    settings: Settings,
    stand_in: TaskStandIn,
    _proxy: FaultProxy,
    endpoint: String,
}

fn setup(test: &str) -> Setup {
    let world = World::new(test);
    let bucket = format!("pre-{}", world.settings.cluster.to_lowercase());
    aws_cli(&["s3", "mb", &format!("s3://{bucket}")]);
    let mut settings = world.settings.clone();
    settings.state_location = Some(format!("s3://{bucket}/state/"));
    let proxy = FaultProxy::start(&moto_endpoint());
    let stand_in = TaskStandIn::new();
    proxy.set(stand_in.config());
    let endpoint = proxy.endpoint();
    Setup {
        world,
        settings,
        stand_in,
        _proxy: proxy,
        endpoint,
    }
}

fn with_pre_deploy(name: &str, image: &str, command: &str) -> String {
    manifest(
        name,
        image,
        &format!("  preDeploy:\n    command: [{command}]\n    timeout: 10m\n"),
    )
}

fn service_task_definition(settings: &Settings, name: &str) -> String {
    aws_cli(&[
        "ecs",
        "describe-services",
        "--cluster",
        &settings.cluster,
        "--services",
        name,
    ])["services"][0]["taskDefinition"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn image_of(task_definition: &str) -> String {
    aws_cli(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        task_definition,
    ])["taskDefinition"]["containerDefinitions"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_is_updated_only_after_its_pre_deploy_task_exited_zero() {
    let s = setup("predeploy-ok");
    let name = "pre-ok";
    let mut op = Operator::start(production_clients(&s.endpoint).await, &s.settings).await;
    let v1 = manifests(
        &[("a.yaml", &with_pre_deploy(name, "nginx:1.26", "migrate"))],
        &s.settings,
    );
    // A new service: the task runs first; the service is not created before it succeeded.
    op.pass(&v1, 1_000).await;
    let tasks = s.stand_in.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].command, vec!["migrate"]);
    assert_eq!(image_of(&tasks[0].task_definition_arn), "nginx:1.26");
    assert!(
        service_task_definition(&s.settings, name).is_empty(),
        "not created yet"
    );
    assert_eq!(s.stand_in.exit(&pre_deploy_marker(""), 0), 1);
    op.pass(&v1, 1_010).await;
    assert_eq!(
        service_task_definition(&s.settings, name),
        tasks[0].task_definition_arn,
        "created with the revision the task ran"
    );
    // A new image: registered and run, the service keeps its revision meanwhile.
    let v2 = manifests(
        &[("a.yaml", &with_pre_deploy(name, "nginx:1.27", "migrate"))],
        &s.settings,
    );
    let report = op.pass(&v2, 1_100).await;
    let sp = report
        .plan
        .services
        .iter()
        .find(|sp| sp.name == name)
        .unwrap();
    assert!(sp.steps.contains(&Step::RunPreDeploy), "{:?}", sp.steps);
    assert!(
        sp.changes.iter().any(
            |c| c.field == "taskDefinition.containerDefinitions[0].image"
                || c.field.contains("image")
        ),
        "the plan names the image: {:?}",
        sp.changes
    );
    let run = &s.stand_in.tasks()[1];
    assert_eq!(image_of(&run.task_definition_arn), "nginx:1.27");
    assert_eq!(
        image_of(&service_task_definition(&s.settings, name)),
        "nginx:1.26"
    );
    // The run carries the network and the owner tag of the service.
    let subnets = &run.request["networkConfiguration"]["awsvpcConfiguration"]["subnets"];
    assert_eq!(subnets[0], s.settings.network.subnets[0]);
    assert!(run
        .tags
        .iter()
        .any(|(k, v)| k == "ecs-operator.io/owner" && *v == s.settings.operator_id));
    // Still running: the pass waits and writes nothing.
    assert_eq!(op.writes_of_a_pass(&v2, 1_150).await, 0);
    assert_eq!(s.stand_in.exit(&pre_deploy_marker(""), 0), 1);
    op.pass(&v2, 1_200).await;
    assert_eq!(
        image_of(&service_task_definition(&s.settings, name)),
        "nginx:1.27"
    );
    let status = &op.memory.statuses[name];
    assert_eq!(
        status.pre_deploy.as_ref().map(|r| r.state),
        Some(PreDeployState::Succeeded)
    );
    // In sync: no run, no write (once the status has seen the deployment it made).
    op.pass(&v2, 1_300).await;
    assert_eq!(op.writes_of_a_pass(&v2, 1_400).await, 0);
    assert_eq!(s.stand_in.tasks().len(), 2);
    let _ = &s.world;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_pre_deploy_task_holds_the_old_revision_and_a_restart_does_not_run_it_again() {
    let s = setup("predeploy-fail");
    let name = "pre-fail";
    let mut op = Operator::start(production_clients(&s.endpoint).await, &s.settings).await;
    let v1 = manifests(
        &[("a.yaml", &manifest(name, "nginx:1.26", ""))],
        &s.settings,
    );
    op.pass(&v1, 1_000).await;
    let v1_revision = service_task_definition(&s.settings, name);
    let v2 = manifests(
        &[(
            "a.yaml",
            &with_pre_deploy(name, "nginx:1.27", "migrate, --to, '42'"),
        )],
        &s.settings,
    );
    op.pass(&v2, 1_100).await;
    assert_eq!(s.stand_in.tasks().len(), 1);
    assert_eq!(s.stand_in.tasks()[0].command, vec!["migrate", "--to", "42"]);
    assert_eq!(s.stand_in.exit(&pre_deploy_marker(""), 3), 1);
    let report = op.pass(&v2, 1_200).await;
    assert_eq!(service_task_definition(&s.settings, name), v1_revision);
    let sp = report
        .plan
        .services
        .iter()
        .find(|sp| sp.name == name)
        .unwrap();
    assert!(matches!(sp.outcome, Outcome::Held(_)), "{:?}", sp.outcome);
    let status = &op.memory.statuses[name];
    let stalled = status.condition(ConditionType::Stalled).unwrap();
    assert!(stalled.status);
    assert_eq!(stalled.reason, Reason::PreDeployFailed);
    let task_id = s.stand_in.tasks()[0]
        .arn
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert!(
        stalled.message.contains("exited with code 3"),
        "{}",
        stalled.message
    );
    assert!(
        stalled
            .message
            .contains(&format!("/ecs/services:{name}/app/{task_id}")),
        "names the log stream: {}",
        stalled.message
    );
    // The record in S3 says so, read back independently.
    let bucket = format!("pre-{}", s.world.settings.cluster.to_lowercase());
    let record_path = std::env::temp_dir().join(format!("{name}-{}.json", std::process::id()));
    aws_cli(&[
        "s3",
        "cp",
        &format!("s3://{bucket}/state/status/{name}.json"),
        record_path.to_str().unwrap(),
    ]);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record_path).unwrap()).unwrap();
    assert_eq!(record["preDeploy"]["exitCode"], 3);
    assert_eq!(record["preDeploy"]["state"], "Failed");
    // Held: the passes after write nothing, also in a restarted operator, and run nothing.
    assert_eq!(op.writes_of_a_pass(&v2, 1_300).await, 0);
    let mut restarted = Operator::start(production_clients(&s.endpoint).await, &s.settings).await;
    assert_eq!(restarted.writes_of_a_pass(&v2, 1_400).await, 0);
    assert_eq!(s.stand_in.tasks().len(), 1, "never run twice for one spec");
    assert_eq!(service_task_definition(&s.settings, name), v1_revision);
    // A changed spec (a fixed command) runs again and, exiting 0, deploys.
    let v3 = manifests(
        &[(
            "a.yaml",
            &with_pre_deploy(name, "nginx:1.27", "migrate, --to, '43'"),
        )],
        &s.settings,
    );
    restarted.pass(&v3, 1_500).await;
    assert_eq!(s.stand_in.tasks().len(), 2);
    s.stand_in.exit(&pre_deploy_marker(""), 0);
    restarted.pass(&v3, 1_600).await;
    assert_eq!(
        image_of(&service_task_definition(&s.settings, name)),
        "nginx:1.27"
    );
    let stalled = restarted.memory.statuses[name]
        .condition(ConditionType::Stalled)
        .unwrap()
        .clone();
    assert!(!stalled.status, "{stalled:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_started_but_not_recorded_is_found_again_after_a_restart() {
    let s = setup("predeploy-lost");
    let name = "pre-lost";
    let mut op = Operator::start(production_clients(&s.endpoint).await, &s.settings).await;
    op.pass(
        &manifests(
            &[("a.yaml", &manifest(name, "nginx:1.26", ""))],
            &s.settings,
        ),
        1_000,
    )
    .await;
    let v2 = manifests(
        &[("a.yaml", &with_pre_deploy(name, "nginx:1.27", "migrate"))],
        &s.settings,
    );
    // The pass runs the task, and the process dies before its status record is written.
    leader_pass(&op.r, &v2, &mut op.memory, &BTreeMap::new(), 1_100).await;
    assert_eq!(s.stand_in.tasks().len(), 1);
    let mut restarted = Operator::start(production_clients(&s.endpoint).await, &s.settings).await;
    assert!(restarted.memory.statuses[name].pre_deploy.is_none());
    // It records the run it found (one status write), and starts nothing in ECS.
    assert_eq!(
        restarted.writes_to(Some(&["ECS"]), &v2, 1_200).await,
        0,
        "found, not started"
    );
    assert_eq!(
        restarted.memory.statuses[name]
            .pre_deploy
            .as_ref()
            .map(|r| r.state),
        Some(PreDeployState::Running)
    );
    assert_eq!(s.stand_in.tasks().len(), 1);
    s.stand_in.exit(&pre_deploy_marker(""), 0);
    restarted.pass(&v2, 1_300).await;
    assert_eq!(
        image_of(&service_task_definition(&s.settings, name)),
        "nginx:1.27"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pre_deploy_task_past_its_timeout_is_stopped_and_holds_the_rollout() {
    let s = setup("predeploy-timeout");
    let name = "pre-slow";
    let mut op = Operator::start(production_clients(&s.endpoint).await, &s.settings).await;
    op.pass(
        &manifests(
            &[("a.yaml", &manifest(name, "nginx:1.26", ""))],
            &s.settings,
        ),
        1_000,
    )
    .await;
    let v1_revision = service_task_definition(&s.settings, name);
    let v2 = manifests(
        &[("a.yaml", &with_pre_deploy(name, "nginx:1.27", "migrate"))],
        &s.settings,
    );
    // The stand-in's task is created now; the pass clock runs from it.
    let now = testkit_now();
    op.pass(&v2, now).await;
    assert_eq!(
        op.writes_of_a_pass(&v2, now + 599).await,
        0,
        "still within 10m"
    );
    assert_eq!(s.stand_in.stop_calls(), 0);
    op.pass(&v2, now + 700).await;
    assert_eq!(s.stand_in.stop_calls(), 1);
    let task = &s.stand_in.tasks()[0];
    let stopped = task.stopped.as_ref().expect("StopTask stopped it");
    assert!(stopped.reason.contains("timeout"), "{}", stopped.reason);
    assert_eq!(service_task_definition(&s.settings, name), v1_revision);
    let stalled = op.memory.statuses[name]
        .condition(ConditionType::Stalled)
        .unwrap()
        .clone();
    assert!(stalled.status && stalled.reason == Reason::PreDeployFailed);
    assert!(stalled.message.contains("timeout"), "{}", stalled.message);
    // Held afterwards: no second StopTask, no new run.
    assert_eq!(op.writes_of_a_pass(&v2, now + 800).await, 0);
    assert_eq!(s.stand_in.stop_calls(), 1);
    assert_eq!(s.stand_in.tasks().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_task_that_starts_nothing_is_an_error_naming_ecs_reason_and_is_tried_again() {
    let s = setup("predeploy-capacity");
    let name = "pre-cap";
    let mut op = Operator::start(production_clients(&s.endpoint).await, &s.settings).await;
    let v1 = manifests(
        &[("a.yaml", &with_pre_deploy(name, "nginx:1.26", "migrate"))],
        &s.settings,
    );
    s.stand_in.short_of_capacity(Some("RESOURCE:FARGATE"));
    let report = op.pass(&v1, 1_000).await;
    let result = report.results.iter().find(|r| r.name == name).unwrap();
    let error = result.error.as_deref().unwrap_or_default();
    assert!(error.contains("RESOURCE:FARGATE"), "{error}");
    assert!(s.stand_in.tasks().is_empty());
    s.stand_in.short_of_capacity(None);
    op.pass(&v1, 1_100).await;
    assert_eq!(s.stand_in.tasks().len(), 1);
}

fn testkit_now() -> u64 {
    ecs_operator::status::unix_now()
}

#[tokio::test(flavor = "multi_thread")]
async fn run_task_runs_a_command_with_the_services_revision_and_exits_with_its_exit_code() {
    let s = setup("run-task");
    let name = "oneoff";
    let mut op = Operator::start(production_clients(&s.endpoint).await, &s.settings).await;
    let text = manifest(name, "nginx:1.26", "");
    op.pass(&manifests(&[("a.yaml", &text)], &s.settings), 1_000)
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("manifests")).unwrap();
    std::fs::write(dir.path().join("manifests/a.yaml"), &text).unwrap();
    let mut settings = s.settings.clone();
    settings.manifest_source = dir.path().join("manifests").display().to_string();
    let settings_file = dir.path().join("settings.json");
    std::fs::write(&settings_file, serde_json::to_string(&settings).unwrap()).unwrap();
    let child = operator_command(env!("CARGO_BIN_EXE_ecs-operator"), &s.endpoint)
        .args(["run-task", name, "--emulator", "--wait", "--settings"])
        .arg(&settings_file)
        .args(["--", "report", "--month", "11"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stand_in = s.stand_in.clone();
    eventually(
        "the CLI starts a task",
        std::time::Duration::from_secs(30),
        async || !stand_in.tasks().is_empty(),
    )
    .await;
    let task = &s.stand_in.tasks()[0];
    assert_eq!(task.command, vec!["report", "--month", "11"]);
    assert_eq!(
        task.task_definition_arn,
        service_task_definition(&s.settings, name),
        "the revision the service runs"
    );
    assert_eq!(s.stand_in.exit("ecs-operator-run-task", 7), 1);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{stdout}");
    let task_id = task.arn.rsplit('/').next().unwrap();
    assert!(stdout.contains(&format!("task {}", task.arn)), "{stdout}");
    assert!(
        stdout.contains(&format!("logs /ecs/services:{name}/app/{task_id}")),
        "{stdout}"
    );
    assert!(stdout.contains("exit code 7"), "{stdout}");
}
