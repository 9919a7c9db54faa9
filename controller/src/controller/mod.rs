//! `ecs-operator run`: the long-running controller.
//!
//! One control loop polls the manifest source (cheap: one S3 listing, unchanged objects are
//! not downloaded) and runs a full pass when a manifest changed or the jittered resync
//! interval elapsed. Side tasks renew the leader lease and refresh service discovery. Only the
//! leader writes (AWS, monitoring files, status records); every replica serves HTTP.

pub mod discovery;
pub mod grafana;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod outputs;
pub mod status;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::aws::AwsClients;
use crate::manifest::{ManifestSet, MonitoredService};
use crate::reconcile::plan::Outcome;
use crate::reconcile::{ErrorClass, ReconcileOptions, Reconciler, ServiceResult};
use crate::settings::{Settings, SPEC_HASH_TAG};
use crate::source::{Source, SourceLocation};
use http::Shared;
use lease::Lease;
use outputs::MonitoringWriter;
use status::{ServiceStatus, StatusStore};

/// Everything `run` needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub settings: Settings,
    pub source: SourceLocation,
    pub listen: SocketAddr,
    /// Full resync interval (jittered by +-10%).
    pub interval: Duration,
    /// How often the source is checked for changes.
    pub poll_interval: Duration,
    pub sd_refresh: Duration,
    pub lease_ttl: Duration,
    /// Identity in the leader lease.
    pub holder: String,
    /// Elect a leader through the state location (off: this replica always acts).
    pub leader_election: bool,
    pub reconcile: ReconcileOptions,
    pub status_token: Option<String>,
    /// Stop after this many passes (tests, `--once`).
    pub max_passes: Option<u64>,
}

/// Per-service retry state: consecutive failures and when to try again.
#[derive(Debug, Default)]
struct Backoff {
    failures: BTreeMap<String, (u32, Instant)>,
}

impl Backoff {
    fn delay(class: ErrorClass, failures: u32) -> Duration {
        let base = match class {
            ErrorClass::Transient => Duration::from_secs(5) * 2u32.saturating_pow(failures.min(6)),
            ErrorClass::Waiting => Duration::from_secs(15),
            ErrorClass::Stalled => Duration::from_secs(300),
        };
        let base = base.min(Duration::from_secs(300));
        base.mul_f64(rand::rng().random_range(0.5..1.5))
    }

    fn record(&mut self, name: &str, class: Option<ErrorClass>) {
        match class {
            None => {
                self.failures.remove(name);
            }
            Some(class) => {
                let n = self.failures.get(name).map(|(n, _)| n + 1).unwrap_or(1);
                self.failures.insert(
                    name.to_string(),
                    (n, Instant::now() + Self::delay(class, n)),
                );
            }
        }
    }

    fn waiting(&self, name: &str) -> bool {
        self.failures
            .get(name)
            .is_some_and(|(_, until)| Instant::now() < *until)
    }

    fn earliest(&self) -> Option<Instant> {
        self.failures.values().map(|(_, t)| *t).min()
    }
}

fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::rng().random_range(0.9..1.1))
}

fn s3_location(text: Option<&str>) -> Option<(String, String)> {
    let rest = text?.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    Some((bucket.to_string(), prefix))
}

/// Runs until `cancel` fires (SIGTERM) or `max_passes` passes are done.
pub async fn run(
    config: RunConfig,
    aws: AwsClients,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared::new(config.status_token.clone()));
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(address = %listener.local_addr()?, "serving health, metrics, discovery and status");
    let server_cancel = cancel.clone();
    let app = http::router(shared.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { server_cancel.cancelled().await })
            .await;
    });

    let state = s3_location(config.settings.state_location.as_deref());
    let lease = Arc::new(Mutex::new(
        state
            .as_ref()
            .filter(|_| config.leader_election)
            .map(|(bucket, prefix)| {
                Lease::new(
                    bucket,
                    &format!("{prefix}lease/leader.json"),
                    &config.holder,
                    config.lease_ttl,
                )
            }),
    ));
    let is_leader = {
        let lease = lease.clone();
        move || {
            lease
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .is_none_or(|l| l.is_leader())
        }
    };

    // Lease renewal: a third of the TTL, so two renewals can fail before the deadline.
    let lease_task = {
        let (lease, aws, shared, cancel) =
            (lease.clone(), aws.clone(), shared.clone(), cancel.clone());
        let period = config.lease_ttl / 3;
        tokio::spawn(async move {
            loop {
                // Tick a copy: while a renewal is in flight the lease stays in place and keeps
                // answering is_leader() by its deadline (taken out, it read as "no election").
                let copy = lease.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let Some(mut current) = copy else {
                    shared.leader.store(true, Ordering::Relaxed);
                    shared.metrics.leader.set(1);
                    return;
                };
                let leader = current.tick(&aws).await;
                if cancel.is_cancelled() {
                    current.release(&aws).await;
                    *lease.lock().unwrap_or_else(|e| e.into_inner()) = Some(current);
                    shared.leader.store(false, Ordering::Relaxed);
                    shared.metrics.leader.set(0);
                    return;
                }
                *lease.lock().unwrap_or_else(|e| e.into_inner()) = Some(current);
                shared.leader.store(leader, Ordering::Relaxed);
                shared.metrics.leader.set(i64::from(leader));
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(period) => {}
                }
            }
        })
    };

    let current_manifests: Arc<Mutex<Vec<MonitoredService>>> = Arc::default();
    let sd_task = {
        let (aws, settings, shared, cancel, manifests) = (
            aws.clone(),
            config.settings.clone(),
            shared.clone(),
            cancel.clone(),
            current_manifests.clone(),
        );
        let period = config.sd_refresh;
        tokio::spawn(async move {
            loop {
                let list = manifests.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let (groups, failed) = discovery::discover(&aws, &settings, &list).await;
                {
                    let mut targets = shared.targets.write().unwrap_or_else(|e| e.into_inner());
                    let previous = std::mem::take(&mut *targets);
                    *targets = groups;
                    for name in failed {
                        if let Some(old) = previous.get(&name) {
                            targets.insert(name, old.clone());
                        }
                    }
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(period) => {}
                }
            }
        })
    };

    let mut reconciler = Reconciler::new(
        aws.clone(),
        config.settings.clone(),
        config.reconcile.clone(),
    );
    reconciler.fence = Some(Arc::new(is_leader.clone()));
    let mut source = Source::new(config.source.clone());
    let mut status_store = StatusStore::new(state.clone());
    status_store.load(&aws).await;
    let mut writer = config.settings.monitoring.config_dir.as_ref().map(|dir| {
        MonitoringWriter::new(
            PathBuf::from(dir),
            config.settings.monitoring.prometheus_url.clone(),
            config.settings.monitoring.alertmanager_url.clone(),
        )
    });
    // Grafana through its API when a URL and credentials are configured (ECS injects them from
    // Secrets Manager): a service-account token, or a user and password.
    let mut grafana = config
        .settings
        .monitoring
        .grafana_url
        .as_ref()
        .and_then(|url| {
            let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            let auth = match (
                env("ECS_OPERATOR_GRAFANA_TOKEN"),
                env("ECS_OPERATOR_GRAFANA_USER"),
                env("ECS_OPERATOR_GRAFANA_PASSWORD"),
            ) {
                (Some(token), _, _) => grafana::GrafanaAuth::Token(token),
                (None, Some(user), Some(password)) => grafana::GrafanaAuth::Basic(user, password),
                _ => return None,
            };
            Some(grafana::GrafanaClient::new(
                url,
                auth,
                config.settings.monitoring.prometheus_url.clone(),
            ))
        });
    let mut last_good: Option<ManifestSet> = None;
    let mut last_valid: BTreeMap<String, MonitoredService> = BTreeMap::new();
    let mut backoff = Backoff::default();
    let mut seen_stopped: HashSet<String> = HashSet::new();
    let mut next_full = Instant::now();
    let mut passes = 0u64;

    loop {
        let mut source_ok = true;
        let mut changed = false;
        match source.fetch(Some(&aws), &config.settings).await {
            Ok(fetched) => {
                changed = fetched.downloaded > 0 || last_good.is_none();
                if fetched.files == 0 && last_good.as_ref().is_some_and(|s| !s.manifests.is_empty())
                {
                    tracing::warn!(source = %config.source, "the manifest source is empty");
                }
                if changed {
                    tracing::info!(
                        files = fetched.files,
                        downloaded = fetched.downloaded,
                        "manifests changed"
                    );
                }
                last_good = Some(fetched.set);
            }
            Err(e) => {
                source_ok = false;
                shared.metrics.source_errors.inc();
                tracing::warn!(error = %e, "manifest source failed; keeping the last good manifests");
            }
        }
        let due =
            Instant::now() >= next_full || backoff.earliest().is_some_and(|t| Instant::now() >= t);
        if let (Some(set), true) = (&last_good, changed || due) {
            let started = Instant::now();
            let pass = reconcile_pass(
                &reconciler,
                set,
                source_ok,
                &is_leader,
                &mut backoff,
                &shared,
                &mut seen_stopped,
            )
            .await;
            shared
                .metrics
                .reconcile_seconds
                .observe(started.elapsed().as_secs_f64());
            match &pass {
                Ok(results) => {
                    for m in &set.manifests {
                        last_valid.insert(m.name().to_string(), m.manifest.clone());
                    }
                    // An empty source while services are owned prunes nothing (the plan's
                    // guard); their monitoring stays too, unless emptying was allowed.
                    let names = set.all_names();
                    if !names.is_empty() || config.reconcile.allow_empty {
                        last_valid.retain(|name, _| names.contains(name));
                    }
                    *current_manifests.lock().unwrap_or_else(|e| e.into_inner()) =
                        last_valid.values().cloned().collect();
                    let failed = results.iter().any(|r| r.error.is_some());
                    shared
                        .metrics
                        .reconciles
                        .get_or_create(&metrics::ResultLabels {
                            result: if failed { "partial" } else { "success" }.into(),
                        })
                        .inc();
                    if !failed && source_ok {
                        shared.metrics.last_success.set(status::unix_now() as f64);
                    }
                    update_statuses(&shared, set, results);
                    shared.ready.store(true, Ordering::Relaxed);
                    if is_leader() {
                        if writer.is_some() || grafana.is_some() {
                            let manifests: Vec<&MonitoredService> = last_valid.values().collect();
                            let output = crate::monitoring::render(&manifests, &config.settings);
                            if let Some(grafana) = grafana.as_mut() {
                                let prune = source_ok && !set.has_unnamed_rejects();
                                let report = grafana.sync(&output, prune).await;
                                for e in &report.errors {
                                    shared.metrics.monitoring_errors.inc();
                                    tracing::warn!(error = %e, "grafana");
                                }
                            }
                            if let Some(writer) = writer.as_mut() {
                                let report = writer.sync(&output).await;
                                for e in &report.errors {
                                    shared.metrics.monitoring_errors.inc();
                                    tracing::warn!(error = %e, "monitoring configuration");
                                }
                                if !report.written.is_empty() || !report.removed.is_empty() {
                                    tracing::info!(written = ?report.written, removed = ?report.removed, reloaded = ?report.reloaded, "monitoring configuration updated");
                                }
                            }
                        }
                        status_store.statuses = shared
                            .statuses
                            .read()
                            .unwrap_or_else(|e| e.into_inner())
                            .clone();
                        for e in status_store.flush(&aws).await {
                            tracing::warn!(error = %e, "status record");
                        }
                    }
                }
                Err(e) => {
                    shared
                        .metrics
                        .reconciles
                        .get_or_create(&metrics::ResultLabels {
                            result: "error".into(),
                        })
                        .inc();
                    shared
                        .metrics
                        .errors
                        .get_or_create(&metrics::ClassLabels {
                            class: format!("{:?}", e.class()).to_lowercase(),
                        })
                        .inc();
                    tracing::warn!(error = %e, "reconcile pass failed");
                }
            }
            shared.metrics.sync_calls(&aws.calls.snapshot());
            next_full = Instant::now() + jittered(config.interval);
            passes += 1;
            if config.max_passes.is_some_and(|max| passes >= max) {
                break;
            }
        }
        let wake = config
            .poll_interval
            .min(next_full.saturating_duration_since(Instant::now()));
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(wake.max(Duration::from_millis(200))) => {}
        }
    }
    tracing::info!("shutting down");
    cancel.cancel();
    let _ = lease_task.await;
    let _ = sd_task.await;
    let _ = server.await;
    Ok(())
}

/// One pass: plan, apply what is not backing off (only as leader), record metrics.
async fn reconcile_pass(
    reconciler: &Reconciler,
    set: &ManifestSet,
    source_ok: bool,
    is_leader: &(impl Fn() -> bool + Send + Sync),
    backoff: &mut Backoff,
    shared: &Shared,
    seen_stopped: &mut HashSet<String>,
) -> Result<Vec<ServiceResult>, crate::reconcile::ReconcileError> {
    let (mut plan, observed) = reconciler.plan(set, source_ok).await?;
    let owned = observed
        .services
        .values()
        .filter(|s| s.is_active() && s.owner() == Some(reconciler.settings.operator_id.as_str()))
        .count();
    shared.metrics.owned_services.set(owned as i64);
    let mut states = Vec::new();
    for sp in &plan.services {
        if let (Some(o), Some(_)) = (&sp.observed, &sp.desired) {
            let failed = o
                .rollout
                .as_ref()
                .is_some_and(|(state, _)| state == "FAILED");
            states.push((
                sp.name.clone(),
                i64::from(o.desired_count),
                i64::from(o.running_count),
                i64::from(o.pending_count),
                failed,
                o.deployments_in_progress as i64,
            ));
            if sp.outcome == Outcome::Update
                && o.tags.get(SPEC_HASH_TAG) == sp.desired.as_ref().map(|d| &d.spec_hash)
            {
                shared
                    .metrics
                    .drift
                    .get_or_create(&metrics::ServiceLabels {
                        service: sp.name.clone(),
                    })
                    .inc();
            }
        }
    }
    shared.metrics.set_service_states(&states);
    count_stopped_tasks(reconciler, &plan, shared, seen_stopped).await;
    let manifests_valid = set.manifests.len() as i64;
    shared
        .metrics
        .manifests
        .get_or_create(&metrics::StateLabels {
            state: "valid".into(),
        })
        .set(manifests_valid);
    shared
        .metrics
        .manifests
        .get_or_create(&metrics::StateLabels {
            state: "invalid".into(),
        })
        .set(set.rejected.len() as i64);

    if !is_leader() {
        return Ok(Vec::new());
    }
    for sp in &mut plan.services {
        if !sp.steps.is_empty() && backoff.waiting(&sp.name) {
            sp.steps.clear();
            sp.outcome = Outcome::Waiting("backing off after an error".into());
        }
    }
    let results = reconciler.apply(&plan).await;
    for r in &results {
        if r.steps_planned > 0 || r.error.is_some() {
            backoff.record(&r.name, r.error_class);
        }
        if let Some(class) = r.error_class {
            shared
                .metrics
                .errors
                .get_or_create(&metrics::ClassLabels {
                    class: format!("{class:?}").to_lowercase(),
                })
                .inc();
        }
    }
    Ok(results)
}

/// Counts newly stopped tasks, by stop code, for services that are short of tasks or rolling
/// out (the only time stopped tasks matter, and it keeps idle passes cheap).
async fn count_stopped_tasks(
    reconciler: &Reconciler,
    plan: &crate::reconcile::plan::Plan,
    shared: &Shared,
    seen: &mut HashSet<String>,
) {
    for sp in &plan.services {
        let Some(o) = &sp.observed else { continue };
        if o.running_count >= o.desired_count && o.deployments_in_progress == 0 {
            continue;
        }
        let Ok(list) = reconciler
            .aws
            .ecs
            .list_tasks()
            .cluster(&o.cluster)
            .service_name(&o.name)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
            .send()
            .await
        else {
            continue;
        };
        let new: Vec<String> = list
            .task_arns()
            .iter()
            .filter(|a| !seen.contains(*a))
            .cloned()
            .collect();
        for batch in new.chunks(100) {
            let Ok(out) = reconciler
                .aws
                .ecs
                .describe_tasks()
                .cluster(&o.cluster)
                .set_tasks(Some(batch.to_vec()))
                .send()
                .await
            else {
                continue;
            };
            for task in out.tasks() {
                let reason = task
                    .stop_code()
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_else(|| "Unknown".into());
                // Keep the last few reasons per service for status (a failed rollout says why).
                let mut recent = shared
                    .stop_reasons
                    .write()
                    .unwrap_or_else(|e| e.into_inner());
                let list = recent.entry(o.name.clone()).or_default();
                list.push(format!(
                    "{reason}: {}",
                    task.stopped_reason().unwrap_or("no reason given")
                ));
                if list.len() > 5 {
                    list.remove(0);
                }
                drop(recent);
                shared
                    .metrics
                    .stopped_tasks
                    .get_or_create(&metrics::StoppedLabels {
                        service: o.name.clone(),
                        reason,
                    })
                    .inc();
            }
        }
        if seen.len() > 100_000 {
            seen.clear();
        }
        seen.extend(new);
    }
}

/// Turns a pass's results into conditions.
fn update_statuses(shared: &Shared, set: &ManifestSet, results: &[ServiceResult]) {
    let previous = shared
        .statuses
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut next: BTreeMap<String, ServiceStatus> = BTreeMap::new();
    let known: BTreeSet<String> = set.all_names();
    for r in results {
        if !known.contains(&r.name) {
            continue; // pruned or kept orphans have no manifest to report on
        }
        let prev = previous.get(&r.name);
        let mut s = ServiceStatus {
            name: r.name.clone(),
            source: set
                .manifests
                .iter()
                .find(|m| m.name() == r.name)
                .map(|m| m.location()),
            ..ServiceStatus::default()
        };
        s.inventory.cluster = Some(r.cluster.clone());
        s.inventory.service_arn = r
            .service_arn
            .clone()
            .or_else(|| prev.and_then(|p| p.inventory.service_arn.clone()));
        s.inventory.task_definition_arn = r
            .task_definition_arn
            .clone()
            .or_else(|| prev.and_then(|p| p.inventory.task_definition_arn.clone()));
        if let Some(d) = &r.desired {
            if let Some(scaling) = &d.scaling {
                s.inventory.scalable_target = Some(scaling.resource_id.clone());
            }
            if let Some(discovery) = &d.discovery {
                s.inventory.discovery_service = Some(discovery.name.clone());
            }
        }
        if let Some(o) = &r.observed {
            let mut tasks = BTreeMap::new();
            tasks.insert("desired".to_string(), i64::from(o.desired_count));
            tasks.insert("running".to_string(), i64::from(o.running_count));
            tasks.insert("pending".to_string(), i64::from(o.pending_count));
            s.tasks = Some(tasks);
        }
        let rollout_failed = r
            .observed
            .as_ref()
            .and_then(|o| o.rollout.clone())
            .filter(|(state, _)| state == "FAILED");
        let rolling = r
            .observed
            .as_ref()
            .is_some_and(|o| o.deployments_in_progress > 0);
        match (&r.outcome, &r.error, &rollout_failed) {
            (_, Some(error), _) => {
                let stalled = r.error_class == Some(ErrorClass::Stalled);
                s.last_error = Some(error.clone());
                s.set_condition("Ready", false, "ApplyFailed", error, prev);
                s.set_condition(
                    "Stalled",
                    stalled,
                    if stalled { "NeedsChange" } else { "Retrying" },
                    error,
                    prev,
                );
                s.last_applied_hash = prev.and_then(|p| p.last_applied_hash.clone());
            }
            (Outcome::Conflict(why), None, _) => {
                s.last_error = Some(why.clone());
                s.set_condition("Ready", false, "Conflict", why, prev);
                s.set_condition("Stalled", true, "Conflict", why, prev);
            }
            (Outcome::Suspended, None, _) => {
                s.set_condition(
                    "Ready",
                    false,
                    "Suspended",
                    "lifecycle.suspend is set; the operator leaves the service alone",
                    prev,
                );
                s.set_condition("Stalled", false, "Suspended", "", prev);
                s.last_applied_hash = prev.and_then(|p| p.last_applied_hash.clone());
            }
            (Outcome::Waiting(why), None, _) => {
                s.set_condition("Ready", false, "Waiting", why, prev);
                s.set_condition("Stalled", false, "Waiting", why, prev);
                s.last_applied_hash = prev.and_then(|p| p.last_applied_hash.clone());
            }
            (_, None, Some((_, reason))) => {
                let stops = shared
                    .stop_reasons
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&r.name)
                    .map(|l| format!("; stopped tasks: {}", l.join(" | ")))
                    .unwrap_or_default();
                let message = format!(
                    "the deployment circuit breaker rolled back the last deployment: {reason}{stops}"
                );
                s.last_error = Some(message.clone());
                s.set_condition("Ready", false, "RolloutFailed", &message, prev);
                s.set_condition("Stalled", true, "RolloutFailed", &message, prev);
                s.last_applied_hash = r.desired.as_ref().map(|d| d.spec_hash.clone());
            }
            (_, None, None) => {
                s.set_condition(
                    "Ready",
                    true,
                    "Reconciled",
                    "the service matches its manifest",
                    prev,
                );
                s.set_condition("Stalled", false, "Reconciled", "", prev);
                s.last_applied_hash = r.desired.as_ref().map(|d| d.spec_hash.clone());
            }
        }
        s.set_condition(
            "Reconciling",
            rolling,
            if rolling { "RollingOut" } else { "Idle" },
            if rolling {
                "a deployment is in progress"
            } else {
                ""
            },
            prev,
        );
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
        s.set_condition("Ready", false, "InvalidManifest", &message, prev);
        s.set_condition("Stalled", true, "InvalidManifest", &message, prev);
        next.insert(name.clone(), s);
    }
    *shared.statuses.write().unwrap_or_else(|e| e.into_inner()) = next;
}
