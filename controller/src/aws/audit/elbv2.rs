//! ELBv2 requests (`traffic.ingress`) as IAM evaluates them.
//!
//! | operation | recorded (action on resource {condition keys}) |
//! | --- | --- |
//! | DescribeRules, DescribeTargetGroups, DescribeTags, DescribeTargetGroupAttributes | on `*` (no resource-level permissions); DescribeTags learns the tags of the resources it names |
//! | CreateTargetGroup | on the new target group {aws:RequestTag, aws:TagKeys}; with tags also elasticloadbalancing:AddTags on it {elasticloadbalancing:CreateAction, aws:RequestTag, aws:TagKeys} (tagging on create needs both) |
//! | CreateRule | on the listener {aws:RequestTag, aws:TagKeys, aws:ResourceTag}; with tags also AddTags on the new rule {elasticloadbalancing:CreateAction, ...} |
//! | ModifyTargetGroup, ModifyTargetGroupAttributes, DeleteTargetGroup | on the target group {aws:ResourceTag} |
//! | ModifyRule, SetRulePriorities, DeleteRule | on the rule {aws:ResourceTag} |

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::operation as op;
use aws_sdk_elasticloadbalancingv2::types::Tag;
use aws_smithy_runtime_api::client::interceptors::context::Input;

use super::{output, tag_map, Arns, Known, Line, Planned};

const PREFIX: &str = "elasticloadbalancing";

fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tag_map(tags.iter().map(|t| (t.key(), t.value())))
}

fn action(name: &str) -> String {
    format!("{PREFIX}:{name}")
}

/// A line on a resource the recorder knows the tags of, as far as it does.
fn on(k: &Known, name: &str, arn: &str) -> Line {
    Line::new(&action(name), arn).resource_tags(k.tags(arn))
}

/// AddTags on a resource just created with tags.
fn tag_on_create(arn: &str, create: &str, sent: &BTreeMap<String, String>) -> Line {
    Line::new(&action("AddTags"), arn)
        .with("elasticloadbalancing:CreateAction", create)
        .request_tags(sent)
}

pub(super) fn plan(input: &Input, a: &Arns, k: &Known) -> Option<Planned> {
    if input
        .downcast_ref::<op::describe_rules::DescribeRulesInput>()
        .is_some()
    {
        return Some(Planned::lines(vec![Line::new(
            &action("DescribeRules"),
            "*",
        )]));
    }
    if (input.downcast_ref::<op::describe_target_groups::DescribeTargetGroupsInput>()).is_some() {
        return Some(Planned::lines(vec![Line::new(
            &action("DescribeTargetGroups"),
            "*",
        )]));
    }
    if (input
        .downcast_ref::<op::describe_target_group_attributes::DescribeTargetGroupAttributesInput>())
    .is_some()
    {
        return Some(Planned::lines(vec![Line::new(
            &action("DescribeTargetGroupAttributes"),
            "*",
        )]));
    }
    if input
        .downcast_ref::<op::describe_tags::DescribeTagsInput>()
        .is_some()
    {
        let line = Line::new(&action("DescribeTags"), "*");
        return Some(Planned::then(vec![line], |out, _, k| {
            use op::describe_tags::DescribeTagsOutput as Out;
            for d in output::<Out>(out).map_or(&[][..], |o| o.tag_descriptions()) {
                if let Some(arn) = d.resource_arn() {
                    k.set_tags(arn, tags_of(d.tags()));
                }
            }
            Vec::new()
        }));
    }
    if let Some(i) = input.downcast_ref::<op::create_target_group::CreateTargetGroupInput>() {
        let sent = tags_of(i.tags());
        let name = i.name().unwrap_or_default().to_string();
        return Some(Planned::then(Vec::new(), move |out, a, k| {
            use op::create_target_group::CreateTargetGroupOutput as Out;
            // The ARN is AWS's to assign; a failed create is recorded on its name.
            let arn = output::<Out>(out)
                .and_then(|o| o.target_groups().first())
                .and_then(|g| g.target_group_arn())
                .map_or_else(
                    || a.regional(PREFIX, &format!("targetgroup/{name}/0")),
                    str::to_string,
                );
            let mut lines = vec![Line::new(&action("CreateTargetGroup"), &arn).request_tags(&sent)];
            if !sent.is_empty() {
                lines.push(tag_on_create(&arn, "CreateTargetGroup", &sent));
            }
            k.set_tags(&arn, sent);
            lines
        }));
    }
    if let Some(i) = input.downcast_ref::<op::create_rule::CreateRuleInput>() {
        let sent = tags_of(i.tags());
        let listener = i.listener_arn().unwrap_or_default();
        let create = on(k, "CreateRule", listener).request_tags(&sent);
        return Some(Planned::then(vec![create], move |out, _, k| {
            use op::create_rule::CreateRuleOutput as Out;
            let Some(arn) = output::<Out>(out)
                .and_then(|o| o.rules().first())
                .and_then(|r| r.rule_arn())
                .map(str::to_string)
            else {
                return Vec::new();
            };
            let lines = if sent.is_empty() {
                Vec::new()
            } else {
                vec![tag_on_create(&arn, "CreateRule", &sent)]
            };
            k.set_tags(&arn, sent);
            lines
        }));
    }
    if let Some(i) = input.downcast_ref::<op::modify_target_group::ModifyTargetGroupInput>() {
        let arn = i.target_group_arn().unwrap_or_default();
        return Some(Planned::lines(vec![on(k, "ModifyTargetGroup", arn)]));
    }
    if let Some(i) =
        input.downcast_ref::<op::modify_target_group_attributes::ModifyTargetGroupAttributesInput>()
    {
        let arn = i.target_group_arn().unwrap_or_default();
        return Some(Planned::lines(vec![on(
            k,
            "ModifyTargetGroupAttributes",
            arn,
        )]));
    }
    if let Some(i) = input.downcast_ref::<op::delete_target_group::DeleteTargetGroupInput>() {
        let arn = i.target_group_arn().unwrap_or_default().to_string();
        let line = on(k, "DeleteTargetGroup", &arn);
        return Some(forgetting(line, arn));
    }
    if let Some(i) = input.downcast_ref::<op::modify_rule::ModifyRuleInput>() {
        let arn = i.rule_arn().unwrap_or_default();
        return Some(Planned::lines(vec![on(k, "ModifyRule", arn)]));
    }
    if let Some(i) = input.downcast_ref::<op::set_rule_priorities::SetRulePrioritiesInput>() {
        let lines = (i.rule_priorities().iter())
            .filter_map(|p| p.rule_arn())
            .map(|arn| on(k, "SetRulePriorities", arn))
            .collect();
        return Some(Planned::lines(lines));
    }
    if let Some(i) = input.downcast_ref::<op::delete_rule::DeleteRuleInput>() {
        let arn = i.rule_arn().unwrap_or_default().to_string();
        let line = on(k, "DeleteRule", &arn);
        return Some(forgetting(line, arn));
    }
    let _ = a;
    None
}

/// A delete: once it succeeded the recorder forgets the resource's tags.
fn forgetting(line: Line, arn: String) -> Planned {
    Planned::then(vec![line], move |out, _, k| {
        if out.is_some() {
            k.forget(&arn);
        }
        Vec::new()
    })
}
