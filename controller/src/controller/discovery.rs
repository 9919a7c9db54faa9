//! The service-discovery side task: keeps the Prometheus targets of every monitored service
//! ([`crate::observe::instances`]) in step with Cloud Map, reading a service's instances only
//! when its tasks may have changed.
//!
//! # Guarantees
//! - With the events queue (ECS task state change events name the service whose task started
//!   or stopped), a service is read (one DiscoverInstances) when it is new, when an ECS
//!   service or task event names it, when the last pass saw its ECS tasks change
//!   ([`task_fingerprint`](crate::observe::instances::task_fingerprint)), while it rolls out,
//!   when its last read failed, and at the latest after a jittered
//!   `monitoring.discoveryFullRefresh` (15 m): the sweep that catches anything the other
//!   signals missed. Nothing changing costs about N / 15 DiscoverInstances a minute, not 6 N.
//! - Without the queue nothing would tell it of a new task before the next pass (60 s), so
//!   every service is read every `discoveryRefresh` (10 s), as before.
//! - While a service rolls out, only its tasks not seen before are looked up (DescribeTasks):
//!   a task's revision never changes.
//! - A service whose read fails keeps its previous targets; one that is no longer scraped
//!   loses them.
//!
//! # Caveats
//! - With the queue, a task whose event is lost is seen at the next pass that observes a
//!   changed count or deployment, else at the sweep.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, RngCore, SeedableRng};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::events::Wakeup;
use super::http::Shared;
use super::RunConfig;
use crate::aws::AwsClients;
use crate::observe::instances::{self, KnownTasks, Lookup, TaskRevisions};

/// What the refresher remembers of one service.
#[derive(Debug, Clone)]
struct Seen {
    fingerprint: Option<String>,
    failed: bool,
    /// When the sweep reads it again at the latest.
    sweep_at: Instant,
}

/// Decides which services a refresh reads. Pure: the clock and the jitter are inputs.
pub struct Refresher {
    /// Read a service only when something says its tasks changed (events are on).
    event_driven: bool,
    full_refresh: Duration,
    seen: BTreeMap<String, Seen>,
    rng: Box<dyn RngCore + Send>,
}

impl Refresher {
    pub fn new(event_driven: bool, full_refresh: Duration, rng: Box<dyn RngCore + Send>) -> Self {
        Self {
            event_driven,
            full_refresh,
            seen: BTreeMap::new(),
            rng,
        }
    }

    /// The services of `lookup` to read now; `named` are those events named.
    pub fn due(&self, lookup: &Lookup, named: &BTreeSet<String>, now: Instant) -> BTreeSet<String> {
        (lookup.targets.iter().map(|t| &t.service))
            .filter(|service| {
                let Some(seen) = self.seen.get(*service).filter(|_| self.event_driven) else {
                    return true;
                };
                seen.failed
                    || named.contains(*service)
                    || matches!(lookup.revisions.get(*service), Some(TaskRevisions::Rolling))
                    || lookup.fingerprints.get(*service) != seen.fingerprint.as_ref()
                    || now >= seen.sweep_at
            })
            .cloned()
            .collect()
    }

    /// `service` was read at `now` (`ok`: successfully) for the tasks `fingerprint` says.
    pub fn read(&mut self, service: &str, fingerprint: Option<&String>, ok: bool, now: Instant) {
        // Spread the sweep (0.5-1.5 x) so that services read together do not come due
        // together for ever.
        let jitter = self.rng.random_range(0.5..1.5);
        self.seen.insert(
            service.to_string(),
            Seen {
                fingerprint: fingerprint.cloned(),
                failed: !ok,
                sweep_at: now + self.full_refresh.mul_f64(jitter),
            },
        );
    }

    /// Forgets services no longer scraped.
    pub fn retain(&mut self, wanted: &BTreeSet<String>) {
        self.seen.retain(|name, _| wanted.contains(name));
    }
}

/// Spawns the refresh loop: it looks every `sd_refresh`, at once when the last pass's lookup
/// changed, and when an event names a service.
pub fn refresh(
    aws: &AwsClients,
    config: &RunConfig,
    shared: Arc<Shared>,
    mut targets: watch::Receiver<Lookup>,
    events: Arc<Wakeup>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let aws = aws.clone();
    let namespace = config.settings.service_discovery_namespace_name.clone();
    let period = config.sd_refresh;
    let full_refresh = config.settings.monitoring.discovery_full_refresh.std();
    let event_driven = config.events_queue_url.is_some();
    tokio::spawn(async move {
        let mut refresher = Refresher::new(
            event_driven,
            full_refresh,
            Box::new(rand::rngs::StdRng::from_os_rng()),
        );
        let mut known = KnownTasks::default();
        loop {
            if let Some(namespace) = &namespace {
                let wanted = targets.borrow().clone();
                let named = events.take_discovery_changes();
                let now = Instant::now();
                let due = refresher.due(&wanted, &named, now);
                let lookup = Lookup {
                    targets: (wanted.targets.iter())
                        .filter(|t| due.contains(&t.service))
                        .cloned()
                        .collect(),
                    ..wanted.clone()
                };
                let found = if lookup.targets.is_empty() {
                    instances::Discovered::default()
                } else {
                    instances::discover_known(&aws, namespace, &lookup, &mut known).await
                };
                for service in &due {
                    let ok = !found.failed.contains(service);
                    refresher.read(service, wanted.fingerprints.get(service), ok, now);
                }
                let scraped: BTreeSet<String> =
                    wanted.targets.iter().map(|t| t.service.clone()).collect();
                refresher.retain(&scraped);
                let mut current = shared.targets.write().unwrap_or_else(|e| e.into_inner());
                current.retain(|name, _| scraped.contains(name));
                for (name, groups) in found.groups {
                    current.insert(name, groups);
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
                Ok(()) = targets.changed() => {}
                _ = events.discovery_notified() => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::aws::ScrapeTarget;

    fn lookup(n: usize) -> Lookup {
        let targets: Vec<ScrapeTarget> = (0..n)
            .map(|i| ScrapeTarget {
                service: format!("svc-{i}"),
                ..ScrapeTarget::default()
            })
            .collect();
        Lookup {
            fingerprints: (targets.iter())
                .map(|t| (t.service.clone(), "2/2;ecs-svc/1:2:0:100".to_string()))
                .collect(),
            targets,
            ..Lookup::default()
        }
    }

    fn refresher() -> Refresher {
        Refresher::new(
            true,
            Duration::from_secs(900),
            Box::new(rand::rngs::StdRng::seed_from_u64(3)),
        )
    }

    /// Reads what is due at `now`, as the loop does; returns how many were read.
    fn tick(r: &mut Refresher, l: &Lookup, named: &BTreeSet<String>, now: Instant) -> usize {
        let due = r.due(l, named, now);
        for s in &due {
            r.read(s, l.fingerprints.get(s), true, now);
        }
        due.len()
    }

    #[test]
    fn nothing_changing_costs_a_jittered_sweep_not_a_read_per_service_per_refresh() {
        let (t0, l, none) = (Instant::now(), lookup(500), BTreeSet::new());
        let mut r = refresher();
        assert_eq!(
            tick(&mut r, &l, &none, t0),
            500,
            "every service once at start"
        );
        // An hour of 10 s refreshes after the first read.
        let reads: usize = (1..=360)
            .map(|i| tick(&mut r, &l, &none, t0 + Duration::from_secs(10 * i)))
            .sum();
        let per_minute = reads as f64 / 60.0;
        assert!(
            (20.0..=50.0).contains(&per_minute),
            "{per_minute} reads a minute"
        );
    }

    #[test]
    fn a_changed_fingerprint_an_event_a_rollout_a_failure_or_a_new_service_is_read_at_once() {
        let (t0, mut l, none) = (Instant::now(), lookup(4), BTreeSet::new());
        let mut r = refresher();
        tick(&mut r, &l, &none, t0);
        let t1 = t0 + Duration::from_secs(10);
        assert!(r.due(&l, &none, t1).is_empty());
        l.fingerprints
            .insert("svc-0".into(), "3/3;ecs-svc/1:3:0:110".into());
        l.revisions.insert("svc-1".into(), TaskRevisions::Rolling);
        r.read("svc-2", l.fingerprints.get("svc-2"), false, t0);
        l.targets.push(ScrapeTarget {
            service: "new".into(),
            ..ScrapeTarget::default()
        });
        let named = BTreeSet::from(["svc-3".to_string()]);
        assert_eq!(
            r.due(&l, &named, t1),
            BTreeSet::from(["new", "svc-0", "svc-1", "svc-2", "svc-3"].map(String::from))
        );
        tick(&mut r, &l, &named, t1);
        let due = r.due(&l, &none, t1 + Duration::from_secs(10));
        assert_eq!(
            due,
            BTreeSet::from(["svc-1".to_string()]),
            "only the rollout"
        );
    }

    #[test]
    fn without_events_every_service_is_read_every_refresh() {
        let (t0, l, none) = (Instant::now(), lookup(5), BTreeSet::new());
        let mut r = Refresher::new(
            false,
            Duration::from_secs(900),
            Box::new(rand::rngs::StdRng::seed_from_u64(3)),
        );
        assert_eq!(tick(&mut r, &l, &none, t0), 5);
        assert_eq!(tick(&mut r, &l, &none, t0 + Duration::from_secs(10)), 5);
    }

    #[test]
    fn services_no_longer_scraped_are_forgotten() {
        let (t0, l, none) = (Instant::now(), lookup(3), BTreeSet::new());
        let mut r = refresher();
        tick(&mut r, &l, &none, t0);
        r.retain(&BTreeSet::from(["svc-0".to_string()]));
        assert_eq!(r.seen.len(), 1);
    }
}
