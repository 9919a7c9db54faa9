//! Idle passes counted on AWS's page sizes, not moto's: the same converged world read through
//! `testkit::aws_pages` (the fault proxy paging moto as AWS pages and refusing oversize
//! requests), by a reconciler holding the measured one's caches, as a long-running controller
//! holds them. Its first pass has an empty scaling memory, so it is a *sweep*; the second is
//! an idle pass between sweeps.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use ecs_operator::render::aws::TaskDefinition;
use ecs_operator::settings::Settings;
use ecs_operator::source::{CachedObject, Source, SourceLocation};
use testkit::fault_proxy::{Config, FaultProxy};

use crate::operator::{self, Pass};
use crate::world;

/// What the measured reconciler and source hold (as in the warm-start cache).
pub struct Caches {
    pub task_definitions: BTreeMap<String, std::sync::Arc<TaskDefinition>>,
    pub manifests: BTreeMap<String, CachedObject>,
}

/// The two idle passes on real page sizes.
pub struct RealPages {
    pub at_sweep: Pass,
    pub between_sweeps: Pass,
}

pub async fn measure(
    endpoint: &str,
    settings: &Settings,
    concurrency: usize,
    caches: Caches,
    location: SourceLocation,
) -> Result<RealPages> {
    let proxy = FaultProxy::start(endpoint);
    proxy.set(Config {
        aws_pages: true,
        ..Config::default()
    });
    let reconciler = Reconciler::new(
        world::clients(&proxy.endpoint()).await,
        settings.clone(),
        ReconcileOptions {
            concurrency,
            ..ReconcileOptions::default()
        },
    );
    reconciler.observer.import(caches.task_definitions);
    let mut source = Source::new(location);
    source.import(caches.manifests, settings);

    let at_sweep = operator::pass(&reconciler, &mut source).await?;
    let between_sweeps = operator::pass(&reconciler, &mut source).await?;
    let stats = proxy.stats();
    let failed: u64 = (stats.answered.iter())
        .filter(|((_, status), _)| *status >= 400)
        .map(|(_, n)| n)
        .sum();
    if failed + stats.refused_total() > 0 {
        bail!(
            "requests broke an AWS limit: refused {:?}, failed upstream {:?}",
            stats.refused,
            stats.answered
        );
    }
    for (what, p) in [("sweep", &at_sweep), ("idle", &between_sweeps)] {
        if !p.errors.is_empty() || p.changed_services > 0 {
            bail!(
                "the {what} pass on AWS page sizes was not idle: {} changed, errors {:?}",
                p.changed_services,
                p.errors
            );
        }
    }
    Ok(RealPages {
        at_sweep,
        between_sweeps,
    })
}
