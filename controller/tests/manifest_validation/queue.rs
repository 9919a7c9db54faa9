//! Queue workers (`spec.scaling.queue`) and `minTasks: 0`: each case breaks one rule and names
//! the field and line it must be reported at.

use super::*;

/// Lines 13 `scaling:`, 14 minTasks, 15 maxTasks, 16 `queue:`, 17 queueArn, 18 backlogPerTask,
/// 19 oldestMessageAlert.
fn queue(min: u32, arn: &str, backlog: &str, age: &str) -> String {
    with_spec(&format!(
        "  scaling:\n    minTasks: {min}\n    maxTasks: 5\n    queue:\n      queueArn: {arn}\n      backlogPerTask: {backlog}\n      oldestMessageAlert: {age}\n"
    ))
}

const ARN: &str = "arn:aws:sqs:eu-central-1:123456789012:orders";

#[test]
fn a_queue_worker_may_scale_to_zero() {
    assert!(load(&queue(0, ARN, "100", "15m")).rejected.is_empty());
    let fifo = "arn:aws:sqs:eu-central-1:123456789012:orders_v2.fifo";
    assert!(load(&queue(1, fifo, "0.5", "14d")).rejected.is_empty());
}

#[test]
fn min_tasks_zero_without_a_queue_is_rejected_at_min_tasks() {
    let text =
        with_spec("  scaling:\n    minTasks: 0\n    maxTasks: 3\n    targetCpuPercent: 60\n");
    assert_error(
        &text,
        "spec.scaling.minTasks",
        14,
        "needs spec.scaling.queue",
    );
}

#[test]
fn queue_mistakes_are_reported_at_their_field_and_line() {
    let not_sqs = "arn:aws:sns:eu-central-1:123456789012:orders";
    assert_error(
        &queue(0, not_sqs, "100", "15m"),
        "spec.scaling.queue.queueArn",
        17,
        "is not an SQS queue ARN",
    );
    let long = format!("arn:aws:sqs:eu-central-1:123456789012:{}", "q".repeat(81));
    assert_error(
        &queue(0, &long, "100", "15m"),
        "spec.scaling.queue.queueArn",
        17,
        "at most 80",
    );
    let short_account = "arn:aws:sqs:eu-central-1:1234:orders";
    assert_error(
        &queue(0, short_account, "100", "15m"),
        "spec.scaling.queue.queueArn",
        17,
        "12-digit account",
    );
    assert_error(
        &queue(0, ARN, "0", "15m"),
        "spec.scaling.queue.backlogPerTask",
        18,
        "positive",
    );
    assert_error(
        &queue(0, ARN, "100", "30s"),
        "spec.scaling.queue.oldestMessageAlert",
        19,
        "between 1m",
    );
    assert_error(
        &queue(0, ARN, "100", "15d"),
        "spec.scaling.queue.oldestMessageAlert",
        19,
        "14d",
    );
}

#[test]
fn a_queue_needs_room_to_scale() {
    let text = with_spec(&format!(
        "  scaling:\n    minTasks: 2\n    maxTasks: 2\n    queue: {{queueArn: '{ARN}', backlogPerTask: 10}}\n"
    ));
    assert_error(&text, "spec.scaling.queue", 16, "above minTasks");
}
