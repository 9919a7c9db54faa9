//! `ecs-operator run`: the long-running controller. It only schedules: it polls the source
//! (cheap: one S3 listing, unchanged objects are not downloaded), asks the [`Scheduler`]
//! whether a pass is due, runs [`pass::run`], and requeues each service by the [`Action`] its
//! error class gives. Side tasks renew the leader lease ([`lease`]) and refresh service
//! discovery ([`discovery`]). Only the leader writes (AWS, monitoring files, status records);
//! every replica serves HTTP ([`http`]).

pub mod discovery;
pub mod events;
pub mod http;
pub mod job_metrics;
pub mod lease;
pub mod metrics;
pub mod queue_metrics;
pub mod scheduler;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::actuate::MonitoringSink;
use crate::aws::AwsClients;
use crate::domain::S3Location;
use crate::manifest::ManifestSet;
use crate::observe::instances::Lookup;
use crate::reconcile::pass::{self, Memory, PassInput};
use crate::reconcile::{ReconcileOptions, Reconciler};
use crate::settings::Settings;
use crate::source::{Source, SourceLocation};
use crate::status::warm::{self, WarmCache, WarmStore};
use crate::status::{unix_now, StatusStore};
use http::Shared;
pub use scheduler::{Action, Scheduler};

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
    /// The pass interval while a service rolls out (the SLO guard judges once per pass).
    pub rollout_interval: Duration,
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
    /// The SQS queue of manifest and ECS events ([`events`]); none: polling only.
    pub events_queue_url: Option<String>,
}

/// Runs until `cancel` fires (SIGTERM) or `max_passes` passes are done.
pub async fn run(
    config: RunConfig,
    aws: AwsClients,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared::new(config.status_token.clone()));
    let server = http::serve(config.listen, shared.clone(), cancel.clone()).await?;
    let state = config
        .settings
        .state_location
        .as_deref()
        .map(S3Location::parse)
        .transpose()?
        .flatten()
        .map(|l| l.as_dir());
    let lease = state.as_ref().filter(|_| config.leader_election).map(|l| {
        lease::Lease::new(
            &l.bucket,
            &l.key("lease/leader.json"),
            &config.holder,
            config.lease_ttl,
        )
    });
    let (fence, lease_task) = lease::keep(lease, &aws, shared.clone(), cancel.clone());
    let (targets, targets_rx) = watch::channel(Lookup::default());
    let counted = shared.clone();
    let (events, events_task) = events::listen(
        &aws,
        config.events_queue_url.clone(),
        move |e| counted.metrics.record_event(e),
        cancel.clone(),
    );
    let sd_task = discovery::refresh(
        &aws,
        &config,
        shared.clone(),
        targets_rx,
        events.clone(),
        cancel.clone(),
    );

    let mut reconciler = Reconciler::new(
        aws.clone(),
        config.settings.clone(),
        config.reconcile.clone(),
    );
    reconciler.fence = Some(fence.clone());
    let mut runtime = Runtime {
        source: Source::new(config.source.clone()),
        status_store: StatusStore::new(state.clone()),
        warm: WarmStore::new(state),
        sinks: crate::actuate::sinks_from_settings(&config.settings).map_err(anyhow::Error::msg)?,
        memory: Memory::default(),
        last_good: None,
        reconciler,
        shared,
    };
    runtime.start_warm(&aws).await;
    // Transition times and the last applied spec carry on from the records (a restart, a
    // new leader, or an `ecs-operator apply` before).
    runtime.memory.statuses = Arc::new(std::mem::take(&mut runtime.status_store.statuses));
    let mut scheduler = Scheduler::with_os_rng(config.interval, Instant::now())
        .with_rollout_interval(config.rollout_interval);
    let mut passes = 0u64;
    let mut full_passes = 0u64;
    loop {
        let polled = runtime.poll().await;
        // An ECS event (a service changed) makes a pass due and refreshes discovery at once.
        let ecs_event = events.take_service_changes();
        let full_due = scheduler.due(Instant::now(), ecs_event);
        if runtime.last_good.is_some() && (full_due || polled.changed) {
            // A few changed manifests and nothing else due: a pass for their services only.
            let only = polled.scope.filter(|_| !full_due && full_passes > 0);
            let scoped = only.is_some();
            runtime
                .pass(polled.source_ok, fence(), &mut scheduler, only.as_ref())
                .await;
            let scrape = runtime.memory.discovery_lookup(&config.settings);
            targets.send_if_modified(|current| {
                let changed = *current != scrape || ecs_event;
                *current = scrape;
                changed
            });
            if !scoped {
                // A scoped pass leaves the next full pass where it was.
                scheduler.passed(Instant::now(), runtime.memory.rolling_out());
                full_passes += 1;
            }
            passes += 1;
            if config.max_passes.is_some_and(|max| passes >= max) {
                break;
            }
        }
        let wake = scheduler.wake_in(Instant::now(), config.poll_interval);
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(wake) => {}
            _ = events.notified() => {}
        }
    }
    tracing::info!("shutting down");
    cancel.cancel();
    if let Some(task) = events_task {
        let _ = task.await;
    }
    let _ = lease_task.await;
    let _ = sd_task.await;
    let _ = server.await;
    Ok(())
}

/// What one look at the source found.
struct Polled {
    source_ok: bool,
    changed: bool,
    /// The services whose manifests changed, when a scoped pass can take them
    /// ([`pass::changed_services`]).
    scope: Option<BTreeSet<String>>,
}

/// The runtime's state between passes.
struct Runtime {
    reconciler: Reconciler,
    source: Source,
    status_store: StatusStore,
    /// What a successor process reads instead of every manifest and task definition.
    warm: WarmStore,
    sinks: Vec<Box<dyn MonitoringSink>>,
    memory: Memory,
    /// The last manifest set the source returned: a failing source keeps it.
    last_good: Option<ManifestSet>,
    shared: Arc<Shared>,
}

impl Runtime {
    /// Reads what a predecessor left: the warm-start cache, then the status records (only
    /// those the cache does not hold as S3 lists them).
    async fn start_warm(&mut self, aws: &AwsClients) {
        let mut known_statuses = Default::default();
        if let Some(cache) = self.warm.load(aws).await {
            tracing::info!(
                manifests = cache.manifests.len(),
                task_definitions = cache.task_definitions.len(),
                statuses = cache.statuses.len(),
                "warm start"
            );
            self.source
                .import(cache.manifests, &self.reconciler.settings);
            self.reconciler.observer.import(cache.task_definitions);
            known_statuses = cache.statuses;
        }
        self.status_store.load_known(aws, known_statuses).await;
    }

    /// Fetches the source; a failure keeps the last good manifests.
    async fn poll(&mut self) -> Polled {
        let settings = &self.reconciler.settings;
        match self
            .source
            .fetch(Some(&self.reconciler.aws), settings)
            .await
        {
            Ok(fetched) => {
                let changed = fetched.downloaded > 0 || self.last_good.is_none();
                let had_manifests = self
                    .last_good
                    .as_ref()
                    .is_some_and(|s| !s.manifests.is_empty());
                if fetched.files == 0 && had_manifests {
                    tracing::warn!(source = %self.source.location, "the manifest source is empty");
                }
                if changed {
                    tracing::info!(
                        files = fetched.files,
                        downloaded = fetched.downloaded,
                        "manifests changed"
                    );
                }
                let scope = (self.last_good.as_ref())
                    .filter(|_| changed)
                    .and_then(|old| pass::changed_services(old, &fetched.set));
                self.last_good = Some(fetched.set);
                Polled {
                    source_ok: true,
                    changed,
                    scope,
                }
            }
            Err(e) => {
                self.shared.metrics.source_errors.inc();
                tracing::warn!(error = %e, "manifest source failed; keeping the last good manifests");
                Polled {
                    source_ok: false,
                    changed: false,
                    scope: None,
                }
            }
        }
    }

    /// Writes the warm-start cache (when it changed): the manifests of the last fetch, the
    /// `running` task definitions and the status records, shared with their caches.
    async fn save_warm_cache(&mut self, running: &BTreeSet<String>) {
        let cache = WarmCache {
            version: warm::VERSION,
            manifests: self.source.export(),
            task_definitions: self.reconciler.observer.export(running),
            statuses: self.status_store.export(),
        };
        if let Err(e) = self.warm.save(&self.reconciler.aws, &cache).await {
            tracing::warn!(error = %e, "warm-start cache not written");
        }
    }

    /// One pass over the last good manifests, then metrics, status records and backoff.
    async fn pass(
        &mut self,
        source_ok: bool,
        leader: bool,
        scheduler: &mut Scheduler,
        only: Option<&BTreeSet<String>>,
    ) {
        let Some(set) = self.last_good.as_ref() else {
            return;
        };
        let started = Instant::now();
        let retries = self
            .status_store
            .retries(&self.reconciler.aws, &self.memory.statuses)
            .await;
        let input = PassInput {
            set,
            source_ok,
            leader,
            held: &|name: &str| scheduler.holds(name, Instant::now()),
            now: unix_now(),
            retries: &retries,
            only,
        };
        let outcome = pass::run(&self.reconciler, input, &mut self.memory, &mut self.sinks).await;
        let metrics = &self.shared.metrics;
        metrics
            .reconcile_seconds
            .observe(started.elapsed().as_secs_f64());
        match outcome {
            Ok(report) => {
                if report.scoped {
                    tracing::info!(services = ?only, "scoped pass");
                } else {
                    // Gauges of every service come from full passes only.
                    metrics.record_pass(&report, set, &self.reconciler.settings);
                }
                metrics.record_rollouts(&self.memory.statuses);
                if !report.scoped {
                    let aws = &self.reconciler.aws;
                    metrics.queues.refresh(aws, set, Instant::now()).await;
                }
                for r in report
                    .results
                    .iter()
                    .filter(|r| r.steps_planned > 0 || r.error.is_some())
                {
                    scheduler.record(&r.name, r.error_class, Instant::now());
                }
                let failed = report.results.iter().any(|r| r.error.is_some());
                metrics.count_pass(if failed { "partial" } else { "success" });
                if !failed && source_ok {
                    metrics.last_success.set(unix_now() as f64);
                }
                for (sink, r) in &report.sinks {
                    for e in &r.errors {
                        metrics.monitoring_errors.inc();
                        tracing::warn!(sink, error = %e, "monitoring output");
                    }
                    if !r.changed.is_empty() || !r.removed.is_empty() {
                        tracing::info!(sink, changed = ?r.changed, removed = ?r.removed, reloaded = ?r.reloaded, "monitoring output updated");
                    }
                }
                *(self.shared.statuses.write()).unwrap_or_else(|e| e.into_inner()) =
                    Arc::clone(&self.memory.statuses);
                self.shared.ready.store(true, Ordering::Relaxed);
                if leader {
                    let statuses = &self.memory.statuses;
                    let errors = self
                        .status_store
                        .flush_from(&self.reconciler.aws, statuses)
                        .await;
                    for e in errors {
                        tracing::warn!(error = %e, "status record");
                    }
                }
                // The warm-start cache names the revisions of every service: full passes only.
                if leader && !report.scoped {
                    let running: BTreeSet<String> = (report.plan.services.iter())
                        .filter_map(|sp| sp.observed.as_ref())
                        .map(|o| o.task_definition_arn.clone())
                        .collect();
                    // The pass's plan and observations go before the cache is serialised,
                    // so the two are never resident together.
                    drop(report);
                    self.save_warm_cache(&running).await;
                }
            }
            Err(e) => {
                metrics.count_pass("error");
                metrics.count_error(e.class());
                tracing::warn!(error = %e, "reconcile pass failed");
            }
        }
        (self.shared.metrics).sync_calls(&self.reconciler.aws.calls.snapshot());
    }
}
