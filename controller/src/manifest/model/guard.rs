//! `spec.deployment.guard`: the SLO gate of a rollout (see `reconcile::guard`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::yes;
use crate::duration::PromDuration;

/// While a rollout is in progress, compare the new revision's error ratio with the old
/// one's (from Prometheus, by task-definition revision) and roll back when it is worse.
/// Judged only for services with `spec.slo` (the availability objective sets the budget).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutGuard {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The window both revisions are compared over.
    #[serde(default = "default_window")]
    pub window: PromDuration,
    /// Requests the new revision must have served in the window before it is judged: a
    /// release is never rolled back on a handful of requests.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
    /// How much higher (absolute, 0..1) the new revision's error ratio may be than the old
    /// one's.
    #[serde(default = "default_margin")]
    pub margin: f64,
    /// The new revision must also burn the error budget at least this fast: 14.4 is the
    /// fast-burn page of the multi-window practice (2 % of a 30-day budget in an hour).
    #[serde(default = "default_burn_rate")]
    pub burn_rate: f64,
}

impl Default for RolloutGuard {
    fn default() -> Self {
        Self {
            enabled: true,
            window: default_window(),
            min_requests: default_min_requests(),
            margin: default_margin(),
            burn_rate: default_burn_rate(),
        }
    }
}

fn default_window() -> PromDuration {
    PromDuration::from_secs(300)
}
fn default_min_requests() -> u64 {
    100
}
fn default_margin() -> f64 {
    0.01
}
fn default_burn_rate() -> f64 {
    14.4
}
