//! ELBv2 reads for `traffic.ingress`: the rules of the platform's listener, the operator's
//! target groups, their tags and attributes.
//!
//! | read | calls |
//! | --- | --- |
//! | rules of the listener | DescribeRules, 400 a page (its maximum) |
//! | target groups | DescribeTargetGroups, 400 a page; only names with the operator's prefix are kept |
//! | tags | DescribeTags, 20 ARNs a call (its maximum): the kept target groups, and the rules that forward to one of them or hold a priority a manifest wants |
//! | attributes | DescribeTargetGroupAttributes, one call per owned target group, remembered between sweeps ([`AttributeMemory`]) |
//!
//! # Guarantees
//! - A write is never planned on a remembered read: remembered attributes stand in only while
//!   they equal what the manifest wants; otherwise the group is read again.
//! - Ownership comes from tags read in this pass, never from memory.
//!
//! # Caveats
//! - Attributes changed behind the operator's back are found by the next sweep (the scaling
//!   sweep interval), not by the next pass.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_elasticloadbalancingv2::types::{Rule, TargetGroup};

use crate::aws::{AwsClients, AwsError};
use crate::domain::tags;
use crate::render::aws::{TargetGroupAttributes, TargetGroupHealthCheck, TARGET_GROUP_PREFIX};

/// DescribeRules and DescribeTargetGroups return at most this many a page.
pub const PAGE_SIZE: i32 = 400;
/// DescribeTags takes at most this many resource ARNs.
pub const DESCRIBE_TAGS_BATCH: usize = 20;

/// ELBv2's attribute keys the operator manages.
pub mod attribute {
    pub const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";
    pub const STICKINESS_ENABLED: &str = "stickiness.enabled";
    pub const STICKINESS_TYPE: &str = "stickiness.type";
    pub const LB_COOKIE_DURATION: &str = "stickiness.lb_cookie.duration_seconds";
}

/// A non-default rule of the listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedRule {
    pub arn: String,
    pub priority: i32,
    /// Sorted.
    pub hosts: Vec<String>,
    /// Sorted.
    pub paths: Vec<String>,
    /// The target groups its forward action sends to.
    pub target_group_arns: Vec<String>,
    /// Read for rules that forward to one of the operator's target groups or hold a wanted
    /// priority; `None`: not read (not the operator's business).
    pub tags: Option<BTreeMap<String, String>>,
}

impl ObservedRule {
    pub fn owner(&self) -> Option<&str> {
        self.tags.as_ref()?.get(tags::OWNER).map(String::as_str)
    }

    pub fn manifest(&self) -> Option<&str> {
        self.tags.as_ref()?.get(tags::MANIFEST).map(String::as_str)
    }
}

/// A target group whose name has the operator's prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedTargetGroup {
    pub arn: String,
    pub name: String,
    pub health_check: TargetGroupHealthCheck,
    /// Read for owned groups only.
    pub attributes: Option<TargetGroupAttributes>,
    pub tags: BTreeMap<String, String>,
}

impl ObservedTargetGroup {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(tags::OWNER).map(String::as_str)
    }

    pub fn manifest(&self) -> Option<&str> {
        self.tags.get(tags::MANIFEST).map(String::as_str)
    }
}

/// What the listener and the operator's target groups look like.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedIngress {
    /// Whether the listener was read at all (settings name one).
    pub read: bool,
    pub rules: Vec<ObservedRule>,
    /// By name.
    pub target_groups: BTreeMap<String, ObservedTargetGroup>,
}

impl ObservedIngress {
    /// The rule holding `priority`, if any.
    pub fn rule_at(&self, priority: i32) -> Option<&ObservedRule> {
        self.rules.iter().find(|r| r.priority == priority)
    }
}

/// What an observation of the listener needs to know.
pub struct IngressScope<'a> {
    pub listener_arn: &'a str,
    pub operator_id: &'a str,
    /// Priorities the manifests want: the rules holding them are looked at closely.
    pub wanted_priorities: &'a BTreeSet<i32>,
    /// The attributes each wanted target group should have, by name.
    pub wanted_attributes: &'a BTreeMap<String, TargetGroupAttributes>,
    /// How long remembered attributes may stand in.
    pub sweep: Duration,
}

/// Target group attributes as last read, by ARN.
#[derive(Debug, Default)]
pub struct AttributeMemory {
    read: Mutex<HashMap<String, (Instant, TargetGroupAttributes)>>,
}

impl AttributeMemory {
    fn get(&self, arn: &str, sweep: Duration) -> Option<TargetGroupAttributes> {
        let read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        let (at, attributes) = read.get(arn)?;
        (at.elapsed() < sweep).then(|| attributes.clone())
    }

    fn put(&self, arn: &str, attributes: TargetGroupAttributes) {
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        if read.len() > 10_000 {
            read.clear();
        }
        read.insert(arn.to_string(), (Instant::now(), attributes));
    }

    /// Forgets a group (written or deleted): its next observation reads it.
    pub fn forget(&self, arn: &str) {
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.remove(arn);
    }
}

/// Reads the listener's rules and the operator's target groups.
pub async fn observe(
    aws: &AwsClients,
    scope: &IngressScope<'_>,
    memory: &AttributeMemory,
) -> Result<ObservedIngress, AwsError> {
    let mut groups = target_groups(aws).await?;
    let mut rules = rules(aws, scope.listener_arn).await?;
    let group_arns: BTreeSet<&str> = groups.values().map(|g| g.arn.as_str()).collect();
    let mut wanted_tags: Vec<String> = groups.values().map(|g| g.arn.clone()).collect();
    wanted_tags.extend(
        rules
            .iter()
            .filter(|r| {
                scope.wanted_priorities.contains(&r.priority)
                    || r.target_group_arns
                        .iter()
                        .any(|a| group_arns.contains(a.as_str()))
            })
            .map(|r| r.arn.clone()),
    );
    let mut found = describe_tags(aws, &wanted_tags).await?;
    for group in groups.values_mut() {
        group.tags = found.remove(&group.arn).unwrap_or_default();
    }
    for rule in &mut rules {
        rule.tags = found.remove(&rule.arn);
    }
    for group in groups.values_mut() {
        if group.owner() != Some(scope.operator_id) {
            continue;
        }
        let remembered = memory
            .get(&group.arn, scope.sweep)
            .filter(|have| scope.wanted_attributes.get(&group.name) == Some(have));
        group.attributes = Some(match remembered {
            Some(have) => have,
            None => {
                let fresh = attributes(aws, &group.arn).await?;
                memory.put(&group.arn, fresh.clone());
                fresh
            }
        });
    }
    Ok(ObservedIngress {
        read: true,
        rules,
        target_groups: groups,
    })
}

async fn target_groups(
    aws: &AwsClients,
) -> Result<BTreeMap<String, ObservedTargetGroup>, AwsError> {
    let mut found = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let page = aws
            .elbv2
            .describe_target_groups()
            .page_size(PAGE_SIZE)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(aws.error("elasticloadbalancing:DescribeTargetGroups"))?;
        for group in page.target_groups() {
            if let Some(g) = observed_group(group) {
                found.insert(g.name.clone(), g);
            }
        }
        match page.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_string()),
            _ => return Ok(found),
        }
    }
}

fn observed_group(g: &TargetGroup) -> Option<ObservedTargetGroup> {
    let name = g.target_group_name()?;
    if !name.starts_with(TARGET_GROUP_PREFIX) {
        return None;
    }
    Some(ObservedTargetGroup {
        arn: g.target_group_arn()?.to_string(),
        name: name.to_string(),
        health_check: TargetGroupHealthCheck {
            path: g.health_check_path().unwrap_or_default().to_string(),
            interval_seconds: g.health_check_interval_seconds().unwrap_or_default(),
            timeout_seconds: g.health_check_timeout_seconds().unwrap_or_default(),
            healthy_threshold: g.healthy_threshold_count().unwrap_or_default(),
            unhealthy_threshold: g.unhealthy_threshold_count().unwrap_or_default(),
            success_codes: (g.matcher())
                .and_then(|m| m.http_code())
                .unwrap_or_default()
                .to_string(),
        },
        attributes: None,
        tags: BTreeMap::new(),
    })
}

async fn rules(aws: &AwsClients, listener_arn: &str) -> Result<Vec<ObservedRule>, AwsError> {
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = aws
            .elbv2
            .describe_rules()
            .listener_arn(listener_arn)
            .page_size(PAGE_SIZE)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(aws.error("elasticloadbalancing:DescribeRules"))?;
        found.extend(page.rules().iter().filter_map(observed_rule));
        match page.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_string()),
            _ => return Ok(found),
        }
    }
}

/// A rule in render's terms; the default rule (priority `default`) is never the operator's.
fn observed_rule(r: &Rule) -> Option<ObservedRule> {
    let priority: i32 = r.priority()?.parse().ok()?;
    let mut hosts = Vec::new();
    let mut paths = Vec::new();
    for c in r.conditions() {
        // The values are in the typed config, or (older clients) in `Values`.
        let typed_hosts = c.host_header_config().map(|h| h.values().to_vec());
        let typed_paths = c.path_pattern_config().map(|p| p.values().to_vec());
        match c.field() {
            Some("host-header") => hosts.extend(typed_hosts.unwrap_or_else(|| c.values().to_vec())),
            Some("path-pattern") => {
                paths.extend(typed_paths.unwrap_or_else(|| c.values().to_vec()))
            }
            _ => {}
        }
    }
    hosts.sort();
    hosts.dedup();
    paths.sort();
    paths.dedup();
    let mut target_group_arns: Vec<String> = Vec::new();
    for action in r.actions() {
        target_group_arns.extend(action.target_group_arn().map(str::to_string));
        let forwarded = (action.forward_config().into_iter())
            .flat_map(|f| f.target_groups())
            .filter_map(|t| t.target_group_arn().map(str::to_string));
        target_group_arns.extend(forwarded);
    }
    target_group_arns.sort();
    target_group_arns.dedup();
    Some(ObservedRule {
        arn: r.rule_arn()?.to_string(),
        priority,
        hosts,
        paths,
        target_group_arns,
        tags: None,
    })
}

/// Tags of `arns`, 20 a call.
async fn describe_tags(
    aws: &AwsClients,
    arns: &[String],
) -> Result<HashMap<String, BTreeMap<String, String>>, AwsError> {
    let mut found = HashMap::new();
    for batch in arns.chunks(DESCRIBE_TAGS_BATCH) {
        let out = aws
            .elbv2
            .describe_tags()
            .set_resource_arns(Some(batch.to_vec()))
            .send()
            .await
            .map_err(aws.error("elasticloadbalancing:DescribeTags"))?;
        for d in out.tag_descriptions() {
            let Some(arn) = d.resource_arn() else {
                continue;
            };
            let tags = (d.tags().iter())
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect();
            found.insert(arn.to_string(), tags);
        }
    }
    Ok(found)
}

async fn attributes(aws: &AwsClients, arn: &str) -> Result<TargetGroupAttributes, AwsError> {
    let out = aws
        .elbv2
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(aws.error("elasticloadbalancing:DescribeTargetGroupAttributes"))?;
    let by_key: HashMap<&str, &str> = (out.attributes().iter())
        .filter_map(|a| Some((a.key()?, a.value()?)))
        .collect();
    let number = |key: &str| by_key.get(key).and_then(|v| v.parse::<i32>().ok());
    let sticky = by_key.get(attribute::STICKINESS_ENABLED) == Some(&"true")
        && by_key
            .get(attribute::STICKINESS_TYPE)
            .is_none_or(|t| *t == "lb_cookie");
    Ok(TargetGroupAttributes {
        // AWS's default when absent.
        deregistration_delay_seconds: number(attribute::DEREGISTRATION_DELAY).unwrap_or(300),
        stickiness_seconds: sticky.then(|| number(attribute::LB_COOKIE_DURATION).unwrap_or(86_400)),
    })
}
