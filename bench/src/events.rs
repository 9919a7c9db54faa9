//! S3 change -> applied, through events: the real `ecs-operator run` with a 5-minute poll
//! interval consumes an SQS queue that moto fills with the bucket's S3 notifications (as S3
//! does); the bench uploads a changed manifest and times until ECS runs the new task
//! definition. The median of three changes.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use ecs_operator::aws::AwsClients;

use crate::manifests;
use crate::world::World;

/// Changes timed per N.
pub const CHANGES: u32 = 3;

pub struct EventLatency {
    /// Upload -> the service runs the new revision, seconds, one per change.
    pub secs: Vec<f64>,
}

/// Kills the operator on every way out.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn queue(setup: &AwsClients, w: &World) -> Result<String> {
    let url = setup
        .sqs
        .create_queue()
        .queue_name(format!("{}-events", w.settings.cluster))
        .send()
        .await
        .context("CreateQueue")?
        .queue_url()
        .unwrap_or_default()
        .to_string();
    let attributes = setup
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .context("GetQueueAttributes")?;
    let arn = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .context("the queue has no ARN")?;
    let filter = NotificationConfigurationFilter::builder()
        .key(
            S3KeyFilter::builder()
                .filter_rules(
                    FilterRule::builder()
                        .name(FilterRuleName::Prefix)
                        .value(&w.prefix)
                        .build(),
                )
                .build(),
        )
        .build();
    let configuration = QueueConfiguration::builder()
        .queue_arn(arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .filter(filter)
        .build()?;
    setup
        .s3
        .put_bucket_notification_configuration()
        .bucket(&w.bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(configuration)
                .build(),
        )
        .send()
        .await
        .context("PutBucketNotificationConfiguration")?;
    Ok(url)
}

async fn task_definition(setup: &AwsClients, w: &World, service: &str) -> Result<String> {
    let out = setup
        .ecs
        .describe_services()
        .cluster(&w.settings.cluster)
        .services(service)
        .send()
        .await?;
    Ok(out
        .services()
        .first()
        .and_then(|s| s.task_definition())
        .unwrap_or_default()
        .to_string())
}

/// Measures on a converged world of `n` services (manifest 0 is the one changed).
pub async fn measure(
    bin: &Path,
    endpoint: &str,
    setup: &AwsClients,
    w: &World,
    prefix: &str,
    work: &Path,
) -> Result<EventLatency> {
    let queue_url = queue(setup, w).await?;
    std::fs::create_dir_all(work)?;
    let settings_path = work.join(format!("settings-events-{}.json", w.settings.cluster));
    std::fs::write(&settings_path, serde_json::to_string(&w.settings)?)?;
    let log = work.join(format!("events-{}.log", w.settings.cluster));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = crate::rss::operator_command(bin, endpoint)
        .args([
            "run",
            "--emulator",
            "--no-leader-election",
            "--interval",
            "10m",
            "--poll-interval",
            "5m",
        ])
        .arg("--settings")
        .arg(&settings_path)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("ECS_OPERATOR_EVENTS_QUEUE_URL", &queue_url)
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let _running = Running(child);
    // Its first pass (the world is converged: no writes) must be done before timing.
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let http = reqwest::Client::builder().no_proxy().build()?;
    let started = Instant::now();
    loop {
        let text = match http.get(&metrics).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains("ecs_operator_reconciles_total{result=\"success\"}") {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!("no first pass in 300 s; see {}", log.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (name, _) = manifests::manifest(prefix, 0, 1);
    let mut secs = Vec::new();
    for version in 2..2 + CHANGES {
        let before = task_definition(setup, w, &name).await?;
        w.upload(setup, &[manifests::manifest(prefix, 0, version)])
            .await?;
        let pushed = Instant::now();
        loop {
            if task_definition(setup, w, &name).await? != before {
                secs.push(pushed.elapsed().as_secs_f64());
                break;
            }
            if pushed.elapsed() > Duration::from_secs(60) {
                bail!(
                    "change {version} not applied within 60 s (poll interval 5m); see {}",
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(EventLatency { secs })
}
