//! Status per manifest: conditions (Ready / Reconciling / Stalled) with a reason and a
//! message, the last applied spec hash, the last error and the owned resources. Served at
//! `/status` and kept in S3 ([`store`]).
//!
//! [`derive`] is a pure function of the previous statuses and one pass's results: no I/O,
//! and the clock comes in as an argument.

pub mod jobs;
pub mod predeploy;
pub mod rollout;
pub mod store;
pub mod warm;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::actuate::aws::ServiceResult;
use crate::error::ErrorClass;
use crate::manifest::ManifestSet;
use crate::observe::tasks::StoppedTask;
use crate::observe::TaskCounts;
use crate::plan::Outcome;

pub use predeploy::{PreDeployRun, PreDeployState};
pub use rollout::{RolloutPhase, RolloutStatus, RolloutTasks};
pub use store::StatusStore;

/// The kinds of condition, after Kubernetes' conventions (kstatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConditionType {
    /// The service matches its manifest.
    Ready,
    /// A deployment is rolling out.
    Reconciling,
    /// Retrying will not help: the manifest (or the world) must change first.
    Stalled,
}

/// Why a condition has its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    Reconciled,
    ApplyFailed,
    NeedsChange,
    Retrying,
    Conflict,
    Suspended,
    Waiting,
    RolloutFailed,
    InvalidManifest,
    RollingOut,
    Idle,
    /// The pre-deploy task of the spec failed (`spec.preDeploy`).
    PreDeployFailed,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: ConditionType,
    pub status: bool,
    pub reason: Reason,
    pub message: String,
    /// Unix seconds of the last change of `status`.
    pub last_transition: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scalable_target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery_service: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_applied_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default)]
    pub inventory: Inventory,
    /// Where people reach the service (`traffic.ingress`): the settings' scheme and public
    /// host (or the ingress's first plain host) and its first path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Validation problems, when the manifest is invalid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<String>,
    /// A spec ECS rolled back, not deployed again until the manifest changes or
    /// `ecs-operator retry` (see `reconcile::rollback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Box<HeldRollout>>,
    /// The latest rollout: in progress, completed, failed or rolled back. (This and the other
    /// sections most services lack are boxed: a status is kept twice during a pass, for
    /// every service.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Box<RolloutStatus>>,
    /// The latest pre-deploy run (`spec.preDeploy`): which spec it gated, its task, and
    /// once stopped its exit code and log stream. A spec runs it once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_deploy: Option<Box<PreDeployRun>>,
    /// The runs of the service's scheduled jobs (`spec.jobs`), by job name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub jobs: BTreeMap<String, jobs::JobStatus>,
    /// Live task counts (served, not persisted: they change without any reconcile). A struct,
    /// not a map: a three-key map cost a B-tree node and three strings per service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<TaskCounts>,
}

/// A spec ECS rolled back, kept in the service's status record (see
/// `reconcile::rollback`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldRollout {
    /// The spec hash not to deploy again.
    pub spec_hash: String,
    /// The task definition revision ECS rolled back from.
    pub revision: String,
    /// The failed deployment's id: the same rollback still listed is not a new one.
    pub deployment: String,
    /// ECS's reason (`rolloutStateReason` of the failed deployment).
    pub reason: String,
    /// Unix seconds when the operator first saw the rollback.
    pub since: u64,
}

/// Who rolled a service back, as its hold tag says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldKind {
    /// `ecs-operator rollback`.
    Hand,
    /// The SLO guard of a rollout (`reconcile::guard`).
    Guard,
}

impl HoldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::Hand => "hand",
            HoldKind::Guard => "guard",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "hand" => Some(HoldKind::Hand),
            "guard" => Some(HoldKind::Guard),
            _ => None,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            HoldKind::Hand => "rolled back by hand (ecs-operator rollback)",
            HoldKind::Guard => "rolled back by the SLO guard",
        }
    }
}

impl HeldRollout {
    /// The value of the service's `ecs-operator.io/held` tag: the spec hash, the time, the
    /// revision rolled back from and who rolled back (tag values allow only letters, digits,
    /// spaces and `_.:/=+-@`, all of which these are made of).
    pub fn to_tag(&self, kind: HoldKind) -> String {
        format!(
            "{} {} {} {}",
            self.spec_hash,
            self.since,
            rollout::short_revision(&self.revision),
            kind.as_str()
        )
    }

    /// Reads [`Self::to_tag`] back; `None` for a value it did not write.
    pub fn from_tag(value: &str) -> Option<Self> {
        let parts: Vec<&str> = value.split(' ').collect();
        let [spec_hash, since, revision, kind] = parts.as_slice() else {
            return None;
        };
        let since: u64 = since.parse().ok()?;
        let kind = HoldKind::parse(kind)?;
        (!spec_hash.is_empty()).then(|| HeldRollout {
            spec_hash: spec_hash.to_string(),
            revision: revision.to_string(),
            deployment: format!("{}@{since}", kind.as_str()),
            reason: kind.reason().to_string(),
            since,
        })
    }
}

/// `ecs-operator retry NAME`: deploy the held spec once more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryRequest {
    pub spec_hash: String,
    /// Unix seconds when it was asked for; only a hold that began before it is lifted.
    pub at: u64,
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl ServiceStatus {
    /// Sets a condition, keeping its transition time when the status did not flip.
    pub fn set_condition(
        &mut self,
        kind: ConditionType,
        status: bool,
        reason: Reason,
        message: &str,
        previous: Option<&ServiceStatus>,
        now: u64,
    ) {
        let last_transition = previous
            .and_then(|p| p.condition(kind))
            .filter(|c| c.status == status)
            .map(|c| c.last_transition)
            .unwrap_or(now);
        self.conditions.retain(|c| c.kind != kind);
        self.conditions.push(Condition {
            kind,
            status,
            reason,
            message: message.to_string(),
            last_transition,
        });
        self.conditions.sort_by_key(|c| c.kind);
    }

    pub fn condition(&self, kind: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// What is written to S3: everything but the live task counts.
    pub(crate) fn persisted(&self) -> ServiceStatus {
        ServiceStatus {
            tasks: None,
            rollout: (self.rollout.as_deref()).map(|r| {
                Box::new(RolloutStatus {
                    tasks: None,
                    ..r.clone()
                })
            }),
            ..self.clone()
        }
    }
}

/// The last few stop reasons of each service's tasks (newest last), so a failed rollout's
/// status can say why its tasks stopped.
#[derive(Debug, Default, Clone)]
pub struct StopReasons(BTreeMap<String, Vec<String>>);

impl StopReasons {
    /// How many reasons are kept per service.
    pub const KEEP: usize = 5;

    pub fn record(&mut self, stopped: &[StoppedTask]) {
        for task in stopped {
            let list = self.0.entry(task.service.clone()).or_default();
            list.push(format!("{}: {}", task.stop_code, task.reason));
            if list.len() > Self::KEEP {
                list.remove(0);
            }
        }
    }

    pub fn of(&self, service: &str) -> Option<&[String]> {
        self.0.get(service).map(Vec::as_slice)
    }
}

/// Turns a pass's results into statuses. `previous` keeps transition times and what a failed
/// apply cannot tell (the last applied hash, ARNs).
pub fn derive(
    previous: &BTreeMap<String, ServiceStatus>,
    set: &ManifestSet,
    results: &[ServiceResult],
    stops: &StopReasons,
    held: &BTreeMap<String, HeldRollout>,
    guard: &BTreeMap<String, String>,
    now: u64,
) -> BTreeMap<String, ServiceStatus> {
    use ConditionType::{Ready, Reconciling, Stalled};
    let mut next: BTreeMap<String, ServiceStatus> = BTreeMap::new();
    let known: BTreeSet<String> = set.all_names();
    // Where each manifest is written, by name (looked up once per result, not searched).
    let sources: BTreeMap<&str, String> = (set.manifests.iter())
        .map(|m| (m.name(), m.location()))
        .collect();
    for r in results {
        if !known.contains(&r.name) {
            continue; // pruned or kept orphans have no manifest to report on
        }
        let prev = previous.get(&r.name);
        let mut s = ServiceStatus {
            name: r.name.clone(),
            source: sources.get(r.name.as_str()).cloned(),
            ..ServiceStatus::default()
        };
        s.inventory = inventory(r, prev);
        s.pre_deploy = prev.and_then(|p| p.pre_deploy.clone());
        s.jobs = prev.map(|p| p.jobs.clone()).unwrap_or_default();
        s.url = (r.desired.as_ref()).and_then(|d| Some(d.ingress.as_ref()?.url.clone()));
        if let Some(o) = &r.observed {
            s.tasks = Some(o.tasks);
        }
        let rollout_failed = r
            .observed
            .as_ref()
            .and_then(|o| o.primary().filter(|_| o.rollout_failed()));
        let rolling = r
            .observed
            .as_ref()
            .is_some_and(|o| o.deployments_in_progress() > 0);
        let previous_hash = prev.and_then(|p| p.last_applied_hash.clone());
        let held_hash = previous_hash.clone();
        let applied_hash = r.desired.as_ref().map(|d| d.spec_hash.clone());
        let set_condition = |s: &mut ServiceStatus, kind, status, reason, message: &str| {
            s.set_condition(kind, status, reason, message, prev, now)
        };
        match (&r.outcome, &r.error, rollout_failed) {
            (_, Some(error), _) => {
                let stalled = r.error_class == Some(ErrorClass::Stalled);
                s.last_error = Some(error.clone());
                set_condition(&mut s, Ready, false, Reason::ApplyFailed, error);
                let why = if stalled {
                    Reason::NeedsChange
                } else {
                    Reason::Retrying
                };
                set_condition(&mut s, Stalled, stalled, why, error);
                s.last_applied_hash = previous_hash;
            }
            (Outcome::Conflict(why), None, _) => {
                s.last_error = Some(why.clone());
                set_condition(&mut s, Ready, false, Reason::Conflict, why);
                set_condition(&mut s, Stalled, true, Reason::Conflict, why);
            }
            (Outcome::Suspended, None, _) => {
                let message = "lifecycle.suspend is set; the operator leaves the service alone";
                set_condition(&mut s, Ready, false, Reason::Suspended, message);
                set_condition(&mut s, Stalled, false, Reason::Suspended, "");
                s.last_applied_hash = previous_hash;
            }
            (Outcome::Waiting(why), None, _) => {
                set_condition(&mut s, Ready, false, Reason::Waiting, why);
                set_condition(&mut s, Stalled, false, Reason::Waiting, why);
                s.last_applied_hash = previous_hash;
            }
            (_, None, Some(rollout)) => {
                let stopped = stops
                    .of(&r.name)
                    .map(|l| format!("; stopped tasks: {}", l.join(" | ")))
                    .unwrap_or_default();
                let message = format!(
                    "the deployment circuit breaker rolled back the last deployment: {}{stopped}",
                    rollout.reason
                );
                s.last_error = Some(message.clone());
                set_condition(&mut s, Ready, false, Reason::RolloutFailed, &message);
                set_condition(&mut s, Stalled, true, Reason::RolloutFailed, &message);
                s.last_applied_hash = applied_hash;
            }
            (_, None, None) => {
                let message = "the service matches its manifest";
                set_condition(&mut s, Ready, true, Reason::Reconciled, message);
                set_condition(&mut s, Stalled, false, Reason::Reconciled, "");
                s.last_applied_hash = applied_hash;
            }
        }
        // A held spec does not run, whatever else this pass corrected.
        if let (Some(h), None) = (held.get(&r.name), &r.error) {
            let message = format!(
                "{} was rolled back ({}); this spec is not deployed again until the manifest changes or `ecs-operator retry {}`",
                h.revision, h.reason, r.name
            );
            s.last_error = Some(message.clone());
            set_condition(&mut s, Ready, false, Reason::RolloutFailed, &message);
            set_condition(&mut s, Stalled, true, Reason::RolloutFailed, &message);
            s.last_applied_hash = held_hash;
            s.held = Some(Box::new(h.clone()));
        }
        s.rollout = rollout::rollout_of(r, now)
            .map(|ro| match held.get(&r.name) {
                // The service runs another revision than the held one (ECS is rolling back to
                // it, or has drained the failed deployment): the hold still knows the release,
                // so the rollout and its metrics keep naming the failed revision and image.
                Some(h) if ro.revision != h.revision => {
                    RolloutStatus {
                        phase: RolloutPhase::RolledBack,
                        revision: h.revision.clone(),
                        reason: h.reason.clone(),
                        rolled_back_to: Some(ro.revision.clone()),
                        started_at: Some(h.since),
                        // The held spec is the manifest's: its image is the one rolled back.
                        image: r
                            .desired
                            .as_ref()
                            .map(|d| d.task_definition.container.image.clone()),
                        ..ro
                    }
                }
                _ => ro,
            })
            .map(Box::new);
        if let (Some(ro), Some(why)) = (s.rollout.as_mut(), guard.get(&r.name)) {
            ro.guard = Some(why.clone());
        }
        let (reason, message) = if rolling {
            (Reason::RollingOut, "a deployment is in progress")
        } else {
            (Reason::Idle, "")
        };
        set_condition(&mut s, Reconciling, rolling, reason, message);
        next.insert(r.name.clone(), s);
    }
    for rejected in &set.rejected {
        let Some(name) = &rejected.name else { continue };
        let prev = previous.get(name);
        let diagnostics: Vec<String> = rejected.diagnostics.iter().map(|d| d.to_string()).collect();
        let message = diagnostics.first().cloned().unwrap_or_default();
        let mut s = prev.cloned().unwrap_or_else(|| ServiceStatus {
            name: name.clone(),
            ..ServiceStatus::default()
        });
        s.source = Some(rejected.source.clone());
        s.diagnostics = diagnostics;
        s.last_error = Some(message.clone());
        s.set_condition(Ready, false, Reason::InvalidManifest, &message, prev, now);
        s.set_condition(Stalled, true, Reason::InvalidManifest, &message, prev, now);
        next.insert(name.clone(), s);
    }
    next
}

/// What the service owns, from this pass's result, falling back on the previous record for
/// what a failed apply did not learn.
fn inventory(r: &ServiceResult, prev: Option<&ServiceStatus>) -> Inventory {
    let previous = prev.map(|p| &p.inventory);
    Inventory {
        cluster: Some(r.cluster.clone()),
        service_arn: r
            .service_arn
            .clone()
            .or_else(|| previous.and_then(|p| p.service_arn.clone())),
        task_definition_arn: r
            .task_definition_arn
            .clone()
            .or_else(|| previous.and_then(|p| p.task_definition_arn.clone())),
        scalable_target: r
            .desired
            .as_ref()
            .and_then(|d| d.scaling.as_ref())
            .map(|s| s.resource_id.to_string()),
        discovery_service: r
            .desired
            .as_ref()
            .and_then(|d| d.discovery.as_ref())
            .map(|d| d.name.clone()),
    }
}

#[cfg(test)]
mod tests;
