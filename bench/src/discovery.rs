//! Cloud Map reads of the service-discovery refresh with nothing changing: the controller's
//! own [`Refresher`] on a simulated clock (a 10 s refresh for 30 minutes), and every read it
//! asks for made for real against moto (DiscoverInstances, and DescribeTasks for services
//! rolling out), counted by the client's call counter.
//!
//! Two modes, as the controller runs them: with the events queue (a service is read when
//! something says its tasks changed, or at the jittered 15-minute sweep) and without it
//! (every service every refresh).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use ecs_operator::aws::CallCounter;
use ecs_operator::controller::discovery::Refresher;
use ecs_operator::observe::instances::{self, task_fingerprint, KnownTasks, Lookup, TaskRevisions};
use ecs_operator::reconcile::Reconciler;
use ecs_operator::source::Source;
use rand::SeedableRng;

/// The refresh period (`monitoring.discoveryRefresh`).
const REFRESH: Duration = Duration::from_secs(10);
/// How long the clock runs after the start-up read, with the events queue (two sweeps).
const SIMULATED: Duration = Duration::from_secs(30 * 60);
/// Without it every refresh reads every service: a minute shows the rate.
const SIMULATED_POLLING: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct SdCalls {
    /// Cloud Map and ECS reads a minute after the start-up read, with the events queue.
    pub event_driven_per_minute: f64,
    /// The same without the queue (every service every refresh).
    pub polling_per_minute: f64,
    /// The start-up read (every service once).
    pub startup_calls: u64,
    pub services: usize,
    pub simulated_minutes: f64,
}

/// Measures both modes over the converged world `reconciler` reconciles.
pub async fn measure(reconciler: &Reconciler, source: &mut Source) -> Result<SdCalls> {
    let settings = &reconciler.settings;
    let namespace = settings
        .service_discovery_namespace_name
        .clone()
        .context("the bench world has no Cloud Map namespace")?;
    let fetched = source.fetch(Some(&reconciler.aws), settings).await?;
    let (plan, _) = reconciler.plan(&fetched.set, true).await?;
    let mut lookup = Lookup::default();
    for m in &fetched.set.manifests {
        if let Some(t) = ecs_operator::render::render_service(&m.manifest, settings).scrape {
            lookup.targets.push(t);
        }
    }
    for sp in plan.services.iter().filter(|sp| sp.desired.is_some()) {
        if let Some(o) = &sp.observed {
            lookup
                .revisions
                .insert(sp.name.clone(), TaskRevisions::of(o));
            lookup
                .fingerprints
                .insert(sp.name.clone(), task_fingerprint(o));
        }
    }
    let services = lookup.targets.len();
    let (startup_calls, event_driven) = run(reconciler, &namespace, &lookup, true).await;
    let (_, polling) = run(reconciler, &namespace, &lookup, false).await;
    let minutes = SIMULATED.as_secs_f64() / 60.0;
    Ok(SdCalls {
        event_driven_per_minute: event_driven as f64 / minutes,
        polling_per_minute: polling as f64 / (SIMULATED_POLLING.as_secs_f64() / 60.0),
        startup_calls,
        services,
        simulated_minutes: minutes,
    })
}

/// The start-up read's calls and the calls of the simulated period after it.
async fn run(
    reconciler: &Reconciler,
    namespace: &str,
    lookup: &Lookup,
    events: bool,
) -> (u64, u64) {
    let aws = &reconciler.aws;
    let mut refresher = Refresher::new(
        events,
        settings_full_refresh(reconciler),
        Box::new(rand::rngs::StdRng::seed_from_u64(16)),
    );
    let mut known = KnownTasks::default();
    let t0 = Instant::now();
    let mut startup = 0;
    let mut after = 0;
    let simulated = if events { SIMULATED } else { SIMULATED_POLLING };
    let ticks = simulated.as_secs() / REFRESH.as_secs();
    for tick in 0..=ticks {
        let now = t0 + REFRESH * tick as u32;
        let due = refresher.due(lookup, &BTreeSet::new(), now);
        if due.is_empty() {
            continue;
        }
        let before = aws.calls.snapshot();
        let wanted = Lookup {
            targets: (lookup.targets.iter())
                .filter(|t| due.contains(&t.service))
                .cloned()
                .collect(),
            ..lookup.clone()
        };
        let found = instances::discover_known(aws, namespace, &wanted, &mut known).await;
        for s in &due {
            refresher.read(
                s,
                lookup.fingerprints.get(s),
                !found.failed.contains(s),
                now,
            );
        }
        let calls: u64 = CallCounter::since(&before, &aws.calls.snapshot())
            .values()
            .sum();
        if tick == 0 {
            startup = calls;
        } else {
            after += calls;
        }
    }
    (startup, after)
}

fn settings_full_refresh(reconciler: &Reconciler) -> Duration {
    reconciler.settings.monitoring.discovery_full_refresh.std()
}
