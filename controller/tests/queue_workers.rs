//! Queue workers (`spec.scaling.queue`) against moto_server (full tier): the scalable target
//! down to zero tasks and the target tracking policy on the backlog per task (CloudWatch
//! metric math) read back with the aws CLI, an idle pass writes nothing, a change names the
//! field, a removed queue's policy is deleted; the queue metrics the operator reads from
//! CloudWatch for the oldest-message alert; and the invoice-worker example (sidecar,
//! pre-deploy migration, scheduled job, queue scaling) applied and read back.
//!
//! moto keeps the metric math of a policy as sent but evaluates none of it, and SQS in moto
//! publishes no CloudWatch metrics: the queue's metrics are put with PutMetricData here.

use std::collections::BTreeMap;

use ecs_operator::aws::CallCounter;
use ecs_operator::controller::queue_metrics::QueueMetrics;
use ecs_operator::manifest::ManifestSet;
use ecs_operator::plan::Step;
use ecs_operator::reconcile::pass::Memory;
use ecs_operator::reconcile::predeploy::pre_deploy_marker;
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use ecs_operator::render::aws::backlog_expression;
use ecs_operator::settings::SchedulerSettings;
use serde_json::Value;
use testkit::fault_proxy::FaultProxy;
use testkit::task_standin::TaskStandIn;
use testkit::*;

fn queue_manifest(name: &str, queue: &str, backlog: u32) -> String {
    manifest(
        name,
        "nginx:1.27",
        &format!(
            "  scaling:\n    minTasks: 0\n    maxTasks: 6\n    queue:\n      queueArn: arn:aws:sqs:us-east-1:123456789012:{queue}\n      backlogPerTask: {backlog}\n"
        ),
    )
}

fn policies(cluster: &str, name: &str) -> Vec<Value> {
    aws_cli(&[
        "application-autoscaling",
        "describe-scaling-policies",
        "--service-namespace",
        "ecs",
        "--resource-id",
        &format!("service/{cluster}/{name}"),
    ])["ScalingPolicies"]
        .as_array()
        .unwrap()
        .clone()
}

fn scalable_target(cluster: &str, name: &str) -> Value {
    aws_cli(&[
        "application-autoscaling",
        "describe-scalable-targets",
        "--service-namespace",
        "ecs",
        "--resource-ids",
        &format!("service/{cluster}/{name}"),
    ])["ScalableTargets"][0]
        .clone()
}

fn desired_count(cluster: &str, name: &str) -> i64 {
    describe_service(cluster, name)["desiredCount"]
        .as_i64()
        .unwrap()
}

/// The queue policy's metric math as AWS holds it: (id, expression or namespace/metric,
/// dimensions, return data).
fn metric_math(policy: &Value) -> Vec<(String, String, String, bool)> {
    let metrics = &policy["TargetTrackingScalingPolicyConfiguration"]
        ["CustomizedMetricSpecification"]["Metrics"];
    metrics
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let stat = &m["MetricStat"];
            let what = match m["Expression"].as_str() {
                Some(e) => e.to_string(),
                None => format!(
                    "{}/{} {}",
                    stat["Metric"]["Namespace"].as_str().unwrap(),
                    stat["Metric"]["MetricName"].as_str().unwrap(),
                    stat["Stat"].as_str().unwrap()
                ),
            };
            let dims: Vec<String> = (stat["Metric"]["Dimensions"].as_array())
                .map(|d| {
                    d.iter()
                        .map(|d| {
                            format!(
                                "{}={}",
                                d["Name"].as_str().unwrap(),
                                d["Value"].as_str().unwrap()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (
                m["Id"].as_str().unwrap().to_string(),
                what,
                dims.join(","),
                m["ReturnData"].as_bool().unwrap_or(true),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_worker_scales_on_its_backlog_per_task_from_zero_and_is_reconciled_field_by_field()
{
    let world = World::new("queue");
    let cluster = world.settings.cluster.clone();
    let r = world.reconciler().await;
    let name = "qworker";
    let v1 = manifests(
        &[("q.yaml", &queue_manifest(name, "jobs-in", 100))],
        &world.settings,
    );
    assert!(v1.rejected.is_empty(), "{:?}", v1.rejected);

    let (_, _, writes) = apply_counted(&r, &v1, true).await;
    assert!(writes > 0);
    // What AWS holds: no task until there is work, a target from 0, the metric math.
    assert_eq!(desired_count(&cluster, name), 0);
    let target = scalable_target(&cluster, name);
    assert_eq!(
        (
            target["MinCapacity"].as_i64(),
            target["MaxCapacity"].as_i64()
        ),
        (Some(0), Some(6))
    );
    let held = policies(&cluster, name);
    assert_eq!(held.len(), 1, "{held:?}");
    let policy = &held[0];
    assert_eq!(policy["PolicyName"], format!("{name}-queue"));
    assert_eq!(policy["PolicyType"], "TargetTrackingScaling");
    let config = &policy["TargetTrackingScalingPolicyConfiguration"];
    assert_eq!(config["TargetValue"].as_f64(), Some(100.0));
    assert!(config.get("PredefinedMetricSpecification").is_none());
    assert_eq!(
        metric_math(policy),
        vec![
            (
                "visible".into(),
                "AWS/SQS/ApproximateNumberOfMessagesVisible Sum".into(),
                "QueueName=jobs-in".into(),
                false
            ),
            (
                "tasks".into(),
                "ECS/ContainerInsights/RunningTaskCount Average".into(),
                format!("ClusterName={cluster},ServiceName={name}"),
                false
            ),
            ("backlog".into(), backlog_expression(), String::new(), true),
        ]
    );

    // Idle: the policy read back is the policy wanted.
    let (plan, _, writes) = apply_counted(&r, &v1, true).await;
    assert_eq!(
        writes,
        0,
        "{:?}",
        plan.services.iter().map(|s| &s.changes).collect::<Vec<_>>()
    );

    // A new backlog target: one change, naming the field, and what AWS holds follows.
    let v2 = manifests(
        &[("q.yaml", &queue_manifest(name, "jobs-in", 20))],
        &world.settings,
    );
    let (plan, _, writes) = apply_counted(&r, &v2, true).await;
    let sp = plan.services.iter().find(|s| s.name == name).unwrap();
    let change = sp
        .changes
        .iter()
        .find(|c| c.field == format!("scaling.policies.{name}-queue"))
        .unwrap_or_else(|| panic!("{:?}", sp.changes));
    assert_eq!(
        (change.from.as_str(), change.to.as_str()),
        ("targetValue 100", "targetValue 20")
    );
    // The policy and the spec hash tag: no new revision, no deployment.
    assert_eq!(writes, 2, "{:?}", sp.steps);
    assert!(
        matches!(
            &sp.steps[..],
            [Step::TagService { .. }, Step::PutScalingPolicy { policy }] if *policy == format!("{name}-queue")
        ),
        "{:?}",
        sp.steps
    );
    let held = policies(&cluster, name);
    assert_eq!(
        held[0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"].as_f64(),
        Some(20.0)
    );
    // Another queue: the metric's dimension is the change.
    let v3 = manifests(
        &[("q.yaml", &queue_manifest(name, "jobs-eu", 20))],
        &world.settings,
    );
    let (plan, _, _) = apply_counted(&r, &v3, true).await;
    let sp = plan.services.iter().find(|s| s.name == name).unwrap();
    assert!(
        sp.changes
            .iter()
            .any(|c| c.to.contains("QueueName=jobs-eu")),
        "{:?}",
        sp.changes
    );
    assert_eq!(
        metric_math(&policies(&cluster, name)[0])[0].2,
        "QueueName=jobs-eu"
    );

    // The queue removed (CPU scaling instead): its policy is deleted, the CPU one created.
    let cpu = manifest(
        name,
        "nginx:1.27",
        "  scaling:\n    minTasks: 1\n    maxTasks: 6\n    targetCpuPercent: 60\n",
    );
    let v4 = manifests(&[("q.yaml", &cpu)], &world.settings);
    apply_counted(&r, &v4, true).await;
    let names: Vec<String> = policies(&cluster, name)
        .iter()
        .map(|p| p["PolicyName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec![format!("{name}-cpu")]);
    let (_, _, writes) = apply_counted(&r, &v4, true).await;
    assert_eq!(writes, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_metrics_are_read_from_cloudwatch_in_one_call_and_exported_per_service() {
    let world = World::new("queue-metrics");
    let prefix = world.settings.cluster.to_lowercase();
    let (busy, quiet) = (format!("{prefix}-busy"), format!("{prefix}-quiet"));
    // What SQS would publish; moto's SQS publishes nothing.
    let data = serde_json::json!([
        {"MetricName": "ApproximateAgeOfOldestMessage", "Dimensions": [{"Name": "QueueName", "Value": busy}], "Value": 1234, "Unit": "Seconds"},
        {"MetricName": "ApproximateNumberOfMessagesVisible", "Dimensions": [{"Name": "QueueName", "Value": busy}], "Value": 4321, "Unit": "Count"},
    ]);
    aws_cli(&[
        "cloudwatch",
        "put-metric-data",
        "--namespace",
        "AWS/SQS",
        "--metric-data",
        &data.to_string(),
    ]);
    let set = manifests(
        &[
            ("a.yaml", &queue_manifest("q-busy", &busy, 10)),
            ("b.yaml", &queue_manifest("q-quiet", &quiet, 10)),
            ("c.yaml", &manifest("q-none", "nginx:1.27", "")),
        ],
        &world.settings,
    );
    let aws = clients().await;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = QueueMetrics::register(&mut registry);
    let before = aws.calls.snapshot();
    let now = std::time::Instant::now();
    metrics.refresh(&aws, &set, now).await;
    let calls = CallCounter::totals(&CallCounter::since(&before, &aws.calls.snapshot()), None);
    assert_eq!((calls.reads, calls.writes), (1, 0), "one GetMetricData");
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(&format!("ecs_operator_queue_oldest_message_age_seconds{{service=\"q-busy\",queue=\"{busy}\"}} 1234")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ecs_operator_queue_messages_visible{{service=\"q-busy\",queue=\"{busy}\"}} 4321"
        )),
        "{text}"
    );
    assert!(
        !text.contains("q-quiet"),
        "a queue without data has no series: {text}"
    );
    // Within the minute: no read.
    let before = aws.calls.snapshot();
    metrics
        .refresh(&aws, &set, now + std::time::Duration::from_secs(30))
        .await;
    let calls = CallCounter::totals(&CallCounter::since(&before, &aws.calls.snapshot()), None);
    assert_eq!(calls.reads, 0);
}

/// One leader pass; the writes it made.
async fn pass(r: &Reconciler, set: &ManifestSet, memory: &mut Memory, now: u64) -> u64 {
    let before = r.aws.calls.snapshot();
    let report = leader_pass(r, set, memory, &BTreeMap::new(), now).await;
    for res in &report.results {
        assert!(res.error.is_none(), "{}: {:?}", res.name, res.error);
    }
    CallCounter::totals(&CallCounter::since(&before, &r.aws.calls.snapshot()), None).writes
}

#[tokio::test(flavor = "multi_thread")]
async fn the_invoice_worker_example_applies_against_moto_and_reads_back_with_the_aws_cli() {
    let world = World::new("invoice");
    let cluster = world.settings.cluster.clone();
    let bucket = format!("inv-{}", cluster.to_lowercase());
    aws_cli(&["s3", "mb", &format!("s3://{bucket}")]);
    let mut settings = world.settings.clone();
    settings.state_location = Some(format!("s3://{bucket}/state/"));
    let group = format!("g-{cluster}");
    settings.scheduler = Some(SchedulerSettings {
        role_arn: "arn:aws:iam::123456789012:role/ecs-operator-scheduler".into(),
        group_name: Some(group.clone()),
        dead_letter_queue_arn: None,
    });
    // moto's RunTask cannot run a Fargate task: the stand-in answers the migration.
    let proxy = FaultProxy::start(&moto_endpoint());
    let stand_in = TaskStandIn::new();
    proxy.set(stand_in.config());
    let r = Reconciler::new(
        production_clients(&proxy.endpoint()).await,
        settings.clone(),
        ReconcileOptions::default(),
    );
    let set = manifests(
        &[("invoice-worker.yaml", &example("invoice-worker.yaml"))],
        &settings,
    );
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    let name = "invoice-worker";
    let mut memory = Memory::default();

    // The migration runs first, with the new revision; the service waits for it.
    pass(&r, &set, &mut memory, 1_000).await;
    let tasks = stand_in.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].command, vec!["python", "-m", "invoices.migrate"]);
    assert_eq!(stand_in.exit(&pre_deploy_marker(""), 0), 1);
    pass(&r, &set, &mut memory, 1_010).await;

    // Read back with the aws CLI: the service (no task until there is work) ...
    let service = &aws_cli(&[
        "ecs",
        "describe-services",
        "--cluster",
        &cluster,
        "--services",
        name,
    ])["services"][0];
    assert_eq!(service["desiredCount"].as_i64(), Some(0));
    let td = service["taskDefinition"].as_str().unwrap();
    assert_eq!(
        td, tasks[0].task_definition_arn,
        "deployed the revision the migration ran"
    );
    // ... its task definition with the sidecar ...
    let containers = aws_cli(&["ecs", "describe-task-definition", "--task-definition", td])
        ["taskDefinition"]["containerDefinitions"]
        .clone();
    let names: Vec<&str> = containers
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"statsd-exporter"), "{names:?}");
    let sidecar = containers
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "statsd-exporter")
        .unwrap();
    assert_eq!(sidecar["essential"], false);
    // ... the nightly job's schedule ...
    let schedules: Vec<String> = aws_cli(&["scheduler", "list-schedules", "--group-name", &group])
        ["Schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(schedules.len(), 1, "{schedules:?}");
    let schedule = aws_cli(&[
        "scheduler",
        "get-schedule",
        "--group-name",
        &group,
        "--name",
        &schedules[0],
    ]);
    assert_eq!(schedule["ScheduleExpression"], "cron(30 6 * * ? *)");
    assert_eq!(schedule["ScheduleExpressionTimezone"], "Europe/Berlin");
    // ... and the queue scaling from zero.
    let target = scalable_target(&cluster, name);
    assert_eq!(
        (
            target["MinCapacity"].as_i64(),
            target["MaxCapacity"].as_i64()
        ),
        (Some(0), Some(8))
    );
    let held = policies(&cluster, name);
    assert_eq!(held.len(), 1);
    assert_eq!(
        held[0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"].as_f64(),
        Some(50.0)
    );
    assert_eq!(metric_math(&held[0])[0].2, "QueueName=invoice-requests");

    // In sync: once the status has seen the deployment, an idle pass writes nothing.
    pass(&r, &set, &mut memory, 1_100).await;
    assert_eq!(pass(&r, &set, &mut memory, 1_200).await, 0);
    assert_eq!(stand_in.tasks().len(), 1, "no second migration");
}
