//! One-off tasks the operator starts (pre-deploy tasks, `ecs-operator run-task`) read back:
//! where a task is and, once stopped, the app container's exit code and ECS's stop reason.

use serde::{Deserialize, Serialize};

use crate::aws::{AwsClients, AwsError};
use crate::render::aws::CONTAINER_NAME;

/// How a task ended, as ECS reports it: the app container's exit code (none when it never
/// ran or was never seen to exit), `stopCode` and `stoppedReason`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskExit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
}

impl TaskExit {
    /// ECS's words for the stop: `CODE: reason`, either alone, or empty.
    pub fn why(&self) -> String {
        match (&self.stop_code, &self.stopped_reason) {
            (Some(code), Some(reason)) => format!("{code}: {reason}"),
            (Some(code), None) => code.clone(),
            (None, Some(reason)) => reason.clone(),
            (None, None) => String::new(),
        }
    }
}

/// What ECS says about one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRun {
    pub arn: String,
    pub task_definition_arn: String,
    /// ECS `lastStatus` is `STOPPED`.
    pub stopped: bool,
    /// Once stopped: the exit code, stop code and reason.
    pub exit: TaskExit,
    /// Unix seconds of ECS `createdAt` / `stoppedAt`.
    pub created_at: Option<u64>,
    pub stopped_at: Option<u64>,
    /// ECS `startedBy` and `group`.
    pub started_by: Option<String>,
    pub group: Option<String>,
}

impl TaskRun {
    pub fn of(task: &aws_sdk_ecs::types::Task) -> Self {
        let app = (task.containers().iter())
            .find(|c| c.name() == Some(CONTAINER_NAME))
            .or_else(|| task.containers().first());
        let secs = |t: Option<&aws_smithy_types::DateTime>| {
            t.map(|t| t.secs()).filter(|s| *s >= 0).map(|s| s as u64)
        };
        TaskRun {
            arn: task.task_arn().unwrap_or_default().to_string(),
            task_definition_arn: task.task_definition_arn().unwrap_or_default().to_string(),
            stopped: task.last_status() == Some("STOPPED"),
            exit: TaskExit {
                exit_code: app.and_then(|c| c.exit_code()),
                stop_code: task.stop_code().map(|c| c.as_str().to_string()),
                stopped_reason: task.stopped_reason().map(str::to_string),
            },
            created_at: secs(task.created_at()),
            stopped_at: secs(task.stopped_at()),
            started_by: task.started_by().map(str::to_string),
            group: task.group().map(str::to_string),
        }
    }

    /// The task ID, the last part of its ARN (`.../task/<cluster>/<id>`).
    pub fn id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or(&self.arn)
    }
}

/// DescribeTasks of at most 100 tasks (the API's limit) in one cluster; tasks ECS no longer
/// knows (stopped tasks are kept for about an hour) are missing from the answer.
pub async fn describe(
    aws: &AwsClients,
    cluster: &str,
    arns: &[String],
) -> Result<Vec<TaskRun>, AwsError> {
    let mut runs = Vec::new();
    for batch in arns.chunks(100) {
        let out = aws
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(batch.to_vec()))
            .send()
            .await
            .map_err(aws.error("ecs:DescribeTasks"))?;
        runs.extend(out.tasks().iter().map(TaskRun::of));
    }
    Ok(runs)
}

/// The tasks ECS lists as started by `started_by` in `cluster`, running and stopped (ListTasks
/// answers one desired status at a time).
pub async fn started_by(
    aws: &AwsClients,
    cluster: &str,
    started_by: &str,
) -> Result<Vec<String>, AwsError> {
    use aws_sdk_ecs::types::DesiredStatus;
    let mut arns = Vec::new();
    for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
        let mut pages = aws
            .ecs
            .list_tasks()
            .cluster(cluster)
            .started_by(started_by)
            .desired_status(status)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws.error("ecs:ListTasks"))?;
            arns.extend(page.task_arns().iter().cloned());
        }
    }
    Ok(arns)
}
