//! Semantic checks on a deserialised manifest: everything the type system cannot say.
//!
//! Each check names the field path; the loader turns paths into file positions. Checks never
//! stop at the first problem: a person fixing a manifest wants the whole list at once.

mod deployment;
mod ingress;
mod jobs;
mod monitoring;
pub mod queue;
mod task;
mod workload;

use super::model::*;
use crate::domain::{annotations, tags};
use crate::settings::Settings;
use deployment::check_deployment;
use monitoring::*;
use workload::*;

/// A problem at a field path.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

/// Longest service name: derived names (`{name}-tg`, Cloud Map, rule groups) must fit AWS limits.
pub const MAX_NAME_LEN: usize = 32;

struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Records `message` at `path` unless `ok`. Both are built only on failure: a valid
    /// manifest (nearly every one) formats no paths, and validation is part of every parse.
    fn check(&mut self, ok: bool, path: impl std::fmt::Display, message: impl FnOnce() -> String) {
        if !ok {
            self.fail(path.to_string(), message());
        }
    }
}

/// Checks one manifest. `settings`, when given, adds the platform checks (allowed clusters,
/// roles and networks).
pub fn validate(m: &MonitoredService, settings: Option<&Settings>) -> Vec<FieldError> {
    let mut c = Checker { errors: Vec::new() };
    c.check(m.api_version == API_VERSION, "apiVersion", || {
        format!("must be {API_VERSION:?}, found {:?}", m.api_version)
    });
    c.check(m.kind == KIND, "kind", || {
        format!("must be {KIND:?}, found {:?}", m.kind)
    });
    check_metadata(&mut c, &m.metadata);
    let spec = &m.spec;
    check_container(&mut c, &spec.container, settings);
    task::check_task_shape(&mut c, spec, settings);
    check_placement(&mut c, &spec.placement, settings);
    check_deployment(&mut c, &spec.deployment, &spec.traffic, settings);
    check_traffic(&mut c, &spec.traffic);
    ingress::check_ingress(&mut c, spec, settings);
    let has_lb_arn = spec
        .traffic
        .load_balancer
        .as_ref()
        .is_some_and(|lb| lb.load_balancer_arn.is_some());
    check_scaling(
        &mut c,
        &spec.scaling,
        has_lb_arn || spec.traffic.ingress.is_some(),
    );
    let scrape = check_metrics(&mut c, &spec.metrics, settings);
    check_scrape_port(&mut c, spec, settings);
    check_alerts(&mut c, &spec.alerts, scrape);
    check_health_alerts(&mut c, &spec.health_alerts);
    if let Some(slo) = &spec.slo {
        check_slo(&mut c, slo);
    }
    monitoring::check_guard(&mut c, &spec.deployment.guard);
    check_dashboard(&mut c, &spec.dashboard);
    check_notify(&mut c, &spec.notify, settings);
    check_lifecycle(&mut c, &spec.lifecycle, &m.metadata.name);
    if let Some(pre_deploy) = &spec.pre_deploy {
        jobs::check_pre_deploy(&mut c, pre_deploy);
    }
    jobs::check_jobs(&mut c, &m.metadata.name, &spec.jobs, settings);
    c.errors
}

/// RFC 1123 label, lower case, starting with a letter.
pub fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: the names Prometheus accepts everywhere (2.x's only charset, and
/// 3.x's legacy one), so no name needs quoting in either version.
fn is_prometheus_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Prometheus label name (`__` is reserved for Prometheus itself).
pub fn is_label_name(s: &str) -> bool {
    is_prometheus_identifier(s) && !s.starts_with("__")
}

/// Prometheus metric name (colons are for recording rules only).
pub fn is_metric_name(s: &str) -> bool {
    s.len() <= 200 && is_prometheus_identifier(s)
}

fn has_control_chars(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// Prometheus reaches services only on the ports the platform's security group opens
/// (`monitoring.scrapePorts`); metrics on another port are never scraped, silently.
fn check_scrape_port(c: &mut Checker, spec: &Spec, settings: Option<&Settings>) {
    let Some(ports) = settings.and_then(|s| s.monitoring.scrape_ports) else {
        return;
    };
    if !spec.metrics.enabled {
        return;
    }
    let (port, path) = match spec.metrics.port {
        Some(port) => (port, "spec.metrics.port"),
        None => (spec.container.port, "spec.container.port"),
    };
    c.check(ports.contains(port), path, || {
        format!(
            "metrics on port {port} would never be scraped: Prometheus may reach services on ports {}-{} only (settings monitoring.scrapePorts, the platform's security group)",
            ports.from, ports.to
        )
    });
}

fn check_metadata(c: &mut Checker, md: &Metadata) {
    c.check(is_dns_label(&md.name, MAX_NAME_LEN), "metadata.name", || {
        format!(
            "{:?} must be a DNS label: 1-{MAX_NAME_LEN} lower-case letters, digits or '-', starting with a letter",
            md.name
        )
    });
    for (key, value) in &md.labels {
        let path = format!("metadata.labels.{key}");
        c.check(is_label_name(key) && key.len() <= 63, &path, || {
            format!("{key:?} must be a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
        });
        c.check(
            !matches!(
                key.as_str(),
                "service" | "team" | "severity" | "job" | "instance"
            ),
            &path,
            || format!("{key:?} is reserved: the operator sets it itself"),
        );
        c.check(
            value.len() <= 256 && !has_control_chars(value),
            &path,
            || "value must be at most 256 characters without control characters".into(),
        );
        // Labels become AWS tags (`label:<key>`) on every resource; AWS refuses other
        // characters (Tagging AWS resources, "Tag naming limits and requirements").
        c.check(value.chars().all(tags::is_tag_value_char), &path, || {
            format!("{value:?}: labels become AWS tags, whose values may hold only letters, digits, spaces and _ . : / = + - @")
        });
    }
    let limit = tags::PER_RESOURCE_LIMIT - tags::OPERATOR_TAGS;
    c.check(md.labels.len() <= limit, "metadata.labels", || {
        format!(
            "{} labels: AWS allows {} tags per resource and the operator sets {} itself, so at most {limit} labels",
            md.labels.len(),
            tags::PER_RESOURCE_LIMIT,
            tags::OPERATOR_TAGS
        )
    });
    for (key, value) in &md.annotations {
        let path = format!("metadata.annotations.{key}");
        c.check(!key.is_empty() && key.len() <= 253, &path, || {
            "key must be 1-253 characters".into()
        });
        c.check(value.len() <= 4096, &path, || {
            "value must be at most 4096 characters".into()
        });
    }
    if let Some(adopt) = md.annotations.get(annotations::ADOPT) {
        c.check(
            adopt == "true" || adopt == "false",
            format_args!("metadata.annotations.{}", annotations::ADOPT),
            || format!("must be \"true\" or \"false\", found {adopt:?}"),
        );
    }
}

fn check_lifecycle(c: &mut Checker, l: &Lifecycle, own_name: &str) {
    for (i, dep) in l.depends_on.iter().enumerate() {
        let path = format!("spec.lifecycle.dependsOn[{i}]");
        c.check(is_dns_label(dep, MAX_NAME_LEN), &path, || {
            format!("{dep:?} is not a service name")
        });
        c.check(dep != own_name, &path, || {
            "a service cannot depend on itself".into()
        });
    }
}

#[cfg(test)]
mod tests;
