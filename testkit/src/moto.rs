//! moto_server as AWS: its endpoint (the test command, `scripts/test`, starts it and exports
//! `MOTO_ENDPOINT`), an isolated "world" per test (its own VPC, subnet, security group, ECS
//! cluster, Cloud Map namespace and operator id), the `aws` CLI as an independent client, and
//! manifests to feed the operator.
//!
//! moto 5.2 ignores the namespace filter of Cloud Map's ListServices (real AWS honours it), so
//! service names must be unique across the tests of one run: every test uses its own names.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use ecs_operator::aws::audit::{RecordOptions, Recorder};
use ecs_operator::aws::{AwsClients, ClientOptions};
use ecs_operator::manifest::ManifestSet;
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use ecs_operator::settings::{IngressSettings, NetworkSettings, Settings};

pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: run the tests through scripts/test, which starts moto_server on 127.0.0.1",
    )
}

/// One ECS service as the aws CLI describes it (with its tags), `Null` when ECS lists none.
pub fn describe_service(cluster: &str, name: &str) -> serde_json::Value {
    let out = aws_cli(&[
        "ecs",
        "describe-services",
        "--cluster",
        cluster,
        "--services",
        name,
        "--include",
        "TAGS",
    ]);
    out["services"][0].clone()
}

/// Runs the aws CLI against moto and parses its JSON output.
pub fn aws_cli(args: &[&str]) -> serde_json::Value {
    let out = Command::new("aws")
        .args(args)
        .args(["--output", "json"])
        // The environment variable alone: the CLI's SQS commands still call queue.amazonaws.com.
        .args(["--endpoint-url", &moto_endpoint()])
        .env("AWS_ENDPOINT_URL", moto_endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("the aws CLI runs (scripts/install-test-deps installs it)");
    assert!(
        out.status.success(),
        "aws {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        serde_json::Value::Null
    } else {
        // `aws s3` commands print plain text.
        serde_json::from_str(&text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
    }
}

async fn moto_config() -> aws_types::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await
}

pub async fn clients() -> AwsClients {
    AwsClients::from_config(&moto_config().await, true)
}

/// Clients like [`clients`] that also record every request as IAM evaluates it
/// (`ecs_operator::aws::audit`), appending to `record.path`.
pub async fn recording_clients(record: &RecordOptions) -> AwsClients {
    let recorder = Recorder::open(record, "us-east-1").expect("the request record opens");
    AwsClients::from_config_recorded(&moto_config().await, true, Some(recorder))
}

/// Clients like [`recording_clients`] that talk to `endpoint` (a proxy in front of moto).
pub async fn recording_clients_at(record: &RecordOptions, endpoint: &str) -> AwsClients {
    let recorder = Recorder::open(record, "us-east-1").expect("the request record opens");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    AwsClients::from_config_recorded(&config, true, Some(recorder))
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// An isolated slice of the emulated account.
pub struct World {
    pub settings: Settings,
    pub vpc: String,
}

impl World {
    pub fn new(test: &str) -> World {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!(
            "{}-{}-{n}",
            test.chars().take(20).collect::<String>(),
            std::process::id()
        );
        let second = 16 + (std::process::id() as usize * 7 + n) % 200;
        let vpc = aws_cli(&[
            "ec2",
            "create-vpc",
            "--cidr-block",
            &format!("10.{second}.0.0/16"),
        ])["Vpc"]["VpcId"]
            .as_str()
            .unwrap()
            .to_string();
        let subnet = aws_cli(&[
            "ec2",
            "create-subnet",
            "--vpc-id",
            &vpc,
            "--cidr-block",
            &format!("10.{second}.1.0/24"),
        ])["Subnet"]["SubnetId"]
            .as_str()
            .unwrap()
            .to_string();
        let sg = aws_cli(&[
            "ec2",
            "create-security-group",
            "--group-name",
            &id,
            "--description",
            "test",
            "--vpc-id",
            &vpc,
        ])["GroupId"]
            .as_str()
            .unwrap()
            .to_string();
        aws_cli(&["ecs", "create-cluster", "--cluster-name", &id]);
        let op = aws_cli(&[
            "servicediscovery",
            "create-private-dns-namespace",
            "--name",
            &format!("{id}.internal"),
            "--vpc",
            &vpc,
        ])["OperationId"]
            .as_str()
            .unwrap()
            .to_string();
        let namespace = aws_cli(&["servicediscovery", "get-operation", "--operation-id", &op])
            ["Operation"]["Targets"]["NAMESPACE"]
            .as_str()
            .unwrap()
            .to_string();
        let mut settings = Settings::local_defaults();
        settings.operator_id = format!("op-{id}");
        settings.cluster = id.clone();
        settings.network = NetworkSettings {
            subnets: vec![subnet],
            security_groups: vec![sg],
            assign_public_ip: false,
        };
        settings.service_discovery_namespace_id = Some(namespace);
        World { settings, vpc }
    }

    /// A service made by hand (no owner tag) in `cluster`, on this world's network, with a
    /// one-container task definition of family `name`. Returns its task definition ARN.
    pub fn hand_made_service(&self, cluster: &str, name: &str) -> String {
        let td = aws_cli(&[
            "ecs",
            "register-task-definition",
            "--family",
            name,
            "--cpu",
            "256",
            "--memory",
            "512",
            "--network-mode",
            "awsvpc",
            "--requires-compatibilities",
            "FARGATE",
            "--container-definitions",
            r#"[{"name":"x","image":"busybox","essential":true}]"#,
        ])["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .to_string();
        let network = format!(
            "awsvpcConfiguration={{subnets=[{}],securityGroups=[{}]}}",
            self.settings.network.subnets[0], self.settings.network.security_groups[0]
        );
        aws_cli(&[
            "ecs",
            "create-service",
            "--cluster",
            cluster,
            "--service-name",
            name,
            "--task-definition",
            &td,
            "--desired-count",
            "1",
            "--network-configuration",
            &network,
        ]);
        td
    }

    /// An Application Load Balancer with an HTTPS listener in this world's VPC, as the
    /// bootstrap makes it (`alb.tf`), named in the settings' `ingress`. Returns the listener's
    /// ARN.
    pub fn add_listener(&mut self) -> String {
        let cidr = aws_cli(&["ec2", "describe-vpcs", "--vpc-ids", &self.vpc])["Vpcs"][0]
            ["CidrBlock"]
            .as_str()
            .unwrap()
            .to_string();
        let prefix = cidr.rsplitn(3, '.').nth(2).unwrap().to_string();
        let subnets: Vec<String> = [("a", 201), ("b", 202)]
            .iter()
            .map(|(zone, third)| {
                aws_cli(&[
                    "ec2",
                    "create-subnet",
                    "--vpc-id",
                    &self.vpc,
                    "--cidr-block",
                    &format!("{prefix}.{third}.0/24"),
                    "--availability-zone",
                    &format!("us-east-1{zone}"),
                ])["Subnet"]["SubnetId"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let name: String = format!("alb-{}", self.settings.cluster)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(32)
            .collect::<String>()
            .trim_end_matches('-')
            .to_string();
        let mut args = vec![
            "elbv2",
            "create-load-balancer",
            "--name",
            &name,
            "--subnets",
        ];
        args.extend(subnets.iter().map(String::as_str));
        let lb = aws_cli(&args)["LoadBalancers"][0]["LoadBalancerArn"]
            .as_str()
            .unwrap()
            .to_string();
        let certificate = aws_cli(&[
            "acm",
            "request-certificate",
            "--domain-name",
            "apps.example.com",
        ])["CertificateArn"]
            .as_str()
            .unwrap()
            .to_string();
        let listener = aws_cli(&[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            &lb,
            "--protocol",
            "HTTPS",
            "--port",
            "443",
            "--certificates",
            &format!("CertificateArn={certificate}"),
            "--default-actions",
            "Type=fixed-response,FixedResponseConfig={StatusCode=404}",
        ])["Listeners"][0]["ListenerArn"]
            .as_str()
            .unwrap()
            .to_string();
        self.settings.ingress = Some(IngressSettings {
            listener_arn: listener.clone(),
            vpc_id: self.vpc.clone(),
            public_host: "apps.example.com".into(),
            scheme: "https".into(),
            idle_timeout: ecs_operator::duration::PromDuration::from_secs(60),
        });
        listener
    }

    pub async fn reconciler(&self) -> Reconciler {
        Reconciler::new(
            clients().await,
            self.settings.clone(),
            ReconcileOptions::default(),
        )
    }
}

/// An SQS queue that receives the S3 notifications of `bucket`'s `manifests/` prefix (objects
/// created or removed), as the bootstrap makes it with `enable_manifest_notifications`.
/// Returns its URL and ARN.
pub fn manifest_events_queue(bucket: &str, queue_name: &str) -> (String, String) {
    let url = aws_cli(&["sqs", "create-queue", "--queue-name", queue_name])["QueueUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let arn = aws_cli(&[
        "sqs",
        "get-queue-attributes",
        "--queue-url",
        &url,
        "--attribute-names",
        "QueueArn",
    ])["Attributes"]["QueueArn"]
        .as_str()
        .unwrap()
        .to_string();
    let notification = serde_json::json!({"QueueConfigurations": [{"QueueArn": arn,
        "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "manifests/"}]}}}]});
    aws_cli(&[
        "s3api",
        "put-bucket-notification-configuration",
        "--bucket",
        bucket,
        "--notification-configuration",
        &notification.to_string(),
    ]);
    (url, arn)
}

/// A manifest set from in-memory YAML documents.
pub fn manifests(docs: &[(&str, &str)], settings: &Settings) -> ManifestSet {
    let mut set = ManifestSet::default();
    for (name, text) in docs {
        set.add_source(name, text.as_bytes(), Some(settings));
    }
    set.finish();
    let problems: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    if !problems.is_empty() {
        eprintln!("manifest problems (expected by some tests): {problems:?}");
    }
    set
}

/// A small valid manifest.
pub fn manifest(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: {name}\nspec:\n  container:\n    image: {image}\n  notify:\n    team: test\n{extra}"
    )
}

pub fn example(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../manifests/examples")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// A minimal valid manifest with autoscaling (so every AWS resource kind is exercised).
pub fn scaled_manifest(name: &str, image: &str) -> String {
    format!(
        "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: {name}\nspec:\n  container:\n    image: {image}\n    port: 8080\n  scaling:\n    minTasks: 1\n    maxTasks: 3\n    targetCpuPercent: 60\n  notify:\n    team: rel\n  lifecycle:\n    prune: true\n"
    )
}

/// Clients built the way `AwsClients::from_env` builds them in production (standard retry,
/// the default attempts and timeouts), pointed at `endpoint`.
pub async fn production_clients(endpoint: &str) -> AwsClients {
    clients_with_retry(
        endpoint,
        aws_config::retry::RetryConfig::standard()
            .with_max_attempts(ClientOptions::default().max_attempts),
    )
    .await
}

/// Clients like production's but with `retry`, pointed at `endpoint`.
pub async fn clients_with_retry(
    endpoint: &str,
    retry: aws_config::retry::RetryConfig,
) -> AwsClients {
    let options = ClientOptions::default();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .retry_config(retry)
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(options.connect_timeout)
                .operation_timeout(options.operation_timeout)
                .build(),
        )
        .load()
        .await;
    AwsClients::from_config(&config, true)
}
