//! Reconciliation against moto_server: resources are created with the expected fields, a second
//! pass makes zero writes, drift is corrected, foreign resources are never touched, and pruning
//! only ever happens when it is safe.

use ecs_operator::aws::CallCounter;
use ecs_operator::manifest::ManifestSet;
use ecs_operator::plan::Outcome;
use ecs_operator::reconcile::Reconciler;
use testkit::*;

/// One full pass; returns (reads, writes) it made.
async fn pass(r: &Reconciler, set: &ManifestSet, complete: bool) -> (u64, u64) {
    let (_, reads, writes) = apply_counted(r, set, complete).await;
    (reads, writes)
}

fn describe(world: &World, name: &str) -> serde_json::Value {
    describe_service(&world.settings.cluster, name)
}

#[tokio::test]
async fn applying_the_examples_creates_every_resource_and_a_second_pass_writes_nothing() {
    let mut world = World::new("examples");
    // pizza-service routes from the platform's HTTPS listener (traffic.ingress).
    world.add_listener();
    let r = world.reconciler().await;
    let set = manifests(
        &[
            ("pizza.yaml", &example("pizza-service.yaml")),
            ("minimal.yaml", &example("minimal.yaml")),
        ],
        &world.settings,
    );
    let (_, writes) = pass(&r, &set, true).await;
    // 2 Cloud Map services, 2 ECS services, 1 scalable target, 1 policy, and the task
    // definitions unless identical ones already exist (families are account-wide).
    assert!(writes >= 6, "first apply wrote {writes}");

    // Read back through an independent client: the aws CLI.
    let pizza = describe(&world, "pizza-service");
    assert_eq!(pizza["status"], "ACTIVE");
    assert_eq!(pizza["desiredCount"], 2);
    let tags: Vec<(String, String)> = pizza["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_string(),
                t["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        tags.contains(&(
            "ecs-operator.io/owner".into(),
            world.settings.operator_id.clone()
        )),
        "{tags:?}"
    );
    assert!(tags.contains(&("ecs-operator.io/manifest".into(), "pizza-service".into())));
    assert!(tags.iter().any(|(k, _)| k == "ecs-operator.io/spec-hash"));
    assert_eq!(
        pizza["networkConfiguration"]["awsvpcConfiguration"]["subnets"][0],
        world.settings.network.subnets[0].as_str()
    );
    assert_eq!(pizza["serviceRegistries"].as_array().unwrap().len(), 1);

    let td_arn = pizza["taskDefinition"].as_str().unwrap();
    let td = aws_cli(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        td_arn,
    ])["taskDefinition"]
        .clone();
    assert_eq!(td["cpu"], "512");
    assert_eq!(td["memory"], "1024");
    assert_eq!(td["networkMode"], "awsvpc");
    assert_eq!(td["requiresCompatibilities"][0], "FARGATE");
    let container = &td["containerDefinitions"][0];
    assert_eq!(
        container["image"],
        "123456789012.dkr.ecr.eu-central-1.amazonaws.com/pizza-service:1.0.0"
    );
    assert_eq!(container["portMappings"][0]["containerPort"], 8080);
    assert_eq!(container["logConfiguration"]["logDriver"], "awslogs");
    assert_eq!(container["environment"][0]["name"], "RUST_LOG");

    let targets = aws_cli(&[
        "application-autoscaling",
        "describe-scalable-targets",
        "--service-namespace",
        "ecs",
        "--resource-ids",
        &format!("service/{}/pizza-service", world.settings.cluster),
    ]);
    assert_eq!(targets["ScalableTargets"][0]["MinCapacity"], 2);
    assert_eq!(targets["ScalableTargets"][0]["MaxCapacity"], 6);
    let policies = aws_cli(&[
        "application-autoscaling",
        "describe-scaling-policies",
        "--service-namespace",
        "ecs",
        "--resource-id",
        &format!("service/{}/pizza-service", world.settings.cluster),
    ]);
    let policy = &policies["ScalingPolicies"][0];
    assert_eq!(policy["PolicyName"], "pizza-service-cpu");
    assert_eq!(
        policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"],
        60.0
    );

    let namespace = world
        .settings
        .service_discovery_namespace_id
        .clone()
        .unwrap();
    let discovery = aws_cli(&[
        "servicediscovery",
        "list-services",
        "--filters",
        &format!("Name=NAMESPACE_ID,Values={namespace},Condition=EQ"),
    ]);
    // (moto lists every namespace's services here; real AWS filters.)
    let ours: Vec<&str> = discovery["Services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Description"].as_str() == Some(&r.discovery_description()))
        .map(|s| s["Name"].as_str().unwrap())
        .collect();
    assert_eq!(ours.len(), 2, "{discovery}");
    assert!(
        ours.contains(&"hello") && ours.contains(&"pizza-service"),
        "{ours:?}"
    );

    let before = r.aws.calls.snapshot();
    let (_, writes) = pass(&r, &set, true).await;
    assert_eq!(writes, 0, "an unchanged world must cost zero writes");
    // The idle pass: one call of each listing, whatever the number of services (task
    // definitions come from the cache). GetService only confirms Cloud Map name collisions,
    // which moto produces because it ignores the namespace filter.
    let calls = CallCounter::since(&before, &r.aws.calls.snapshot());
    let count = |service: &str, operation: &str| -> u64 {
        calls
            .iter()
            .filter(|((s, o, _), _)| s == service && o == operation)
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(count("ECS", "ListServices"), 1, "{calls:?}");
    assert_eq!(count("ECS", "DescribeServices"), 1, "{calls:?}");
    assert_eq!(count("ECS", "DescribeTaskDefinition"), 0, "{calls:?}");
    assert_eq!(count("ServiceDiscovery", "ListServices"), 1, "{calls:?}");
    assert_eq!(
        count("Application Auto Scaling", "DescribeScalableTargets"),
        1,
        "{calls:?}"
    );
    assert_eq!(
        count("Application Auto Scaling", "DescribeScalingPolicies"),
        1,
        "{calls:?}"
    );
    let (plan, _) = r.plan(&set, true).await.unwrap();
    assert!(!plan.has_changes(), "{:?}", plan.services);
}

#[tokio::test]
async fn drift_behind_the_operators_back_is_detected_and_corrected() {
    let world = World::new("drift");
    let mut r = world.reconciler().await;
    // Scaling read every pass, as at each sweep (the sweep itself: tests/scaling_sweep.rs).
    r.options.scaling_sweep = std::time::Duration::ZERO;
    let text = manifest(
        "drifty",
        "nginx:1.27",
        "  scaling:\n    minTasks: 2\n    maxTasks: 5\n    targetCpuPercent: 50\n",
    );
    let set = manifests(&[("d.yaml", &text)], &world.settings);
    pass(&r, &set, true).await;
    let cluster = world.settings.cluster.clone();

    // Someone deploys another image by hand and scales far beyond the range.
    let family = aws_cli(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        "drifty",
    ])["taskDefinition"]
        .clone();
    let mut containers = family["containerDefinitions"].clone();
    containers[0]["image"] = "nginx:hacked".into();
    let registered = aws_cli(&[
        "ecs",
        "register-task-definition",
        "--family",
        "drifty",
        "--cpu",
        "256",
        "--memory",
        "512",
        "--network-mode",
        "awsvpc",
        "--requires-compatibilities",
        "FARGATE",
        "--execution-role-arn",
        family["executionRoleArn"].as_str().unwrap(),
        "--container-definitions",
        &containers.to_string(),
    ]);
    let hacked = registered["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    aws_cli(&[
        "ecs",
        "update-service",
        "--cluster",
        &cluster,
        "--service",
        "drifty",
        "--task-definition",
        &hacked,
        "--desired-count",
        "9",
    ]);
    // ...and deletes the scaling policy.
    aws_cli(&[
        "application-autoscaling",
        "delete-scaling-policy",
        "--service-namespace",
        "ecs",
        "--policy-name",
        "drifty-cpu",
        "--resource-id",
        &format!("service/{cluster}/drifty"),
        "--scalable-dimension",
        "ecs:service:DesiredCount",
    ]);

    let (plan, _) = r.plan(&set, true).await.unwrap();
    let sp = plan.services.iter().find(|s| s.name == "drifty").unwrap();
    assert_eq!(sp.outcome, Outcome::Update);
    let fields: Vec<&str> = sp.changes.iter().map(|c| c.field.as_str()).collect();
    assert!(
        fields.contains(&"taskDefinition.container.image"),
        "{fields:?}"
    );
    assert!(fields.contains(&"service.desiredCount"), "{fields:?}");
    assert!(
        fields.contains(&"scaling.policies.drifty-cpu"),
        "{fields:?}"
    );
    let image = sp
        .changes
        .iter()
        .find(|c| c.field == "taskDefinition.container.image")
        .unwrap();
    assert_eq!(
        (image.from.as_str(), image.to.as_str()),
        ("\"nginx:hacked\"", "\"nginx:1.27\"")
    );

    pass(&r, &set, true).await;
    let service = describe(&world, "drifty");
    assert_eq!(
        service["desiredCount"], 5,
        "clamped to the top of the autoscaling range"
    );
    let td = aws_cli(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        service["taskDefinition"].as_str().unwrap(),
    ]);
    assert_eq!(
        td["taskDefinition"]["containerDefinitions"][0]["image"],
        "nginx:1.27"
    );
    let (_, writes) = pass(&r, &set, true).await;
    assert_eq!(writes, 0);

    // Inside the range, the desired count belongs to the autoscaler.
    aws_cli(&[
        "ecs",
        "update-service",
        "--cluster",
        &cluster,
        "--service",
        "drifty",
        "--desired-count",
        "4",
    ]);
    let (_, writes) = pass(&r, &set, true).await;
    assert_eq!(writes, 0, "no fight with the autoscaler");
    assert_eq!(describe(&world, "drifty")["desiredCount"], 4);
}

#[tokio::test]
async fn a_foreign_service_with_the_same_name_is_a_conflict_and_untouched() {
    let world = World::new("foreign");
    let r = world.reconciler().await;
    world.hand_made_service(&world.settings.cluster, "handmade");
    let before = describe(&world, "handmade");

    let set = manifests(
        &[("h.yaml", &manifest("handmade", "nginx:1.27", ""))],
        &world.settings,
    );
    let (plan, _) = r.plan(&set, true).await.unwrap();
    let sp = plan.services.iter().find(|s| s.name == "handmade").unwrap();
    assert!(
        matches!(&sp.outcome, Outcome::Conflict(why) if why.contains("not managed by this operator")),
        "{:?}",
        sp.outcome
    );
    let before_calls = r.aws.calls.snapshot();
    r.apply(&plan).await;
    let writes = CallCounter::totals(
        &CallCounter::since(&before_calls, &r.aws.calls.snapshot()),
        Some(&["ECS"]),
    )
    .writes;
    assert_eq!(writes, 0);
    let after = describe(&world, "handmade");
    assert_eq!(before["taskDefinition"], after["taskDefinition"]);
    assert_eq!(before["desiredCount"], after["desiredCount"]);

    // An explicit adopt annotation takes it over.
    let adopted = manifest("handmade", "nginx:1.27", "").replace(
        "  name: handmade\n",
        "  name: handmade\n  annotations:\n    ecs-operator.io/adopt: \"true\"\n",
    );
    let set = manifests(&[("h.yaml", &adopted)], &world.settings);
    pass(&r, &set, true).await;
    let tags = describe(&world, "handmade")["tags"].to_string();
    assert!(tags.contains(&world.settings.operator_id), "{tags}");
}

#[tokio::test]
async fn pruning_follows_the_manifest_and_never_happens_on_a_failed_or_empty_source() {
    let world = World::new("prune");
    let r = world.reconciler().await;
    let keep = manifest("keeper", "nginx:1.27", "");
    let go = manifest("goner", "nginx:1.27", "  lifecycle:\n    prune: true\n");
    let stay = manifest("stayer", "nginx:1.27", "  lifecycle:\n    prune: false\n");
    let all = manifests(
        &[("k.yaml", &keep), ("g.yaml", &go), ("s.yaml", &stay)],
        &world.settings,
    );
    pass(&r, &all, true).await;

    // The source failed: even with an empty set nothing is deleted.
    let empty = ManifestSet::default();
    let (plan, _) = r.plan(&empty, false).await.unwrap();
    assert!(!plan.has_changes(), "{:?}", plan.services);
    assert!(plan.notes.iter().any(|n| n.contains("nothing is pruned")));

    // The source is empty while services are owned: nothing is deleted without --allow-empty.
    let (plan, _) = r.plan(&empty, true).await.unwrap();
    assert!(!plan.has_changes());

    // A document in the source that cannot be attributed to a service blocks pruning too.
    let mut broken = manifests(&[("k.yaml", &keep)], &world.settings);
    broken.add_source("garbage.yaml", b"::: not yaml [", Some(&world.settings));
    let (plan, _) = r.plan(&broken, true).await.unwrap();
    assert!(!plan.has_changes());

    // A broken manifest that still names its service protects that service.
    let goner_broken = go.replace("image: nginx:1.27", "image: nginx:1.27\n    cpu: 300");
    let protected = manifests(
        &[
            ("k.yaml", &keep),
            ("g.yaml", &goner_broken),
            ("s.yaml", &stay),
        ],
        &world.settings,
    );
    assert_eq!(protected.rejected.len(), 1);
    let (plan, _) = r.plan(&protected, true).await.unwrap();
    assert!(!plan.has_changes(), "{:?}", plan.services);

    // Removing the manifests: prune on -> deleted; prune off -> kept.
    let only_keeper = manifests(&[("k.yaml", &keep)], &world.settings);
    let (plan, _) = r.plan(&only_keeper, true).await.unwrap();
    let goner = plan.services.iter().find(|s| s.name == "goner").unwrap();
    assert_eq!(goner.outcome, Outcome::Delete);
    let stayer = plan.services.iter().find(|s| s.name == "stayer").unwrap();
    assert!(matches!(&stayer.outcome, Outcome::Kept(why) if why.contains("prune was false")));
    pass(&r, &only_keeper, true).await;
    let goner = describe(&world, "goner");
    assert_ne!(goner["status"], "ACTIVE", "{goner}");
    assert_eq!(describe(&world, "stayer")["status"], "ACTIVE");
    assert_eq!(describe(&world, "keeper")["status"], "ACTIVE");
}

#[tokio::test]
async fn deletions_per_pass_are_capped() {
    let world = World::new("cap");
    let mut r = world.reconciler().await;
    r.options.max_prune = 2;
    let docs: Vec<(String, String)> = (0..5)
        .map(|i| {
            (
                format!("s{i}.yaml"),
                manifest(
                    &format!("svc{i}"),
                    "nginx:1.27",
                    "  lifecycle:\n    prune: true\n",
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = docs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let set = manifests(&refs, &world.settings);
    pass(&r, &set, true).await;
    let one = manifests(&refs[..1], &world.settings);
    let (plan, _) = r.plan(&one, true).await.unwrap();
    let deletes = plan
        .services
        .iter()
        .filter(|s| s.outcome == Outcome::Delete)
        .count();
    let deferred = plan
        .services
        .iter()
        .filter(|s| matches!(&s.outcome, Outcome::Kept(w) if w.contains("deferred")))
        .count();
    assert_eq!((deletes, deferred), (2, 2));
}

#[tokio::test]
async fn one_invalid_manifest_does_not_stop_the_valid_ones() {
    let world = World::new("invalid");
    let r = world.reconciler().await;
    let good = manifest("good", "nginx:1.27", "");
    let bad = manifest(
        "bad",
        "nginx:1.27",
        "  scaling:\n    minTasks: 4\n    maxTasks: 2\n",
    );
    let set = manifests(&[("good.yaml", &good), ("bad.yaml", &bad)], &world.settings);
    assert_eq!(set.rejected.len(), 1);
    assert_eq!(set.rejected[0].name.as_deref(), Some("bad"));
    pass(&r, &set, true).await;
    assert_eq!(describe(&world, "good")["status"], "ACTIVE");
    let listed = aws_cli(&["ecs", "list-services", "--cluster", &world.settings.cluster]);
    assert_eq!(listed["serviceArns"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_changed_manifest_registers_one_new_revision_and_updates_the_service() {
    let world = World::new("change");
    let r = world.reconciler().await;
    let v1 = manifests(
        &[("a.yaml", &manifest("app", "nginx:1.26", ""))],
        &world.settings,
    );
    pass(&r, &v1, true).await;
    let first = describe(&world, "app")["taskDefinition"]
        .as_str()
        .unwrap()
        .to_string();
    let v2 = manifests(
        &[("a.yaml", &manifest("app", "nginx:1.27", ""))],
        &world.settings,
    );
    let (_, writes) = pass(&r, &v2, true).await;
    assert_eq!(
        writes, 3,
        "RegisterTaskDefinition + UpdateService + TagResource (the new spec hash)"
    );
    let second = describe(&world, "app")["taskDefinition"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first, second);
    let revision = |arn: &str| arn.rsplit(':').next().unwrap().parse::<u32>().unwrap();
    assert_eq!(
        revision(&second),
        revision(&first) + 1,
        "{first} -> {second}"
    );
    let (_, writes) = pass(&r, &v2, true).await;
    assert_eq!(writes, 0);
}

/// `placement.architecture` becomes the task definition's `runtimePlatform` (read back with
/// the aws CLI); an unchanged manifest then writes nothing, and moving back to x86_64 is one
/// new revision.
#[tokio::test]
async fn an_arm64_service_runs_an_arm64_task_definition_and_a_second_pass_writes_nothing() {
    let world = World::new("arm64");
    let r = world.reconciler().await;
    let arm = |arch: &str| {
        manifests(
            &[(
                "a.yaml",
                &manifest(
                    "graviton",
                    "nginx:1.27",
                    &format!("  placement:\n    architecture: {arch}\n"),
                ),
            )],
            &world.settings,
        )
    };
    // The runtimePlatform of the task definition the service runs, read with the aws CLI.
    let platform = || {
        let td = describe(&world, "graviton")["taskDefinition"]
            .as_str()
            .unwrap()
            .to_string();
        aws_cli(&["ecs", "describe-task-definition", "--task-definition", &td])["taskDefinition"]
            ["runtimePlatform"]
            .clone()
    };
    pass(&r, &arm("arm64"), true).await;
    let described = platform();
    assert_eq!(
        described,
        serde_json::json!({"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}),
        "{described}"
    );
    let (_, writes) = pass(&r, &arm("arm64"), true).await;
    assert_eq!(writes, 0, "an unchanged arm64 service");
    let (_, writes) = pass(&r, &arm("x86_64"), true).await;
    assert_eq!(
        writes, 3,
        "RegisterTaskDefinition + UpdateService + TagResource"
    );
    assert_eq!(platform()["cpuArchitecture"], "X86_64");
}

/// `container.ephemeralStorageGiB` becomes the task definition's `ephemeralStorage` (read back
/// with the aws CLI), and an unchanged manifest writes nothing.
#[tokio::test]
async fn task_storage_is_registered_as_asked_and_a_second_pass_writes_nothing() {
    let world = World::new("storage");
    let r = world.reconciler().await;
    let set = manifests(
        &[(
            "a.yaml",
            &manifest("big-disk", "nginx:1.27", "").replace(
                "    image: nginx:1.27\n",
                "    image: nginx:1.27\n    ephemeralStorageGiB: 50\n",
            ),
        )],
        &world.settings,
    );
    pass(&r, &set, true).await;
    let td = describe(&world, "big-disk")["taskDefinition"]
        .as_str()
        .unwrap()
        .to_string();
    let described = aws_cli(&["ecs", "describe-task-definition", "--task-definition", &td]);
    assert_eq!(
        described["taskDefinition"]["ephemeralStorage"],
        serde_json::json!({"sizeInGiB": 50}),
        "{described}"
    );
    let (_, writes) = pass(&r, &set, true).await;
    assert_eq!(writes, 0);
}

/// `ecs-operator apply` leaves the status records a controller pass writes (issue 17: the
/// one-shot path wrote none), and an apply that finds nothing new rewrites none of them.
#[tokio::test(flavor = "multi_thread")]
async fn apply_leaves_the_status_records_a_controller_pass_would_and_an_unchanged_one_rewrites_none(
) {
    let world = World::new("applyst");
    let name = format!("{}-web", unique_prefix("as"));
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("web.yaml"), manifest(&name, "nginx:1.27", "")).unwrap();
    let bucket = format!("applyst-{}", world.settings.cluster.to_lowercase());
    aws_cli(&["s3", "mb", &format!("s3://{bucket}")]);
    let mut settings = world.settings.clone();
    settings.manifest_source = dir.display().to_string();
    settings.state_location = Some(format!("s3://{bucket}/state/"));
    let settings_path = work.path().join("settings.json");
    std::fs::write(&settings_path, serde_json::to_string(&settings).unwrap()).unwrap();
    let apply = || {
        let out = operator_command(env!("CARGO_BIN_EXE_ecs-operator"), &moto_endpoint())
            .args(["apply", "--emulator", "--settings"])
            .arg(&settings_path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(!text.contains("warning: status"), "{text}");
    };
    let key = format!("state/status/{name}.json");
    let etag =
        || aws_cli(&["s3api", "head-object", "--bucket", &bucket, "--key", &key])["ETag"].clone();

    apply();
    let record = aws_cli(&["s3", "cp", &format!("s3://{bucket}/{key}"), "-"]);
    assert_eq!(record["name"], name.as_str(), "{record}");
    assert!(
        record["lastAppliedHash"]
            .as_str()
            .is_some_and(|h| !h.is_empty()),
        "{record}"
    );
    assert!(
        record["conditions"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{record}"
    );
    // The second apply observes the deployment the first one started (moto never finishes
    // it: no task runs), a real change of status; a third one finds nothing new.
    apply();
    let second = etag();
    let again = aws_cli(&["s3", "cp", &format!("s3://{bucket}/{key}"), "-"]);
    assert_eq!(again["conditions"][1]["reason"], "RollingOut", "{again}");
    apply();
    assert_eq!(
        etag(),
        second,
        "an unchanged apply rewrites no status record:\n{again}"
    );
}

/// `ecs-operator retry NAME` against S3: refused for a service that is not held; for a held
/// one it writes the request every replica reads (only while a hold stands).
#[tokio::test(flavor = "multi_thread")]
async fn retry_writes_the_request_the_controller_reads_for_a_held_service_only() {
    use ecs_operator::domain::S3Location;
    use ecs_operator::status::{HeldRollout, ServiceStatus, StatusStore};
    let world = World::new("retry");
    let bucket = format!("retry-{}", world.settings.cluster.to_lowercase());
    aws_cli(&["s3", "mb", &format!("s3://{bucket}")]);
    let mut settings = world.settings.clone();
    settings.state_location = Some(format!("s3://{bucket}/state/"));
    let work = tempfile::tempdir().unwrap();
    let settings_path = work.path().join("settings.json");
    std::fs::write(&settings_path, serde_json::to_string(&settings).unwrap()).unwrap();
    let held = HeldRollout {
        spec_hash: "h2".into(),
        revision: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2".into(),
        deployment: "ecs-svc/1".into(),
        reason: "ECS deployment circuit breaker: tasks failed to start.".into(),
        since: 100,
    };
    let statuses = std::collections::BTreeMap::from([
        (
            "web".to_string(),
            ServiceStatus {
                name: "web".into(),
                held: Some(Box::new(held.clone())),
                ..ServiceStatus::default()
            },
        ),
        (
            "calm".to_string(),
            ServiceStatus {
                name: "calm".into(),
                ..ServiceStatus::default()
            },
        ),
    ]);
    for (name, status) in &statuses {
        let file = work.path().join(format!("{name}.json"));
        std::fs::write(&file, serde_json::to_vec(status).unwrap()).unwrap();
        aws_cli(&[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{bucket}/state/status/{name}.json"),
        ]);
    }
    let retry = |name: &str| {
        operator_command(env!("CARGO_BIN_EXE_ecs-operator"), &moto_endpoint())
            .args(["retry", name, "--emulator", "--settings"])
            .arg(&settings_path)
            .output()
            .unwrap()
    };
    let refused = retry("calm");
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("calm is not held"));
    // No record at all (NoSuchKey): not held either, and no error.
    let unknown = retry("nobody");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nobody is not held"));
    let asked = retry("web");
    assert!(
        asked.status.success(),
        "{}",
        String::from_utf8_lossy(&asked.stderr)
    );

    let location = S3Location::parse(settings.state_location.as_deref().unwrap())
        .unwrap()
        .map(|l| l.as_dir());
    let requests = StatusStore::new(location)
        .retries(&clients().await, &statuses)
        .await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests["web"].spec_hash, "h2");
    assert!(requests["web"].at >= held.since);
}
