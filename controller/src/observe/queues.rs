//! The CloudWatch metrics of queue workers' SQS queues (`spec.scaling.queue`): the age of the
//! oldest message and the messages waiting, for the built-in `QueueOldestMessageTooOld`
//! alert and the dashboard. Prometheus cannot read CloudWatch; the operator reads it and
//! exports gauges (`controller::queue_metrics`).
//!
//! # Guarantees
//! - One GetMetricData call reads 250 queues (two queries each, of the 500 a call allows,
//!   GetMetricData API reference); its pages are followed.
//! - A queue CloudWatch has no data point for in the window is absent from the result (its
//!   gauges disappear), never reported as zero.
//!
//! # Caveats
//! - SQS sends its metrics once a minute and CloudWatch may show them some minutes late: the
//!   window is the last 15 minutes, and the newest point of each series is taken.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};

use crate::aws::{AwsClients, AwsError};

/// Queries in one GetMetricData call (the API's limit).
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// How far back the newest data point is looked for.
const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The SQS metrics read, and the `Maximum` statistic of each (worst minute).
const AGE: &str = "ApproximateAgeOfOldestMessage";
const VISIBLE: &str = "ApproximateNumberOfMessagesVisible";

/// The latest values CloudWatch holds for one queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueReading {
    pub oldest_message_age_seconds: Option<f64>,
    pub messages_visible: Option<f64>,
}

/// The latest readings of each queue (by name) that has any.
pub async fn read(
    aws: &AwsClients,
    queue_names: &[String],
) -> Result<BTreeMap<String, QueueReading>, AwsError> {
    const OP: &str = "cloudwatch:GetMetricData";
    let mut readings: BTreeMap<String, QueueReading> = BTreeMap::new();
    // Whole minutes, as the API reference advises for performance ("align with the value of
    // the metric's Period"): the window ends at the start of the next minute.
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let end = (now / 60 + 1) * 60;
    let start = DateTime::from_secs((end - WINDOW.as_secs()) as i64);
    let end = DateTime::from_secs(end as i64);
    for batch in queue_names.chunks(MAX_QUERIES_PER_CALL / 2) {
        let mut queries = Vec::with_capacity(batch.len() * 2);
        for (i, name) in batch.iter().enumerate() {
            for (kind, metric) in [("age", AGE), ("visible", VISIBLE)] {
                queries.push(query(&format!("{kind}{i}"), name, metric));
            }
        }
        let mut pages = aws
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(start)
            .end_time(end)
            .scan_by(ScanBy::TimestampDescending)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws.error(OP))?;
            for result in page.metric_data_results() {
                let Some(id) = result.id() else { continue };
                let (kind, index) = id.split_at(id.find(|c: char| c.is_ascii_digit()).unwrap_or(0));
                let (Ok(index), Some(value)) = (index.parse::<usize>(), newest(result)) else {
                    continue;
                };
                let Some(name) = batch.get(index) else {
                    continue;
                };
                let reading = readings.entry(name.clone()).or_default();
                match kind {
                    "age" => reading.oldest_message_age_seconds = Some(value),
                    _ => reading.messages_visible = Some(value),
                }
            }
        }
    }
    Ok(readings)
}

fn query(id: &str, queue: &str, metric: &str) -> MetricDataQuery {
    let dimension = Dimension::builder().name("QueueName").value(queue).build();
    let metric = Metric::builder()
        .namespace("AWS/SQS")
        .metric_name(metric)
        .dimensions(dimension)
        .build();
    let stat = MetricStat::builder()
        .metric(metric)
        .period(60)
        .stat("Maximum")
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(stat)
        .return_data(true)
        .build()
}

/// The value at the newest timestamp of a result (the order is asked for, but not relied on).
fn newest(result: &aws_sdk_cloudwatch::types::MetricDataResult) -> Option<f64> {
    let points = result.timestamps().iter().zip(result.values());
    points.max_by(|a, b| a.0.cmp(b.0)).map(|(_, value)| *value)
}
