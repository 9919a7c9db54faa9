//! Checks of `spec.scaling.queue` and of `minTasks: 0`, which only a queue worker may use.
//!
//! Limits from the API references: an SQS queue name is 1-80 characters of letters, digits,
//! `-` and `_`, a FIFO queue's ending in `.fifo` (CreateQueue, QueueName); an account id is 12
//! digits; a message is kept at most 14 days (MessageRetentionPeriod 1,209,600 s), so an older
//! message cannot exist; SQS sends its CloudWatch metrics once a minute.

use super::Checker;
use crate::manifest::model::{QueueScaling, Scaling};

/// The longest a message can wait in SQS (its maximum retention period).
const MAX_MESSAGE_AGE_SECS: u64 = 1_209_600;

/// `name` as SQS's CreateQueue accepts it.
pub fn is_queue_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    !base.is_empty()
        && name.len() <= 80
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub(super) fn check_queue_scaling(c: &mut Checker, s: &Scaling) {
    let Some(q) = &s.queue else {
        c.check(s.min_tasks > 0, "spec.scaling.minTasks", || {
            "0 needs spec.scaling.queue: only a queue worker can scale out from zero tasks (an idle queue scales it in; a message wakes it)".into()
        });
        return;
    };
    check_queue(c, q);
    c.check(s.max_tasks > s.min_tasks, "spec.scaling.queue", || {
        format!(
            "needs maxTasks ({}) above minTasks ({}): nothing scales otherwise",
            s.max_tasks, s.min_tasks
        )
    });
}

fn check_queue(c: &mut Checker, q: &QueueScaling) {
    let arn = q.arn();
    c.check(
        arn.as_ref().is_some_and(|a| {
            a.account.len() == 12
                && a.account.chars().all(|ch| ch.is_ascii_digit())
                && is_queue_name(a.name)
        }),
        "spec.scaling.queue.queueArn",
        || {
            format!(
                "{:?} is not an SQS queue ARN (arn:aws:sqs:<region>:<12-digit account>:<name of at most 80 letters, digits, - or _, FIFO ending in .fifo>)",
                q.queue_arn
            )
        },
    );
    c.check(
        q.backlog_per_task.is_finite() && q.backlog_per_task > 0.0,
        "spec.scaling.queue.backlogPerTask",
        || {
            format!(
                "{} must be a positive number of messages per task",
                q.backlog_per_task
            )
        },
    );
    let age = q.oldest_message_alert;
    c.check(
        age.as_millis() >= 60_000 && age.as_millis() <= MAX_MESSAGE_AGE_SECS * 1000,
        "spec.scaling.queue.oldestMessageAlert",
        || {
            format!("{age} must be between 1m (SQS reports the age once a minute) and 14d (SQS keeps no message longer)")
        },
    );
}

#[cfg(test)]
mod tests {
    use super::is_queue_name;

    #[test]
    fn queue_names_follow_create_queue() {
        assert!(is_queue_name("orders"));
        assert!(is_queue_name("orders_v2-eu.fifo"));
        assert!(is_queue_name(&"a".repeat(80)));
        assert!(!is_queue_name(&"a".repeat(81)));
        assert!(!is_queue_name(".fifo"));
        assert!(!is_queue_name("orders.v2"));
        assert!(!is_queue_name(""));
    }
}
