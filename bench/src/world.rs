//! An isolated slice of the emulated account for one measurement: VPC, subnet and security
//! group (through the aws CLI, as the tests do: the bench does not build the EC2 SDK), an ECS
//! cluster, a Cloud Map namespace and a manifest bucket (through the SDK).

use std::process::Command;

use anyhow::{bail, Context, Result};
use ecs_operator::aws::AwsClients;
use ecs_operator::settings::{NetworkSettings, Settings};

/// SDK clients pointed at moto (each set has its own call counter).
pub async fn clients(endpoint: &str) -> AwsClients {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .load()
        .await;
    AwsClients::from_config(&config, true)
}

/// Forgets everything moto holds (only for a moto this bench started).
pub async fn reset_moto(endpoint: &str) -> Result<()> {
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/moto-api/reset"))
        .send()
        .await
        .context("resetting moto")?;
    if !response.status().is_success() {
        bail!("moto reset answered {}", response.status());
    }
    Ok(())
}

fn aws_cli(endpoint: &str, args: &[&str]) -> Result<serde_json::Value> {
    let out = Command::new("aws")
        .args(args)
        .args(["--output", "json"])
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .context("running the aws CLI (scripts/install-test-deps installs it)")?;
    if !out.status.success() {
        bail!(
            "aws {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn field(v: &serde_json::Value, path: &[&str]) -> Result<String> {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str()
        .map(str::to_string)
        .with_context(|| format!("no {} in {v}", path.join(".")))
}

/// moto builds each service's backend on its first request (and again after a reset): one
/// read of every API the measurements use, so that cost is not charged to whoever comes first.
async fn warm_up(setup: &AwsClients, cluster: &str, bucket: &str) -> Result<()> {
    use aws_sdk_applicationautoscaling::types::ServiceNamespace;
    setup
        .scaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .send()
        .await
        .context("warm-up: DescribeScalableTargets")?;
    setup
        .scaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .send()
        .await
        .context("warm-up: DescribeScalingPolicies")?;
    setup
        .ecs
        .list_services()
        .cluster(cluster)
        .send()
        .await
        .context("warm-up: ListServices")?;
    setup
        .ecs
        .list_task_definitions()
        .send()
        .await
        .context("warm-up: ListTaskDefinitions")?;
    setup
        .discovery
        .list_services()
        .send()
        .await
        .context("warm-up: Cloud Map ListServices")?;
    setup
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .context("warm-up: ListObjectsV2")?;
    Ok(())
}

pub struct World {
    pub settings: Settings,
    pub bucket: String,
    pub prefix: String,
}

impl World {
    /// Creates the world; `id` names the cluster, namespace, bucket and operator.
    pub async fn create(endpoint: &str, setup: &AwsClients, id: &str, octet: u8) -> Result<World> {
        let vpc = aws_cli(
            endpoint,
            &[
                "ec2",
                "create-vpc",
                "--cidr-block",
                &format!("10.{octet}.0.0/16"),
            ],
        )?;
        let vpc = field(&vpc, &["Vpc", "VpcId"])?;
        let subnet = aws_cli(
            endpoint,
            &[
                "ec2",
                "create-subnet",
                "--vpc-id",
                &vpc,
                "--cidr-block",
                &format!("10.{octet}.1.0/24"),
            ],
        )?;
        let subnet = field(&subnet, &["Subnet", "SubnetId"])?;
        let sg = aws_cli(
            endpoint,
            &[
                "ec2",
                "create-security-group",
                "--group-name",
                id,
                "--description",
                "bench",
                "--vpc-id",
                &vpc,
            ],
        )?;
        let sg = field(&sg, &["GroupId"])?;
        setup
            .ecs
            .create_cluster()
            .cluster_name(id)
            .send()
            .await
            .context("CreateCluster")?;
        let op = setup
            .discovery
            .create_private_dns_namespace()
            .name(format!("{id}.internal"))
            .vpc(&vpc)
            .send()
            .await
            .context("CreatePrivateDnsNamespace")?;
        let op = setup
            .discovery
            .get_operation()
            .operation_id(op.operation_id().unwrap_or_default())
            .send()
            .await
            .context("GetOperation")?;
        let namespace = op
            .operation()
            .and_then(|o| o.targets())
            .and_then(|t| {
                t.get(&aws_sdk_servicediscovery::types::OperationTargetType::Namespace)
                    .cloned()
            })
            .context("the namespace operation names no namespace")?;
        let bucket = format!("manifests-{}", id.to_lowercase());
        setup
            .s3
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .context("CreateBucket")?;
        warm_up(setup, id, &bucket).await?;
        let prefix = "manifests/".to_string();
        let mut settings = Settings::local_defaults();
        settings.operator_id = format!("op-{id}");
        settings.cluster = id.to_string();
        settings.network = NetworkSettings {
            subnets: vec![subnet],
            security_groups: vec![sg],
            assign_public_ip: false,
        };
        settings.service_discovery_namespace_id = Some(namespace);
        settings.service_discovery_namespace_name = Some(format!("{id}.internal"));
        settings.manifest_source = format!("s3://{bucket}/{prefix}");
        Ok(World {
            settings,
            bucket,
            prefix,
        })
    }

    /// Puts manifests into the bucket, 8 at a time, with the setup clients (not counted).
    pub async fn upload(&self, setup: &AwsClients, docs: &[(String, String)]) -> Result<()> {
        use futures::stream::{self, TryStreamExt};
        stream::iter(docs.iter().map(Ok::<_, anyhow::Error>))
            .try_for_each_concurrent(8, |(name, text)| async move {
                setup
                    .s3
                    .put_object()
                    .bucket(&self.bucket)
                    .key(format!("{}{name}.yaml", self.prefix))
                    .body(text.clone().into_bytes().into())
                    .send()
                    .await
                    .with_context(|| format!("PutObject {name}"))?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}
