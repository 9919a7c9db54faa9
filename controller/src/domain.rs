//! Facts of the domain that several modules share: tag and annotation keys, the identifiers AWS
//! derives from a service, the built-in alerts, alert severities and notification receivers
//! (a manifest's and the platform's team directory in the settings), and S3 locations. One definition each, so a
//! renderer, an observer and a planner can never disagree about a key or a format.
//!
//! This module depends on nothing else in the crate; everything may depend on it.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Longest environment name (`spec.environments.<name>`, the settings' `environment`).
pub const MAX_ENVIRONMENT_LEN: usize = 32;

/// Whether `name` can name an environment: a DNS label of at most 32 characters. Manifests
/// and settings both name environments, so both check them here.
/// [`is_environment_name`] as a JSON Schema pattern, for editors.
pub const ENVIRONMENT_NAME_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$";

pub fn is_environment_name(name: &str) -> bool {
    (1..=MAX_ENVIRONMENT_LEN).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Tag keys the operator writes on every resource it creates.
pub mod tags {
    /// Marks a resource as owned by one operator instance; its value is the settings'
    /// `operatorId`. The operator never changes or deletes a resource without it.
    pub const OWNER: &str = "ecs-operator.io/owner";
    /// The manifest a resource was rendered from.
    pub const MANIFEST: &str = "ecs-operator.io/manifest";
    /// A hash of the rendered spec: a cheap "did anything change" check and the revision
    /// status reports.
    pub const SPEC_HASH: &str = "ecs-operator.io/spec-hash";
    /// The manifest's `lifecycle.prune`, so the choice is known after the manifest is gone.
    pub const PRUNE: &str = "ecs-operator.io/prune";
    /// A spec rolled back by hand (`ecs-operator rollback`) and not to be deployed again:
    /// `<spec hash> <unix seconds> <family:revision> <hand|guard>` (see
    /// `status::HeldRollout::to_tag`).
    /// Not one of the tags every resource gets: only a rolled-back service carries it.
    pub const HELD: &str = "ecs-operator.io/held";
    /// The owning team (`spec.notify.team`).
    pub const TEAM: &str = "team";
    /// Prefix of tags copied from `metadata.labels`.
    pub const LABEL_PREFIX: &str = "label:";
    /// The tags above the operator writes on every resource, besides the labels.
    pub const OPERATOR_TAGS: usize = 5;
    /// User tags AWS allows per resource (tags starting with `aws:` do not count).
    pub const PER_RESOURCE_LIMIT: usize = 50;

    /// A character AWS allows in a tag value: letters, digits, whitespace and `_.:/=+-@`.
    pub fn is_tag_value_char(c: char) -> bool {
        c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
    }
}

/// Manifest annotations the operator reads.
pub mod annotations {
    /// `"true"` lets a manifest take over a same-named service that has no owner tag.
    pub const ADOPT: &str = "ecs-operator.io/adopt";
}

/// An ECS service by cluster and name: the key of everything observed and planned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    pub cluster: String,
    pub name: String,
}

impl ServiceKey {
    pub fn new(cluster: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            cluster: cluster.into(),
            name: name.into(),
        }
    }

    /// The Application Auto Scaling resource id of this service.
    pub fn scaling_resource_id(&self) -> ScalingResourceId {
        ScalingResourceId::new(&self.cluster, &self.name)
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.cluster, self.name)
    }
}

/// Application Auto Scaling's `ResourceId` of an ECS service: `service/<cluster>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ScalingResourceId(String);

impl ScalingResourceId {
    pub fn new(cluster: &str, service: &str) -> Self {
        Self(format!("service/{cluster}/{service}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value AWS returned, taken as it is.
    pub fn from_aws(text: &str) -> Self {
        Self(text.to_string())
    }
}

impl fmt::Display for ScalingResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `s3://bucket/prefix/`: where manifests, status records and the lease live. The prefix is
/// empty or ends with `/` when used as a "directory" ([`S3Location::as_dir`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

/// A text that is not an `s3://bucket/...` URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?}: {reason}")]
pub struct S3LocationError {
    pub text: String,
    pub reason: &'static str,
}

impl S3Location {
    /// Parses `s3://bucket[/prefix]`. `Ok(None)` for anything that is not an S3 URL (a local
    /// directory, say).
    pub fn parse(text: &str) -> Result<Option<Self>, S3LocationError> {
        let Some(rest) = text.strip_prefix("s3://") else {
            return Ok(None);
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(S3LocationError {
                text: text.to_string(),
                reason: "no bucket in the S3 URL",
            });
        }
        Ok(Some(Self {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }))
    }

    /// The same location with its prefix ending in `/` (or empty): a folder to put keys in.
    pub fn as_dir(&self) -> Self {
        let prefix = if self.prefix.is_empty() || self.prefix.ends_with('/') {
            self.prefix.clone()
        } else {
            format!("{}/", self.prefix)
        };
        Self {
            bucket: self.bucket.clone(),
            prefix,
        }
    }

    /// The key of `relative` under this location's prefix.
    pub fn key(&self, relative: &str) -> String {
        format!("{}{relative}", self.prefix)
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// The alerts every managed service gets without asking. Their names are reserved (user
/// alerts may not reuse them) and are the keys of `settings.monitoring.builtinAlertFor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BuiltinAlert {
    TargetDown,
    NoTargets,
    HighErrorRatio,
    HighLatencyP99,
    CpuNearLimit,
    MemoryNearLimit,
    TasksBelowDesired,
    DeploymentFailed,
    RolloutRolledBack,
    TasksStopping,
    PreDeployFailed,
    JobRunFailed,
    JobRunMissed,
    QueueOldestMessageTooOld,
    ErrorBudgetBurnFast,
    ErrorBudgetBurnSlow,
    LatencyBudgetBurnFast,
    LatencyBudgetBurnSlow,
}

impl BuiltinAlert {
    /// Every built-in alert, in the order the rule files list them.
    pub const ALL: [BuiltinAlert; 18] = [
        BuiltinAlert::TargetDown,
        BuiltinAlert::NoTargets,
        BuiltinAlert::HighErrorRatio,
        BuiltinAlert::HighLatencyP99,
        BuiltinAlert::CpuNearLimit,
        BuiltinAlert::MemoryNearLimit,
        BuiltinAlert::TasksBelowDesired,
        BuiltinAlert::DeploymentFailed,
        BuiltinAlert::RolloutRolledBack,
        BuiltinAlert::TasksStopping,
        BuiltinAlert::PreDeployFailed,
        BuiltinAlert::JobRunFailed,
        BuiltinAlert::JobRunMissed,
        BuiltinAlert::QueueOldestMessageTooOld,
        BuiltinAlert::ErrorBudgetBurnFast,
        BuiltinAlert::ErrorBudgetBurnSlow,
        BuiltinAlert::LatencyBudgetBurnFast,
        BuiltinAlert::LatencyBudgetBurnSlow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BuiltinAlert::TargetDown => "TargetDown",
            BuiltinAlert::NoTargets => "NoTargets",
            BuiltinAlert::HighErrorRatio => "HighErrorRatio",
            BuiltinAlert::HighLatencyP99 => "HighLatencyP99",
            BuiltinAlert::CpuNearLimit => "CpuNearLimit",
            BuiltinAlert::MemoryNearLimit => "MemoryNearLimit",
            BuiltinAlert::TasksBelowDesired => "TasksBelowDesired",
            BuiltinAlert::DeploymentFailed => "DeploymentFailed",
            BuiltinAlert::RolloutRolledBack => "RolloutRolledBack",
            BuiltinAlert::TasksStopping => "TasksStopping",
            BuiltinAlert::PreDeployFailed => "PreDeployFailed",
            BuiltinAlert::JobRunFailed => "JobRunFailed",
            BuiltinAlert::JobRunMissed => "JobRunMissed",
            BuiltinAlert::QueueOldestMessageTooOld => "QueueOldestMessageTooOld",
            BuiltinAlert::ErrorBudgetBurnFast => "ErrorBudgetBurnFast",
            BuiltinAlert::ErrorBudgetBurnSlow => "ErrorBudgetBurnSlow",
            BuiltinAlert::LatencyBudgetBurnFast => "LatencyBudgetBurnFast",
            BuiltinAlert::LatencyBudgetBurnSlow => "LatencyBudgetBurnSlow",
        }
    }

    /// The names, comma separated, for messages.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for BuiltinAlert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BuiltinAlert {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or(())
    }
}

/// EventBridge Scheduler's names of schedules and schedule groups: 1-64 of `[0-9a-zA-Z-_.]`.
pub fn is_schedule_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `family:revision` of a task definition ARN (the ARN itself when it is not one).
pub fn short_revision(arn: &str) -> &str {
    arn.rsplit_once("task-definition/").map_or(arn, |(_, r)| r)
}

/// IAM's `ArnLike`: `*` matches any run of characters (`:` and `/` included), `?` exactly
/// one; everything else literally.
pub fn arn_like(pattern: &str, arn: &str) -> bool {
    fn matches(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => matches(&p[1..], s) || (!s.is_empty() && matches(p, &s[1..])),
            (Some(b'?'), Some(_)) => matches(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &s[1..]),
            _ => false,
        }
    }
    matches(pattern.as_bytes(), arn.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_name_pattern_agrees_with_the_check() {
        let pattern = regex::Regex::new(ENVIRONMENT_NAME_PATTERN).unwrap();
        let long = "a".repeat(MAX_ENVIRONMENT_LEN);
        let too_long = "a".repeat(MAX_ENVIRONMENT_LEN + 1);
        for name in [
            "prod",
            "eu-west-1",
            "a",
            "1",
            "-prod",
            "prod-",
            "Prod",
            "pr_od",
            "",
            &long,
            &too_long,
            "a-b",
            "a--b",
            "staging2",
        ] {
            assert_eq!(
                pattern.is_match(name),
                is_environment_name(name),
                "{name:?}"
            );
        }
    }

    #[test]
    fn s3_locations_parse_with_and_without_a_prefix() {
        let l = S3Location::parse("s3://bucket/state").unwrap().unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("bucket", "state"));
        assert_eq!(l.as_dir().prefix, "state/");
        assert_eq!(
            l.as_dir().key("lease/leader.json"),
            "state/lease/leader.json"
        );
        let bare = S3Location::parse("s3://bucket").unwrap().unwrap();
        assert_eq!(bare.as_dir().prefix, "");
        assert_eq!(bare.to_string(), "s3://bucket/");
        assert!(S3Location::parse("manifests/examples").unwrap().is_none());
        assert!(S3Location::parse("s3:///x").is_err());
    }

    #[test]
    fn every_builtin_alert_name_round_trips() {
        for alert in BuiltinAlert::ALL {
            assert_eq!(alert.as_str().parse::<BuiltinAlert>(), Ok(alert));
        }
        assert!("Nope".parse::<BuiltinAlert>().is_err());
        assert_eq!(BuiltinAlert::ALL.len(), 18);
    }

    #[test]
    fn arn_patterns_match_like_iam_arn_like() {
        let p = "arn:aws:secretsmanager:*:123456789012:secret:checkout/*";
        assert!(arn_like(
            p,
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:checkout/db-AbCd"
        ));
        assert!(!arn_like(
            p,
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:billing/db-AbCd"
        ));
        assert!(!arn_like(
            p,
            "arn:aws:secretsmanager:eu-central-1:999999999999:secret:checkout/x"
        ));
        assert!(arn_like("arn:aws:ssm:?u-*", "arn:aws:ssm:eu-west-1"));
        assert!(!arn_like("arn:aws:ssm", "arn:aws:ssm:"));
    }

    #[test]
    fn scaling_resource_ids_follow_the_application_auto_scaling_format() {
        let key = ServiceKey::new("main", "web");
        assert_eq!(key.scaling_resource_id().as_str(), "service/main/web");
    }
}

/// A group of ECS service settings UpdateService sends together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ServiceField {
    /// The capacity provider strategy. ECS needs `forceNewDeployment` to move running tasks
    /// to a new strategy (and to leave a launch type for a strategy), so this field forces a
    /// new deployment.
    CapacityProvider,
    /// Subnets, security groups and public IP.
    Network,
    /// Minimum healthy and maximum percent, the circuit breaker.
    Deployment,
    /// The CloudWatch alarms that fail a deployment. Sent, like the two groups around it, as
    /// the whole `deploymentConfiguration` (one structure in UpdateService), without a new
    /// task definition or a forced deployment.
    DeploymentAlarms,
    /// Blue/green, linear or canary, with bake times, traffic steps and lifecycle hooks.
    DeploymentStrategy,
    LoadBalancers,
    ServiceRegistries,
    HealthCheckGracePeriod,
    ExecuteCommand,
    PropagateTags,
}

impl ServiceField {
    /// The group a field of [`crate::render::aws::EcsService`] (camelCase, the first segment
    /// of a nested path) belongs to.
    pub fn of(field: &str) -> Option<ServiceField> {
        Some(match field {
            "capacityProvider" | "spotMix" => ServiceField::CapacityProvider,
            "subnets" | "securityGroups" | "assignPublicIp" => ServiceField::Network,
            "minimumHealthyPercent"
            | "maximumPercent"
            | "circuitBreakerEnabled"
            | "circuitBreakerRollback" => ServiceField::Deployment,
            "deploymentAlarms" => ServiceField::DeploymentAlarms,
            "deploymentStrategy" => ServiceField::DeploymentStrategy,
            "loadBalancers" => ServiceField::LoadBalancers,
            "serviceRegistries" => ServiceField::ServiceRegistries,
            "healthCheckGracePeriodSeconds" => ServiceField::HealthCheckGracePeriod,
            "enableExecuteCommand" => ServiceField::ExecuteCommand,
            "propagateTags" => ServiceField::PropagateTags,
            _ => return None,
        })
    }
}

/// How urgent an alert is; receivers filter on it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One notification channel. Severity filters let a team page on critical only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Receiver {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookReceiver>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackReceiver>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailReceiver>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sns: Option<SnsReceiver>,
    /// Only alerts of at least this severity go here.
    #[serde(default)]
    pub min_severity: Severity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookReceiver {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackReceiver {
    pub channel: String,
    /// File (mounted into Alertmanager) holding the Slack webhook URL; never the URL itself.
    pub api_url_file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailReceiver {
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnsReceiver {
    pub topic_arn: String,
}
