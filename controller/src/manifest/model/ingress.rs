//! `traffic.ingress`: the operator routes requests from the platform's shared HTTPS listener to
//! the service through a target group and a listener rule it creates and owns.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Container;
use crate::duration::PromDuration;

/// Route requests from the platform's HTTPS listener (the settings' `ingress.listenerArn`) to
/// this service. The operator creates a target group (type `ip`) and a listener rule for it,
/// attaches the group to the ECS service, and deletes both when the ingress or the manifest
/// (with `lifecycle.prune`) goes. Not together with `traffic.loadBalancer`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ingress {
    /// Host header patterns (`pizza.example.com`, `*.example.com`; up to 128 characters,
    /// letters, digits, `-_.`, wildcards `*` and `?`). Empty: any host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Path patterns, matched exactly and case-sensitively (`/api/*`; `/*` is every path, `/`
    /// only the root; up to 128 characters). Empty: any path. Hosts and paths together hold at
    /// most 5 values (the ALB's limit per rule).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Listener rule priority, 1-50000, unique on the listener (lower numbers are evaluated
    /// first). Unset: a number derived from the cluster and service name (10000-50000), or the
    /// next free one after it when another rule holds it; an existing rule keeps its number.
    /// A written priority another rule holds is reported, never taken over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// The load balancer's health check of each task. Unset fields come from
    /// `container.healthCheck` (path, interval, timeout, retries).
    #[serde(default)]
    pub health_check: IngressHealthCheck,
    /// How long the load balancer lets a deregistering task finish its requests (0s-3600s).
    #[serde(default = "default_deregistration_delay")]
    pub deregistration_delay: PromDuration,
    /// Sticky sessions with the load balancer's cookie (`lb_cookie`), for this long
    /// (1s-7d). Unset: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stickiness: Option<PromDuration>,
    /// The longest a connection of this service may stay idle (1s-4000s). The idle timeout is
    /// an attribute of the shared load balancer, which the operator does not own: this is
    /// checked against the settings' `ingress.idleTimeout` and refused when longer, never set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<PromDuration>,
}

/// Overrides of the target group's health check.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressHealthCheck {
    /// HTTP path (default: `container.healthCheck.path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Between checks, 5s-300s (default: `container.healthCheck.interval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<PromDuration>,
    /// 2s-120s and below the interval (default: `container.healthCheck.timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<PromDuration>,
    /// Consecutive successes before a task receives traffic, 2-10 (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold: Option<u32>,
    /// Consecutive failures before a task is unhealthy, 2-10 (default:
    /// `container.healthCheck.retries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold: Option<u32>,
    /// HTTP codes that mean healthy: `200`, `200,204` or `200-299` (default `200`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_codes: Option<String>,
}

fn default_deregistration_delay() -> PromDuration {
    PromDuration::from_secs(300)
}

/// The load balancer's health check of a service, as sent to ELBv2: the ingress's fields, else
/// the container's (`path`, `interval`, `timeout`, `retries`), else ELBv2's usual values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveHealthCheck {
    pub path: String,
    pub interval_seconds: i64,
    pub timeout_seconds: i64,
    pub healthy_threshold: i64,
    pub unhealthy_threshold: i64,
    pub success_codes: String,
}

impl Ingress {
    pub fn effective_health_check(&self, container: &Container) -> EffectiveHealthCheck {
        let own = &self.health_check;
        let base = &container.health_check;
        let secs = |d: PromDuration| d.as_secs_ceil().min(i64::MAX as u64) as i64;
        EffectiveHealthCheck {
            path: own.path.clone().unwrap_or_else(|| base.path.clone()),
            interval_seconds: secs(own.interval.unwrap_or(base.interval)),
            timeout_seconds: secs(own.timeout.unwrap_or(base.timeout)),
            healthy_threshold: i64::from(own.healthy_threshold.unwrap_or(2)),
            unhealthy_threshold: i64::from(own.unhealthy_threshold.unwrap_or(base.retries)),
            success_codes: own.success_codes.clone().unwrap_or_else(|| "200".into()),
        }
    }
}
