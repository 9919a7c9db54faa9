//! The operator's own metrics, and the ECS state of every managed service (the built-in
//! alerts `TasksBelowDesired`, `DeploymentFailed` and `TasksStopping` are computed from these).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::aws::calls::CallKey;
use crate::domain::short_revision;
use crate::manifest::ManifestSet;
use crate::reconcile::pass::PassReport;
use crate::reconcile::ErrorClass;
use crate::render::monitoring::alertmanager::receivers_of;
use crate::settings::Settings;
use crate::status::{RolloutPhase, ServiceStatus};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabels {
    pub class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub service: String,
    pub operation: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    pub service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoppedLabels {
    pub service: String,
    pub reason: String,
    /// The essential container whose exit stopped the task (`EssentialContainerExited`).
    pub container: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub service: String,
    pub phase: String,
}

/// A revision of a service: `family:revision` and its image.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RevisionLabels {
    pub service: String,
    pub revision: String,
    pub image: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ContainerLabels {
    pub service: String,
    pub container: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_seconds: Histogram,
    pub errors: Family<ClassLabels, Counter>,
    pub aws_calls: Family<CallLabels, Counter>,
    pub drift: Family<ServiceLabels, Counter>,
    pub owned_services: Gauge,
    pub leader: Gauge,
    pub manifests: Family<StateLabels, Gauge>,
    pub last_success: Gauge<f64, AtomicU64>,
    pub source_errors: Counter,
    pub monitoring_errors: Counter,
    pub desired_tasks: Family<ServiceLabels, Gauge>,
    pub running_tasks: Family<ServiceLabels, Gauge>,
    pub pending_tasks: Family<ServiceLabels, Gauge>,
    pub rollout_failed: Family<ServiceLabels, Gauge>,
    pub deployments_in_progress: Family<ServiceLabels, Gauge>,
    pub stopped_tasks: Family<StoppedLabels, Counter>,
    pub services_without_receiver: Gauge,
    pub rollout_phase: Family<PhaseLabels, Gauge>,
    pub deployed_at: Family<RevisionLabels, Gauge>,
    pub rolled_back: Family<RevisionLabels, Gauge>,
    pub events: Family<KindLabels, Counter>,
    pub container_failures: Family<ContainerLabels, Counter>,
    /// (task, container) of the exits counted: ECS reports an exit again in every later
    /// change of its task.
    exits_seen: Mutex<std::collections::BTreeSet<(String, String)>>,
    /// Pre-deploy tasks and scheduled jobs.
    pub jobs: super::job_metrics::JobMetrics,
    /// Queue workers' SQS queues.
    pub queues: super::queue_metrics::QueueMetrics,
    last_calls: Mutex<BTreeMap<CallKey, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            reconciles: Family::default(),
            reconcile_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            errors: Family::default(),
            aws_calls: Family::default(),
            drift: Family::default(),
            owned_services: Gauge::default(),
            leader: Gauge::default(),
            manifests: Family::default(),
            last_success: Gauge::default(),
            source_errors: Counter::default(),
            monitoring_errors: Counter::default(),
            desired_tasks: Family::default(),
            running_tasks: Family::default(),
            pending_tasks: Family::default(),
            rollout_failed: Family::default(),
            deployments_in_progress: Family::default(),
            stopped_tasks: Family::default(),
            services_without_receiver: Gauge::default(),
            rollout_phase: Family::default(),
            deployed_at: Family::default(),
            rolled_back: Family::default(),
            events: Family::default(),
            container_failures: Family::default(),
            exits_seen: Mutex::new(Default::default()),
            jobs: Default::default(),
            queues: Default::default(),
            last_calls: Mutex::new(BTreeMap::new()),
            registry: Registry::default(),
        };
        registry.register(
            "ecs_operator_events",
            "Events of the events queue by kind (manifest, service, task, container, test, unknown)",
            m.events.clone(),
        );
        registry.register(
            "ecs_operator_service_container_failures",
            "Containers that exited non-zero while their task ran on (non-essential sidecars: ECS does not stop the task, so it does not count as a stopped task), from ECS task state change events",
            m.container_failures.clone(),
        );
        registry.register(
            "ecs_operator_service_rollout",
            "1 for the phase of a managed service's latest rollout (InProgress, Completed, Failed, RolledBack)",
            m.rollout_phase.clone(),
        );
        registry.register(
            "ecs_operator_service_deployed_timestamp_seconds",
            "When the revision a managed service runs (or is rolling out) was deployed, with its image",
            m.deployed_at.clone(),
        );
        registry.register(
            "ecs_operator_service_rolled_back",
            "1 while a managed service's spec is held after a rollback: the revision and image rolled back from",
            m.rolled_back.clone(),
        );
        registry.register(
            "ecs_operator_services_without_receiver",
            "Valid manifests whose alerts reach no receiver (none of their own, none for their team in the settings, no fallback)",
            m.services_without_receiver.clone(),
        );
        registry.register(
            "ecs_operator_reconciles",
            "Reconcile passes by result",
            m.reconciles.clone(),
        );
        registry.register(
            "ecs_operator_reconcile_duration_seconds",
            "Duration of a reconcile pass",
            m.reconcile_seconds.clone(),
        );
        registry.register(
            "ecs_operator_reconcile_errors",
            "Service reconcile errors by class",
            m.errors.clone(),
        );
        registry.register(
            "ecs_operator_aws_calls",
            "AWS API call attempts by service, operation and outcome",
            m.aws_calls.clone(),
        );
        registry.register(
            "ecs_operator_drift_detected",
            "Passes that found a managed service differing from its manifest",
            m.drift.clone(),
        );
        registry.register(
            "ecs_operator_owned_services",
            "ECS services carrying this operator's ownership tag",
            m.owned_services.clone(),
        );
        registry.register(
            "ecs_operator_leader",
            "1 while this replica holds the leader lease",
            m.leader.clone(),
        );
        registry.register(
            "ecs_operator_manifests",
            "Manifests by state (valid, invalid)",
            m.manifests.clone(),
        );
        registry.register(
            "ecs_operator_last_success_timestamp_seconds",
            "Unix time of the last fully successful pass",
            m.last_success.clone(),
        );
        registry.register(
            "ecs_operator_source_errors",
            "Failed reads of the manifest source",
            m.source_errors.clone(),
        );
        registry.register(
            "ecs_operator_monitoring_errors",
            "Failed writes or reloads of the monitoring configuration",
            m.monitoring_errors.clone(),
        );
        registry.register(
            "ecs_operator_service_desired_tasks",
            "Desired task count of a managed service",
            m.desired_tasks.clone(),
        );
        registry.register(
            "ecs_operator_service_running_tasks",
            "Running task count of a managed service",
            m.running_tasks.clone(),
        );
        registry.register(
            "ecs_operator_service_pending_tasks",
            "Pending task count of a managed service",
            m.pending_tasks.clone(),
        );
        registry.register(
            "ecs_operator_service_rollout_failed",
            "1 when the current deployment's rollout state is FAILED",
            m.rollout_failed.clone(),
        );
        registry.register(
            "ecs_operator_service_deployments_in_progress",
            "Deployments of a managed service still rolling out",
            m.deployments_in_progress.clone(),
        );
        registry.register(
            "ecs_operator_service_stopped_tasks",
            "Stopped tasks of a managed service by stop code (and, for EssentialContainerExited, the essential container that exited: the application or a sidecar)",
            m.stopped_tasks.clone(),
        );
        let jobs = super::job_metrics::JobMetrics::register(&mut registry);
        let queues = super::queue_metrics::QueueMetrics::register(&mut registry);
        Metrics {
            registry,
            jobs,
            queues,
            ..m
        }
    }

    /// Brings the call counters up to date with the client-side counts.
    pub fn sync_calls(&self, snapshot: &BTreeMap<CallKey, u64>) {
        let mut last = self.last_calls.lock().unwrap_or_else(|e| e.into_inner());
        for (key, &n) in snapshot {
            let before = last.get(key).copied().unwrap_or(0);
            if n > before {
                self.aws_calls
                    .get_or_create(&CallLabels {
                        service: key.0.clone(),
                        operation: key.1.clone(),
                        outcome: key.2.as_str().to_string(),
                    })
                    .inc_by(n - before);
            }
        }
        *last = snapshot.clone();
    }

    /// Records what a pass observed and did: owned services, each planned service's ECS
    /// state (series of services no longer planned disappear), drift, stopped tasks by stop
    /// code, manifests by state and errors by class.
    pub fn record_pass(&self, report: &PassReport, set: &ManifestSet, settings: &Settings) {
        let operator_id = settings.operator_id.as_str();
        let unrouted = (set.manifests.iter())
            .filter(|m| receivers_of(&m.manifest, settings).is_empty())
            .count();
        self.services_without_receiver.set(unrouted as i64);
        let owned = report
            .observed
            .services
            .values()
            .filter(|s| s.is_active() && s.owner() == Some(operator_id))
            .count();
        self.owned_services.set(owned as i64);
        self.desired_tasks.clear();
        self.running_tasks.clear();
        self.pending_tasks.clear();
        self.rollout_failed.clear();
        self.deployments_in_progress.clear();
        for sp in report
            .plan
            .services
            .iter()
            .filter(|sp| sp.desired.is_some())
        {
            let Some(o) = &sp.observed else { continue };
            let l = ServiceLabels {
                service: sp.name.clone(),
            };
            self.desired_tasks
                .get_or_create(&l)
                .set(i64::from(o.tasks.desired));
            self.running_tasks
                .get_or_create(&l)
                .set(i64::from(o.tasks.running));
            self.pending_tasks
                .get_or_create(&l)
                .set(i64::from(o.tasks.pending));
            self.rollout_failed
                .get_or_create(&l)
                .set(i64::from(o.rollout_failed()));
            self.deployments_in_progress
                .get_or_create(&l)
                .set(o.deployments_in_progress() as i64);
        }
        for service in &report.drifted {
            self.drift
                .get_or_create(&ServiceLabels {
                    service: service.clone(),
                })
                .inc();
        }
        for task in &report.stopped {
            self.stopped_tasks
                .get_or_create(&StoppedLabels {
                    service: task.service.clone(),
                    reason: task.stop_code.clone(),
                    container: task.container.clone(),
                })
                .inc();
        }
        for (state, n) in [
            ("valid", set.manifests.len()),
            ("invalid", set.rejected.len()),
        ] {
            self.manifests
                .get_or_create(&StateLabels {
                    state: state.into(),
                })
                .set(n as i64);
        }
        for class in report.results.iter().filter_map(|r| r.error_class) {
            self.count_error(class);
        }
    }

    /// Records each service's latest rollout (series of services no longer reported
    /// disappear): its phase, the revision deployed and when, and a hold after a rollback;
    /// and its pre-deploy task and jobs ([`super::job_metrics`]).
    pub fn record_rollouts(&self, statuses: &BTreeMap<String, ServiceStatus>) {
        self.jobs.record(statuses);
        self.rollout_phase.clear();
        self.deployed_at.clear();
        self.rolled_back.clear();
        for (name, status) in statuses {
            let Some(rollout) = &status.rollout else {
                continue;
            };
            self.rollout_phase
                .get_or_create(&PhaseLabels {
                    service: name.clone(),
                    phase: rollout.phase.as_str().to_string(),
                })
                .set(1);
            let running = match (&rollout.rolled_back_to, rollout.phase) {
                (Some(to), _) => Some(to.clone()),
                (None, RolloutPhase::Failed) => None,
                (None, _) => Some(rollout.revision.clone()),
            };
            // After a rollback the running revision was deployed again when ECS rolled back.
            let at = match rollout.phase {
                RolloutPhase::RolledBack => rollout.updated_at.or(rollout.started_at),
                _ => rollout.started_at,
            };
            if let (Some(revision), Some(at)) = (running, at) {
                let image = match rollout.phase {
                    // The image rolled back to is not known here; the revision says it.
                    RolloutPhase::RolledBack => String::new(),
                    _ => rollout.image.clone().unwrap_or_default(),
                };
                self.deployed_at
                    .get_or_create(&RevisionLabels {
                        service: name.clone(),
                        revision: short_revision(&revision).to_string(),
                        image,
                    })
                    .set(at as i64);
            }
            if let Some(held) = &status.held {
                self.rolled_back
                    .get_or_create(&RevisionLabels {
                        service: name.clone(),
                        revision: short_revision(&held.revision).to_string(),
                        image: rollout.image.clone().unwrap_or_default(),
                    })
                    .set(1);
            }
        }
    }

    /// Counts one event of the events queue, and a container's non-zero exit once.
    pub fn record_event(&self, event: &super::events::Event) {
        self.count_event(event.kind());
        let super::events::Event::ContainerExited(exit) = event else {
            return;
        };
        let mut seen = self.exits_seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 100_000 {
            seen.clear();
        }
        if exit.exit_code != 0 && seen.insert((exit.task.clone(), exit.container.clone())) {
            self.container_failures
                .get_or_create(&ContainerLabels {
                    service: exit.service.clone(),
                    container: exit.container.clone(),
                })
                .inc();
        }
    }

    /// Counts one event of the events queue.
    pub fn count_event(&self, kind: &str) {
        self.events
            .get_or_create(&KindLabels { kind: kind.into() })
            .inc();
    }

    /// Counts one error by class.
    pub fn count_error(&self, class: ErrorClass) {
        self.errors
            .get_or_create(&ClassLabels {
                class: class.as_str().into(),
            })
            .inc();
    }

    /// Counts a pass by result: `success`, `partial` (some service failed) or `error`.
    pub fn count_pass(&self, result: &str) {
        self.reconciles
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::events::{ContainerExit, Event};
    use super::Metrics;

    #[test]
    fn a_container_failure_is_counted_once_however_often_ecs_reports_it() {
        let m = Metrics::new();
        let exit = |task: &str, code: i32| {
            Event::ContainerExited(ContainerExit {
                service: "pizza".into(),
                task: task.into(),
                container: "warmup".into(),
                exit_code: code,
            })
        };
        for event in [exit("t1", 3), exit("t1", 3), exit("t2", 0), exit("t3", 1)] {
            m.record_event(&event);
        }
        let text = m.encode();
        let line = text
            .lines()
            .find(|l| l.starts_with("ecs_operator_service_container_failures_total{"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains(r#"container="warmup""#) && line.contains(r#"service="pizza""#));
        assert!(line.ends_with(" 2"), "t1 once and t3; t2 exited 0: {line}");
        assert!(
            text.contains(r#"ecs_operator_events_total{kind="container"} 4"#),
            "{text}"
        );
    }
}
