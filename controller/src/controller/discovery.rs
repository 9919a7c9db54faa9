//! The service-discovery side task: refreshes the Prometheus targets of every monitored service
//! from Cloud Map ([`crate::observe::instances`]) every `sd_refresh`, for the scrape targets the
//! last pass rendered, and at once when that list changes (a new service is scraped without
//! waiting for the next refresh).

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::http::Shared;
use super::RunConfig;
use crate::aws::AwsClients;
use crate::observe::instances;
use crate::observe::instances::Lookup;

/// Spawns the refresh loop. A service whose lookup fails keeps its previous targets.
pub fn refresh(
    aws: &AwsClients,
    config: &RunConfig,
    shared: Arc<Shared>,
    mut targets: watch::Receiver<Lookup>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let aws = aws.clone();
    let namespace = config.settings.service_discovery_namespace_name.clone();
    let period = config.sd_refresh;
    tokio::spawn(async move {
        loop {
            if let Some(namespace) = &namespace {
                let wanted = targets.borrow().clone();
                let found = instances::discover(&aws, namespace, &wanted).await;
                let mut current = shared.targets.write().unwrap_or_else(|e| e.into_inner());
                let previous = std::mem::replace(&mut *current, found.groups);
                for name in found.failed {
                    if let Some(old) = previous.get(&name) {
                        current.insert(name, old.clone());
                    }
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
                Ok(()) = targets.changed() => {}
            }
        }
    })
}
