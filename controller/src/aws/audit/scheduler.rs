//! EventBridge Scheduler requests as IAM evaluates them (the schedules of `spec.jobs`).
//!
//! | operation | recorded (action on resource {condition keys}) |
//! | --- | --- |
//! | GetScheduleGroup, CreateScheduleGroup | on the group {aws:RequestTag, aws:TagKeys on create} |
//! | ListTagsForResource | scheduler:ListTagsForResource on the group |
//! | ListSchedules | scheduler:ListSchedules on `*` (no resource type) |
//! | GetSchedule, CreateSchedule, UpdateSchedule, DeleteSchedule | on `schedule/<group>/<name>`; create and update also iam:PassRole of the target's role {iam:PassedToService = scheduler.amazonaws.com} |

use aws_sdk_scheduler::operation as op;
use aws_smithy_runtime_api::client::interceptors::context::Input;

use super::{tag_map, Arns, Line, Planned};

fn schedule_arn(a: &Arns, group: Option<&str>, name: Option<&str>) -> String {
    a.regional(
        "scheduler",
        &format!(
            "schedule/{}/{}",
            group.unwrap_or("default"),
            name.unwrap_or_default()
        ),
    )
}

fn group_arn(a: &Arns, name: Option<&str>) -> String {
    a.regional(
        "scheduler",
        &format!("schedule-group/{}", name.unwrap_or_default()),
    )
}

fn pass_role(role: Option<&str>) -> Option<Line> {
    let role = role?;
    Some(Line::new("iam:PassRole", role).with("iam:PassedToService", "scheduler.amazonaws.com"))
}

pub(super) fn plan(input: &Input, a: &Arns) -> Option<Planned> {
    let lines = if let Some(i) =
        input.downcast_ref::<op::get_schedule_group::GetScheduleGroupInput>()
    {
        vec![Line::new(
            "scheduler:GetScheduleGroup",
            group_arn(a, i.name()),
        )]
    } else if let Some(i) =
        input.downcast_ref::<op::create_schedule_group::CreateScheduleGroupInput>()
    {
        let tags = tag_map(i.tags().iter().map(|t| (Some(t.key()), Some(t.value()))));
        vec![Line::new("scheduler:CreateScheduleGroup", group_arn(a, i.name())).request_tags(&tags)]
    } else if let Some(i) =
        input.downcast_ref::<op::list_tags_for_resource::ListTagsForResourceInput>()
    {
        vec![Line::new(
            "scheduler:ListTagsForResource",
            i.resource_arn().unwrap_or_default(),
        )]
    } else if input
        .downcast_ref::<op::list_schedules::ListSchedulesInput>()
        .is_some()
    {
        vec![Line::new("scheduler:ListSchedules", "*")]
    } else if let Some(i) = input.downcast_ref::<op::get_schedule::GetScheduleInput>() {
        vec![Line::new(
            "scheduler:GetSchedule",
            schedule_arn(a, i.group_name(), i.name()),
        )]
    } else if let Some(i) = input.downcast_ref::<op::create_schedule::CreateScheduleInput>() {
        let mut lines = vec![Line::new(
            "scheduler:CreateSchedule",
            schedule_arn(a, i.group_name(), i.name()),
        )];
        lines.extend(pass_role(i.target().map(|t| t.role_arn())));
        lines
    } else if let Some(i) = input.downcast_ref::<op::update_schedule::UpdateScheduleInput>() {
        let mut lines = vec![Line::new(
            "scheduler:UpdateSchedule",
            schedule_arn(a, i.group_name(), i.name()),
        )];
        lines.extend(pass_role(i.target().map(|t| t.role_arn())));
        lines
    } else if let Some(i) = input.downcast_ref::<op::delete_schedule::DeleteScheduleInput>() {
        vec![Line::new(
            "scheduler:DeleteSchedule",
            schedule_arn(a, i.group_name(), i.name()),
        )]
    } else {
        return None;
    };
    Some(Planned::lines(lines))
}
