//! SQS requests as IAM evaluates them (the events queue of `ecs-operator run`).
//!
//! | operation | recorded (action on resource) |
//! | --- | --- |
//! | ReceiveMessage | sqs:ReceiveMessage on the queue |
//! | DeleteMessage, DeleteMessageBatch | sqs:DeleteMessage on the queue (a batch is authorized as its action) |
//!
//! The queue's ARN comes from its URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`,
//! or an emulator's `http://host/<account>/<name>`): the account and name are the last two
//! path segments; the region is the URL's, else the clients'.

use aws_sdk_sqs::operation as op;
use aws_smithy_runtime_api::client::interceptors::context::Input;

use super::{Arns, Line, Planned};

/// The ARN of the queue at `url`.
pub(super) fn queue_arn(a: &Arns, url: &str) -> String {
    let mut segments = url.trim_end_matches('/').rsplit('/');
    let name = segments.next().unwrap_or_default();
    let account = segments.next().unwrap_or(&a.account);
    let region = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|host| host.strip_prefix("sqs."))
        .and_then(|host| host.split('.').next())
        .unwrap_or(&a.region);
    format!("arn:{}:sqs:{region}:{account}:{name}", a.partition)
}

pub(super) fn plan(input: &Input, a: &Arns) -> Option<Planned> {
    let (action, url) =
        if let Some(i) = input.downcast_ref::<op::receive_message::ReceiveMessageInput>() {
            ("sqs:ReceiveMessage", i.queue_url())
        } else if let Some(i) = input.downcast_ref::<op::delete_message::DeleteMessageInput>() {
            ("sqs:DeleteMessage", i.queue_url())
        } else if let Some(i) =
            input.downcast_ref::<op::delete_message_batch::DeleteMessageBatchInput>()
        {
            ("sqs:DeleteMessage", i.queue_url())
        } else {
            return None;
        };
    let line = Line::new(action, queue_arn(a, url.unwrap_or_default()));
    Some(Planned::lines(vec![line]))
}
