//! Events instead of polling. The bootstrap's SQS queue receives S3 notifications of the
//! manifests prefix and (through EventBridge) ECS service action, deployment state change and
//! task state change events of the cluster. A side task long-polls it and wakes the runtime
//! at once: a manifest event makes it check the source now (one listing, one download of the
//! changed object) and reconcile; a service event makes it reconcile (status, rollouts); a
//! service or task event makes service discovery read that service's tasks again.
//!
//! # Guarantees
//! - Polling stays the safety net: a lost, late or duplicated event changes nothing but
//!   latency. A message is deleted once the runtime has been woken for it.
//! - [`parse`] is pure; a message it does not understand is counted and deleted, never
//!   retried forever.
//!
//! # Caveats
//! - A woken pass still observes and plans every service; only the changed manifest's service
//!   is written (the others are unchanged).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::aws::AwsClients;

/// Long-poll wait of ReceiveMessage (SQS allows at most 20 s).
pub const RECEIVE_WAIT_SECONDS: i32 = 20;
/// Messages per ReceiveMessage (SQS allows at most 10).
pub const RECEIVE_MAX_MESSAGES: i32 = 10;

/// What one message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An object under the bucket was created or removed (its key).
    Manifest(String),
    /// An ECS service changed (its name).
    Service(String),
    /// A task of an ECS service started or stopped (the service's name).
    Task(String),
    /// A container of a running task exited: a non-essential one, since an essential one's
    /// exit stops the task (its task then stops, and TasksStopping counts it).
    ContainerExited(ContainerExit),
    /// S3's test message on a new notification configuration: nothing to do.
    Test,
    /// Not a message the operator knows.
    Unknown,
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Manifest(_) => "manifest",
            Event::Service(_) => "service",
            Event::Task(_) => "task",
            Event::ContainerExited(_) => "container",
            Event::Test => "test",
            Event::Unknown => "unknown",
        }
    }
}

/// A container that exited while its task ran on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerExit {
    pub service: String,
    pub task: String,
    pub container: String,
    pub exit_code: i32,
}

/// The containers a RUNNING task's state change reports STOPPED with an exit code. ECS
/// reports every container in every change of the task, so one exit is reported again by
/// later changes: [`ContainerExit::task`] and the name identify it.
fn container_exits(service: &str, detail: &serde_json::Value) -> Vec<Event> {
    if detail["lastStatus"] != "RUNNING" {
        return Vec::new();
    }
    let task = detail["taskArn"].as_str().unwrap_or_default();
    (detail["containers"].as_array().into_iter().flatten())
        .filter(|c| c["lastStatus"] == "STOPPED")
        .filter_map(|c| {
            Some(Event::ContainerExited(ContainerExit {
                service: service.to_string(),
                task: task.to_string(),
                container: c["name"].as_str()?.to_string(),
                exit_code: i32::try_from(c["exitCode"].as_i64()?).ok()?,
            }))
        })
        .collect()
}

/// The events of one message body: an S3 notification (one event per record), an S3 test
/// event, or an EventBridge event (`aws.ecs` service action or deployment state change;
/// `aws.s3` object created or deleted).
pub fn parse(body: &str) -> Vec<Event> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return vec![Event::Unknown];
    };
    if v["Event"] == "s3:TestEvent" {
        return vec![Event::Test];
    }
    if let Some(records) = v["Records"].as_array() {
        return records
            .iter()
            .map(|r| match r["s3"]["object"]["key"].as_str() {
                Some(key) if r["eventSource"] == "aws:s3" => Event::Manifest(key.to_string()),
                _ => Event::Unknown,
            })
            .collect();
    }
    let detail_type = v["detail-type"].as_str().unwrap_or_default();
    match (v["source"].as_str(), detail_type) {
        (Some("aws.ecs"), "ECS Service Action" | "ECS Deployment State Change") => {
            let service = (v["resources"].as_array().into_iter().flatten())
                .filter_map(|r| r.as_str())
                .find_map(|arn| arn.split_once(":service/").map(|(_, rest)| rest))
                .map(|rest| rest.rsplit('/').next().unwrap_or(rest).to_string());
            vec![service.map_or(Event::Unknown, Event::Service)]
        }
        (Some("aws.ecs"), "ECS Task State Change") => {
            // Tasks of a service are in the group `service:NAME`.
            let service = v["detail"]["group"]
                .as_str()
                .and_then(|g| g.strip_prefix("service:"))
                .map(str::to_string);
            let Some(service) = service else {
                return vec![Event::Unknown];
            };
            let mut events = container_exits(&service, &v["detail"]);
            events.insert(0, Event::Task(service));
            events
        }
        (Some("aws.s3"), "Object Created" | "Object Deleted") => {
            match v["detail"]["object"]["key"].as_str() {
                Some(key) => vec![Event::Manifest(key.to_string())],
                None => vec![Event::Unknown],
            }
        }
        _ => vec![Event::Unknown],
    }
}

/// Wakes the runtime; shared between the listener and the loop.
#[derive(Debug, Default)]
pub struct Wakeup {
    notify: Notify,
    services_changed: AtomicBool,
    /// Services whose tasks may have changed, for service discovery.
    discovery: Mutex<BTreeSet<String>>,
    discovery_notify: Notify,
}

impl Wakeup {
    /// Resolves once an event arrived (never, without a queue).
    pub async fn notified(&self) {
        self.notify.notified().await
    }

    /// Whether an ECS event arrived since the last call (then a pass is due whatever the
    /// source says).
    pub fn take_service_changes(&self) -> bool {
        self.services_changed.swap(false, Ordering::SeqCst)
    }

    /// Resolves once a service or task event arrived (never, without a queue).
    pub async fn discovery_notified(&self) {
        self.discovery_notify.notified().await
    }

    /// The services named by service or task events since the last call.
    pub fn take_discovery_changes(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.discovery.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn wake(&self, events: &[Event]) {
        let mut discovery = self.discovery.lock().unwrap_or_else(|e| e.into_inner());
        let before = discovery.len();
        for e in events {
            if let Event::Service(name) | Event::Task(name) = e {
                discovery.insert(name.clone());
            }
        }
        if discovery.len() > before {
            self.discovery_notify.notify_one();
        }
        drop(discovery);
        if events.iter().any(|e| matches!(e, Event::Service(_))) {
            self.services_changed.store(true, Ordering::SeqCst);
        }
        if events
            .iter()
            .any(|e| matches!(e, Event::Service(_) | Event::Manifest(_)))
        {
            self.notify.notify_one();
        }
    }
}

/// Starts the listener when there is a queue; `count` sees every event (metrics).
pub fn listen(
    aws: &AwsClients,
    queue_url: Option<String>,
    count: impl Fn(&Event) + Send + Sync + 'static,
    cancel: CancellationToken,
) -> (Arc<Wakeup>, Option<tokio::task::JoinHandle<()>>) {
    let wakeup = Arc::new(Wakeup::default());
    let Some(queue_url) = queue_url else {
        return (wakeup, None);
    };
    let (aws, woken) = (aws.clone(), wakeup.clone());
    let task = tokio::spawn(async move {
        tracing::info!(queue = %queue_url, "listening for events");
        loop {
            let received = tokio::select! {
                _ = cancel.cancelled() => return,
                r = receive(&aws, &queue_url) => r,
            };
            match received {
                Ok(messages) => {
                    for (events, receipt) in messages {
                        events.iter().for_each(&count);
                        woken.wake(&events);
                        delete(&aws, &queue_url, &receipt).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "events queue");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                }
            }
        }
    });
    (wakeup, Some(task))
}

/// One long poll: the events of each message, with its receipt handle.
async fn receive(
    aws: &AwsClients,
    queue_url: &str,
) -> Result<Vec<(Vec<Event>, String)>, crate::aws::AwsError> {
    let out = aws
        .sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(RECEIVE_MAX_MESSAGES)
        .wait_time_seconds(RECEIVE_WAIT_SECONDS)
        .send()
        .await
        .map_err(aws.error("sqs:ReceiveMessage"))?;
    Ok(out
        .messages()
        .iter()
        .map(|m| {
            (
                parse(m.body().unwrap_or_default()),
                m.receipt_handle().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// Deletes a handled message; a failure only means it comes back (and wakes the runtime once
/// more).
async fn delete(aws: &AwsClients, queue_url: &str, receipt: &str) {
    if let Err(e) = aws
        .sqs
        .delete_message()
        .queue_url(queue_url)
        .receipt_handle(receipt)
        .send()
        .await
    {
        let e = aws.error("sqs:DeleteMessage")(e);
        tracing::warn!(error = %e, "could not delete an events message");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_notifications_name_each_changed_key() {
        let body = r#"{"Records":[
            {"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"m"},"object":{"key":"manifests/pizza.yaml"}}},
            {"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"m"},"object":{"key":"manifests/old.yaml"}}}
        ]}"#;
        assert_eq!(
            parse(body),
            [
                Event::Manifest("manifests/pizza.yaml".into()),
                Event::Manifest("manifests/old.yaml".into())
            ]
        );
        assert_eq!(
            parse(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"m"}"#),
            [Event::Test]
        );
    }

    #[test]
    fn ecs_events_name_the_service_and_others_are_unknown() {
        let action = r#"{"source":"aws.ecs","detail-type":"ECS Service Action",
            "resources":["arn:aws:ecs:eu-central-1:123456789012:service/main/pizza-service"],
            "detail":{"eventName":"SERVICE_STEADY_STATE"}}"#;
        assert_eq!(parse(action), [Event::Service("pizza-service".into())]);
        let deployment = action.replace("ECS Service Action", "ECS Deployment State Change");
        assert_eq!(parse(&deployment), [Event::Service("pizza-service".into())]);
        let task = r#"{"source":"aws.ecs","detail-type":"ECS Task State Change",
            "resources":["arn:aws:ecs:eu-central-1:123456789012:task/main/0123"],
            "detail":{"group":"service:pizza-service","lastStatus":"RUNNING"}}"#;
        assert_eq!(parse(task), [Event::Task("pizza-service".into())]);
        let s3 = r#"{"source":"aws.s3","detail-type":"Object Created","detail":{"object":{"key":"manifests/a.yaml"}}}"#;
        assert_eq!(parse(s3), [Event::Manifest("manifests/a.yaml".into())]);
        for other in [
            "not json",
            r#"{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{"group":"family:batch"}}"#,
            r#"{"source":"aws.ecs","detail-type":"ECS Service Action","resources":[]}"#,
            r#"{"Records":[{"eventSource":"aws:sqs"}]}"#,
        ] {
            assert_eq!(parse(other), [Event::Unknown], "{other}");
        }
    }

    #[test]
    fn a_container_that_exits_while_its_task_runs_on_is_an_event_of_its_own() {
        let body = r#"{"source":"aws.ecs","detail-type":"ECS Task State Change",
            "detail":{"group":"service:pizza","lastStatus":"RUNNING","taskArn":"arn:t/1",
            "containers":[{"name":"app","lastStatus":"RUNNING"},
                          {"name":"warmup","lastStatus":"STOPPED","exitCode":3}]}}"#;
        assert_eq!(
            parse(body),
            vec![
                Event::Task("pizza".into()),
                Event::ContainerExited(ContainerExit {
                    service: "pizza".into(),
                    task: "arn:t/1".into(),
                    container: "warmup".into(),
                    exit_code: 3,
                })
            ]
        );
        // A stopped task's containers are the task's stop, not exits of their own.
        let stopped = body.replace(
            r#""lastStatus":"RUNNING","taskArn""#,
            r#""lastStatus":"STOPPED","taskArn""#,
        );
        assert_eq!(parse(&stopped), vec![Event::Task("pizza".into())]);
    }

    #[tokio::test]
    async fn only_known_events_wake_the_runtime_and_ecs_ones_force_a_pass() {
        let w = Wakeup::default();
        w.wake(&[Event::Test, Event::Unknown]);
        assert!(!w.take_service_changes());
        let woken = tokio::time::timeout(Duration::from_millis(20), w.notified()).await;
        assert!(woken.is_err(), "a test event wakes nothing");
        w.wake(&[Event::Manifest("manifests/a.yaml".into())]);
        w.notified().await;
        assert!(!w.take_service_changes());
        w.wake(&[Event::Service("web".into())]);
        w.notified().await;
        assert!(w.take_service_changes());
        assert!(!w.take_service_changes(), "taken once");
        // Service and task events name the services discovery reads again; a task event
        // does not force a pass.
        w.wake(&[Event::Task("api".into())]);
        w.discovery_notified().await;
        assert!(!w.take_service_changes());
        assert_eq!(
            w.take_discovery_changes(),
            BTreeSet::from(["api".to_string(), "web".to_string()])
        );
        assert!(w.take_discovery_changes().is_empty(), "taken once");
    }
}
