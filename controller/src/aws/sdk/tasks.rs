//! ECS RunTask of a service's task definition with its network and capacity, the container's
//! command replaced: the pre-deploy task and `ecs-operator run-task`.

use aws_sdk_ecs::operation::run_task::builders::RunTaskFluentBuilder;
use aws_sdk_ecs::types::{ContainerOverride, TaskOverride};

use super::{capacity, ecs_tags, network, AwsError};
use crate::render::aws::DesiredService;

/// Who started a one-off task and why: ECS `startedBy` (at most 128 letters, digits, `-`, `_`
/// and `/`; ListTasks filters on it) and `group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOff {
    pub started_by: String,
    pub group: String,
}

/// RunTask of revision `task_definition_arn` of `d`'s family: one task, the service's
/// capacity provider strategy and awsvpc network, `command` as the app container's command,
/// the service's tags (the owner tag included) on the task.
pub fn run_task(
    ecs: &aws_sdk_ecs::Client,
    d: &DesiredService,
    task_definition_arn: &str,
    command: &[String],
    one_off: &OneOff,
) -> Result<RunTaskFluentBuilder, AwsError> {
    let overrides = TaskOverride::builder()
        .container_overrides(
            ContainerOverride::builder()
                .name(&d.task_definition.container.name)
                .set_command(Some(command.to_vec()))
                .build(),
        )
        .build();
    Ok(ecs
        .run_task()
        .cluster(&d.cluster)
        .task_definition(task_definition_arn)
        .count(1)
        .set_capacity_provider_strategy(Some(capacity(d)?))
        .network_configuration(network(d)?)
        .overrides(overrides)
        .started_by(&one_off.started_by)
        .group(&one_off.group)
        .enable_ecs_managed_tags(true)
        .set_tags(Some(ecs_tags(d))))
}
