//! Scheduled jobs (`spec.jobs`) against moto_server's EventBridge Scheduler (full tier):
//! schedules created in the operator's tagged group and read back with the aws CLI, an idle
//! pass writes nothing, a change is an update naming the field, a removed job's schedule is
//! deleted, and schedules the operator does not own are left alone. Stopped runs of a job are
//! answered by `testkit::task_standin` (moto never runs tasks).

use std::collections::BTreeMap;

use ecs_operator::aws::CallCounter;
use ecs_operator::manifest::ManifestSet;
use ecs_operator::plan::schedules::ScheduleAction;
use ecs_operator::reconcile::pass::{Memory, PassReport};
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use ecs_operator::settings::{SchedulerSettings, Settings};
use testkit::fault_proxy::FaultProxy;
use testkit::task_standin::TaskStandIn;
use testkit::*;

const ROLE: &str = "arn:aws:iam::123456789012:role/ecs-operator-scheduler";
const DLQ: &str = "arn:aws:sqs:us-east-1:123456789012:ecs-operator-jobs-dlq";

fn settings(world: &World) -> Settings {
    let mut s = world.settings.clone();
    s.scheduler = Some(SchedulerSettings {
        role_arn: ROLE.into(),
        group_name: Some(format!("g-{}", world.settings.cluster)),
        dead_letter_queue_arn: Some(DLQ.into()),
    });
    s
}

fn with_job(name: &str, image: &str, schedule: &str) -> String {
    manifest(
        name,
        image,
        &format!(
            "  jobs:\n    - name: nightly\n      schedule: \"{schedule}\"\n      timezone: Europe/Berlin\n      command: [cleanup, --days, '30']\n      retry: {{maximumAttempts: 2, maximumEventAge: 30m}}\n"
        ),
    )
}

async fn pass(
    r: &Reconciler,
    memory: &mut Memory,
    set: &ManifestSet,
    now: u64,
) -> (PassReport, u64) {
    let before = r.aws.calls.snapshot();
    let report = leader_pass(r, set, memory, &BTreeMap::new(), now).await;
    for res in &report.results {
        assert!(res.error.is_none(), "{}: {:?}", res.name, res.error);
    }
    let writes =
        CallCounter::totals(&CallCounter::since(&before, &r.aws.calls.snapshot()), None).writes;
    (report, writes)
}

fn get_schedule(group: &str, name: &str) -> serde_json::Value {
    aws_cli(&[
        "scheduler",
        "get-schedule",
        "--group-name",
        group,
        "--name",
        name,
    ])
}

fn schedule_names(group: &str) -> Vec<String> {
    aws_cli(&["scheduler", "list-schedules", "--group-name", group])["Schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jobs_schedule_is_created_read_back_left_alone_updated_by_field_and_deleted() {
    let world = World::new("jobs");
    let settings = settings(&world);
    let group = settings
        .scheduler
        .as_ref()
        .unwrap()
        .group(&settings.operator_id);
    let r = Reconciler::new(
        clients().await,
        settings.clone(),
        ReconcileOptions::default(),
    );
    let mut memory = Memory::default();
    let name = &format!("jobs-{}", std::process::id());
    let v1 = manifests(
        &[("a.yaml", &with_job(name, "nginx:1.26", "cron(0 3 * * ? *)"))],
        &settings,
    );
    let (report, _) = pass(&r, &mut memory, &v1, 1_000).await;
    assert_eq!(report.plan.schedules[0].action, ScheduleAction::Create);

    // The group carries the owner tag; the schedule is what the manifest says, on the
    // service's revision and network.
    let group_arn = aws_cli(&["scheduler", "get-schedule-group", "--name", &group])["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    let tags = aws_cli(&[
        "scheduler",
        "list-tags-for-resource",
        "--resource-arn",
        &group_arn,
    ]);
    assert_eq!(tags["Tags"][0]["Key"], "ecs-operator.io/owner");
    assert_eq!(tags["Tags"][0]["Value"], settings.operator_id.as_str());
    let schedule_name = format!("{name}-nightly");
    let s = get_schedule(&group, &schedule_name);
    assert_eq!(s["ScheduleExpression"], "cron(0 3 * * ? *)");
    assert_eq!(s["ScheduleExpressionTimezone"], "Europe/Berlin");
    assert_eq!(s["State"], "ENABLED");
    let target = &s["Target"];
    let service = &aws_cli(&[
        "ecs",
        "describe-services",
        "--cluster",
        &settings.cluster,
        "--services",
        name,
    ])["services"][0];
    assert_eq!(
        target["EcsParameters"]["TaskDefinitionArn"],
        service["taskDefinition"]
    );
    assert!(target["Arn"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":cluster/{}", settings.cluster)));
    assert_eq!(target["RoleArn"], ROLE);
    assert_eq!(target["DeadLetterConfig"]["Arn"], DLQ);
    assert_eq!(target["RetryPolicy"]["MaximumRetryAttempts"], 2);
    assert_eq!(target["RetryPolicy"]["MaximumEventAgeInSeconds"], 1800);
    // The job's tasks start tagged as the operator's, like its services' tasks.
    let task_tags = &target["EcsParameters"]["Tags"][0];
    assert_eq!(
        task_tags["ecs-operator.io/owner"],
        settings.operator_id.as_str()
    );
    assert_eq!(task_tags["ecs-operator.io/manifest"], name.as_str());
    assert_eq!(target["EcsParameters"]["EnableECSManagedTags"], true);
    assert_eq!(
        target["EcsParameters"]["Group"],
        format!("job:{schedule_name}")
    );
    assert_eq!(
        target["EcsParameters"]["NetworkConfiguration"]["awsvpcConfiguration"]["Subnets"][0],
        settings.network.subnets[0]
    );
    let input: serde_json::Value = serde_json::from_str(target["Input"].as_str().unwrap()).unwrap();
    assert_eq!(
        input["containerOverrides"][0]["command"],
        serde_json::json!(["cleanup", "--days", "30"])
    );

    // Schedules the operator does not own: one in its group without its marker, one of the
    // same name in another group.
    let foreign_target = serde_json::json!({"Arn": target["Arn"], "RoleArn": ROLE}).to_string();
    for (g, n) in [
        (group.as_str(), "hand-made"),
        ("default", schedule_name.as_str()),
    ] {
        aws_cli(&[
            "scheduler",
            "create-schedule",
            "--group-name",
            g,
            "--name",
            n,
            "--schedule-expression",
            "rate(1 day)",
            "--flexible-time-window",
            "Mode=OFF",
            "--target",
            &foreign_target,
        ]);
    }

    // Idle: nothing written, twice.
    for now in [1_100, 1_200] {
        let (report, writes) = pass(&r, &mut memory, &v1, now).await;
        assert_eq!(writes, 0, "{:?}", report.plan.schedules);
    }

    // A new expression: an update naming the field.
    let v2 = manifests(
        &[("a.yaml", &with_job(name, "nginx:1.26", "rate(6 hours)"))],
        &settings,
    );
    let (report, _) = pass(&r, &mut memory, &v2, 1_300).await;
    let plan = report
        .plan
        .schedules
        .iter()
        .find(|p| p.name == schedule_name)
        .unwrap();
    assert_eq!(plan.action, ScheduleAction::Update);
    assert_eq!(
        plan.changes
            .iter()
            .map(|c| c.field.as_str())
            .collect::<Vec<_>>(),
        vec!["schedule.scheduleExpression"]
    );
    assert_eq!(
        get_schedule(&group, &schedule_name)["ScheduleExpression"],
        "rate(6 hours)"
    );

    // A new image: the schedule follows the service to its new revision.
    let v3 = manifests(
        &[("a.yaml", &with_job(name, "nginx:1.27", "rate(6 hours)"))],
        &settings,
    );
    pass(&r, &mut memory, &v3, 1_400).await;
    let service = &aws_cli(&[
        "ecs",
        "describe-services",
        "--cluster",
        &settings.cluster,
        "--services",
        name,
    ])["services"][0];
    assert_eq!(
        get_schedule(&group, &schedule_name)["Target"]["EcsParameters"]["TaskDefinitionArn"],
        service["taskDefinition"]
    );
    assert_eq!(pass(&r, &mut memory, &v3, 1_500).await.1, 0);

    // The job removed: its schedule is deleted; the foreign ones stay untouched.
    let v4 = manifests(&[("a.yaml", &manifest(name, "nginx:1.27", ""))], &settings);
    let (report, _) = pass(&r, &mut memory, &v4, 1_600).await;
    assert!(report
        .plan
        .schedules
        .iter()
        .any(|p| p.name == schedule_name && p.action == ScheduleAction::Delete));
    assert_eq!(schedule_names(&group), vec!["hand-made".to_string()]);
    assert_eq!(
        get_schedule("default", &schedule_name)["ScheduleExpression"],
        "rate(1 day)"
    );
    assert_eq!(
        get_schedule(&group, "hand-made")["ScheduleExpression"],
        "rate(1 day)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_and_the_last_success_of_a_job_reach_its_status_and_metrics() {
    let world = World::new("jobruns");
    let settings = settings(&world);
    let proxy = FaultProxy::start(&moto_endpoint());
    let stand_in = TaskStandIn::new();
    proxy.set(stand_in.config());
    let r = Reconciler::new(
        production_clients(&proxy.endpoint()).await,
        settings.clone(),
        ReconcileOptions::default(),
    );
    let mut memory = Memory::default();
    let name = &format!("runs-{}", std::process::id());
    let set = manifests(
        &[("a.yaml", &with_job(name, "nginx:1.26", "rate(1 hour)"))],
        &settings,
    );
    pass(&r, &mut memory, &set, 1_000).await;
    let td = memory.statuses[name]
        .inventory
        .task_definition_arn
        .clone()
        .unwrap();
    let group = format!("job:{name}-nightly");
    stand_in.scheduled_run(&settings.cluster, &td, &group, 0);
    pass(&r, &mut memory, &set, 2_000).await;
    let job = &memory.statuses[name].jobs["nightly"];
    assert!(
        job.last_success.is_some() && job.failing().is_none(),
        "{job:?}"
    );
    let failed = stand_in.scheduled_run(&settings.cluster, &td, &group, 4);
    // A task of the service itself (another group) is no run of the job.
    stand_in.scheduled_run(&settings.cluster, &td, &format!("service:{name}"), 1);
    pass(&r, &mut memory, &set, 3_000).await;
    let job = memory.statuses[name].jobs["nightly"].clone();
    let failing = job.failing().expect("the latest run failed");
    assert_eq!(
        (failing.task_arn.as_str(), failing.exit.exit_code),
        (failed.as_str(), Some(4))
    );
    let metrics = ecs_operator::controller::metrics::Metrics::new();
    metrics.record_rollouts(&memory.statuses);
    let text = metrics.encode();
    let task_id = failed.rsplit('/').next().unwrap();
    assert!(
        text.contains(&format!("ecs_operator_job_last_run_failed{{service=\"{name}\",job_name=\"nightly\",exit_code=\"4\",stop_code=\"EssentialContainerExited\",log_stream=\"/ecs/services:{name}/app/{task_id}\"}} 1")),
        "{text}"
    );
    assert!(text.contains(&format!(
        "ecs_operator_job_last_success_timestamp_seconds{{service=\"{name}\",job_name=\"nightly\"}} {}",
        job.last_success.as_ref().unwrap().stopped_at
    )));
}
