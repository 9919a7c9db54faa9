//! The built-in alert of a queue worker (`spec.scaling.queue`), on the operator's gauge of its
//! queue (`controller::queue_metrics`): the oldest message has waited too long, so the
//! workers fall behind (too few tasks, `maxTasks` reached, or failing messages coming back).

use super::rules::{text, Rule};
use super::ServiceCtx;
use crate::domain::BuiltinAlert;
use crate::duration::PromDuration;
use crate::manifest::Severity;

/// The operator's gauge of the oldest message's age (the alert's input).
pub const OLDEST_MESSAGE_AGE: &str = "ecs_operator_queue_oldest_message_age_seconds";
/// The operator's gauge of the messages waiting.
pub const MESSAGES_VISIBLE: &str = "ecs_operator_queue_messages_visible";

/// The alert of the service's queue (none without `spec.scaling.queue`).
pub(super) fn queue_alerts(svc: &ServiceCtx) -> Vec<Rule> {
    let scaling = &svc.m.spec.scaling;
    let Some(q) = &scaling.queue else {
        return Vec::new();
    };
    let name = svc.name;
    let limit = q.oldest_message_alert;
    let age = svc.operator(OLDEST_MESSAGE_AGE).text();
    // The age is itself a duration: no `for` unless the settings ask for one.
    let no_for = PromDuration::from_secs(0);
    vec![svc.alert(
        BuiltinAlert::QueueOldestMessageTooOld.as_str(),
        format!("max by (queue) ({age}) > {}", limit.as_secs_f64()),
        Some(svc.builtin_for(BuiltinAlert::QueueOldestMessageTooOld, no_for)),
        Severity::Warning,
        text(
            "The oldest message in {{ $labels.queue }} has waited {{ $value | humanizeDuration }}".to_string(),
            format!(
                "The oldest message of {name}'s queue {{{{ $labels.queue }}}} has waited longer than {limit}: the workers fall behind (the service is at maxTasks {}, tasks fail to start, or messages fail and come back). The dashboard's queue row shows the backlog.",
                scaling.max_tasks
            ),
        ),
    )]
}
