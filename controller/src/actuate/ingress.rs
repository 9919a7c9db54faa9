//! The ELBv2 writes of `traffic.ingress`: the target group and listener rule of a service, and
//! the deletion of those nothing wants any more.
//!
//! # Guarantees
//! - Created resources carry the ownership tags (owner, manifest, team) in the create call
//!   itself: nothing the operator makes is ever untagged, even for a moment.
//! - A priority taken between observation and write (PriorityInUse) fails the service as a
//!   conflict; a target group still in use (ResourceInUse) waits for a later pass. Deletes of
//!   what is already gone succeed.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, HostHeaderConditionConfig, Matcher, PathPatternConditionConfig,
    ProtocolEnum, RuleCondition, RulePriorityPair, Tag, TargetGroupAttribute, TargetTypeEnum,
};

use super::aws::{Applied, Applier};
use crate::aws::{AwsError, ErrorKind};
use crate::domain::tags;
use crate::error::ReconcileError;
use crate::observe::ingress::attribute;
use crate::plan::Step;
use crate::render::aws::{DesiredIngress, DesiredService, TargetGroupAttributes};

/// The health check fields CreateTargetGroup and ModifyTargetGroup share (two builder types).
macro_rules! with_health_check {
    ($request:expr, $hc:expr) => {
        $request
            .health_check_path(&$hc.path)
            .health_check_interval_seconds($hc.interval_seconds)
            .health_check_timeout_seconds($hc.timeout_seconds)
            .healthy_threshold_count($hc.healthy_threshold)
            .unhealthy_threshold_count($hc.unhealthy_threshold)
            .matcher(Matcher::builder().http_code(&$hc.success_codes).build())
    };
}

/// ELBv2's defaults for a new target group: no attribute call is needed for these.
const DEFAULT_ATTRIBUTES: TargetGroupAttributes = TargetGroupAttributes {
    deregistration_delay_seconds: 300,
    stickiness_seconds: None,
};

fn invalid(e: impl std::fmt::Display) -> ReconcileError {
    ReconcileError::Invalid(e.to_string())
}

/// Owner, manifest and team: what the guards read (not the spec hash, which would go stale).
fn owned_tags(d: &DesiredService) -> Vec<Tag> {
    [tags::OWNER, tags::MANIFEST, tags::TEAM]
        .iter()
        .filter_map(|k| Some((*k, d.tags.get(*k)?)))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn conditions(want: &DesiredIngress) -> Vec<RuleCondition> {
    let mut out = Vec::new();
    if !want.rule.hosts.is_empty() {
        out.push(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(
                    HostHeaderConditionConfig::builder()
                        .set_values(Some(want.rule.hosts.clone()))
                        .build(),
                )
                .build(),
        );
    }
    if !want.rule.paths.is_empty() {
        out.push(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    PathPatternConditionConfig::builder()
                        .set_values(Some(want.rule.paths.clone()))
                        .build(),
                )
                .build(),
        );
    }
    out
}

fn forward(target_group_arn: &str) -> Vec<Action> {
    vec![Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(target_group_arn)
        .build()]
}

fn attributes(a: &TargetGroupAttributes) -> Vec<TargetGroupAttribute> {
    let pair = |k: &str, v: String| TargetGroupAttribute::builder().key(k).value(v).build();
    let mut out = vec![
        pair(
            attribute::DEREGISTRATION_DELAY,
            a.deregistration_delay_seconds.to_string(),
        ),
        pair(
            attribute::STICKINESS_ENABLED,
            a.stickiness_seconds.is_some().to_string(),
        ),
    ];
    if let Some(seconds) = a.stickiness_seconds {
        out.push(pair(attribute::STICKINESS_TYPE, "lb_cookie".into()));
        out.push(pair(attribute::LB_COOKIE_DURATION, seconds.to_string()));
    }
    out
}

/// The desired state with the target group `step` created in place of its placeholder, for
/// the steps after it.
pub(super) fn resolved_after(
    step: &Step,
    applied: &Applied,
    d: &DesiredService,
) -> Option<DesiredService> {
    match (step, &applied.target_group_arn) {
        (Step::CreateTargetGroup, Some(arn)) => Some(d.with_target_group(arn)),
        _ => None,
    }
}

/// A write ELBv2 refused because something has not happened yet.
fn in_use(e: AwsError, why: String) -> ReconcileError {
    if e.kind == ErrorKind::InUse {
        ReconcileError::NotYet {
            why,
            source: Box::new(e),
        }
    } else {
        e.into()
    }
}

impl Applier<'_> {
    /// One ELBv2 step of a manifest's plan.
    pub(super) async fn apply_ingress_step(
        &self,
        d: &DesiredService,
        step: &Step,
        applied: &mut Applied,
    ) -> Result<(), ReconcileError> {
        let Some(want) = &d.ingress else {
            return match step {
                Step::DeleteListenerRule { .. } | Step::DeleteTargetGroup { .. } => {
                    self.delete_ingress(step).await
                }
                _ => Err(invalid(format!("{}: no ingress is wanted", d.name))),
            };
        };
        let elbv2 = &self.aws.elbv2;
        let group_arn = || {
            applied
                .target_group_arn
                .clone()
                .ok_or_else(|| invalid(format!("{}: the target group's ARN is not known", d.name)))
        };
        match step {
            Step::CreateTargetGroup => {
                let t = &want.target_group;
                let hc = &t.health_check;
                let request = elbv2
                    .create_target_group()
                    .name(&t.name)
                    .protocol(ProtocolEnum::Http)
                    .port(t.port)
                    .vpc_id(&t.vpc_id)
                    .target_type(TargetTypeEnum::Ip)
                    .health_check_enabled(true);
                let out = with_health_check!(request, hc)
                    .set_tags(Some(owned_tags(d)))
                    .send()
                    .await
                    .map_err(self.aws.error("elasticloadbalancing:CreateTargetGroup"))?;
                let arn = (out.target_groups().first())
                    .and_then(|g| g.target_group_arn())
                    .ok_or_else(|| invalid("CreateTargetGroup returned no ARN"))?
                    .to_string();
                applied.target_group_arn = Some(arn.clone());
                if t.attributes != DEFAULT_ATTRIBUTES {
                    self.modify_attributes(&arn, &t.attributes).await?;
                }
            }
            Step::ModifyTargetGroup { arn } => {
                let hc = &want.target_group.health_check;
                let request = elbv2.modify_target_group().target_group_arn(arn);
                with_health_check!(request, hc)
                    .send()
                    .await
                    .map_err(self.aws.error("elasticloadbalancing:ModifyTargetGroup"))?;
            }
            Step::ModifyTargetGroupAttributes { arn } => {
                self.modify_attributes(arn, &want.target_group.attributes)
                    .await?;
            }
            Step::CreateListenerRule => {
                elbv2
                    .create_rule()
                    .listener_arn(&want.rule.listener_arn)
                    .priority(want.rule.priority)
                    .set_conditions(Some(conditions(want)))
                    .set_actions(Some(forward(&group_arn()?)))
                    .set_tags(Some(owned_tags(d)))
                    .send()
                    .await
                    .map_err(self.aws.error("elasticloadbalancing:CreateRule"))?;
            }
            Step::ModifyListenerRule { arn } => {
                elbv2
                    .modify_rule()
                    .rule_arn(arn)
                    .set_conditions(Some(conditions(want)))
                    .set_actions(Some(forward(&group_arn()?)))
                    .send()
                    .await
                    .map_err(self.aws.error("elasticloadbalancing:ModifyRule"))?;
            }
            Step::SetRulePriority { arn, priority } => {
                elbv2
                    .set_rule_priorities()
                    .rule_priorities(
                        RulePriorityPair::builder()
                            .rule_arn(arn)
                            .priority(*priority)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(self.aws.error("elasticloadbalancing:SetRulePriorities"))?;
            }
            other => return self.delete_ingress(other).await,
        }
        Ok(())
    }

    async fn modify_attributes(
        &self,
        arn: &str,
        want: &TargetGroupAttributes,
    ) -> Result<(), ReconcileError> {
        self.observer.ingress_attributes.forget(arn);
        self.aws
            .elbv2
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .set_attributes(Some(attributes(want)))
            .send()
            .await
            .map_err(
                self.aws
                    .error("elasticloadbalancing:ModifyTargetGroupAttributes"),
            )?;
        Ok(())
    }

    /// DeleteListenerRule and DeleteTargetGroup; "not found" means already done.
    pub(super) async fn delete_ingress(&self, step: &Step) -> Result<(), ReconcileError> {
        let elbv2 = &self.aws.elbv2;
        let result = match step {
            Step::DeleteListenerRule { arn } => elbv2
                .delete_rule()
                .rule_arn(arn)
                .send()
                .await
                .map(drop)
                .map_err(self.aws.error("elasticloadbalancing:DeleteRule")),
            Step::DeleteTargetGroup { arn } => {
                self.observer.ingress_attributes.forget(arn);
                elbv2
                    .delete_target_group()
                    .target_group_arn(arn)
                    .send()
                    .await
                    .map(drop)
                    .map_err(self.aws.error("elasticloadbalancing:DeleteTargetGroup"))
            }
            _ => Ok(()),
        };
        match result {
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(in_use(
                e,
                "the target group is still in use (a rule or an ECS service)".into(),
            )),
            Ok(()) => Ok(()),
        }
    }
}
