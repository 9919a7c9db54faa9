//! The `MonitoredService` manifest: the product's main interface.
//!
//! One document describes one microservice completely: how it runs on ECS, how it scales, how it
//! is found, and how its owners learn that it misbehaves. Field docs here become the JSON Schema
//! descriptions editors show, so they are written for the people writing manifests.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::PromDuration;

pub const API_VERSION: &str = "ecs-operator.io/v1alpha1";
pub const KIND: &str = "MonitoredService";

/// A microservice on Amazon ECS, with its monitoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "MonitoredService")]
pub struct MonitoredService {
    /// Always `ecs-operator.io/v1alpha1`.
    pub api_version: String,
    /// Always `MonitoredService`.
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

/// Identity of the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// DNS label (lower-case letters, digits, `-`; at most 32 characters so every derived AWS
    /// name fits). Names the ECS service, task definition family, Cloud Map service and
    /// dashboard.
    pub name: String,
    /// Free-form labels; copied to AWS tags and to every alert.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Free-form annotations. `ecs-operator.io/adopt: "true"` lets the operator take over an
    /// existing service of the same name that it did not create.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Everything about the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    pub container: Container,
    #[serde(default)]
    pub placement: Placement,
    #[serde(default)]
    pub deployment: Deployment,
    #[serde(default)]
    pub traffic: Traffic,
    #[serde(default)]
    pub scaling: Scaling,
    #[serde(default)]
    pub metrics: Metrics,
    /// Conditions that notify the owning team. Built-in health alerts are added on top.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<Alert>,
    /// Thresholds of the built-in health alerts every service gets.
    #[serde(default)]
    pub health_alerts: HealthAlerts,
    /// Service level objective; generates multi-window burn-rate alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<Slo>,
    #[serde(default)]
    pub dashboard: Dashboard,
    pub notify: Notify,
    #[serde(default)]
    pub lifecycle: Lifecycle,
}

/// The single application container of the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Container {
    /// Image reference, e.g. `123456789012.dkr.ecr.eu-central-1.amazonaws.com/pizza:1.4.2`.
    /// Prefer immutable tags or digests.
    pub image: String,
    /// CPU units for the task (1024 = 1 vCPU). Fargate accepts 256, 512, 1024, 2048, 4096,
    /// 8192, 16384.
    #[serde(default = "default_cpu")]
    pub cpu: u32,
    /// Memory in MiB; must be valid for the chosen CPU on Fargate (256 CPU: 512, 1024, 2048).
    #[serde(default = "default_memory")]
    pub memory: u32,
    /// The port the application listens on.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Overrides the image's ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Overrides the image's CMD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Plain environment variables. Never put secrets here: use `secrets`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Environment variables filled from Secrets Manager or SSM Parameter Store, by ARN.
    /// Values are never written anywhere by the operator.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    #[serde(default)]
    pub health_check: HealthCheck,
    #[serde(default)]
    pub logging: Logging,
    /// Task role ARN (what the application may call in AWS); must be one the operator's
    /// settings allow. Defaults to the settings' task role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// Run the root filesystem read-only (recommended).
    #[serde(default)]
    pub read_only_root_filesystem: bool,
}

fn default_cpu() -> u32 {
    256
}
fn default_memory() -> u32 {
    512
}
fn default_port() -> u16 {
    8080
}

/// How ECS, the load balancer and Cloud Map decide that a task is healthy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    /// HTTP path answering 200 when the service is healthy.
    #[serde(default = "default_health_path")]
    pub path: String,
    #[serde(default = "default_health_interval")]
    pub interval: PromDuration,
    #[serde(default = "default_health_timeout")]
    pub timeout: PromDuration,
    /// Consecutive failures before a task counts as unhealthy.
    #[serde(default = "default_health_retries")]
    pub retries: u32,
    /// Time after start during which failed checks do not count (slow starters).
    #[serde(default = "default_grace_period")]
    pub grace_period: PromDuration,
    /// Command run inside the container for the ECS container health check
    /// (`["CMD", "/app/healthcheck"]`). Without it only the load balancer / discovery checks
    /// apply, since many minimal images have no curl.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: default_health_path(),
            interval: default_health_interval(),
            timeout: default_health_timeout(),
            retries: default_health_retries(),
            grace_period: default_grace_period(),
            command: Vec::new(),
        }
    }
}

fn default_health_path() -> String {
    "/healthz".into()
}
fn default_health_interval() -> PromDuration {
    PromDuration::from_secs(30)
}
fn default_health_timeout() -> PromDuration {
    PromDuration::from_secs(5)
}
fn default_health_retries() -> u32 {
    3
}
fn default_grace_period() -> PromDuration {
    PromDuration::from_secs(60)
}

/// Container logs (CloudWatch Logs through the awslogs driver).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Logging {
    /// Log group; defaults to the operator's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    /// Stream prefix; defaults to the service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_prefix: Option<String>,
    /// `non-blocking` never stalls the application when CloudWatch is slow (may drop logs);
    /// `blocking` never drops logs (may stall).
    #[serde(default)]
    pub mode: LogMode,
}

impl Default for Logging {
    fn default() -> Self {
        Self {
            log_group: None,
            stream_prefix: None,
            mode: LogMode::NonBlocking,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogMode {
    #[default]
    NonBlocking,
    Blocking,
}

/// Where tasks run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Placement {
    /// ECS cluster; defaults to the operator's cluster. Must be one the settings allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// A named network from the operator's settings (e.g. `private`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Explicit subnet ids; overrides `network`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    /// Explicit security group ids; overrides `network`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// Give tasks a public IP (only for public subnets without NAT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<bool>,
    /// Run on Fargate Spot (cheaper, may be interrupted).
    #[serde(default)]
    pub spot: bool,
}

/// Rolling deployment behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deployment {
    /// Percentage of desired tasks that must stay healthy during a deployment.
    #[serde(default = "default_min_healthy")]
    pub min_healthy_percent: u32,
    /// Upper bound on tasks during a deployment, as a percentage of desired.
    #[serde(default = "default_max_percent")]
    pub max_percent: u32,
    #[serde(default)]
    pub circuit_breaker: CircuitBreaker,
}

impl Default for Deployment {
    fn default() -> Self {
        Self {
            min_healthy_percent: default_min_healthy(),
            max_percent: default_max_percent(),
            circuit_breaker: CircuitBreaker::default(),
        }
    }
}

fn default_min_healthy() -> u32 {
    100
}
fn default_max_percent() -> u32 {
    200
}

/// ECS deployment circuit breaker: stop a failing rollout, optionally roll back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreaker {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "yes")]
    pub rollback: bool,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            enabled: true,
            rollback: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// How requests reach the service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Traffic {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancer>,
    /// Cloud Map registration (on by default, so Prometheus and peers can find the tasks).
    #[serde(default)]
    pub discovery: Discovery,
}

/// Attach tasks to an ALB target group, or have one routed by a listener rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancer {
    /// An existing target group (type `ip`).
    pub target_group_arn: String,
    /// The load balancer the target group belongs to; needed for scaling on
    /// `requestsPerTarget` (the ALB metric is labelled with both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_arn: Option<String>,
    /// Listener rule conditions documented for the platform team; the operator registers the
    /// service with the target group only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// Cloud Map service discovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Discovery {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Name in the namespace; defaults to the service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// TTL of the DNS records.
    #[serde(default = "default_dns_ttl")]
    pub dns_ttl: PromDuration,
}

impl Default for Discovery {
    fn default() -> Self {
        Self {
            enabled: true,
            name: None,
            dns_ttl: default_dns_ttl(),
        }
    }
}

fn default_dns_ttl() -> PromDuration {
    PromDuration::from_secs(10)
}

/// Task count and Application Auto Scaling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scaling {
    /// Lowest number of tasks (also the initial desired count).
    #[serde(default = "default_min_tasks")]
    pub min_tasks: u32,
    /// Highest number of tasks. Equal to `minTasks` disables autoscaling.
    #[serde(default = "default_max_tasks")]
    pub max_tasks: u32,
    /// Target average CPU utilisation, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_cpu_percent: Option<f64>,
    /// Target average memory utilisation, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_memory_percent: Option<f64>,
    /// Target ALB requests per task per minute (needs `traffic.loadBalancer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_target: Option<f64>,
    #[serde(default = "default_scale_in_cooldown")]
    pub scale_in_cooldown: PromDuration,
    #[serde(default = "default_scale_out_cooldown")]
    pub scale_out_cooldown: PromDuration,
}

impl Default for Scaling {
    fn default() -> Self {
        Self {
            min_tasks: default_min_tasks(),
            max_tasks: default_max_tasks(),
            target_cpu_percent: None,
            target_memory_percent: None,
            requests_per_target: None,
            scale_in_cooldown: default_scale_in_cooldown(),
            scale_out_cooldown: default_scale_out_cooldown(),
        }
    }
}

fn default_min_tasks() -> u32 {
    2
}
fn default_max_tasks() -> u32 {
    2
}
fn default_scale_in_cooldown() -> PromDuration {
    PromDuration::from_secs(300)
}
fn default_scale_out_cooldown() -> PromDuration {
    PromDuration::from_secs(60)
}

impl Scaling {
    /// Whether an autoscaler owns the desired count.
    pub fn autoscaling(&self) -> bool {
        self.max_tasks > self.min_tasks
    }
}

/// Where Prometheus scrapes the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metrics {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Defaults to the container port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default = "default_metrics_path")]
    pub path: String,
    /// Scrape interval; defaults to the operator's setting (15s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<PromDuration>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            enabled: true,
            port: None,
            path: default_metrics_path(),
            interval: None,
        }
    }
}

fn default_metrics_path() -> String {
    "/metrics".into()
}

/// A condition that notifies the owning team.
///
/// Either declarative (`metric` + `measure` + one comparison) or raw PromQL (`expr`).
/// `measure: pace` compares the hourly (or `per`) pace over a short `window`: it fires as soon
/// as the pace crosses the line. `measure: count` compares how many events happened in
/// `window`: it fires once that many have piled up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Alert {
    /// Alert name, UpperCamelCase (`OrdersSurge`).
    pub name: String,
    /// Metric to watch, e.g. `orders_created_total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Label matchers narrowing the metric (`{reason: payment_declined}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<Measure>,
    /// Look-back window: the rate window for `pace`, the counting window for `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<PromDuration>,
    /// For `pace`: the unit the threshold is expressed per (default `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<PromDuration>,
    /// Fire when the value is strictly greater.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// Fire when the value is greater or equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    /// Fire when the value is strictly smaller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// Fire when the value is smaller or equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
    /// Raw PromQL condition, the escape hatch; exclusive with `metric`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
    /// How long the condition must hold before the alert fires.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<PromDuration>,
    #[serde(default)]
    pub severity: Severity,
    /// One line for the notification; may use `{{ $value }}` and `{{ $labels.x }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook_url: Option<String>,
}

/// What is compared against the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Measure {
    /// Events per `per` (default per hour), from the rate over `window`.
    Pace,
    /// Events counted over `window`.
    Count,
    /// The current value of a gauge (summed over tasks).
    Value,
}

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

/// Thresholds of the built-in alerts every service gets (target down, too few tasks, error
/// ratio, latency, CPU and memory near the task's limit, crashing tasks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthAlerts {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Share of 5xx responses (0..1) that counts as an error burst.
    #[serde(default = "default_error_ratio")]
    pub error_ratio_above: f64,
    /// p99 request latency above which to alert (needs `http_request_duration_seconds`).
    #[serde(default = "default_p99")]
    pub latency_p99_above: PromDuration,
    /// CPU use as a percentage of the task's CPU.
    #[serde(default = "default_resource_percent")]
    pub cpu_percent_above: f64,
    /// Memory use as a percentage of the task's memory.
    #[serde(default = "default_resource_percent")]
    pub memory_percent_above: f64,
    /// Metric counting requests, labelled with `code`.
    #[serde(default = "default_requests_metric")]
    pub requests_metric: String,
    /// Histogram (base name) of request durations in seconds.
    #[serde(default = "default_latency_metric")]
    pub latency_metric: String,
}

impl Default for HealthAlerts {
    fn default() -> Self {
        Self {
            enabled: true,
            error_ratio_above: default_error_ratio(),
            latency_p99_above: default_p99(),
            cpu_percent_above: default_resource_percent(),
            memory_percent_above: default_resource_percent(),
            requests_metric: default_requests_metric(),
            latency_metric: default_latency_metric(),
        }
    }
}

fn default_error_ratio() -> f64 {
    0.05
}
fn default_p99() -> PromDuration {
    PromDuration::from_secs(1)
}
fn default_resource_percent() -> f64 {
    90.0
}
fn default_requests_metric() -> String {
    "http_requests_total".into()
}
fn default_latency_metric() -> String {
    "http_request_duration_seconds".into()
}

/// Service level objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Slo {
    /// Availability objective in percent, e.g. 99.9: the share of requests that are not 5xx.
    pub availability: f64,
    /// Compliance window (the error budget's period).
    #[serde(default = "default_slo_window")]
    pub window: PromDuration,
    /// Optional latency objective.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyObjective>,
}

fn default_slo_window() -> PromDuration {
    PromDuration::from_secs(30 * 24 * 3600)
}

/// `objective` percent of requests finish within `threshold`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LatencyObjective {
    /// Must equal one of the histogram's bucket bounds (`le`).
    pub threshold: PromDuration,
    pub objective: f64,
}

/// The Grafana dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dashboard {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Extra panels below the generated ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub panels: Vec<Panel>,
}

impl Default for Dashboard {
    fn default() -> Self {
        Self {
            enabled: true,
            panels: Vec::new(),
        }
    }
}

/// An extra dashboard panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Panel {
    pub title: String,
    /// PromQL query.
    pub expr: String,
    /// Grafana unit id (`short`, `percent`, `s`, `bytes`, `reqps`).
    #[serde(default = "default_unit")]
    pub unit: String,
    #[serde(default)]
    pub kind: PanelKind,
}

fn default_unit() -> String {
    "short".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PanelKind {
    #[default]
    Timeseries,
    Stat,
}

/// Who owns the service and how they are told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Notify {
    /// Owning team (DNS-label style); routes alerts and names the dashboard folder.
    pub team: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receivers: Vec<Receiver>,
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

/// How the operator treats the service over time.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lifecycle {
    /// Leave the service exactly as it is (no reconcile) until unset.
    #[serde(default)]
    pub suspend: bool,
    /// Delete the service's AWS resources when its manifest is removed. Off by default: deleting
    /// a running service is never the accident the operator makes for you.
    #[serde(default)]
    pub prune: bool,
    /// Services that must exist before this one is created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}
