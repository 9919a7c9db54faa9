//! The dashboard row of a queue worker (`spec.scaling.queue`): the messages waiting against
//! the backlog the running tasks are meant to hold, and the age of the oldest message against
//! the `QueueOldestMessageTooOld` threshold.

use super::panels::*;
use super::ServiceCtx;
use crate::render::monitoring::prometheus::queue::{MESSAGES_VISIBLE, OLDEST_MESSAGE_AGE};

/// Adds the "Queue" row when the service scales on a queue.
pub(super) fn queue_row(svc: &ServiceCtx, l: &mut Layout) {
    let Some(q) = &svc.m.spec.scaling.queue else {
        return;
    };
    l.row("Queue");
    let visible = svc.operator(MESSAGES_VISIBLE).text();
    let running = svc.operator("ecs_operator_service_running_tasks").text();
    l.place(
        timeseries(
            "Backlog",
            &format!(
                "Messages waiting in {} (CloudWatch, read by the operator once a minute) and what the running tasks are meant to hold ({} per task): Application Auto Scaling adds tasks while the backlog is above that.",
                q.queue_name(),
                q.backlog_per_task
            ),
            "short",
            &[
                Series {
                    expr: format!("max by (queue) ({visible})"),
                    legend: "waiting in {{queue}}",
                },
                Series {
                    expr: format!("max({running}) * {}", q.backlog_per_task),
                    legend: "target for the running tasks",
                },
            ],
            None,
        ),
        12,
        8,
    );
    let age = svc.operator(OLDEST_MESSAGE_AGE).text();
    l.place(
        timeseries(
            "Age of the oldest message",
            &format!(
                "How long the oldest message of {} has waited; red is where QueueOldestMessageTooOld fires ({}).",
                q.queue_name(),
                q.oldest_message_alert
            ),
            "s",
            &[Series {
                expr: format!("max by (queue) ({age})"),
                legend: "{{queue}}",
            }],
            Some(steps(&[
                ("green", None),
                ("red", Some(q.oldest_message_alert.as_secs_f64())),
            ])),
        ),
        12,
        8,
    );
}
