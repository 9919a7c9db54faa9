//! Rule files: the rule and group types, user alerts and the file of one service.

use std::collections::BTreeMap;

use serde::Serialize;

use super::builtin::{ecs_health, scrape_health};
use super::slo::slo_rules;
use super::{ServiceCtx, Timing, HEADER};
use crate::duration::PromDuration;
use crate::manifest::{Alert, Measure, Severity};
use crate::render::monitoring::promql::{count_over, number, template_literal};
use crate::render::monitoring::yaml_file;

// ---------------------------------------------------------------------------------------------
// Rule files
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct RuleFile {
    groups: Vec<Group>,
}

#[derive(Serialize)]
struct Group {
    name: String,
    interval: String,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
pub(super) struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alert: Option<String>,
    expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    for_: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// Text of an alert other than its expression.
pub(super) struct AlertText {
    summary: String,
    description: String,
    runbook_url: Option<String>,
}

/// The operator's metric of the revision a service runs, its image and when it was deployed.
pub(super) const DEPLOYED_METRIC: &str = "ecs_operator_service_deployed_timestamp_seconds";

impl<'a> ServiceCtx<'a> {
    /// `deployment` annotation of every alert: the revision, its image and how long ago it
    /// was deployed ("pizza-service:7 (image pizza:1.1.0), deployed 12m 3s ago"), read at
    /// notification time from the operator's metrics; `unknown` when Prometheus has none.
    /// (An empty annotation would be kept by Prometheus 3: the fallback keeps it readable.)
    fn deployment_annotation(&self) -> String {
        let deployed = self.operator(DEPLOYED_METRIC).text();
        format!(
            "{{{{ range query `time() - {deployed}` }}}}{{{{ .Labels.revision }}}}{{{{ with .Labels.image }}}} (image {{{{ . }}}}){{{{ end }}}}, deployed {{{{ .Value | humanizeDuration }}}} ago{{{{ else }}}}unknown{{{{ end }}}}"
        )
    }

    pub(super) fn alert(
        &self,
        name: &str,
        expr: String,
        for_: Option<PromDuration>,
        severity: Severity,
        text: AlertText,
    ) -> Rule {
        let mut labels: BTreeMap<String, String> = self
            .m
            .metadata
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), template_literal(v)))
            .collect();
        labels.insert("service".into(), self.name.to_string());
        labels.insert("team".into(), self.team.to_string());
        labels.insert("severity".into(), severity.as_str().to_string());
        let mut annotations = BTreeMap::new();
        annotations.insert("summary".to_string(), text.summary);
        annotations.insert("description".to_string(), text.description);
        let dashboard = self.dashboard_url.as_deref().map(template_literal);
        if let Some(url) = text.runbook_url.or_else(|| dashboard.clone()) {
            annotations.insert("runbook_url".to_string(), template_literal(&url));
        }
        if let Some(url) = dashboard {
            annotations.insert("dashboard".to_string(), url);
        }
        annotations.insert("deployment".to_string(), self.deployment_annotation());
        Rule {
            record: None,
            alert: Some(name.to_string()),
            expr,
            for_: for_.filter(|d| d.as_millis() > 0).map(|d| d.to_string()),
            labels,
            annotations,
        }
    }
}

pub(super) fn record(name: String, expr: String, service: &str) -> Rule {
    Rule {
        record: Some(name),
        alert: None,
        expr,
        for_: None,
        labels: [("service".to_string(), service.to_string())]
            .into_iter()
            .collect(),
        annotations: BTreeMap::new(),
    }
}

/// The comparison of a declarative alert: operator, threshold, words.
fn comparison(a: &Alert) -> (&'static str, f64, &'static str) {
    if let Some(x) = a.above {
        (">", x, "above")
    } else if let Some(x) = a.at_least {
        (">=", x, "at least")
    } else if let Some(x) = a.below {
        ("<", x, "below")
    } else if let Some(x) = a.at_most {
        ("<=", x, "at most")
    } else {
        // Validation guarantees exactly one; fail closed (never fires) rather than panic.
        (">", f64::INFINITY, "above")
    }
}

/// The default `per` of a pace alert.
pub const DEFAULT_PACE_PER: PromDuration = PromDuration::from_secs(3600);
/// The default window of a pace or count alert whose manifest gives none (validation requires
/// one; this only guards against an unvalidated manifest).
pub const DEFAULT_ALERT_WINDOW: PromDuration = PromDuration::from_secs(300);

/// The PromQL of a declarative alert's measured value, without the comparison. Shared with the
/// dashboard, which draws the same value with the threshold.
pub(crate) fn measured_value(svc: &ServiceCtx, a: &Alert) -> Option<(String, String)> {
    let metric = a.metric.as_deref()?;
    let sel = svc.job(metric).labels(&a.labels);
    let window = a.window.unwrap_or(DEFAULT_ALERT_WINDOW);
    Some(match a.measure? {
        Measure::Pace => {
            let per = a.per.unwrap_or(DEFAULT_PACE_PER);
            (
                format!(
                    "sum(rate({})) * {}",
                    sel.range(window),
                    number(per.as_secs_f64())
                ),
                format!("{metric} per {per} at the pace of the last {window}"),
            )
        }
        Measure::Count => (
            count_over(&sel, window, &[]),
            format!("{metric} counted over the last {window}"),
        ),
        Measure::Value => (
            format!("sum({})", sel.text()),
            format!("{metric} (sum over tasks)"),
        ),
    })
}

/// One user alert: declarative or raw.
fn user_alert(svc: &ServiceCtx, a: &Alert) -> Rule {
    let (expr, description) = if let Some(raw) = &a.expr {
        (raw.clone(), format!("{} of {}: {}", a.name, svc.name, raw))
    } else {
        let (value, what) =
            measured_value(svc, a).unwrap_or_else(|| ("vector(0)".into(), "nothing".into()));
        let (op, threshold, words) = comparison(a);
        // A counter that never moved may have no series at all; "below" must then see 0.
        let needs_zero = matches!(a.measure, Some(Measure::Pace) | Some(Measure::Count))
            && matches!(op, "<" | "<=");
        let value = if needs_zero {
            format!("({value} or vector(0))")
        } else {
            value
        };
        (
            format!("{value} {op} {}", number(threshold)),
            format!(
                "{what} is {words} {} on {} (alert {}).",
                number(threshold),
                svc.name,
                a.name
            ),
        )
    };
    let summary = a
        .summary
        .clone()
        .unwrap_or_else(|| format!("{}: {{{{ $value | humanize }}}} on {}", a.name, svc.name));
    let description = a
        .description
        .clone()
        .unwrap_or_else(|| template_literal(&description));
    svc.alert(
        &a.name,
        expr,
        a.for_,
        a.severity,
        AlertText {
            summary,
            description,
            runbook_url: a.runbook_url.clone(),
        },
    )
}

pub(super) fn text(summary: String, description: String) -> AlertText {
    AlertText {
        summary,
        description,
        runbook_url: None,
    }
}

/// The rule file of one service.
pub(crate) fn rules(svc: &ServiceCtx, timing: &Timing) -> String {
    let interval = timing.evaluation.to_string();
    let mut groups = Vec::new();
    let spec = &svc.m.spec;
    if !spec.alerts.is_empty() {
        groups.push(Group {
            name: format!("{}.alerts", svc.name),
            interval: interval.clone(),
            rules: spec.alerts.iter().map(|a| user_alert(svc, a)).collect(),
        });
    }
    if spec.health_alerts.enabled {
        let mut rules = Vec::new();
        if spec.metrics.enabled {
            rules.extend(scrape_health(svc));
        }
        rules.extend(ecs_health(svc));
        groups.push(Group {
            name: format!("{}.health", svc.name),
            interval: interval.clone(),
            rules,
        });
    }
    let jobs = crate::render::aws::jobs::jobs(svc.m, None);
    let job_rules = super::jobs::job_alerts(svc, &jobs);
    if !job_rules.is_empty() {
        groups.push(Group {
            name: format!("{}.jobs", svc.name),
            interval: interval.clone(),
            rules: job_rules,
        });
    }
    let queue_rules = super::queue::queue_alerts(svc);
    if !queue_rules.is_empty() {
        groups.push(Group {
            name: format!("{}.queue", svc.name),
            interval: interval.clone(),
            rules: queue_rules,
        });
    }
    if let Some(slo) = &spec.slo {
        groups.push(Group {
            name: format!("{}.slo", svc.name),
            interval,
            rules: slo_rules(svc, slo),
        });
    }
    let header = format!(
        "{HEADER}\nRules of service {} (team {}).",
        svc.name, svc.team
    );
    yaml_file(&header, &RuleFile { groups })
}
