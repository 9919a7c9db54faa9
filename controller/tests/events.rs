//! Events instead of polling, against moto_server (which delivers S3 notifications to SQS as
//! S3 does): `ecs-operator run` polling its source only every 5 minutes reconciles a pushed
//! manifest within seconds, because the S3 notification in its events queue wakes it; the
//! message is deleted once handled. Full tier. How fast is a figure of the bench, not a test.

use std::time::{Duration, Instant};

use testkit::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_manifest_is_reconciled_long_before_the_next_poll_and_its_event_is_deleted() {
    let world = World::new("events");
    let bucket = format!("events-{}", world.settings.cluster.to_lowercase());
    aws_cli(&["s3", "mb", &format!("s3://{bucket}")]);
    let (queue_url, _) = manifest_events_queue(&bucket, &format!("{bucket}-events"));

    let work = tempfile::tempdir().unwrap();
    let name = format!("{}-web", unique_prefix("ev"));
    let upload = |image: &str| {
        let file = work.path().join("web.yaml");
        std::fs::write(&file, manifest(&name, image, "")).unwrap();
        aws_cli(&[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{bucket}/manifests/web.yaml"),
        ]);
    };
    upload("nginx:1.27");
    let mut settings = world.settings.clone();
    settings.manifest_source = format!("s3://{bucket}/manifests/");
    let settings_path = work.path().join("settings.json");
    std::fs::write(&settings_path, serde_json::to_string(&settings).unwrap()).unwrap();

    let mut cmd = operator_command(env!("CARGO_BIN_EXE_ecs-operator"), &moto_endpoint());
    cmd.env("ECS_OPERATOR_EVENTS_QUEUE_URL", &queue_url);
    let args = [
        "--no-leader-election",
        "--interval",
        "10m",
        "--poll-interval",
        "5m",
    ];
    let operator = RunningOperator::start(cmd, &settings_path, &args, &work.path().join("run.log"));
    let task_definition = || {
        aws_cli(&[
            "ecs",
            "describe-services",
            "--cluster",
            &settings.cluster,
            "--services",
            &name,
        ])["services"][0]["taskDefinition"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    eventually(
        "the first pass creates the service",
        Duration::from_secs(60),
        async || !task_definition().is_empty(),
    )
    .await;
    let first = task_definition();

    let calls = |metrics: &str, operation: &str| {
        metric_sum(metrics, "ecs_operator_aws_calls_total", |l| {
            l.contains("service=\"ECS\"") && l.contains(&format!("operation=\"{operation}\""))
        })
    };
    let before = operator.metrics().await;
    let pushed = Instant::now();
    upload("nginx:1.28");
    eventually(
        "the pushed manifest is applied without waiting for the 5-minute poll",
        Duration::from_secs(60),
        async || task_definition() != first,
    )
    .await;
    eprintln!(
        "pushed -> applied in {:.2} s (poll interval 5m)",
        pushed.elapsed().as_secs_f64()
    );
    // Only the changed manifest's service was reconciled: described by name, nothing listed.
    eventually(
        "the scoped pass's calls are counted",
        Duration::from_secs(10),
        async || {
            let after = operator.metrics().await;
            calls(&after, "DescribeServices") > calls(&before, "DescribeServices")
        },
    )
    .await;
    let after = operator.metrics().await;
    assert_eq!(
        calls(&after, "ListServices"),
        calls(&before, "ListServices"),
        "a scoped pass lists no ECS services"
    );
    assert!(
        operator.log_text().contains("scoped pass"),
        "{}",
        operator.log_text()
    );
    eventually(
        "the event is counted and deleted",
        Duration::from_secs(30),
        async || {
            let metrics = operator.metrics().await;
            let counted = metric_sum(&metrics, "ecs_operator_events_total", |l| {
                l.contains("kind=\"manifest\"")
            });
            let left = aws_cli(&[
                "sqs",
                "get-queue-attributes",
                "--queue-url",
                &queue_url,
                "--attribute-names",
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ]);
            counted >= 2.0
                && left["Attributes"]["ApproximateNumberOfMessages"] == "0"
                && left["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
        },
    )
    .await;
    assert!(
        !operator.log_text().contains("events queue"),
        "no queue errors:\n{}",
        operator.log_text()
    );
    operator.signal("TERM");
}

/// With the events queue, service discovery reads a service's Cloud Map instances when an
/// event says its tasks changed, not every refresh: a task registered behind the operator's
/// back stays unlisted (its sweep is 15 minutes away), and appears within seconds of the ECS
/// task state change event that names its service.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_event_makes_discovery_read_that_service_and_nothing_else_does_between_sweeps() {
    let world = World::new("sdevents");
    let bucket = format!("sdevents-{}", world.settings.cluster.to_lowercase());
    aws_cli(&["s3", "mb", &format!("s3://{bucket}")]);
    let (queue_url, _) = manifest_events_queue(&bucket, &format!("{bucket}-events"));
    let work = tempfile::tempdir().unwrap();
    let name = format!("{}-web", unique_prefix("sd"));
    let file = work.path().join("web.yaml");
    std::fs::write(&file, manifest(&name, "nginx:1.27", "")).unwrap();
    aws_cli(&[
        "s3",
        "cp",
        file.to_str().unwrap(),
        &format!("s3://{bucket}/manifests/web.yaml"),
    ]);
    let mut settings = world.settings.clone();
    settings.manifest_source = format!("s3://{bucket}/manifests/");
    settings.service_discovery_namespace_name = Some(format!("{}.internal", settings.cluster));
    let settings_path = work.path().join("settings.json");
    std::fs::write(&settings_path, serde_json::to_string(&settings).unwrap()).unwrap();

    let mut cmd = operator_command(env!("CARGO_BIN_EXE_ecs-operator"), &moto_endpoint());
    cmd.env("ECS_OPERATOR_EVENTS_QUEUE_URL", &queue_url);
    let args = [
        "--no-leader-election",
        "--interval",
        "10m",
        "--poll-interval",
        "5m",
        "--sd-refresh",
        "1s",
    ];
    let operator = RunningOperator::start(cmd, &settings_path, &args, &work.path().join("run.log"));
    let mut service_id = None;
    eventually(
        "the first pass creates the Cloud Map service",
        Duration::from_secs(60),
        async || {
            service_id = aws_cli(&["servicediscovery", "list-services"])["Services"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["Name"] == name.as_str())
                .and_then(|s| s["Id"].as_str().map(str::to_string));
            service_id.is_some()
        },
    )
    .await;
    let service_id = service_id.unwrap();
    let listed = async || {
        operator
            .get(&format!("/sd/prometheus?service={name}"))
            .await
            .unwrap_or_default()
            .contains("10.0.0.7:")
    };
    // Let the start-up read of the new service happen (waited for, not slept on: on a busy
    // machine it came after a fixed 3 s and listed the task registered below), then register a
    // task as ECS would, with no event.
    let discover_calls = async || {
        metric_sum(
            &operator.metrics().await,
            "ecs_operator_aws_calls_total",
            |l| l.contains("operation=\"DiscoverInstances\""),
        )
    };
    eventually(
        "the start-up discovery read of the new service",
        Duration::from_secs(60),
        async || discover_calls().await >= 1.0,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    aws_cli(&[
        "servicediscovery",
        "register-instance",
        "--service-id",
        &service_id,
        "--instance-id",
        "0123456789abcdef0123456789abcdef",
        "--attributes",
        "AWS_INSTANCE_IPV4=10.0.0.7,AWS_INSTANCE_PORT=8080",
    ]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !listed().await,
        "five 1 s refreshes read nothing: no event, no pass, no sweep named the service"
    );

    let sent = Instant::now();
    let event = serde_json::json!({
        "source": "aws.ecs",
        "detail-type": "ECS Task State Change",
        "resources": [format!("arn:aws:ecs:us-east-1:123456789012:task/{}/0123456789abcdef0123456789abcdef", settings.cluster)],
        "detail": {"group": format!("service:{name}"), "lastStatus": "RUNNING"}
    });
    aws_cli(&[
        "sqs",
        "send-message",
        "--queue-url",
        &queue_url,
        "--message-body",
        &event.to_string(),
    ]);
    eventually(
        "the task event makes discovery list the new task",
        Duration::from_secs(30),
        listed,
    )
    .await;
    eprintln!(
        "task event -> listed in {:.2} s",
        sent.elapsed().as_secs_f64()
    );
    let metrics = operator.metrics().await;
    assert!(
        metric_sum(&metrics, "ecs_operator_events_total", |l| l
            .contains("kind=\"task\""))
            >= 1.0,
        "{metrics}"
    );
    operator.signal("TERM");
}
