//! Writes to EventBridge Scheduler: the operator's schedule group (created once, with the
//! ownership tag) and the schedules of a [`SchedulePlan`]. A delete of a schedule already gone
//! succeeded.

use aws_sdk_scheduler::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, DeadLetterConfig,
    EcsParameters, FlexibleTimeWindow, FlexibleTimeWindowMode, NetworkConfiguration, RetryPolicy,
    ScheduleState, Tag, Target,
};

use crate::aws::{AwsClients, AwsError, ErrorKind};
use crate::domain::tags;
use crate::error::ReconcileError;
use crate::observe::schedules::ScheduleSpec;
use crate::plan::schedules::{ScheduleAction, SchedulePlan};

fn invalid(
    operation: &'static str,
) -> impl Fn(aws_smithy_types::error::operation::BuildError) -> AwsError {
    move |e| AwsError::local(operation, ErrorKind::Invalid, e.to_string())
}

/// Makes sure the group exists and is this operator's: created with the ownership tag when
/// missing; a group with another owner (or none) is refused, never used.
pub async fn ensure_group(
    aws: &AwsClients,
    group: &str,
    operator_id: &str,
) -> Result<(), ReconcileError> {
    let found = aws
        .scheduler
        .get_schedule_group()
        .name(group)
        .send()
        .await
        .map_err(aws.error("scheduler:GetScheduleGroup"));
    let arn = match found {
        Ok(out) => out.arn().unwrap_or_default().to_string(),
        Err(e) if e.is_not_found() => {
            let tag = Tag::builder()
                .key(tags::OWNER)
                .value(operator_id)
                .build()
                .map_err(invalid("scheduler:CreateScheduleGroup"))?;
            aws.scheduler
                .create_schedule_group()
                .name(group)
                .tags(tag)
                .send()
                .await
                .map_err(aws.error("scheduler:CreateScheduleGroup"))?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let listed = aws
        .scheduler
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(aws.error("scheduler:ListTagsForResource"))?;
    let owner = (listed.tags().iter())
        .find(|t| t.key() == tags::OWNER)
        .map(|t| t.value());
    if owner != Some(operator_id) {
        return Err(ReconcileError::Invalid(format!(
            "schedule group {group} is not this operator's (owner tag {owner:?}, expected {operator_id:?}): its schedules are never touched; name another group in settings.scheduler.groupName"
        )));
    }
    Ok(())
}

/// Sets every field of a schedule on a CreateSchedule or UpdateSchedule request: the two
/// builders are different types with the same setters, and must not drift apart.
macro_rules! whole_schedule {
    ($request:expr, $group:expr, $plan:expr, $token:expr, $spec:expr) => {
        $request
            .group_name($group)
            .name(&$plan.name)
            .client_token($token)
            .description(&$spec.description)
            .schedule_expression(&$spec.schedule_expression)
            .schedule_expression_timezone(&$spec.schedule_expression_timezone)
            .state(ScheduleState::from($spec.state.as_str()))
            .flexible_time_window(window()?)
            .target(target($spec)?)
    };
}

/// Applies one schedule's plan.
pub async fn apply(
    aws: &AwsClients,
    group: &str,
    plan: &SchedulePlan,
    client_token: &str,
) -> Result<(), ReconcileError> {
    match (&plan.action, &plan.desired) {
        (ScheduleAction::Create, Some(spec)) => {
            let request = aws.scheduler.create_schedule();
            whole_schedule!(request, group, plan, client_token, spec)
                .send()
                .await
                .map_err(aws.error("scheduler:CreateSchedule"))?;
        }
        (ScheduleAction::Update, Some(spec)) => {
            // UpdateSchedule replaces the whole schedule: everything is sent.
            let request = aws.scheduler.update_schedule();
            whole_schedule!(request, group, plan, client_token, spec)
                .send()
                .await
                .map_err(aws.error("scheduler:UpdateSchedule"))?;
        }
        (ScheduleAction::Delete, _) => {
            let result = aws
                .scheduler
                .delete_schedule()
                .group_name(group)
                .name(&plan.name)
                .send()
                .await
                .map_err(aws.error("scheduler:DeleteSchedule"));
            match result {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
        }
        _ => {}
    }
    Ok(())
}

fn window() -> Result<FlexibleTimeWindow, AwsError> {
    FlexibleTimeWindow::builder()
        .mode(FlexibleTimeWindowMode::Off)
        .build()
        .map_err(invalid("scheduler:CreateSchedule"))
}

/// The ECS RunTask target of a schedule.
fn target(spec: &ScheduleSpec) -> Result<Target, AwsError> {
    const OP: &str = "scheduler:CreateSchedule";
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(spec.subnets.clone()))
        .set_security_groups(
            (!spec.security_groups.is_empty()).then(|| spec.security_groups.clone()),
        )
        .assign_public_ip(if spec.assign_public_ip {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .map_err(invalid(OP))?;
    let strategy = (spec.capacity_provider_strategy.iter())
        .map(|c| {
            CapacityProviderStrategyItem::builder()
                .capacity_provider(&c.capacity_provider)
                .base(c.base)
                .weight(c.weight)
                .build()
                .map_err(invalid(OP))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ecs = EcsParameters::builder()
        .task_definition_arn(&spec.task_definition_arn)
        .task_count(1)
        .set_capacity_provider_strategy(Some(strategy))
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(vpc)
                .build(),
        )
        .group(&spec.task_group)
        .set_tags((!spec.task_tags.is_empty()).then(|| {
            vec![(spec.task_tags.iter())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()]
        }))
        .enable_ecs_managed_tags(spec.ecs_managed_tags)
        .build()
        .map_err(invalid(OP))?;
    let retry = RetryPolicy::builder()
        .maximum_retry_attempts(spec.maximum_retry_attempts)
        .maximum_event_age_in_seconds(spec.maximum_event_age_in_seconds)
        .build();
    Target::builder()
        .arn(&spec.cluster_arn)
        .role_arn(&spec.role_arn)
        .ecs_parameters(ecs)
        .input(&spec.input)
        .retry_policy(retry)
        .set_dead_letter_config(
            spec.dead_letter_queue_arn
                .as_ref()
                .map(|arn| DeadLetterConfig::builder().arn(arn).build()),
        )
        .build()
        .map_err(invalid(OP))
}
