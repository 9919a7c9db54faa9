//! One reconcile pass, as explicit steps with typed inputs and outputs:
//!
//! ```text
//! render (pure) -> observe (reads) -> plan (pure) -> actuate (writes) -> status (pure)
//! ```
//!
//! [`Reconciler`] is the context every step shares (clients, settings, the observer's caches,
//! the leader fence); each step is one method. [`pass::run`] chains them the way the
//! controller does; `ecs-operator plan` / `apply` call the steps they need.

pub mod guard;
pub mod jobs;
pub mod pass;
pub mod predeploy;
pub mod rollback;
pub mod rollout;

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::actuate::aws::{Applier, Fence};
use crate::aws::AwsClients;
use crate::domain::{annotations, ServiceKey};
use crate::manifest::ManifestSet;
use crate::observe::{
    DiscoveryScope, IngressScope, ObserveScope, Observed, ObservedScaling, ObservedService,
    Observer,
};
use crate::plan::{self, discovery_description, Plan, PlanOptions, Step};
use crate::render::aws::TargetGroupAttributes;
use crate::render::{render_services, DesiredService};
use crate::settings::Settings;

pub use crate::actuate::aws::ServiceResult;
pub use crate::error::{ErrorClass, ReconcileError};

/// How often an idle controller reads every scalable target and policy (drift found behind
/// the operator's back waits at most this long).
pub const DEFAULT_SCALING_SWEEP: std::time::Duration = std::time::Duration::from_secs(300);

/// Knobs of a pass.
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    pub allow_empty: bool,
    pub max_prune: usize,
    /// Services applied at once.
    pub concurrency: usize,
    /// Scalable targets and policies whose manifest is unchanged are read whole this often
    /// (`observe::scaling`); zero reads them every pass.
    pub scaling_sweep: std::time::Duration,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        Self {
            allow_empty: false,
            max_prune: 3,
            concurrency: 8,
            scaling_sweep: DEFAULT_SCALING_SWEEP,
        }
    }
}

/// The context of every step: the AWS clients, the settings, the observer's per-process
/// caches and, in the controller, the leader fence.
pub struct Reconciler {
    pub aws: AwsClients,
    pub settings: Settings,
    pub observer: Observer,
    pub options: ReconcileOptions,
    /// When set, every write first checks it (leader election).
    pub fence: Option<Fence>,
    /// The generation in idempotency tokens of creates; by default the clock's Unix seconds
    /// when a plan is applied (tests pin it).
    pub generation: Option<u64>,
}

impl Reconciler {
    pub fn new(aws: AwsClients, settings: Settings, options: ReconcileOptions) -> Self {
        Self {
            aws,
            settings,
            observer: Observer::default(),
            options,
            fence: None,
            generation: None,
        }
    }

    /// The marker of this operator's Cloud Map services.
    pub fn discovery_description(&self) -> String {
        discovery_description(
            &self.settings.operator_id,
            self.settings
                .service_discovery_namespace_id
                .as_deref()
                .unwrap_or("-"),
        )
    }

    /// Step 1, pure: the AWS desired state of every valid manifest, shared (the plan holds
    /// the same copies).
    pub fn render(&self, set: &ManifestSet) -> Vec<Arc<DesiredService>> {
        render_services(set, &self.settings)
    }

    /// Step 2: reads what exists in every permitted cluster and the Cloud Map namespace.
    /// Task definitions are described for services this operator owns or may take over.
    pub async fn observe<D: Borrow<DesiredService>>(
        &self,
        desired: &[D],
    ) -> Result<Observed, ReconcileError> {
        self.observe_only(desired, None).await
    }

    /// Step 2 for some services only (`only`): those described by name, nothing listed.
    pub async fn observe_only<D: Borrow<DesiredService>>(
        &self,
        desired: &[D],
        only: Option<&BTreeSet<ServiceKey>>,
    ) -> Result<Observed, ReconcileError> {
        let mut clusters: Vec<String> = self
            .settings
            .permitted_clusters()
            .map(str::to_string)
            .collect();
        clusters.sort();
        clusters.dedup();
        let operator_id = self.settings.operator_id.as_str();
        let desired: Vec<&DesiredService> = desired.iter().map(Borrow::borrow).collect();
        let wanted: BTreeSet<_> = desired.iter().map(|d| d.key()).collect();
        let wanted_discovery: BTreeSet<String> = desired
            .iter()
            .filter_map(|d| d.discovery.as_ref().map(|x| x.name.clone()))
            .collect();
        let description = self.discovery_description();
        let managed =
            |s: &ObservedService| s.owner() == Some(operator_id) || wanted.contains(&s.key());
        let by_key: BTreeMap<ServiceKey, &DesiredService> =
            desired.iter().map(|d| (d.key(), *d)).collect();
        // A remembered read stands in where the planner would write nothing: a wanted service
        // in sync, or a foreign one (never planned). An owned service nothing wants any more
        // (a prune) is always read afresh.
        let trusted =
            |s: &ObservedService, have: Option<&ObservedScaling>| match by_key.get(&s.key()) {
                Some(d) => plan::scaling::in_sync(d, have),
                None => s.owner() != Some(operator_id),
            };
        let wanted_priorities: BTreeSet<i32> = (desired.iter())
            .filter_map(|d| Some(d.ingress.as_ref()?.rule.priority))
            .collect();
        let wanted_attributes: BTreeMap<String, TargetGroupAttributes> = (desired.iter())
            .filter_map(|d| {
                let group = &d.ingress.as_ref()?.target_group;
                Some((group.name.clone(), group.attributes.clone()))
            })
            .collect();
        let scope = ObserveScope {
            clusters: &clusters,
            discovery: self.settings.service_discovery_namespace_id.as_deref().map(
                |namespace_id| DiscoveryScope {
                    namespace_id,
                    description: &description,
                    wanted: &wanted_discovery,
                },
            ),
            managed: &managed,
            scaling_trusted: &trusted,
            scaling_sweep: self.options.scaling_sweep,
            only,
            ingress: self.settings.ingress.as_ref().map(|i| IngressScope {
                listener_arn: &i.listener_arn,
                operator_id,
                wanted_priorities: &wanted_priorities,
                wanted_attributes: &wanted_attributes,
                sweep: self.options.scaling_sweep,
            }),
        };
        Ok(self.observer.observe(&self.aws, &scope).await?)
    }

    /// Step 3, pure: what to change. `source_complete` is false when the source failed.
    pub fn plan_for<D: Clone + Into<Arc<DesiredService>>>(
        &self,
        set: &ManifestSet,
        desired: &[D],
        observed: &Observed,
        source_complete: bool,
    ) -> Plan {
        let adopt: BTreeSet<String> = set
            .manifests
            .iter()
            .filter(|m| {
                m.manifest
                    .metadata
                    .annotations
                    .get(annotations::ADOPT)
                    .map(String::as_str)
                    == Some("true")
            })
            .map(|m| m.name().to_string())
            .collect();
        let known_names = set.all_names();
        let options = PlanOptions {
            operator_id: &self.settings.operator_id,
            known_names: &known_names,
            adopt: &adopt,
            source_complete: source_complete && !set.has_unnamed_rejects(),
            allow_empty: self.options.allow_empty,
            max_prune: self.options.max_prune,
            discovery_description: self.discovery_description(),
        };
        plan::plan(desired, observed, &options)
    }

    /// Steps 1 to 3 in one call (`ecs-operator plan`): render, observe, plan.
    pub async fn plan(
        &self,
        set: &ManifestSet,
        source_complete: bool,
    ) -> Result<(Plan, Observed), ReconcileError> {
        let desired = self.render(set);
        let observed = self.observe(&desired).await?;
        Ok((
            self.plan_for(set, &desired, &observed, source_complete),
            observed,
        ))
    }

    /// Step 4: applies a plan wave by wave (dependencies first); services of a wave run
    /// concurrently. One service failing never stops the others.
    pub async fn apply(&self, plan: &Plan) -> Vec<ServiceResult> {
        let families_with_revisions = self.families_with_revisions(plan).await;
        let applier = Applier {
            aws: &self.aws,
            observer: &self.observer,
            operator_id: &self.settings.operator_id,
            discovery_description: self.discovery_description(),
            keep_revisions: self.settings.keep_task_definition_revisions,
            fence: self.fence.clone(),
            generation: self.generation.unwrap_or_else(crate::status::unix_now),
            families_with_revisions,
        };
        applier.apply(plan, self.options.concurrency).await
    }

    /// Lists the task definition families once when that is cheaper than describing the
    /// family of every service created in this apply (one page of 100 families replacing at
    /// least two describes). `None` when it is not, or when the listing fails: the applier
    /// then describes family by family, as without it.
    async fn families_with_revisions(&self, plan: &Plan) -> Option<BTreeSet<String>> {
        let new_families = plan
            .services
            .iter()
            .filter(|sp| sp.observed.is_none() && sp.steps.contains(&Step::RegisterTaskDefinition))
            .count();
        let page_budget = new_families / 2;
        if page_budget == 0 {
            return None;
        }
        match crate::observe::ecs::families_with_active_revisions(&self.aws, page_budget).await {
            Ok(families) => families,
            Err(e) => {
                tracing::warn!(error = %e, "listing task definition families failed; describing each family instead");
                None
            }
        }
    }
}
