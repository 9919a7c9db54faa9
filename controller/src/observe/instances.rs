//! Prometheus HTTP service discovery fed from Cloud Map.
//!
//! ECS registers every task of a service in its Cloud Map service (with the task's IP, port,
//! availability zone and cluster as attributes); the operator turns those instances into
//! `http_sd_configs` target groups, one per task, labelled with service, team, cluster, task
//! and availability zone. What to look up comes from the rendered desired state
//! ([`ScrapeTarget`]), so the discovery name, cluster and metrics port are derived once.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::AwsClients;
use crate::render::aws::ScrapeTarget;

/// One entry of the `http_sd_configs` response format.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// What one refresh found.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Target groups by service name.
    pub groups: BTreeMap<String, Vec<TargetGroup>>,
    /// Services whose lookup failed: they keep their previous targets, so one Cloud Map hiccup
    /// does not empty a job.
    pub failed: Vec<String>,
}

/// Looks up the instances of every scrape target in the namespace `namespace_name`.
pub async fn discover(
    aws: &AwsClients,
    namespace_name: &str,
    targets: &[ScrapeTarget],
) -> Discovered {
    let mut found = Discovered::default();
    for t in targets {
        let result = aws
            .discovery
            .discover_instances()
            .namespace_name(namespace_name)
            .service_name(&t.discovery_name)
            .health_status(aws_sdk_servicediscovery::types::HealthStatusFilter::HealthyOrElseAll)
            .max_results(1000)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                let e = aws.error("servicediscovery:DiscoverInstances")(e);
                tracing::debug!(service = %t.service, error = %e, "discover instances failed");
                found.failed.push(t.service.clone());
                continue;
            }
        };
        let mut list = Vec::new();
        for instance in out.instances() {
            let attrs = instance.attributes();
            let attr = |name: &str| attrs.and_then(|a| a.get(name));
            let Some(ip) = attr("AWS_INSTANCE_IPV4") else {
                continue;
            };
            let port = t
                .metrics_port
                .map(|p| p.to_string())
                .or_else(|| attr("AWS_INSTANCE_PORT").cloned())
                .unwrap_or_else(|| t.container_port.to_string());
            let mut labels = BTreeMap::new();
            labels.insert("service".to_string(), t.service.clone());
            labels.insert("team".to_string(), t.team.clone());
            labels.insert(
                "cluster".to_string(),
                attr("ECS_CLUSTER_NAME")
                    .cloned()
                    .unwrap_or_else(|| t.cluster.clone()),
            );
            labels.insert(
                "task".to_string(),
                instance.instance_id().unwrap_or_default().to_string(),
            );
            if let Some(az) = attr("AVAILABILITY_ZONE") {
                labels.insert("availability_zone".to_string(), az.clone());
            }
            list.push(TargetGroup {
                targets: vec![format!("{ip}:{port}")],
                labels,
            });
        }
        list.sort_by(|a, b| a.targets.cmp(&b.targets));
        found.groups.insert(t.service.clone(), list);
    }
    found
}
