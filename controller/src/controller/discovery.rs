//! Prometheus HTTP service discovery fed from Cloud Map.
//!
//! ECS registers every task of a service in its Cloud Map service (with the task's IP, port,
//! availability zone and cluster as attributes); the operator turns those instances into
//! `http_sd_configs` target groups, one per task, labelled with service, team, cluster, task
//! and availability zone.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::AwsClients;
use crate::manifest::MonitoredService;
use crate::settings::Settings;

/// One entry of the `http_sd_configs` response format.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// Looks up the instances of every monitored service. A service whose lookup fails keeps its
/// previous targets (returned in `failed`), so one Cloud Map hiccup does not empty a job.
pub async fn discover(
    aws: &AwsClients,
    settings: &Settings,
    manifests: &[MonitoredService],
) -> (BTreeMap<String, Vec<TargetGroup>>, Vec<String>) {
    let mut groups = BTreeMap::new();
    let mut failed = Vec::new();
    let Some(namespace) = settings.service_discovery_namespace_name.as_deref() else {
        return (groups, failed);
    };
    for m in manifests {
        let spec = &m.spec;
        if !spec.metrics.enabled || !spec.traffic.discovery.enabled {
            continue;
        }
        let name = &m.metadata.name;
        let discovery_name = spec
            .traffic
            .discovery
            .name
            .clone()
            .unwrap_or_else(|| name.clone());
        let result = aws
            .discovery
            .discover_instances()
            .namespace_name(namespace)
            .service_name(&discovery_name)
            .health_status(aws_sdk_servicediscovery::types::HealthStatusFilter::HealthyOrElseAll)
            .max_results(1000)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                tracing::debug!(service = %name, error = ?e, "discover instances failed");
                failed.push(name.clone());
                continue;
            }
        };
        let cluster = spec
            .placement
            .cluster
            .clone()
            .unwrap_or_else(|| settings.cluster.clone());
        let explicit_metrics_port = spec.metrics.port.filter(|p| *p != spec.container.port);
        let mut list = Vec::new();
        for instance in out.instances() {
            let attrs = instance.attributes();
            let Some(ip) = attrs.and_then(|a| a.get("AWS_INSTANCE_IPV4")) else {
                continue;
            };
            let port = explicit_metrics_port
                .map(|p| p.to_string())
                .or_else(|| attrs.and_then(|a| a.get("AWS_INSTANCE_PORT")).cloned())
                .unwrap_or_else(|| spec.container.port.to_string());
            let mut labels = BTreeMap::new();
            labels.insert("service".to_string(), name.clone());
            labels.insert("team".to_string(), spec.notify.team.clone());
            labels.insert(
                "cluster".to_string(),
                attrs
                    .and_then(|a| a.get("ECS_CLUSTER_NAME"))
                    .cloned()
                    .unwrap_or_else(|| cluster.clone()),
            );
            labels.insert(
                "task".to_string(),
                instance.instance_id().unwrap_or_default().to_string(),
            );
            if let Some(az) = attrs.and_then(|a| a.get("AVAILABILITY_ZONE")) {
                labels.insert("availability_zone".to_string(), az.clone());
            }
            list.push(TargetGroup {
                targets: vec![format!("{ip}:{port}")],
                labels,
            });
        }
        list.sort_by(|a, b| a.targets.cmp(&b.targets));
        groups.insert(name.clone(), list);
    }
    (groups, failed)
}
