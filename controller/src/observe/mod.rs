//! Observe: every read of the world a pass makes, in as few calls as the real APIs allow,
//! normalised into the types `render` produces, so that planning is a plain comparison.
//!
//! | module | reads |
//! | --- | --- |
//! | [`ecs`] | ListServices per cluster (paginated), DescribeServices in batches of at most 10 with tags, DescribeTaskDefinition once per revision per process |
//! | [`discovery`] | one paginated Cloud Map ListServices for the namespace |
//! | [`ingress`] | with the settings' listener: its rules, the operator's target groups, their tags (20 a call) and attributes (remembered between sweeps) |
//! | [`scaling`] | DescribeScalableTargets in batches of at most 50 resource ids, one paginated DescribeScalingPolicies; remembered between sweeps, re-read per service where the manifest wants a change |
//! | [`tasks`] | ListTasks / DescribeTasks of stopped tasks, only for services short of tasks or rolling out |
//! | [`instances`] | Cloud Map DiscoverInstances: the tasks Prometheus scrapes |
//!
//! # Guarantees
//! - An error of any read fails the observation as a whole: a partial picture of the world is
//!   never planned against (it could look like missing services).
//! - Task definitions are immutable, so each is described once per process ([`Observer`]).
//!
//! # Caveats
//! - Services the operator neither owns nor may adopt are observed without their task
//!   definition: the planner only needs their name and owner to report a conflict.

mod deployment;
pub mod deployments;
pub mod discovery;
pub mod ecs;
pub mod ingress;
pub mod instances;
pub mod queues;
pub mod runs;
pub mod scaling;
pub mod schedules;
pub mod tasks;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

pub use deployments::{DeploymentStatus, ObservedDeployment, RolloutState};
pub use ingress::{IngressScope, ObservedIngress, ObservedRule, ObservedTargetGroup};

use crate::aws::{AwsClients, AwsError};
use crate::domain::{tags, ScalingResourceId, ServiceKey};
use crate::render::aws::{
    DesiredService, EcsService, ScalingTarget, TargetTrackingPolicy, TaskDefinition,
};

/// DescribeServices accepts at most this many services per call.
pub const DESCRIBE_SERVICES_BATCH: usize = 10;
/// DescribeScalableTargets accepts at most this many resource ids per call.
pub const DESCRIBE_TARGETS_BATCH: usize = 50;

/// How a service on a launch type (no capacity provider strategy) reports its
/// `capacityProvider`: `launchType:FARGATE`, unlike any strategy the operator renders.
pub const LAUNCH_TYPE_PREFIX: &str = "launchType:";

/// An ECS service's lifecycle state (`status` in DescribeServices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    Active,
    /// Deleted, its tasks still stopping; a same-named service cannot be created yet.
    Draining,
    Inactive,
    Other(String),
}

impl ServiceState {
    pub fn parse(text: &str) -> Self {
        match text {
            "ACTIVE" => ServiceState::Active,
            "DRAINING" => ServiceState::Draining,
            "INACTIVE" => ServiceState::Inactive,
            other => ServiceState::Other(other.to_string()),
        }
    }
}

/// Task counts ECS reports for a service. (Also the live `tasks` of a service's status, in
/// this field order: the order of the map it replaced.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct TaskCounts {
    pub desired: i32,
    pub pending: i32,
    pub running: i32,
}

/// The service's settings as ECS reports them, in render's own type, so the planner diffs it
/// field by field like a task definition. Fields ECS did not report are listed in `unknown`:
/// the planner never calls them drift.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedConfig {
    pub service: EcsService,
    /// camelCase field names of [`EcsService`] that ECS did not report.
    pub unknown: BTreeSet<&'static str>,
}

/// An ECS service as it exists, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedService {
    pub arn: String,
    pub name: String,
    pub cluster: String,
    pub state: ServiceState,
    pub tags: BTreeMap<String, String>,
    pub tasks: TaskCounts,
    pub task_definition_arn: String,
    /// Filled for services the operator manages (one cached describe per revision, shared
    /// with the observer's cache).
    pub task_definition: Option<Arc<TaskDefinition>>,
    pub config: ObservedConfig,
    pub registry_arns: Vec<String>,
    /// Its deployments, newest first (see [`deployments`]).
    pub deployments: Vec<ObservedDeployment>,
}

impl ObservedService {
    pub fn key(&self) -> ServiceKey {
        ServiceKey::new(&self.cluster, &self.name)
    }

    pub fn owner(&self) -> Option<&str> {
        self.tags.get(tags::OWNER).map(String::as_str)
    }

    pub fn is_active(&self) -> bool {
        self.state == ServiceState::Active
    }

    /// The PRIMARY deployment: the revision ECS runs or is moving to.
    pub fn primary(&self) -> Option<&ObservedDeployment> {
        self.deployments
            .iter()
            .find(|d| d.status == DeploymentStatus::Primary)
    }

    /// Whether the PRIMARY deployment's rollout failed.
    pub fn rollout_failed(&self) -> bool {
        self.primary()
            .is_some_and(|d| d.rollout == RolloutState::Failed)
    }

    /// Deployments ECS reports IN_PROGRESS.
    pub fn deployments_in_progress(&self) -> usize {
        self.deployments
            .iter()
            .filter(|d| d.rollout == RolloutState::InProgress)
            .count()
    }

    /// The revision ECS rolled back from, if it did: a failed deployment (newest first) of a
    /// revision the service no longer runs. A FAILED deployment stays listed (ACTIVE) beside
    /// the PRIMARY rollback deployment until drained. (With rollback off the failed
    /// deployment stays PRIMARY and the service still runs it: nothing was rolled back.)
    pub fn rolled_back_from(&self) -> Option<&ObservedDeployment> {
        self.deployments.iter().find(|d| {
            d.rollout == RolloutState::Failed && d.task_definition_arn != self.task_definition_arn
        })
    }

    /// Short of tasks or rolling out: the only time its stopped tasks are worth reading.
    pub fn unsettled(&self) -> bool {
        self.tasks.running < self.tasks.desired || self.deployments_in_progress() > 0
    }
}

impl ObservedService {
    /// What ECS reports right after creating `d` exactly as desired, settled and owned: the
    /// observation benchmarks and tests plan against when they need "nothing changed".
    pub fn as_created(d: &DesiredService) -> Self {
        ObservedService {
            arn: format!(
                "arn:aws:ecs:us-east-1:123456789012:service/{}/{}",
                d.cluster, d.name
            ),
            name: d.name.clone(),
            cluster: d.cluster.clone(),
            state: ServiceState::Active,
            tags: d.tags.clone(),
            tasks: TaskCounts {
                desired: d.service.desired_count,
                running: d.service.desired_count,
                pending: 0,
            },
            task_definition_arn: format!(
                "arn:aws:ecs:us-east-1:123456789012:task-definition/{}:1",
                d.task_definition.family
            ),
            task_definition: Some(Arc::new(d.task_definition.clone())),
            config: ObservedConfig {
                service: d.service.clone(),
                unknown: BTreeSet::new(),
            },
            registry_arns: Vec::new(),
            deployments: vec![ObservedDeployment {
                id: "ecs-svc/1".to_string(),
                status: DeploymentStatus::Primary,
                task_definition_arn: format!(
                    "arn:aws:ecs:us-east-1:123456789012:task-definition/{}:1",
                    d.task_definition.family
                ),
                rollout: RolloutState::Completed,
                reason: String::new(),
                created_at: None,
                updated_at: None,
                tasks: TaskCounts {
                    desired: d.service.desired_count,
                    running: d.service.desired_count,
                    pending: 0,
                },
                failed_tasks: 0,
            }],
        }
    }
}

/// A Cloud Map service in the operator's namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedDiscovery {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub description: String,
    pub dns_ttl_seconds: Option<i64>,
    pub instance_count: i32,
    /// Read only for the operator's services that nothing wants or uses any more (the
    /// leftovers of a deletion that Cloud Map refused while tasks were still registered).
    pub tags: Option<BTreeMap<String, String>>,
}

/// A scalable target and the policies attached to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedScaling {
    pub resource_id: ScalingResourceId,
    pub min_capacity: i32,
    pub max_capacity: i32,
    pub policies: Vec<TargetTrackingPolicy>,
    /// Policies that are not target tracking (kept as names only).
    pub other_policies: Vec<String>,
}

impl ObservedScaling {
    /// A scalable target and policies registered exactly as desired.
    pub fn as_registered(target: &ScalingTarget) -> Self {
        ObservedScaling {
            resource_id: target.resource_id.clone(),
            min_capacity: target.min_capacity,
            max_capacity: target.max_capacity,
            policies: target.policies.clone(),
            other_policies: Vec::new(),
        }
    }
}

/// Everything observed in one pass.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Shared: the plan and the observer's memory hold the same records, not copies.
    pub services: BTreeMap<ServiceKey, Arc<ObservedService>>,
    /// Keyed by Cloud Map service name.
    pub discovery: BTreeMap<String, ObservedDiscovery>,
    pub scaling: BTreeMap<ScalingResourceId, ObservedScaling>,
    /// The listener's rules and the operator's target groups (`traffic.ingress`).
    pub ingress: ObservedIngress,
}

impl Observed {
    /// The ACTIVE service of that cluster and name.
    pub fn active(&self, key: &ServiceKey) -> Option<&Arc<ObservedService>> {
        self.services.get(key).filter(|s| s.is_active())
    }
}

/// Which Cloud Map namespace to read, and how the operator's services are recognised there.
#[derive(Debug, Clone)]
pub struct DiscoveryScope<'a> {
    pub namespace_id: &'a str,
    /// The description the operator writes on its Cloud Map services.
    pub description: &'a str,
    /// Names the manifests want (a same-named foreign service is looked at more closely).
    pub wanted: &'a BTreeSet<String>,
}

/// What one observation covers.
pub struct ObserveScope<'a> {
    pub clusters: &'a [String],
    pub discovery: Option<DiscoveryScope<'a>>,
    /// Which services get their task definition described (owned, or adoptable).
    pub managed: &'a (dyn Fn(&ObservedService) -> bool + Sync),
    /// Whether a remembered scaling read may stand in for a fresh one (see [`scaling`]).
    pub scaling_trusted: &'a (dyn Fn(&ObservedService, Option<&ObservedScaling>) -> bool + Sync),
    /// The longest a remembered scaling read is used.
    pub scaling_sweep: std::time::Duration,
    /// Observe only these services (a pass for the manifests an event named): described by
    /// name, no listing, and of Cloud Map only their names, so nothing else can look like a
    /// leftover. `None`: everything.
    pub only: Option<&'a BTreeSet<ServiceKey>>,
    /// The settings' listener, when they name one.
    pub ingress: Option<IngressScope<'a>>,
}

/// Reads the world. Holds the per-process caches (task definitions, stopped tasks already
/// counted), so keep one per process.
#[derive(Debug, Default)]
pub struct Observer {
    task_definitions: Mutex<HashMap<String, Arc<TaskDefinition>>>,
    /// Scalable targets and policies as last read, swept whole now and then.
    pub scaling: scaling::ScalingMemory,
    /// Target group attributes as last read, swept with the scaling.
    pub ingress_attributes: ingress::AttributeMemory,
    pub(crate) seen_stopped: Mutex<HashSet<String>>,
    /// The operator's schedule group and its schedules, as last read.
    pub schedules: schedules::ScheduleMemory,
}

impl Observer {
    /// Observes every cluster of the scope, the Cloud Map namespace and the scaling of the
    /// services found.
    pub async fn observe(
        &self,
        aws: &AwsClients,
        scope: &ObserveScope<'_>,
    ) -> Result<Observed, AwsError> {
        let mut observed = Observed::default();
        match scope.only {
            None => {
                for cluster in scope.clusters {
                    for service in ecs::list_and_describe(aws, cluster).await? {
                        observed.services.insert(service.key(), Arc::new(service));
                    }
                }
            }
            Some(only) => {
                let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
                for key in only {
                    by_cluster
                        .entry(&key.cluster)
                        .or_default()
                        .push(key.name.clone());
                }
                for (cluster, names) in by_cluster {
                    // DescribeServices also answers for services deleted long ago (INACTIVE),
                    // which ListServices never lists: they count as absent here too.
                    for service in ecs::describe(aws, cluster, &names).await? {
                        if service.state != ServiceState::Inactive {
                            observed.services.insert(service.key(), Arc::new(service));
                        }
                    }
                }
            }
        }
        for service in observed.services.values_mut() {
            if service.is_active() && (scope.managed)(service) {
                // Not shared yet: just made above.
                Arc::make_mut(service).task_definition = self
                    .task_definition(aws, &service.task_definition_arn)
                    .await?;
            }
        }
        if let Some(d) = &scope.discovery {
            observed.discovery = discovery::list(aws, d).await?;
            if scope.only.is_some() {
                observed.discovery.retain(|name, _| d.wanted.contains(name));
            }
            let referenced: BTreeSet<String> = observed
                .services
                .values()
                .filter(|s| s.is_active())
                .flat_map(|s| s.registry_arns.iter().cloned())
                .collect();
            for found in observed.discovery.values_mut() {
                let leftover = found.description == d.description
                    && !d.wanted.contains(&found.name)
                    && !referenced.contains(&found.arn);
                if leftover {
                    found.tags = Some(discovery::tags(aws, &found.arn).await?);
                }
            }
        }
        let by_resource: BTreeMap<ScalingResourceId, &ObservedService> = observed
            .services
            .values()
            .filter(|s| s.is_active())
            .map(|s| (s.key().scaling_resource_id(), s.as_ref()))
            .collect();
        let resource_ids: Vec<ScalingResourceId> = by_resource.keys().cloned().collect();
        let trusted = |id: &ScalingResourceId, have: Option<&ObservedScaling>| {
            by_resource
                .get(id)
                .is_some_and(|s| (scope.scaling_trusted)(s, have))
        };
        let scaling_scope = scaling::ScalingScope {
            resource_ids: &resource_ids,
            trusted: &trusted,
            sweep: scope.scaling_sweep,
            whole: scope.only.is_none(),
        };
        observed.scaling = self.scaling.observe(aws, &scaling_scope).await?;
        if let Some(ingress) = &scope.ingress {
            observed.ingress = ingress::observe(aws, ingress, &self.ingress_attributes).await?;
        }
        Ok(observed)
    }

    /// Describes a task definition, once per ARN per process (they are immutable). `None` when
    /// ECS does not know it.
    pub async fn task_definition(
        &self,
        aws: &AwsClients,
        arn: &str,
    ) -> Result<Option<Arc<TaskDefinition>>, AwsError> {
        if arn.is_empty() {
            return Ok(None);
        }
        if let Some(td) = self.cached(arn) {
            return Ok(Some(td));
        }
        let Some(td) = ecs::describe_task_definition(aws, arn).await? else {
            return Ok(None);
        };
        let normalised = Arc::new(ecs::normalise_task_definition(&td));
        self.remember(arn, Arc::clone(&normalised));
        Ok(Some(normalised))
    }

    pub fn cached(&self, arn: &str) -> Option<Arc<TaskDefinition>> {
        self.task_definitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(arn)
            .cloned()
    }

    /// The described task definitions of `arns` (those the services run), for a successor
    /// process: task definitions never change, so they stay true.
    pub fn export(&self, arns: &BTreeSet<String>) -> BTreeMap<String, Arc<TaskDefinition>> {
        let cache = self
            .task_definitions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        (arns.iter())
            .filter_map(|arn| Some((arn.clone(), Arc::clone(cache.get(arn)?))))
            .collect()
    }

    /// Takes task definitions a predecessor described.
    pub fn import(&self, task_definitions: BTreeMap<String, Arc<TaskDefinition>>) {
        for (arn, td) in task_definitions {
            self.remember(&arn, td);
        }
    }

    pub fn remember(&self, arn: &str, td: Arc<TaskDefinition>) {
        let mut cache = self
            .task_definitions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Bounded: a long-running controller sees few revisions per service.
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(arn.to_string(), td);
    }
}

/// The last segment of an ARN (`.../service/<cluster>/<name>` -> `<name>`).
pub fn service_name_of(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}
