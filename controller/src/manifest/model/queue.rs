//! `spec.scaling.queue`: a worker service scaled on the backlog of the SQS queue it consumes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::PromDuration;

/// Scale the service on its SQS queue: Application Auto Scaling keeps the messages waiting per
/// running task near `backlogPerTask` (target tracking on CloudWatch metric math, AWS's
/// documented "backlog per task" pattern), scaling to `minTasks` (which may be 0) when the
/// queue is empty and out again from zero when messages arrive. Needs Container Insights on
/// the cluster (the running task count comes from `ECS/ContainerInsights`). Adds a built-in
/// alert on the age of the oldest message and a dashboard row; `ecs-operator task-policy`
/// prints the consumer permissions the task role needs on the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueScaling {
    /// The queue's ARN, `arn:aws:sqs:<region>:<account>:<name>` (standard or `.fifo`), in the
    /// operator's account and region: CloudWatch reports queue metrics there.
    pub queue_arn: String,
    /// Acceptable messages waiting per running task: how long a message may wait divided by
    /// how long a task takes for one (e.g. 60 s / 0.5 s = 120).
    pub backlog_per_task: f64,
    /// The built-in `QueueOldestMessageTooOld` alert fires when the oldest message has waited
    /// longer than this (1m to 14d; default 15m).
    #[serde(default = "default_oldest_message_alert")]
    pub oldest_message_alert: PromDuration,
}

fn default_oldest_message_alert() -> PromDuration {
    PromDuration::from_secs(15 * 60)
}

/// The parts of an SQS queue ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueArn<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub name: &'a str,
}

impl QueueScaling {
    /// The ARN's parts, when it is an SQS queue ARN.
    pub fn arn(&self) -> Option<QueueArn<'_>> {
        match self.queue_arn.splitn(6, ':').collect::<Vec<_>>()[..] {
            ["arn", partition, "sqs", region, account, name]
                if !partition.is_empty() && !region.is_empty() =>
            {
                Some(QueueArn {
                    partition,
                    region,
                    account,
                    name,
                })
            }
            _ => None,
        }
    }

    /// The queue's name: the `QueueName` dimension of its CloudWatch metrics.
    pub fn queue_name(&self) -> &str {
        self.arn().map_or("", |a| a.name)
    }
}
