//! `ecs-operator run` as real processes against moto_server: changes in S3 are applied within
//! an interval, deletions prune, a failing source prunes nothing, two replicas elect one
//! leader that alone writes, and a killed leader is replaced within the lease TTL.

use std::io::Write;
use std::time::{Duration, Instant};

use testkit::*;

/// `ecs-operator run` with the live test's short intervals, leader election on.
fn start_operator(
    settings: &std::path::Path,
    holder: &str,
    log: &std::path::Path,
) -> RunningOperator {
    RunningOperator::start(
        operator_command(env!("CARGO_BIN_EXE_ecs-operator"), &moto_endpoint()),
        settings,
        &[
            "--interval",
            "3s",
            "--poll-interval",
            "500ms",
            "--sd-refresh",
            "2s",
            "--lease-ttl",
            "6s",
            "--holder",
            holder,
        ],
        log,
    )
}

fn service_status(world: &World, name: &str) -> Option<serde_json::Value> {
    let out = aws_cli(&[
        "ecs",
        "describe-services",
        "--cluster",
        &world.settings.cluster,
        "--services",
        name,
    ]);
    out["services"].as_array()?.first().cloned()
}

fn put_manifest(bucket: &str, key: &str, text: &str, dir: &std::path::Path) {
    let path = dir.join("upload.yaml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    aws_cli(&[
        "s3",
        "cp",
        path.to_str().unwrap(),
        &format!("s3://{bucket}/{key}"),
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_elect_one_writer_apply_s3_changes_and_fail_over_within_the_lease_ttl() {
    let world = World::new("live");
    let dir = tempfile::tempdir().unwrap();
    let manifests_bucket = format!("manifests-{}", world.settings.cluster.to_lowercase());
    let state_bucket = format!("state-{}", world.settings.cluster.to_lowercase());
    aws_cli(&["s3", "mb", &format!("s3://{manifests_bucket}")]);
    aws_cli(&["s3", "mb", &format!("s3://{state_bucket}")]);
    let mut settings = world.settings.clone();
    settings.manifest_source = format!("s3://{manifests_bucket}/manifests/");
    settings.state_location = Some(format!("s3://{state_bucket}/state/"));
    let settings_path = dir.path().join("settings.json");
    std::fs::write(&settings_path, serde_json::to_string(&settings).unwrap()).unwrap();

    let web = manifest("live-web", "nginx:1.26", "  lifecycle:\n    prune: true\n");
    put_manifest(&manifests_bucket, "manifests/web.yaml", &web, dir.path());

    let a = start_operator(&settings_path, "replica-a", &dir.path().join("a.log"));
    let b = start_operator(&settings_path, "replica-b", &dir.path().join("b.log"));

    eventually(
        "the service is created",
        Duration::from_secs(40),
        async || service_status(&world, "live-web").is_some_and(|s| s["status"] == "ACTIVE"),
    )
    .await;
    let leaders = [a.is_leader().await, b.is_leader().await];
    assert_eq!(
        leaders.iter().filter(|l| **l).count(),
        1,
        "exactly one leader: {leaders:?}"
    );
    let (leader, follower) = if leaders[0] { (a, b) } else { (b, a) };
    assert!(control_plane_writes(&leader.metrics().await) > 0.0);
    assert_eq!(
        control_plane_writes(&follower.metrics().await),
        0.0,
        "the follower never writes"
    );

    // A manifest change in S3 is applied within one interval (3 s) plus polling.
    let changed = Instant::now();
    put_manifest(
        &manifests_bucket,
        "manifests/web.yaml",
        &web.replace("nginx:1.26", "nginx:1.27"),
        dir.path(),
    );
    let took = eventually(
        "the image change is applied",
        Duration::from_secs(20),
        async || {
            let Some(s) = service_status(&world, "live-web") else {
                return false;
            };
            let td = aws_cli(&[
                "ecs",
                "describe-task-definition",
                "--task-definition",
                s["taskDefinition"].as_str().unwrap(),
            ]);
            td["taskDefinition"]["containerDefinitions"][0]["image"] == "nginx:1.27"
        },
    )
    .await;
    eprintln!(
        "S3 change applied after {:.1} s",
        changed.elapsed().as_secs_f64()
    );
    assert!(took < Duration::from_secs(20));
    assert_eq!(
        control_plane_writes(&follower.metrics().await),
        0.0,
        "the follower never writes"
    );

    // kill -9 the leader: the follower takes over within the TTL (6 s) plus a renew period.
    let mut leader = leader;
    let killed = Instant::now();
    let _ = leader.child.kill();
    let _ = leader.child.wait();
    eventually(
        "the follower takes over",
        Duration::from_secs(15),
        async || follower.is_leader().await,
    )
    .await;
    let failover = killed.elapsed();
    eprintln!("failover after {:.1} s", failover.as_secs_f64());
    assert!(
        failover <= Duration::from_secs(6 + 2 + 3),
        "failover took {failover:?}"
    );

    // The new leader keeps reconciling: a second manifest is created by it.
    let api = manifest("live-api", "nginx:1.27", "  lifecycle:\n    prune: true\n");
    put_manifest(&manifests_bucket, "manifests/api.yaml", &api, dir.path());
    eventually(
        "the new leader creates live-api",
        Duration::from_secs(20),
        async || service_status(&world, "live-api").is_some_and(|s| s["status"] == "ACTIVE"),
    )
    .await;

    // Deleting a manifest prunes its service (prune: true).
    aws_cli(&[
        "s3",
        "rm",
        &format!("s3://{manifests_bucket}/manifests/api.yaml"),
    ]);
    eventually("live-api is pruned", Duration::from_secs(20), async || {
        service_status(&world, "live-api").is_none_or(|s| s["status"] != "ACTIVE")
    })
    .await;

    // The source fails (bucket gone): nothing is deleted, the failure is counted.
    aws_cli(&["s3", "rb", &format!("s3://{manifests_bucket}"), "--force"]);
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        service_status(&world, "live-web").unwrap()["status"],
        "ACTIVE",
        "a failed source prunes nothing"
    );
    let metrics = follower.get("/metrics").await.unwrap_or_default();
    let errors: u64 = metrics
        .lines()
        .find(|l| l.starts_with("ecs_operator_source_errors_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(errors > 0, "source errors are counted:\n{metrics}");

    // Status records were written by the leaders, one per manifest, readable by anyone.
    let status = aws_cli(&[
        "s3api",
        "get-object",
        "--bucket",
        &state_bucket,
        "--key",
        "state/status/live-web.json",
        dir.path().join("s.json").to_str().unwrap(),
    ]);
    assert!(status["ETag"].is_string());
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("s.json")).unwrap()).unwrap();
    assert_eq!(record["name"], "live-web");
    assert!(record["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Ready"));
}
