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
use crate::domain::short_revision;
use crate::observe::ObservedService;
use crate::render::aws::ScrapeTarget;

/// DescribeTasks accepts at most this many tasks per call.
pub const DESCRIBE_TASKS_BATCH: usize = 100;

/// Which revision a service's tasks run, as the last pass saw the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskRevisions {
    /// Every task runs this one (`family:number`).
    One(String),
    /// A rollout is under way: each task's revision is looked up.
    Rolling,
}

impl TaskRevisions {
    pub fn of(o: &ObservedService) -> Self {
        let running = o.deployments.iter().filter(|d| d.tasks.running > 0).count();
        if running > 1 {
            TaskRevisions::Rolling
        } else {
            TaskRevisions::One(short_revision(&o.task_definition_arn).to_string())
        }
    }
}

/// What ECS reported about a service's tasks at the last pass: each deployment's id, counts
/// and update time, and the service's running count. ECS updates them when a task starts or
/// stops, so a different fingerprint means the service's Cloud Map instances may have
/// changed.
pub fn task_fingerprint(o: &ObservedService) -> String {
    let mut f = format!("{}/{}", o.tasks.running, o.tasks.desired);
    for d in &o.deployments {
        f.push_str(&format!(
            ";{}:{}:{}:{}",
            d.id,
            d.tasks.running,
            d.tasks.pending,
            d.updated_at.unwrap_or(0)
        ));
    }
    f
}

/// What a refresh looks up: the scrape targets, and the revisions of their services.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookup {
    pub targets: Vec<ScrapeTarget>,
    /// By service name; a service missing here gets no `revision` label.
    pub revisions: BTreeMap<String, TaskRevisions>,
    /// By service name: [`task_fingerprint`] of the last pass's observation.
    pub fingerprints: BTreeMap<String, String>,
}

/// The revision of every task seen, by service: a task's task definition never changes, so
/// only tasks not seen before are looked up (DescribeTasks) while a service rolls out.
#[derive(Debug, Clone, Default)]
pub struct KnownTasks(BTreeMap<String, BTreeMap<String, String>>);

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
pub async fn discover(aws: &AwsClients, namespace_name: &str, lookup: &Lookup) -> Discovered {
    discover_known(aws, namespace_name, lookup, &mut KnownTasks::default()).await
}

/// [`discover`], looking up only the revisions of tasks `known` has not seen (and
/// remembering them).
pub async fn discover_known(
    aws: &AwsClients,
    namespace_name: &str,
    lookup: &Lookup,
    known: &mut KnownTasks,
) -> Discovered {
    let mut found = Discovered::default();
    for t in &lookup.targets {
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
        let ids: Vec<String> = (out.instances().iter())
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect();
        let revisions = match lookup.revisions.get(&t.service) {
            Some(TaskRevisions::Rolling) => {
                let seen = known.0.remove(&t.service).unwrap_or_default();
                let unknown: Vec<String> = (ids.iter())
                    .filter(|id| !seen.contains_key(*id))
                    .cloned()
                    .collect();
                let mut revisions = task_revisions(aws, &t.cluster, &unknown).await;
                for id in &ids {
                    if let Some(revision) = seen.get(id) {
                        revisions.insert(id.clone(), revision.clone());
                    }
                }
                known.0.insert(t.service.clone(), revisions.clone());
                revisions
            }
            Some(TaskRevisions::One(revision)) => ids
                .iter()
                .map(|id| (id.clone(), revision.clone()))
                .collect(),
            None => BTreeMap::new(),
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
            if let Some(revision) = instance.instance_id().and_then(|id| revisions.get(id)) {
                labels.insert("revision".to_string(), revision.clone());
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

/// Task id -> `family:number` of the tasks `ids` of `cluster`. A failed lookup leaves the
/// targets without the label (logged): the scrape goes on, the guard has no verdict.
async fn task_revisions(
    aws: &AwsClients,
    cluster: &str,
    ids: &[String],
) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for batch in ids.chunks(DESCRIBE_TASKS_BATCH) {
        let out = aws
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(batch.to_vec()))
            .send()
            .await;
        match out {
            Ok(out) => {
                for task in out.tasks() {
                    let (Some(arn), Some(td)) = (task.task_arn(), task.task_definition_arn())
                    else {
                        continue;
                    };
                    let id = arn.rsplit('/').next().unwrap_or(arn);
                    found.insert(id.to_string(), short_revision(td).to_string());
                }
            }
            Err(e) => {
                let e = aws.error("ecs:DescribeTasks")(e);
                tracing::debug!(cluster, error = %e, "task revisions unknown");
            }
        }
    }
    found
}
