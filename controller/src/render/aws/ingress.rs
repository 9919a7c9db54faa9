//! `traffic.ingress` rendered: the target group and the listener rule the operator owns, and
//! the service's URL.
//!
//! The target group's ARN is AWS's to assign, so the rendered service refers to it by a
//! placeholder ([`target_group_placeholder`]) that the planner replaces with the observed ARN
//! and the actuator with the created one ([`DesiredService::with_target_group`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DesiredService;
use crate::manifest::{Container, Ingress};
use crate::settings::IngressSettings;

/// ELBv2's limit on target group names (CreateTargetGroup: at most 32 alphanumeric characters
/// or hyphens, not beginning or ending with a hyphen).
pub const TARGET_GROUP_NAME_MAX: usize = 32;
/// Every target group the operator names starts with this, so the observer looks at the tags
/// of these only.
pub const TARGET_GROUP_PREFIX: &str = "eo-";
/// The range derived listener rule priorities fall in (ELBv2 allows 1-50000); the numbers
/// below are left to rules people set by hand.
pub const DERIVED_PRIORITY: std::ops::RangeInclusive<u32> = 10_000..=50_000;

/// Everything one manifest's ingress asks for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredIngress {
    pub target_group: DesiredTargetGroup,
    pub rule: DesiredRule,
    /// Where people reach the service (status shows it).
    pub url: String,
    /// The load balancer of the listener (the label of `requestsPerTarget` scaling).
    pub load_balancer_arn: String,
}

/// A target group of type `ip` (awsvpc tasks).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredTargetGroup {
    pub name: String,
    /// The container port (ECS registers each task with it).
    pub port: i32,
    pub vpc_id: String,
    pub health_check: TargetGroupHealthCheck,
    pub attributes: TargetGroupAttributes,
}

/// The health check fields of CreateTargetGroup / ModifyTargetGroup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupHealthCheck {
    pub path: String,
    pub interval_seconds: i32,
    pub timeout_seconds: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    /// `Matcher.HttpCode`.
    pub success_codes: String,
}

/// The attributes the operator manages (ModifyTargetGroupAttributes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupAttributes {
    /// `deregistration_delay.timeout_seconds`.
    pub deregistration_delay_seconds: i32,
    /// `stickiness.lb_cookie.duration_seconds` with `stickiness.enabled`; `None`: off.
    pub stickiness_seconds: Option<i32>,
}

/// A listener rule forwarding to the target group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredRule {
    pub listener_arn: String,
    /// Written in the manifest, or [`derived_priority`] until the plan resolves it
    /// (`plan::priorities`).
    pub priority: i32,
    /// No priority was written: an existing rule keeps the one it has and a new rule takes the
    /// derived one or the next free after it. Not part of the spec hash.
    #[serde(skip)]
    pub derived: bool,
    /// Sorted: the order of a condition's values means nothing.
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
}

/// `app/<lb>/<id>/targetgroup/<tg>/<id>`: the label ALBRequestCountPerTarget needs.
pub(super) fn alb_resource_label(lb_arn: &str, tg_arn: &str) -> String {
    let lb = lb_arn
        .split_once(":loadbalancer/")
        .map(|x| x.1)
        .unwrap_or(lb_arn);
    let tg = tg_arn
        .split_once(":targetgroup/")
        .map(|x| x.1)
        .unwrap_or(tg_arn);
    format!("{lb}/targetgroup/{tg}")
}

/// What the rendered service holds where the target group's ARN goes, until it is known.
pub fn target_group_placeholder(name: &str) -> String {
    format!("(target group {name})")
}

/// `eo-<name, shortened>-<8 hex digits>`: stable for an operator, cluster and service, unique
/// in the account, and within ELBv2's 32 characters.
pub fn target_group_name(operator_id: &str, cluster: &str, service: &str) -> String {
    let digest = Sha256::digest(format!("{operator_id}/{cluster}/{service}").as_bytes());
    let hash = hex::encode(&digest[..4]);
    let room = TARGET_GROUP_NAME_MAX - TARGET_GROUP_PREFIX.len() - 1 - hash.len();
    let short: String = service.chars().take(room).collect();
    format!(
        "{TARGET_GROUP_PREFIX}{}-{hash}",
        short.trim_end_matches('-')
    )
}

/// A stable priority in [`DERIVED_PRIORITY`] from the cluster and service name.
pub fn derived_priority(cluster: &str, service: &str) -> u32 {
    let digest = Sha256::digest(format!("{cluster}/{service}").as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let span = DERIVED_PRIORITY.end() - DERIVED_PRIORITY.start() + 1;
    DERIVED_PRIORITY.start() + n % span
}

/// The health check: the ingress's fields, else the container's.
pub fn health_check(ingress: &Ingress, container: &Container) -> TargetGroupHealthCheck {
    let hc = ingress.effective_health_check(container);
    let int = |n: i64| n.clamp(0, i64::from(i32::MAX)) as i32;
    TargetGroupHealthCheck {
        path: hc.path,
        interval_seconds: int(hc.interval_seconds),
        timeout_seconds: int(hc.timeout_seconds),
        healthy_threshold: int(hc.healthy_threshold),
        unhealthy_threshold: int(hc.unhealthy_threshold),
        success_codes: hc.success_codes,
    }
}

/// Renders one ingress. `None` without the settings' listener (validation refuses that).
pub fn render(
    ingress: &Ingress,
    container: &Container,
    settings: Option<&IngressSettings>,
    operator_id: &str,
    cluster: &str,
    service: &str,
) -> Option<DesiredIngress> {
    let platform = settings?;
    let secs = |d: crate::duration::PromDuration| d.as_secs_ceil().min(i32::MAX as u64) as i32;
    let mut hosts = ingress.hosts.clone();
    hosts.sort();
    hosts.dedup();
    let mut paths = ingress.paths.clone();
    paths.sort();
    paths.dedup();
    // A rule needs at least one condition: no host and no path means every path.
    if hosts.is_empty() && paths.is_empty() {
        paths.push("/*".into());
    }
    let host = (ingress.hosts.iter())
        .find(|h| !h.contains(['*', '?']))
        .cloned()
        .unwrap_or_else(|| platform.public_host.clone());
    let path = ingress.paths.first().map_or("/", |p| {
        let end = p.find(['*', '?']).unwrap_or(p.len());
        &p[..end]
    });
    let path = if path.is_empty() { "/" } else { path };
    Some(DesiredIngress {
        target_group: DesiredTargetGroup {
            name: target_group_name(operator_id, cluster, service),
            port: i32::from(container.port),
            vpc_id: platform.vpc_id.clone(),
            health_check: health_check(ingress, container),
            attributes: TargetGroupAttributes {
                deregistration_delay_seconds: secs(ingress.deregistration_delay),
                stickiness_seconds: ingress.stickiness.map(secs),
            },
        },
        rule: DesiredRule {
            listener_arn: platform.listener_arn.clone(),
            priority: ingress
                .priority
                .unwrap_or_else(|| derived_priority(cluster, service)) as i32,
            derived: ingress.priority.is_none(),
            hosts,
            paths,
        },
        url: format!("{}://{host}{path}", platform.scheme),
        load_balancer_arn: platform.load_balancer_arn().unwrap_or_default(),
    })
}

impl DesiredService {
    /// This desired state with the owned target group's ARN where its placeholder stood (the
    /// service's load balancer and the `requestsPerTarget` policy's resource label).
    pub fn with_target_group(&self, arn: &str) -> DesiredService {
        let mut d = self.clone();
        let Some(ingress) = &self.ingress else {
            return d;
        };
        let placeholder = target_group_placeholder(&ingress.target_group.name);
        for lb in &mut d.service.load_balancers {
            if lb.target_group_arn == placeholder {
                lb.target_group_arn = arn.to_string();
            }
        }
        let label = alb_resource_label(&ingress.load_balancer_arn, arn);
        for policy in d.scaling.iter_mut().flat_map(|s| s.policies.iter_mut()) {
            if policy.resource_label.as_deref() == Some(placeholder.as_str()) {
                policy.resource_label = Some(label.clone());
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_group_names_fit_elbv2_and_differ_per_operator_cluster_and_service() {
        let long = "a-very-long-service-name-of-32ch";
        let name = target_group_name("prod", "main", long);
        assert!(name.len() <= TARGET_GROUP_NAME_MAX, "{name}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert!(!name.ends_with('-') && !name.starts_with('-'));
        assert_eq!(name, target_group_name("prod", "main", long));
        assert_ne!(name, target_group_name("staging", "main", long));
        assert_ne!(name, target_group_name("prod", "other", long));
        // A cut that ends on a hyphen drops it.
        let cut = target_group_name("prod", "main", "abcdefghijklmnopqrs-uvwxyz");
        assert!(!cut.contains("--"), "{cut}");
    }

    #[test]
    fn derived_priorities_are_stable_and_in_their_range() {
        for name in ["a", "pizza-service", "checkout"] {
            let p = derived_priority("main", name);
            assert!(DERIVED_PRIORITY.contains(&p));
            assert_eq!(p, derived_priority("main", name));
        }
        assert_ne!(
            derived_priority("main", "pizza-service"),
            derived_priority("main", "checkout")
        );
    }
}
