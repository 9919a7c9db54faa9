//! SLO-gated rollouts. While a service rolls out, the operator asks Prometheus for the error
//! ratio of each task-definition revision (service discovery labels every target with its
//! `revision`) and rolls back when the new revision is worse than the old one beyond the
//! manifest's margin and burns the error budget fast (`spec.deployment.guard`).
//!
//! # Guarantees
//! - [`judge`] is pure. A healthy release is never rolled back: no verdict on fewer requests
//!   than `minRequests` in the window, and "worse" needs both the margin over the old
//!   revision and the fast burn rate of the availability objective.
//! - Every decision is explained (the signal, both values, the requests, the limit) in the
//!   service's `/status` rollout, whichever way it went.
//! - The rollback holds the spec like a rollback by hand (the `ecs-operator.io/held` tag,
//!   written before the service is changed), so no pass and no replica deploys it again.
//!
//! # Caveats
//! - Signals: the availability objective (5xx share of the requests counter) and, when set,
//!   the latency objective (share of requests slower than its threshold, from the latency
//!   histogram's bucket at the threshold). `guardsRollout` alerts are not judged yet.
//! - Prometheus must have scraped both revisions: a revision without samples (no revision
//!   label, or not scraped yet) leaves the rollout unjudged, never rolled back.

use std::collections::BTreeMap;

use super::rollout::roll_back_to;
use super::Reconciler;
use crate::domain::short_revision;
use crate::manifest::{ManifestSet, MonitoredService, RolloutGuard};
use crate::observe::{DeploymentStatus, ObservedService, RolloutState};
use crate::plan::Plan;
use crate::render::monitoring::promql::{le_matcher, Op, Selector};
use crate::status::{HeldRollout, HoldKind};

/// Requests and errors of one revision over the guard's window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RevisionSample {
    pub requests: f64,
    pub errors: f64,
}

impl RevisionSample {
    pub fn error_ratio(&self) -> f64 {
        if self.requests > 0.0 {
            self.errors / self.requests
        } else {
            0.0
        }
    }
}

/// What the guard concluded about one rollout.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not enough traffic on the new revision yet: no decision.
    TooFewRequests { requests: f64, needed: u64 },
    /// Within the limits.
    Healthy {
        new: f64,
        old: Option<f64>,
        limit: f64,
    },
    /// Worse beyond the margin and burning the budget fast: roll back.
    Worse {
        new: f64,
        old: Option<f64>,
        limit: f64,
    },
}

impl Verdict {
    pub fn rolls_back(&self) -> bool {
        matches!(self, Verdict::Worse { .. })
    }
}

/// Judges the new revision against the old one on a signal whose objective (availability,
/// or the latency objective) is `objective` percent.
pub fn judge(
    new: RevisionSample,
    old: Option<RevisionSample>,
    objective: f64,
    guard: &RolloutGuard,
) -> Verdict {
    if new.requests < guard.min_requests as f64 {
        return Verdict::TooFewRequests {
            requests: new.requests,
            needed: guard.min_requests,
        };
    }
    let budget = (1.0 - objective / 100.0).max(0.0);
    let old_ratio = old.filter(|o| o.requests > 0.0).map(|o| o.error_ratio());
    let limit = (old_ratio.unwrap_or(0.0) + guard.margin).max(budget * guard.burn_rate);
    let new_ratio = new.error_ratio();
    if new_ratio > limit {
        Verdict::Worse {
            new: new_ratio,
            old: old_ratio,
            limit,
        }
    } else {
        Verdict::Healthy {
            new: new_ratio,
            old: old_ratio,
            limit,
        }
    }
}

/// One line for `/status`, the hold's reason and the alert.
pub fn explain(
    signal: &str,
    verdict: &Verdict,
    new_revision: &str,
    old_revision: &str,
    guard: &RolloutGuard,
) -> String {
    let pct = |r: f64| format!("{:.2}%", r * 100.0);
    let old = |o: &Option<f64>| match o {
        Some(o) => format!("{} on {old_revision}", pct(*o)),
        None => format!("no traffic on {old_revision}"),
    };
    match verdict {
        Verdict::TooFewRequests { requests, needed } => format!(
            "SLO guard: {new_revision} served {requests:.0} requests in {}, fewer than the {needed} needed to judge it",
            guard.window
        ),
        Verdict::Healthy { new, old: o, limit } => format!(
            "SLO guard: {signal} {} on {new_revision} vs {} over {}, within the limit {}",
            pct(*new),
            old(o),
            guard.window,
            pct(*limit)
        ),
        Verdict::Worse { new, old: o, limit } => format!(
            "SLO guard: {signal} {} on {new_revision} vs {} over {}, above the limit {}",
            pct(*new),
            old(o),
            guard.window,
            pct(*limit)
        ),
    }
}

/// A signal the guard judges: both queries count events per revision in the window, the
/// second the bad ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// `error ratio` or `slow ratio`.
    pub name: &'static str,
    /// The objective in percent (its budget is 100 - objective).
    pub objective: f64,
    /// Events per revision in the window.
    pub total: String,
    /// Bad events per revision in the window.
    pub bad: String,
}

/// The signals of a manifest's SLO: the availability (5xx of the requests counter) and, with
/// a latency objective, the share of requests slower than its threshold (from the latency
/// histogram's bucket at the threshold). None without an SLO.
pub fn signals(m: &MonitoredService, guard: &RolloutGuard) -> Vec<Signal> {
    let Some(slo) = &m.spec.slo else {
        return Vec::new();
    };
    let h = &m.spec.health_alerts;
    let job = |metric: &str| Selector::new(metric).eq("job", &m.metadata.name);
    let sum = |s: &Selector| format!("sum by (revision) (increase({}))", s.range(guard.window));
    let requests = job(&h.requests_metric);
    let mut out = vec![Signal {
        name: "error ratio",
        objective: slo.availability,
        total: sum(&requests),
        bad: sum(&requests.clone().re("code", "5..")),
    }];
    if let Some(latency) = &slo.latency {
        let count = job(&format!("{}_count", h.latency_metric));
        let bucket = job(&format!("{}_bucket", h.latency_metric));
        let fast = match le_matcher(latency.threshold.as_secs_f64()) {
            (Op::Eq, le) => bucket.eq("le", &le),
            (_, le) => bucket.re("le", &le),
        };
        out.push(Signal {
            name: "slow ratio",
            objective: latency.objective,
            total: sum(&count),
            bad: format!("{} - {}", sum(&count), sum(&fast)),
        });
    }
    out
}

/// Samples by revision from the answers of a [`Signal`]'s two queries (Prometheus `vector`
/// results).
pub fn samples(
    total: &serde_json::Value,
    failed: &serde_json::Value,
) -> BTreeMap<String, RevisionSample> {
    let by_revision = |v: &serde_json::Value| -> BTreeMap<String, f64> {
        v["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let revision = r["metric"]["revision"].as_str()?.to_string();
                let value: f64 = r["value"][1].as_str()?.parse().ok()?;
                value.is_finite().then_some((revision, value))
            })
            .collect()
    };
    let errors = by_revision(failed);
    by_revision(total)
        .into_iter()
        .map(|(revision, requests)| {
            let errors = errors.get(&revision).copied().unwrap_or(0.0);
            (revision, RevisionSample { requests, errors })
        })
        .collect()
}

/// Runs one instant query against Prometheus's HTTP API.
pub async fn query(
    http: &reqwest::Client,
    prometheus_url: &str,
    promql: &str,
) -> Result<serde_json::Value, String> {
    let url = format!("{}/api/v1/query", prometheus_url.trim_end_matches('/'));
    let response = http
        .get(&url)
        .query(&[("query", promql)])
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("cannot query {url}: {e}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("{url}: not a Prometheus answer: {e}"))?;
    if !status.is_success() || body["status"] != "success" {
        return Err(format!(
            "{url}: {status}: {}",
            body["error"].as_str().unwrap_or("query failed")
        ));
    }
    Ok(body)
}

/// What the guard found for one service this pass.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardReport {
    /// The verdict in words (for `/status`), or why there was none.
    pub explanation: String,
    /// Set when the guard rolled the service back: its hold.
    pub rolled_back: Option<HeldRollout>,
}

/// The guard step of a pass: judges every service rolling out whose manifest has an SLO and
/// the guard on, and rolls back those whose new revision is worse. Only the leader calls it
/// (it writes). A Prometheus that cannot be asked leaves every rollout unjudged.
pub async fn check(
    ctx: &Reconciler,
    plan: &Plan,
    set: &ManifestSet,
    now: u64,
) -> BTreeMap<String, GuardReport> {
    let mut reports = BTreeMap::new();
    let Some(prometheus) = ctx.settings.monitoring.prometheus_url.as_deref() else {
        return reports;
    };
    let mut http: Option<reqwest::Client> = None;
    for sp in &plan.services {
        let (Some(o), Some(d)) = (&sp.observed, &sp.desired) else {
            continue;
        };
        let Some(m) = set.manifests.iter().find(|m| m.name() == sp.name) else {
            continue;
        };
        let guard = &m.manifest.spec.deployment.guard;
        let signals = signals(&m.manifest, guard);
        let judged = guard.enabled && !signals.is_empty();
        let Some(rollout) = RolloutUnderWay::of(o).filter(|_| judged) else {
            continue;
        };
        let http = http.get_or_insert_with(reqwest::Client::new);
        let (new, old) = (short_revision(&rollout.new), short_revision(&rollout.old));
        // Every signal is judged; the first that rolls back decides and is the reason, else
        // every verdict (or why there was none) is shown.
        let mut lines = Vec::new();
        let mut worse = None;
        for signal in &signals {
            let answers = match (
                query(http, prometheus, &signal.total).await,
                query(http, prometheus, &signal.bad).await,
            ) {
                (Ok(t), Ok(b)) => samples(&t, &b),
                (Err(e), _) | (_, Err(e)) => {
                    lines.push(format!("SLO guard: {e}"));
                    continue;
                }
            };
            let Some(new_sample) = answers.get(new).copied() else {
                lines.push(format!(
                    "SLO guard: Prometheus has no {} samples of {new} yet",
                    signal.name
                ));
                continue;
            };
            let verdict = judge(
                new_sample,
                answers.get(old).copied(),
                signal.objective,
                guard,
            );
            let line = explain(signal.name, &verdict, new, old, guard);
            if verdict.rolls_back() {
                worse = Some(line);
                break;
            }
            lines.push(line);
        }
        let mut report = unjudged(worse.clone().unwrap_or_else(|| lines.join("; ")));
        if let Some(explanation) = worse.filter(|_| ctx.fence.as_ref().is_none_or(|f| f())) {
            let hold = HeldRollout {
                spec_hash: d.spec_hash.clone(),
                revision: rollout.new.clone(),
                deployment: format!("guard@{now}"),
                reason: explanation,
                since: now,
            };
            match roll_back_to(&ctx.aws, o, &rollout.old, &hold, HoldKind::Guard).await {
                Ok(()) => {
                    tracing::warn!(service = %sp.name, reason = %hold.reason, "rolled back");
                    report.rolled_back = Some(hold);
                }
                Err(e) => report.explanation = format!("{}; the rollback failed: {e}", hold.reason),
            }
        }
        reports.insert(sp.name.clone(), report);
    }
    reports
}

fn unjudged(explanation: String) -> GuardReport {
    GuardReport {
        explanation,
        rolled_back: None,
    }
}

/// A rollout the guard can judge: ECS moving the service from `old` to `new`, both with
/// tasks.
struct RolloutUnderWay {
    new: String,
    old: String,
}

impl RolloutUnderWay {
    fn of(o: &ObservedService) -> Option<Self> {
        let primary = o.primary()?;
        let in_progress = matches!(
            primary.rollout,
            RolloutState::InProgress | RolloutState::Unknown(_)
        );
        let old = (o.deployments.iter())
            .find(|d| d.id != primary.id && d.status == DeploymentStatus::Active)?;
        (in_progress && old.task_definition_arn != primary.task_definition_arn).then(|| Self {
            new: primary.task_definition_arn.clone(),
            old: old.task_definition_arn.clone(),
        })
    }
}

#[cfg(test)]
mod tests;
