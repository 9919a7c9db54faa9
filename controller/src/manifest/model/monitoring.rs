//! The monitoring half of a manifest: what is scraped, which alerts fire, the service level
//! objectives, the dashboard and who is told.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::yes;
pub use crate::domain::{
    EmailReceiver, Receiver, Severity, SlackReceiver, SnsReceiver, WebhookReceiver,
};
use crate::duration::PromDuration;

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
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "super::unique_keys::map"
    )]
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
