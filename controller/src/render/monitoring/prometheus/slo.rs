//! Service level objectives: multi-window, multi-burn-rate recording rules and alerts.

use super::builtin::{BURN_FAST_FOR, BURN_SLOW_FOR, FAST_BURN, SLOW_BURN};
use super::rules::{record, text, Rule};
use super::ServiceCtx;
use crate::domain::BuiltinAlert;
use crate::duration::PromDuration;
use crate::manifest::{Severity, Slo};
use crate::render::monitoring::promql::{le_matcher, number, quote, Op};

/// A recording-rule window: the nominal one, or four scrapes when that is longer.
fn slo_window(svc: &ServiceCtx, secs: u64) -> PromDuration {
    PromDuration::from_secs(secs).max(PromDuration::from_millis(4 * svc.scrape.as_millis()))
}

/// `1 - objective`, printed without float noise (`99.9` -> `0.001`).
pub(super) fn budget(objective_percent: f64) -> String {
    let b = (100.0 - objective_percent) / 100.0;
    let text = format!("{b:.12}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// Recording rules and burn-rate alerts of one objective.
#[allow(clippy::too_many_arguments)]
fn burn_rules(
    svc: &ServiceCtx,
    rules: &mut Vec<Rule>,
    record_prefix: &str,
    ratio: impl Fn(PromDuration) -> String,
    budget: &str,
    fast: BuiltinAlert,
    slow: BuiltinAlert,
    what: &str,
) {
    let mut windows: Vec<u64> = FAST_BURN
        .iter()
        .chain(SLOW_BURN.iter())
        .flat_map(|(long, short, _)| [*long, *short])
        .collect();
    windows.sort_unstable();
    windows.dedup();
    let series = |secs: u64| {
        let w = slo_window(svc, secs);
        format!(
            "{record_prefix}:ratio_rate{w}{{service={}}}",
            quote(svc.name)
        )
    };
    let mut seen = std::collections::BTreeSet::new();
    for secs in windows {
        let w = slo_window(svc, secs);
        if seen.insert(w) {
            rules.push(record(
                format!("{record_prefix}:ratio_rate{w}"),
                ratio(w),
                svc.name,
            ));
        }
    }
    let condition = |pairs: &[(u64, u64, f64)]| {
        pairs
            .iter()
            .map(|(long, short, rate)| {
                let threshold = format!("({} * {budget})", number(*rate));
                format!(
                    "({} > {threshold} and {} > {threshold})",
                    series(*long),
                    series(*short)
                )
            })
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let name = svc.name;
    rules.push(svc.alert(
        fast.as_str(),
        condition(&FAST_BURN),
        Some(svc.builtin_for(fast, BURN_FAST_FOR)),
        Severity::Critical,
        text(
            format!("{name} burns its {what} error budget fast ({{{{ $value | humanizePercentage }}}} bad)"),
            format!(
                "At this rate the {what} error budget of {name} ({budget} of requests) is gone in days: 14.4x over 1h and 5m, or 6x over 6h and 30m."
            ),
        ),
    ));
    rules.push(svc.alert(
        slow.as_str(),
        condition(&SLOW_BURN),
        Some(svc.builtin_for(slow, BURN_SLOW_FOR)),
        Severity::Warning,
        text(
            format!("{name} burns its {what} error budget steadily ({{{{ $value | humanizePercentage }}}} bad)"),
            format!(
                "The {what} error budget of {name} ({budget} of requests) runs out before the SLO window ends: 3x over 1d and 2h, or 1x over 3d and 6h."
            ),
        ),
    ));
}

pub(super) fn slo_rules(svc: &ServiceCtx, slo: &Slo) -> Vec<Rule> {
    let h = &svc.m.spec.health_alerts;
    let mut rules = Vec::new();
    let requests = svc.job(&h.requests_metric);
    let errors = requests.clone().re("code", "5..");
    burn_rules(
        svc,
        &mut rules,
        "ecs_operator:slo_errors",
        |w| {
            format!(
                "(sum(rate({})) or vector(0)) / sum(rate({}))",
                errors.range(w),
                requests.range(w)
            )
        },
        &budget(slo.availability),
        BuiltinAlert::ErrorBudgetBurnFast,
        BuiltinAlert::ErrorBudgetBurnSlow,
        "availability",
    );
    if let Some(latency) = &slo.latency {
        let count = svc.job(&format!("{}_count", h.latency_metric));
        let (op, le) = le_matcher(latency.threshold.as_secs_f64());
        let fast = svc.job(&format!("{}_bucket", h.latency_metric));
        let fast = match op {
            Op::Eq => fast.eq("le", &le),
            _ => fast.re("le", &le),
        };
        burn_rules(
            svc,
            &mut rules,
            "ecs_operator:slo_latency_errors",
            |w| {
                format!(
                    "1 - (sum(rate({})) / sum(rate({})))",
                    fast.range(w),
                    count.range(w)
                )
            },
            &budget(latency.objective),
            BuiltinAlert::LatencyBudgetBurnFast,
            BuiltinAlert::LatencyBudgetBurnSlow,
            "latency",
        );
    }
    rules
}
