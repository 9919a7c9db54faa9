//! Checks of how the service is watched: metrics, alerts, health alerts, SLOs, the dashboard
//! and the receivers.

use std::collections::BTreeSet;

use super::{has_control_chars, is_dns_label, is_label_name, is_metric_name, Checker};
use crate::domain::BuiltinAlert;
use crate::duration::PromDuration;
use crate::manifest::model::*;
use crate::settings::Settings;

/// Returns the effective scrape interval for later checks.
pub(super) fn check_metrics(
    c: &mut Checker,
    m: &Metrics,
    settings: Option<&Settings>,
) -> PromDuration {
    c.check(
        m.path.starts_with('/') && !m.path.contains(char::is_whitespace),
        "spec.metrics.path",
        || format!("{:?} must be an absolute HTTP path", m.path),
    );
    if m.port == Some(0) {
        c.fail("spec.metrics.port", "must be between 1 and 65535");
    }
    if let Some(interval) = m.interval {
        c.check(
            (1_000..=300_000).contains(&interval.as_millis()),
            "spec.metrics.interval",
            || format!("{interval} must be between 1s and 5m"),
        );
    }
    m.interval.unwrap_or_else(|| {
        settings
            .and_then(|s| PromDuration::parse(&s.monitoring.default_scrape_interval).ok())
            .unwrap_or(PromDuration::from_secs(15))
    })
}

/// Prometheus template actions we allow in summaries: values and labels, optionally humanised.
pub(super) fn template_is_safe(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("has an unclosed '{{'")?;
        let action = after[..end]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        let mut parts = action.split('|').map(str::trim);
        let head = parts.next().unwrap_or("");
        let head_ok = head == "$value"
            || head == ".Value"
            || ["$labels.", ".Labels.", "$externalLabels."]
                .iter()
                .any(|p| head.strip_prefix(p).is_some_and(is_label_name_or_builtin));
        let pipes_ok = parts.all(|p| {
            matches!(
                p,
                "humanize"
                    | "humanize1024"
                    | "humanizePercentage"
                    | "humanizeDuration"
                    | "printf \"%.0f\""
                    | "printf \"%.1f\""
                    | "printf \"%.2f\""
            )
        });
        if !head_ok || !pipes_ok {
            return Err(format!(
                "template action {{{{ {action} }}}} is not allowed: use {{{{ $value }}}} or {{{{ $labels.NAME }}}}, optionally piped to humanize, humanizePercentage, humanizeDuration or printf \"%.2f\""
            ));
        }
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err("has a '}}' without an opening '{{'".into());
    }
    Ok(())
}

pub(super) fn is_label_name_or_builtin(s: &str) -> bool {
    is_label_name(s) || s == "__name__"
}

pub(super) fn check_alerts(c: &mut Checker, alerts: &[Alert], scrape: PromDuration) {
    // Each alert renders to a few kilobytes of rules: without a cap, one 1 MiB manifest held
    // ~9,000 alerts and took ~200 MB to render.
    c.check(alerts.len() <= 100, "spec.alerts", || {
        "at most 100 alerts per service".into()
    });
    let mut seen = BTreeSet::new();
    for (i, a) in alerts.iter().enumerate().take(100) {
        let p = |field: &str| format!("spec.alerts[{i}].{field}");
        let name_ok = a.name.len() <= 64
            && a.name.starts_with(|ch: char| ch.is_ascii_uppercase())
            && a.name.chars().all(|ch| ch.is_ascii_alphanumeric());
        c.check(name_ok, p("name"), || {
            format!(
                "{:?} must be UpperCamelCase letters and digits, at most 64 characters",
                a.name
            )
        });
        c.check(seen.insert(a.name.clone()), p("name"), || {
            format!("{:?} is used by another alert", a.name)
        });
        c.check(a.name.parse::<BuiltinAlert>().is_err(), p("name"), || {
            format!("{:?} is the name of a built-in alert", a.name)
        });
        let comparisons = [a.above, a.at_least, a.below, a.at_most];
        let given = comparisons.iter().filter(|v| v.is_some()).count();
        match (&a.expr, &a.metric) {
            (Some(_), Some(_)) => c.fail(
                p("expr"),
                "give either expr (raw PromQL) or metric, not both",
            ),
            (None, None) => c.fail(
                p("metric"),
                "give a metric to watch (or expr with raw PromQL)",
            ),
            (Some(expr), None) => {
                if let Err(e) = promql_parser::parser::parse(expr) {
                    c.fail(p("expr"), format!("is not valid PromQL: {}", e.trim()));
                }
                c.check(given == 0 && a.measure.is_none() && a.window.is_none() && a.per.is_none() && a.labels.is_empty(), p("expr"), || {
                    "raw PromQL carries its own condition: drop measure, window, per, labels and above/atLeast/below/atMost".into()
                });
            }
            (None, Some(metric)) => {
                c.check(is_metric_name(metric), p("metric"), || {
                    format!("{metric:?} is not a Prometheus metric name")
                });
                for key in a.labels.keys() {
                    c.check(
                        is_label_name(key),
                        format_args!("spec.alerts[{i}].labels.{key}"),
                        || format!("{key:?} is not a Prometheus label name"),
                    );
                }
                c.check(given == 1, p("above"), || {
                    format!("give exactly one of above, atLeast, below, atMost (found {given})")
                });
                for v in comparisons.into_iter().flatten() {
                    c.check(v.is_finite(), p("above"), || {
                        "threshold must be a finite number".into()
                    });
                }
                match a.measure {
                    None => c.fail(p("measure"), "give measure: pace, count or value"),
                    Some(Measure::Pace) | Some(Measure::Count) => match a.window {
                        None => c.fail(p("window"), "pace and count need a window (e.g. 5m or 1h)"),
                        Some(w) => c.check(w.as_millis() >= 4 * scrape.as_millis(), p("window"), || {
                            format!(
                                "{w} is shorter than 4 scrape intervals ({}): the rate would be computed from too few samples",
                                PromDuration::from_millis(4 * scrape.as_millis())
                            )
                        }),
                    },
                    Some(Measure::Value) => c.check(a.window.is_none(), p("window"), || "value alerts take no window".into()),
                }
                if let Some(per) = a.per {
                    c.check(a.measure == Some(Measure::Pace), p("per"), || {
                        "per only applies to measure: pace".into()
                    });
                    c.check(per.as_millis() >= 1000, p("per"), || {
                        "must be at least 1s".into()
                    });
                }
            }
        }
        if let Some(f) = a.for_ {
            c.check(f.as_millis() <= 24 * 3_600_000, p("for"), || {
                format!("{f} must be at most 24h")
            });
        }
        for (field, text) in [("summary", &a.summary), ("description", &a.description)] {
            if let Some(text) = text {
                c.check(text.len() <= 1024, p(field), || {
                    "must be at most 1024 characters".into()
                });
                if let Err(e) = template_is_safe(text) {
                    c.fail(p(field), e);
                }
            }
        }
        if let Some(url) = &a.runbook_url {
            c.check(is_http_url(url), p("runbookUrl"), || {
                format!("{url:?} must be an http(s) URL")
            });
        }
    }
}

pub(super) fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > 8
        && s.len() <= 2048
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '{' || c == '}')
}

pub(super) fn check_health_alerts(c: &mut Checker, h: &HealthAlerts) {
    c.check(
        h.error_ratio_above > 0.0 && h.error_ratio_above < 1.0,
        "spec.healthAlerts.errorRatioAbove",
        || {
            format!(
                "{} must be a ratio between 0 and 1 (0.05 = 5%)",
                h.error_ratio_above
            )
        },
    );
    c.check(
        h.latency_p99_above.as_millis() > 0,
        "spec.healthAlerts.latencyP99Above",
        || "must be positive".into(),
    );
    for (field, v) in [
        ("cpuPercentAbove", h.cpu_percent_above),
        ("memoryPercentAbove", h.memory_percent_above),
    ] {
        c.check(
            v > 0.0 && v <= 100.0,
            format_args!("spec.healthAlerts.{field}"),
            || format!("{v} must be a percentage above 0 and at most 100"),
        );
    }
    c.check(
        is_metric_name(&h.requests_metric),
        "spec.healthAlerts.requestsMetric",
        || format!("{:?} is not a Prometheus metric name", h.requests_metric),
    );
    c.check(
        is_metric_name(&h.latency_metric),
        "spec.healthAlerts.latencyMetric",
        || format!("{:?} is not a Prometheus metric name", h.latency_metric),
    );
}

/// `spec.deployment.guard`: values that can judge a rollout.
pub(super) fn check_guard(c: &mut Checker, g: &RolloutGuard) {
    c.check(
        (60_000..=3_600_000).contains(&g.window.as_millis()),
        "spec.deployment.guard.window",
        || format!("{} must be between 1m and 1h", g.window),
    );
    c.check(
        g.min_requests >= 1,
        "spec.deployment.guard.minRequests",
        || "must be at least 1: a rollout is never judged on no requests".into(),
    );
    c.check(
        (0.0..1.0).contains(&g.margin),
        "spec.deployment.guard.margin",
        || {
            format!(
                "{} must be an error ratio from 0 up to (not including) 1",
                g.margin
            )
        },
    );
    c.check(
        g.burn_rate > 0.0 && g.burn_rate.is_finite(),
        "spec.deployment.guard.burnRate",
        || format!("{} must be a positive number", g.burn_rate),
    );
}

pub(super) fn check_slo(c: &mut Checker, s: &Slo) {
    c.check(
        s.availability >= 50.0 && s.availability < 100.0,
        "spec.slo.availability",
        || {
            format!(
                "{} must be a percentage from 50 up to (not including) 100, e.g. 99.9",
                s.availability
            )
        },
    );
    let day = 24 * 3_600_000;
    c.check(
        (day..=90 * day).contains(&s.window.as_millis()),
        "spec.slo.window",
        || format!("{} must be between 1d and 90d", s.window),
    );
    if let Some(l) = &s.latency {
        c.check(
            l.threshold.as_millis() > 0,
            "spec.slo.latency.threshold",
            || "must be positive".into(),
        );
        c.check(
            l.objective >= 50.0 && l.objective < 100.0,
            "spec.slo.latency.objective",
            || {
                format!(
                    "{} must be a percentage from 50 up to (not including) 100",
                    l.objective
                )
            },
        );
    }
}

pub(super) fn check_dashboard(c: &mut Checker, d: &Dashboard) {
    c.check(d.panels.len() <= 50, "spec.dashboard.panels", || {
        "at most 50 extra panels".into()
    });
    // Beyond the cap only the count is reported: parsing thousands of queries is wasted work.
    for (i, panel) in d.panels.iter().enumerate().take(50) {
        c.check(
            !panel.title.trim().is_empty() && panel.title.len() <= 200,
            format_args!("spec.dashboard.panels[{i}].title"),
            || "must be 1-200 characters".into(),
        );
        if let Err(e) = promql_parser::parser::parse(&panel.expr) {
            c.fail(
                format!("spec.dashboard.panels[{i}].expr"),
                format!("is not valid PromQL: {}", e.trim()),
            );
        }
        c.check(
            !panel.unit.is_empty() && panel.unit.len() <= 64 && !has_control_chars(&panel.unit),
            format_args!("spec.dashboard.panels[{i}].unit"),
            || "must be a Grafana unit id such as short, percent, s, bytes".into(),
        );
    }
}

/// `settings`, when given, adds the platform check: email needs the settings' SMTP relay.
pub(super) fn check_notify(c: &mut Checker, n: &Notify, settings: Option<&Settings>) {
    c.check(is_dns_label(&n.team, 63), "spec.notify.team", || {
        format!(
            "{:?} must be a DNS label (lower-case letters, digits, '-')",
            n.team
        )
    });
    for (i, r) in n.receivers.iter().enumerate() {
        let base = format!("spec.notify.receivers[{i}]");
        let kinds = [
            r.webhook.is_some(),
            r.slack.is_some(),
            r.email.is_some(),
            r.sns.is_some(),
        ];
        let count = kinds.iter().filter(|k| **k).count();
        c.check(count == 1, &base, || {
            format!("each receiver is exactly one of webhook, slack, email, sns (found {count})")
        });
        if let Some(w) = &r.webhook {
            c.check(
                is_http_url(&w.url),
                format_args!("{base}.webhook.url"),
                || format!("{:?} must be an http(s) URL", w.url),
            );
        }
        if let Some(s) = &r.slack {
            c.check(
                (s.channel.starts_with('#') || s.channel.starts_with('@'))
                    && s.channel.len() > 1
                    && !has_control_chars(&s.channel),
                format_args!("{base}.slack.channel"),
                || format!("{:?} must start with '#' or '@'", s.channel),
            );
            c.check(
                s.api_url_file.starts_with('/') && !s.api_url_file.contains("..") && !s.api_url_file.contains("://"),
                format_args!("{base}.slack.apiUrlFile"),
                || "must be an absolute file path (the webhook URL is a secret and never goes in a manifest)".into(),
            );
        }
        if let Some(e) = &r.email {
            c.check(
                settings.is_none_or(|s| s.monitoring.smtp.is_some()),
                format_args!("{base}.email"),
                || "an email receiver needs an SMTP relay, and the operator settings have none: set monitoring.smtp (smarthost, from) or use another receiver".into(),
            );
            let ok =
                e.to.split_once('@')
                    .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
                    && !e.to.contains(char::is_whitespace);
            c.check(ok, format_args!("{base}.email.to"), || {
                format!("{:?} is not an email address", e.to)
            });
        }
        if let Some(s) = &r.sns {
            let parts: Vec<&str> = s.topic_arn.split(':').collect();
            let ok = parts.len() == 6
                && parts[0] == "arn"
                && parts[2] == "sns"
                && parts[4].len() == 12
                && !parts[5].is_empty();
            c.check(ok, format_args!("{base}.sns.topicArn"), || {
                format!("{:?} is not an SNS topic ARN", s.topic_arn)
            });
        }
    }
}
