//! Starting and stopping one-off tasks: the pre-deploy task of a deployment
//! (`spec.preDeploy`), stopped when it runs past its timeout.

use serde::Serialize;

use super::aws::{Applied, Applier};
use crate::aws::sdk;
use crate::error::ReconcileError;
use crate::render::aws::DesiredService;

/// ECS `startedBy` of the pre-deploy task of a spec: a restarted operator finds a run it
/// started but did not record (ListTasks filters on it), so a spec never runs it twice.
pub fn pre_deploy_marker(spec_hash: &str) -> String {
    format!("ecs-operator-predeploy-{spec_hash}")
}

/// A one-off task started by an apply, and the revision it runs (which the service does not
/// run yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartedTask {
    pub task_arn: String,
    pub task_definition_arn: String,
}

impl Applier<'_> {
    /// The step RunPreDeploy: the task runs the revision the step before registered, while
    /// the service keeps the one it runs.
    pub(super) async fn run_pre_deploy(
        &self,
        d: &DesiredService,
        applied: &mut Applied,
    ) -> Result<(), ReconcileError> {
        let revision = applied.task_definition_arn.take().unwrap_or_default();
        applied.task_definition_arn = applied.running_revision.clone();
        applied.pre_deploy = Some(StartedTask {
            task_arn: self.start_pre_deploy(d, &revision).await?,
            task_definition_arn: revision,
        });
        Ok(())
    }

    /// RunTask of the pre-deploy task with `revision`; the task's ARN. A RunTask that starts
    /// nothing (its `failures`, e.g. no Fargate capacity) is an error naming ECS's reason.
    async fn start_pre_deploy(
        &self,
        d: &DesiredService,
        revision: &str,
    ) -> Result<String, ReconcileError> {
        let Some(task) = &d.pre_deploy else {
            return Err(ReconcileError::Invalid(format!(
                "{}: no pre-deploy task is wanted",
                d.name
            )));
        };
        let one_off = sdk::OneOff {
            started_by: pre_deploy_marker(&d.spec_hash),
            group: format!("pre-deploy:{}", d.name),
        };
        let out = sdk::run_task(&self.aws.ecs, d, revision, &task.command, &one_off)?
            .send()
            .await
            .map_err(self.aws.error("ecs:RunTask"))?;
        started(&out)
    }

    /// StopTask; a task already gone is stopped.
    pub(super) async fn stop_task(
        &self,
        d: &DesiredService,
        task_arn: &str,
    ) -> Result<(), ReconcileError> {
        let result = self
            .aws
            .ecs
            .stop_task()
            .cluster(&d.cluster)
            .task(task_arn)
            .reason("ecs-operator: the pre-deploy task ran past spec.preDeploy.timeout")
            .send()
            .await
            .map_err(self.aws.error("ecs:StopTask"));
        match result {
            Err(e) if !e.is_not_found() => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// The ARN of the task RunTask started, or its `failures` as an error.
pub fn started(
    out: &aws_sdk_ecs::operation::run_task::RunTaskOutput,
) -> Result<String, ReconcileError> {
    if let Some(arn) = out.tasks().first().and_then(|t| t.task_arn()) {
        return Ok(arn.to_string());
    }
    let reasons: Vec<String> = (out.failures().iter())
        .map(|f| match (f.reason(), f.detail()) {
            (Some(reason), Some(detail)) => format!("{reason} ({detail})"),
            (Some(reason), None) => reason.to_string(),
            _ => "no reason given".to_string(),
        })
        .collect();
    Err(ReconcileError::TaskNotStarted(if reasons.is_empty() {
        "RunTask answered without a task".into()
    } else {
        reasons.join("; ")
    }))
}
