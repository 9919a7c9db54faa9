//! A world shaped like the Terraform bootstrap (one cluster, a KMS-encrypted manifests bucket
//! with `manifests/` and `state/`, the bootstrap's role names), and the operator's life in it:
//! each step applies one change the way a pass does, with every request recorded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ecs_operator::aws::CallCounter;
use ecs_operator::manifest::ManifestSet;
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use ecs_operator::settings::Settings;
use serde_json::{json, Value};
use testkit::*;

pub const ACCOUNT: &str = "123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role";

pub struct IamWorld {
    pub world: World,
    pub settings: Settings,
    pub bucket: String,
    pub kms_key_arn: String,
    /// A prefix for the names of this run's generated manifests.
    pub prefix: String,
    /// The events queue (S3 notifications of `manifests/`), as the bootstrap makes it with
    /// `enable_manifest_notifications`: its URL and ARN.
    pub events_queue: (String, String),
}

impl IamWorld {
    pub fn new() -> IamWorld {
        let mut world = World::new("iam");
        // The bootstrap's HTTPS listener: pizza-service routes from it (traffic.ingress).
        world.add_listener();
        let bucket = format!("iam-{}", world.settings.cluster.to_lowercase());
        aws_cli(&["s3", "mb", &format!("s3://{bucket}")]);
        // Like the bootstrap's bucket: SSE-KMS with the platform key and an S3 Bucket Key.
        let key = aws_cli(&["kms", "create-key", "--description", "iam evaluation"]);
        let kms_key_arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
        let encryption = json!({"Rules": [{"ApplyServerSideEncryptionByDefault":
            {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_arn}, "BucketKeyEnabled": true}]});
        aws_cli(&[
            "s3api",
            "put-bucket-encryption",
            "--bucket",
            &bucket,
            "--server-side-encryption-configuration",
            &encryption.to_string(),
        ]);
        let mut settings = world.settings.clone();
        // World::new names its namespace after the cluster.
        settings.service_discovery_namespace_name = Some(format!("{}.internal", settings.cluster));
        settings.execution_role_arn = format!("{ROLE}/ecs-operator-execution");
        settings.task_role_arn = Some(format!("{ROLE}/ecs-operator-service-task"));
        settings.allowed_task_role_arns = vec![format!("{ROLE}/checkout-task")];
        // every-field.yaml's canary deployment hands these to ECS.
        settings.deployment_role_arn = Some(format!("{ROLE}/ecs-infrastructure-load-balancers"));
        settings.allowed_deployment_role_arns = vec![format!("{ROLE}/checkout-deployment-hooks")];
        settings
            .networks
            .insert("private".into(), settings.network.clone());
        settings.log_group = "/ecs/ecs-operator/services".into();
        settings.manifest_source = format!("s3://{bucket}/manifests/");
        settings.state_location = Some(format!("s3://{bucket}/state/"));
        // One kept revision, so that an image change deregisters the previous one.
        settings.keep_task_definition_revisions = 1;
        // Scheduled jobs, as the bootstrap's scheduler.tf sets them up.
        settings.scheduler = Some(ecs_operator::settings::SchedulerSettings {
            role_arn: format!("{ROLE}/ecs-operator-scheduler"),
            group_name: Some(format!("ecs-operator-{}", settings.operator_id)),
            dead_letter_queue_arn: Some(format!(
                "arn:aws:sqs:us-east-1:{ACCOUNT}:ecs-operator-jobs-dlq"
            )),
        });
        let events_queue = manifest_events_queue(&bucket, &format!("{bucket}-manifest-events"));
        IamWorld {
            world,
            settings,
            bucket,
            kms_key_arn,
            prefix: unique_prefix("iam"),
            events_queue,
        }
    }

    /// `scripts/iam-policies --values`: this world as the bootstrap would describe it.
    pub fn policy_values(&self) -> Value {
        let s = &self.settings;
        let cluster = &s.cluster;
        let listener = &s.ingress.as_ref().unwrap().listener_arn;
        let platform = ["alertmanager", "grafana", "operator", "prometheus"]
            .map(|n| format!("arn:aws:ecs:us-east-1:{ACCOUNT}:service/{cluster}/{n}"));
        json!({
            "partition": "aws",
            "account_id": ACCOUNT,
            "region": s.region.as_deref().unwrap(),
            "cluster_name": cluster,
            "operator_id": s.operator_id,
            "owner_tag_key": ecs_operator::domain::tags::OWNER,
            "manifests_bucket": self.bucket,
            "manifest_prefix": "manifests/",
            "state_prefix": "state/",
            "namespace_id": s.service_discovery_namespace_id,
            "namespace_name": s.service_discovery_namespace_name,
            "kms_key_arn": self.kms_key_arn,
            "services_log_group": s.log_group,
            "passable_role_arns": [s.execution_role_arn, s.task_role_arn, s.allowed_task_role_arns[0]],
            "deployment_roles_enabled": true,
            "deployment_role_arns": s.permitted_deployment_roles().collect::<Vec<_>>(),
            "platform_service_arns": platform,
            // With enable_manifest_notifications: the controller consumes the events queue.
            "ingress_listener_arn": listener,
            "ingress_rule_arns": format!("{}/*", listener.replace(":listener/", ":listener-rule/")),
            "ingress_target_group_arns":
                format!("arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/eo-*/*"),
            "manifest_events_enabled": true,
            "manifest_events_queue_arn": self.events_queue.1,
            "schedule_group_name": format!("ecs-operator-{}", s.operator_id),
            "scheduler_role_arn": s.scheduler.as_ref().unwrap().role_arn,
            "cluster_arn": format!("arn:aws:ecs:{}:{ACCOUNT}:cluster/{cluster}", s.region.as_deref().unwrap()),
            "dead_letter_arn": s.scheduler.as_ref().unwrap().dead_letter_queue_arn,
        })
    }

    /// The three example manifests. every-field places its service in cluster `shop`, which
    /// the bootstrap does not have (its settings allow one cluster): here it lands in the
    /// world's cluster.
    pub fn examples(&self) -> Vec<(String, String)> {
        let every = example("every-field.yaml").replace(
            "cluster: shop",
            &format!("cluster: {}", self.settings.cluster),
        );
        vec![
            ("pizza.yaml".into(), example("pizza-service.yaml")),
            ("minimal.yaml".into(), example("minimal.yaml")),
            ("every-field.yaml".into(), every),
        ]
    }

    /// A one-off task that ran in the cluster and stopped: the controller reads why tasks
    /// stopped (ListTasks, DescribeTasks). moto never starts a service's tasks and ignores
    /// ListTasks' service filter; its RunTask needs container-level cpu and memory and fails
    /// on awsvpc tasks (moto 5.2.5), hence a bridge-mode task definition.
    pub fn stopped_task(&self) {
        let cluster = &self.settings.cluster;
        let containers =
            r#"[{"name":"x","image":"busybox","essential":true,"cpu":256,"memory":512}]"#;
        let family = self.name("oneoff");
        let td = aws_cli(&[
            "ecs",
            "register-task-definition",
            "--family",
            &family,
            "--network-mode",
            "bridge",
            "--container-definitions",
            containers,
        ])["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .to_string();
        let run = aws_cli(&[
            "ecs",
            "run-task",
            "--cluster",
            cluster,
            "--task-definition",
            &td,
            "--launch-type",
            "FARGATE",
        ]);
        let task = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
        aws_cli(&[
            "ecs",
            "stop-task",
            "--cluster",
            cluster,
            "--task",
            &task,
            "--reason",
            "done",
        ]);
    }

    pub fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    /// A generated manifest: an ECR image, autoscaling and discovery options as asked.
    pub fn generated(&self, what: &str, tag: &str, extra: &str) -> (String, String) {
        let name = self.name(what);
        let image = format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{name}:{tag}");
        let text = manifest(
            &name,
            &image,
            &format!("  lifecycle:\n    prune: true\n{extra}"),
        );
        (format!("{name}.yaml"), text)
    }

    pub fn set(&self, docs: &[(String, String)]) -> ManifestSet {
        let docs: Vec<(&str, &str)> = docs.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let set = manifests(&docs, &self.settings);
        assert!(
            set.rejected.is_empty(),
            "every manifest is valid: {:?}",
            set.diagnostics().map(|d| d.to_string()).collect::<Vec<_>>()
        );
        set
    }
}

/// One pass over `set` (complete source); returns the writes it made. Every service must
/// apply without error: the requests recorded are those of a successful pass.
pub async fn pass(r: &Reconciler, set: &ManifestSet, what: &str) -> u64 {
    let before = r.aws.calls.snapshot();
    let (plan, _) = r.plan(set, true).await.unwrap();
    for result in r.apply(&plan).await {
        assert!(
            result.error.is_none(),
            "{what}: {}: {:?}",
            result.name,
            result.error
        );
    }
    let after = r.aws.calls.snapshot();
    CallCounter::totals(&CallCounter::since(&before, &after), None).writes
}

pub fn reconciler(aws: ecs_operator::aws::AwsClients, settings: &Settings) -> Reconciler {
    Reconciler::new(aws, settings.clone(), ReconcileOptions::default())
}

/// Scaling options of a generated manifest.
pub fn scaling(min: u32, max: u32, cpu: u32, memory: Option<u32>) -> String {
    let memory = memory.map_or(String::new(), |m| format!("    targetMemoryPercent: {m}\n"));
    format!("  scaling:\n    minTasks: {min}\n    maxTasks: {max}\n    targetCpuPercent: {cpu}\n{memory}")
}

pub fn discovery(ttl: &str) -> String {
    format!("  traffic:\n    discovery:\n      enabled: true\n      dnsTtl: {ttl}\n")
}

/// Uploads `docs` as the S3 source (`manifests/`).
pub fn upload(bucket: &str, docs: &[(String, String)], dir: &Path) {
    for (name, text) in docs {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let target = format!("s3://{bucket}/manifests/{name}");
        aws_cli(&["s3", "cp", path.to_str().unwrap(), &target]);
    }
}

/// A copy of the `ecs-operator` binary this test was built with, taken when the test starts:
/// builds of other checkouts sharing the target directory replace the original meanwhile.
pub fn operator_binary(dir: &Path) -> PathBuf {
    let copy = dir.join("ecs-operator");
    std::fs::copy(env!("CARGO_BIN_EXE_ecs-operator"), &copy).unwrap();
    copy
}

/// `ecs-operator run` (`binary`) against the S3 source, leader election on, consuming the
/// events queue, recording into `record`, until the record shows a status record, the lease,
/// a Cloud Map lookup and a deleted event message (the uploads before it sent S3
/// notifications); then SIGTERM (releasing the lease) and wait for it to exit.
pub async fn run_operator(
    binary: &Path,
    settings: &Settings,
    events_queue_url: &str,
    record: &Path,
    dir: &Path,
) {
    let settings_path = dir.join("settings.json");
    std::fs::write(&settings_path, serde_json::to_string(settings).unwrap()).unwrap();
    let mut cmd = operator_command(binary.to_str().unwrap(), &moto_endpoint());
    cmd.env(ecs_operator::aws::audit::RECORD_REQUESTS_ENV, record)
        .env("ECS_OPERATOR_EVENTS_QUEUE_URL", events_queue_url);
    let args = [
        "--interval",
        "1s",
        "--poll-interval",
        "500ms",
        "--sd-refresh",
        "1s",
        "--lease-ttl",
        "6s",
        "--holder",
        "iam-evaluation",
    ];
    let mut operator = RunningOperator::start(cmd, &settings_path, &args, &dir.join("run.log"));
    let seen = |needle: &str| {
        std::fs::read_to_string(record)
            .unwrap_or_default()
            .contains(needle)
    };
    eventually(
        "the operator records a status write, the lease, a Cloud Map lookup and a handled event",
        Duration::from_secs(60),
        async || {
            seen("state/status/")
                && seen("state/lease/leader.json")
                && seen("servicediscovery:DiscoverInstances")
                && seen("sqs:DeleteMessage")
        },
    )
    .await;
    operator.signal("TERM");
    let status = tokio::task::spawn_blocking(move || {
        let status = operator.child.wait();
        (operator, status)
    })
    .await
    .unwrap()
    .1
    .unwrap();
    assert!(status.success(), "ecs-operator run exited with {status}");
}

/// Pre-deploy tasks and scheduled jobs: a service with both is created (RunTask of its
/// pre-deploy task, then the schedule group and schedule), its image and schedule change and
/// the new pre-deploy task runs past its timeout (StopTask), then its job is removed
/// (DeleteSchedule). One-off tasks go to `testkit::task_standin` (moto's RunTask fails on
/// Fargate task definitions); everything else to moto. Every request is recorded in `record`.
pub async fn one_off_tasks_and_jobs(
    w: &IamWorld,
    record: &ecs_operator::aws::audit::RecordOptions,
) {
    use testkit::fault_proxy::FaultProxy;
    use testkit::task_standin::TaskStandIn;
    let proxy = FaultProxy::start(&moto_endpoint());
    let stand_in = TaskStandIn::new();
    proxy.set(stand_in.config());
    // The other scenarios' services stay: this source names one service, and nothing is
    // pruned.
    let options = ReconcileOptions {
        max_prune: 0,
        ..ReconcileOptions::default()
    };
    let aws = recording_clients_at(record, &proxy.endpoint()).await;
    let r = Reconciler::new(aws, w.settings.clone(), options);
    let mut memory = ecs_operator::reconcile::pass::Memory::default();
    let jobs = |schedule: &str| {
        format!("  preDeploy:\n    command: [migrate]\n    timeout: 30s\n  jobs:\n    - name: nightly\n      schedule: \"{schedule}\"\n      command: [cleanup]\n")
    };
    let now = ecs_operator::status::unix_now();
    let v1 = w.set(&[w.generated("jobs", "1", &jobs("rate(1 day)"))]);
    leader_pass_ok(&r, &v1, &mut memory, now).await;
    assert_eq!(stand_in.exit("ecs-operator-predeploy-", 0), 1);
    leader_pass_ok(&r, &v1, &mut memory, now).await;
    let v2 = w.set(&[w.generated("jobs", "2", &jobs("rate(12 hours)"))]);
    leader_pass_ok(&r, &v2, &mut memory, now).await;
    leader_pass_ok(&r, &v2, &mut memory, now + 60).await;
    assert_eq!(
        stand_in.stop_calls(),
        1,
        "the timed-out pre-deploy task is stopped"
    );
    let v3 = w.set(&[w.generated("jobs", "2", "")]);
    leader_pass_ok(&r, &v3, &mut memory, now + 120).await;
    assert_eq!(stand_in.tasks().len(), 2);
}

async fn leader_pass_ok(
    r: &Reconciler,
    set: &ManifestSet,
    memory: &mut ecs_operator::reconcile::pass::Memory,
    now: u64,
) {
    let report = leader_pass(r, set, memory, &std::collections::BTreeMap::new(), now).await;
    for result in &report.results {
        assert!(
            result.error.is_none(),
            "{}: {:?}",
            result.name,
            result.error
        );
    }
}
