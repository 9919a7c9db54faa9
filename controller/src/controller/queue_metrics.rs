//! Metrics of queue workers' SQS queues (`spec.scaling.queue`), read from CloudWatch
//! ([`crate::observe::queues`]) at most once a minute (SQS sends its metrics once a minute):
//! the age of the oldest message (`QueueOldestMessageTooOld`) and the messages waiting.
//!
//! # Guarantees
//! - A failed read keeps the previous values (a CloudWatch outage does not silence the alert
//!   by emptying its series) and is tried again at the next pass.
//! - Series of services no longer queue-scaled, or queues without data, disappear.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::aws::AwsClients;
use crate::manifest::ManifestSet;
use crate::observe::queues::{self, QueueReading};
pub use crate::render::monitoring::prometheus::queue::{MESSAGES_VISIBLE, OLDEST_MESSAGE_AGE};

/// The least time between two reads.
pub const READ_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub service: String,
    pub queue: String,
}

#[derive(Debug, Default)]
pub struct QueueMetrics {
    pub oldest_message_age: Family<QueueLabels, Gauge<f64, AtomicU64>>,
    pub messages_visible: Family<QueueLabels, Gauge<f64, AtomicU64>>,
    last_read: Mutex<Option<Instant>>,
}

impl QueueMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = QueueMetrics::default();
        registry.register(
            OLDEST_MESSAGE_AGE,
            "Age of the oldest message in a queue worker's SQS queue (CloudWatch ApproximateAgeOfOldestMessage, latest minute's maximum)",
            m.oldest_message_age.clone(),
        );
        registry.register(
            MESSAGES_VISIBLE,
            "Messages waiting in a queue worker's SQS queue (CloudWatch ApproximateNumberOfMessagesVisible, latest minute's maximum)",
            m.messages_visible.clone(),
        );
        m
    }

    /// Reads the queues of `set`'s queue workers when a minute has passed since the last read.
    pub async fn refresh(&self, aws: &AwsClients, set: &ManifestSet, now: Instant) {
        let due = {
            let last = self.last_read.lock().unwrap_or_else(|e| e.into_inner());
            last.is_none_or(|at| now.duration_since(at) >= READ_INTERVAL)
        };
        if !due {
            return;
        }
        let workers = queue_workers(set);
        let mut names: Vec<String> = workers.values().cloned().collect();
        names.sort();
        names.dedup();
        let readings = if names.is_empty() {
            BTreeMap::new()
        } else {
            match queues::read(aws, &names).await {
                Ok(readings) => readings,
                Err(e) => {
                    tracing::warn!(error = %e, "queue metrics not read; keeping the last values");
                    return;
                }
            }
        };
        self.record(&workers, &readings);
        *self.last_read.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
    }

    /// Replaces every series with `readings` of the queues of `workers` (service -> queue).
    pub fn record(
        &self,
        workers: &BTreeMap<String, String>,
        readings: &BTreeMap<String, QueueReading>,
    ) {
        self.oldest_message_age.clear();
        self.messages_visible.clear();
        for (service, queue) in workers {
            let Some(reading) = readings.get(queue) else {
                continue;
            };
            let labels = QueueLabels {
                service: service.clone(),
                queue: queue.clone(),
            };
            if let Some(age) = reading.oldest_message_age_seconds {
                self.oldest_message_age.get_or_create(&labels).set(age);
            }
            if let Some(visible) = reading.messages_visible {
                self.messages_visible.get_or_create(&labels).set(visible);
            }
        }
    }
}

/// Each queue-scaled service and its queue's name.
pub fn queue_workers(set: &ManifestSet) -> BTreeMap<String, String> {
    (set.manifests.iter())
        .filter_map(|m| {
            let q = m.manifest.spec.scaling.queue.as_ref()?;
            Some((m.name().to_string(), q.queue_name().to_string()))
        })
        .collect()
}
