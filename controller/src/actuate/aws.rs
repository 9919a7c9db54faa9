//! The AWS actuator: runs a plan's steps in dependency order. Each step is safe to repeat, so
//! a pass that fails half-way is finished by the next one.
//!
//! # Guarantees
//! - Every write first asks the fence (the leader lease): a replica that lost leadership stops
//!   before its next call, not after the pass.
//! - Creates carry idempotency tokens; a register of a task definition identical to the
//!   family's latest revision reuses that revision.
//! - Deletes treat "not found" as done.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use serde::Serialize;

pub use super::tasks::StartedTask;
pub use super::tokens::{client_token, creator_request_id};
use crate::aws::{sdk, AwsClients, AwsError, ErrorKind};
use crate::domain::tags;
use crate::error::{ErrorClass, ReconcileError};
use crate::observe::ObservedService;
use crate::observe::{ecs, Observer};
use crate::plan::Outcome;
use crate::plan::{Plan, ServicePlan, Step};
use crate::render::aws::DesiredService;

/// What applying one service did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub steps_done: usize,
    pub task_definition_arn: Option<String>,
    pub service_arn: Option<String>,
    pub registry_arn: Option<String>,
    pub target_group_arn: Option<String>,
    /// The ECS service was created by this apply (AWS may not show it everywhere yet).
    pub created_service: bool,
    /// The revision the service ran before this apply.
    pub running_revision: Option<String>,
    /// The pre-deploy task this apply started.
    pub pre_deploy: Option<StartedTask>,
}

/// The result of applying one service.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceResult {
    pub name: String,
    pub cluster: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub steps_done: usize,
    pub steps_planned: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    /// The pre-deploy task started by this apply (`spec.preDeploy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_deploy: Option<StartedTask>,
    /// Shared with the plan's entry (no copy per result).
    #[serde(skip)]
    pub desired: Option<Arc<DesiredService>>,
    #[serde(skip)]
    pub observed: Option<Arc<ObservedService>>,
}

impl ServiceResult {
    pub fn new(sp: &ServicePlan, applied: Applied, error: Option<ReconcileError>) -> Self {
        Self {
            name: sp.name.clone(),
            cluster: sp.cluster.clone(),
            outcome: sp.outcome.clone(),
            steps_done: applied.steps_done,
            steps_planned: sp.steps.len(),
            error_class: error.as_ref().map(ReconcileError::class),
            error: error.map(|e| e.to_string()),
            task_definition_arn: applied.task_definition_arn,
            service_arn: applied.service_arn,
            pre_deploy: applied.pre_deploy,
            desired: sp.desired.clone(),
            observed: sp.observed.clone(),
        }
    }
}

/// A check that this replica may still write (the leader lease).
pub type Fence = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

pub struct Applier<'a> {
    pub aws: &'a AwsClients,
    pub observer: &'a Observer,
    pub operator_id: &'a str,
    pub discovery_description: String,
    pub keep_revisions: u32,
    /// Checked before every write: false once this replica may no longer act.
    pub fence: Option<Fence>,
    /// Distinguishes this create from earlier ones of the same name and spec in idempotency
    /// tokens (a service pruned and created again must not get the old service back).
    pub generation: u64,
    /// The task definition families known to have an ACTIVE revision, when they were listed
    /// for this apply; `None`: not known, so every registration first describes its family.
    pub families_with_revisions: Option<BTreeSet<String>>,
}

/// How long Application Auto Scaling may take to see a service ECS just created: it answers
/// ValidationException ("ECS service doesn't exist") until it does.
const NEW_SERVICE_VISIBLE_RETRIES: [std::time::Duration; 3] = [
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(2),
    std::time::Duration::from_secs(4),
];

impl Applier<'_> {
    /// Applies a plan wave by wave (dependencies first); services of a wave run concurrently,
    /// at most `concurrency` at a time. One service failing never stops the others.
    pub async fn apply(&self, plan: &Plan, concurrency: usize) -> Vec<ServiceResult> {
        let mut results = Vec::new();
        let max_wave = plan.services.iter().map(|s| s.wave).max().unwrap_or(0);
        for wave in 0..=max_wave {
            let in_wave = plan.services.iter().filter(|s| s.wave == wave);
            let wave_results: Vec<ServiceResult> = stream::iter(in_wave)
                .map(|sp| async move {
                    let outcome = self.apply_service(sp).await;
                    let (applied, error) = match outcome {
                        Ok(applied) => (applied, None),
                        Err(e) => (Applied::default(), Some(e)),
                    };
                    tracing::info!(
                        service = %sp.name,
                        steps = sp.steps.len(),
                        error = error.as_ref().map(|e| e.to_string()),
                        "applied"
                    );
                    ServiceResult::new(sp, applied, error)
                })
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
            results.extend(wave_results);
        }
        results.sort_by(|a, b| a.name.cmp(&b.name));
        results
    }

    /// Runs every step of one service's plan, in order, stopping at the first failure.
    pub async fn apply_service(&self, sp: &ServicePlan) -> Result<Applied, ReconcileError> {
        let mut applied = Applied {
            registry_arn: sp.registry_arn.clone(),
            target_group_arn: sp.target_group_arn.clone(),
            service_arn: sp.observed.as_ref().map(|o| o.arn.clone()),
            task_definition_arn: sp.observed.as_ref().map(|o| o.task_definition_arn.clone()),
            running_revision: sp.observed.as_ref().map(|o| o.task_definition_arn.clone()),
            ..Applied::default()
        };
        // The desired state with a target group created in this apply in place of its
        // placeholder, for the steps after it.
        let mut resolved: Option<DesiredService> = None;
        for step in &sp.steps {
            if self.fence.as_ref().is_some_and(|fence| !fence()) {
                return Err(ReconcileError::Fenced);
            }
            match &sp.desired {
                Some(d) => {
                    self.apply_step(resolved.as_ref().unwrap_or(d), step, &mut applied)
                        .await?;
                    resolved =
                        resolved.or_else(|| super::ingress::resolved_after(step, &applied, d));
                }
                None => self.apply_prune_step(sp, step).await?,
            }
            applied.steps_done += 1;
        }
        Ok(applied)
    }

    /// One step of a manifest's plan.
    async fn apply_step(
        &self,
        d: &DesiredService,
        step: &Step,
        applied: &mut Applied,
    ) -> Result<(), ReconcileError> {
        let aws = self.aws;
        match step {
            Step::RegisterTaskDefinition => {
                applied.task_definition_arn = Some(self.register_task_definition(d).await?);
            }
            Step::CreateDiscovery => {
                applied.registry_arn = Some(self.create_discovery(d).await?);
            }
            Step::UpdateDiscoveryTtl { id } => self.update_discovery_ttl(d, id).await?,
            Step::CreateService => {
                let td = applied.task_definition_arn.clone().unwrap_or_default();
                let token = client_token(d, self.generation);
                let created =
                    sdk::create_service(&aws.ecs, d, &td, applied.registry_arn.as_deref(), &token)?
                        .send()
                        .await
                        .map_err(aws.error("ecs:CreateService"));
                let out = match created {
                    Ok(out) => out,
                    Err(e) => return Err(self.explain_failed_create(d, e).await),
                };
                applied.service_arn = out
                    .service()
                    .and_then(|s| s.service_arn())
                    .map(str::to_string);
                applied.created_service = true;
            }
            Step::UpdateService {
                desired_count,
                new_task_definition,
                fields,
            } => {
                let update = sdk::ServiceUpdate {
                    task_definition: applied
                        .task_definition_arn
                        .as_deref()
                        .filter(|_| *new_task_definition),
                    desired_count: *desired_count,
                    fields,
                    registry_arn: applied.registry_arn.as_deref(),
                };
                sdk::update_service(&aws.ecs, d, &update)?
                    .send()
                    .await
                    .map_err(aws.error("ecs:UpdateService"))?;
            }
            Step::TagService { tags } => {
                let tags = tags
                    .iter()
                    .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
                    .collect();
                aws.ecs
                    .tag_resource()
                    .resource_arn(applied.service_arn.clone().unwrap_or_default())
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(aws.error("ecs:TagResource"))?;
            }
            Step::UntagService { keys } => {
                aws.ecs
                    .untag_resource()
                    .resource_arn(applied.service_arn.clone().unwrap_or_default())
                    .set_tag_keys(Some(keys.clone()))
                    .send()
                    .await
                    .map_err(aws.error("ecs:UntagResource"))?;
            }
            Step::RegisterScalableTarget => {
                if let Some(scaling) = &d.scaling {
                    self.register_scalable_target(scaling, applied.created_service)
                        .await?;
                }
            }
            Step::PutScalingPolicy { policy } => {
                let Some(scaling) = &d.scaling else {
                    return Ok(());
                };
                if let Some(p) = scaling.policies.iter().find(|p| &p.name == policy) {
                    sdk::put_scaling_policy(aws, scaling, p)?
                        .send()
                        .await
                        .map_err(aws.error("application-autoscaling:PutScalingPolicy"))?;
                }
            }
            Step::DeleteScalingPolicy { policy } => {
                use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
                let result = aws
                    .scaling
                    .delete_scaling_policy()
                    .policy_name(policy)
                    .service_namespace(ServiceNamespace::Ecs)
                    .resource_id(d.key().scaling_resource_id().as_str())
                    .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                    .send()
                    .await
                    .map(drop)
                    .map_err(aws.error("application-autoscaling:DeleteScalingPolicy"));
                ignore_not_found(result)?;
            }
            Step::DeregisterScalableTarget { .. }
            | Step::DeleteService { .. }
            | Step::DeleteDiscovery { .. } => self.delete(&d.cluster, step).await?,
            Step::RunPreDeploy => self.run_pre_deploy(d, applied).await?,
            Step::StopPreDeploy { task_arn } => self.stop_task(d, task_arn).await?,
            ingress => self.apply_ingress_step(d, ingress, applied).await?,
        }
        Ok(())
    }

    /// One step of a prune plan (an owned service whose manifest is gone): only deletes.
    async fn apply_prune_step(&self, sp: &ServicePlan, step: &Step) -> Result<(), ReconcileError> {
        match step {
            Step::DeregisterScalableTarget { .. }
            | Step::DeleteService { .. }
            | Step::DeleteDiscovery { .. } => self.delete(&sp.cluster, step).await,
            Step::DeleteListenerRule { .. } | Step::DeleteTargetGroup { .. } => {
                self.delete_ingress(step).await
            }
            other => Err(ReconcileError::Invalid(format!(
                "{}: step {other:?} needs a manifest, and this service has none",
                sp.name
            ))),
        }
    }

    /// The delete steps; "not found" means already done.
    async fn delete(&self, cluster: &str, step: &Step) -> Result<(), ReconcileError> {
        use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
        let aws = self.aws;
        let result = match step {
            Step::DeregisterScalableTarget { resource_id } => aws
                .scaling
                .deregister_scalable_target()
                .service_namespace(ServiceNamespace::Ecs)
                .resource_id(resource_id.as_str())
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .send()
                .await
                .map(drop)
                .map_err(aws.error("application-autoscaling:DeregisterScalableTarget")),
            Step::DeleteService { arn } => aws
                .ecs
                .delete_service()
                .cluster(cluster)
                .service(arn)
                .force(true)
                .send()
                .await
                .map(drop)
                .map_err(aws.error("ecs:DeleteService")),
            Step::DeleteDiscovery { id } => aws
                .discovery
                .delete_service()
                .id(id)
                .send()
                .await
                .map(drop)
                .map_err(aws.error("servicediscovery:DeleteService")),
            _ => Ok(()),
        };
        ignore_not_found(result)
    }

    /// RegisterScalableTarget. Right after CreateService, Application Auto Scaling can answer
    /// ValidationException while ECS is eventually consistent: retry a few seconds, then wait
    /// for the next pass instead of stalling.
    async fn register_scalable_target(
        &self,
        scaling: &crate::render::aws::ScalingTarget,
        just_created: bool,
    ) -> Result<(), ReconcileError> {
        const OP: &str = "application-autoscaling:RegisterScalableTarget";
        let mut delays = NEW_SERVICE_VISIBLE_RETRIES.iter();
        loop {
            let result = sdk::register_scalable_target(self.aws, scaling)
                .send()
                .await
                .map_err(self.aws.error(OP));
            match result {
                Ok(_) => return Ok(()),
                Err(e) if just_created && e.kind == ErrorKind::Invalid => match delays.next() {
                    Some(delay) => tokio::time::sleep(*delay).await,
                    None => {
                        return Err(ReconcileError::NotYet {
                            why: "Application Auto Scaling does not see the new ECS service yet"
                                .into(),
                            source: Box::new(e),
                        })
                    }
                },
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// CreateService failed. When ECS refused because a service of that name exists (still
    /// draining after a delete, or created by an earlier attempt this pass cannot see yet),
    /// that is a wait, not a manifest error. Real ECS answers both with
    /// InvalidParameterException, so the service is looked up rather than the message read.
    async fn explain_failed_create(&self, d: &DesiredService, e: AwsError) -> ReconcileError {
        if e.kind != ErrorKind::Invalid {
            return e.into();
        }
        let found = self
            .aws
            .ecs
            .describe_services()
            .cluster(&d.cluster)
            .services(&d.name)
            .send()
            .await;
        let status = found.ok().and_then(|out| {
            out.services()
                .first()
                .and_then(|s| s.status().map(str::to_string))
        });
        match status.as_deref() {
            Some("DRAINING") => ReconcileError::NotYet {
                why: format!("service {} is still draining", d.name),
                source: Box::new(e),
            },
            Some("ACTIVE") => ReconcileError::NotYet {
                why: format!(
                    "service {} exists already (created by an earlier attempt)",
                    d.name
                ),
                source: Box::new(e),
            },
            _ => e.into(),
        }
    }

    /// Registers the rendered task definition, unless the family's latest revision already is
    /// exactly that (a crash between register and create must not leak revisions).
    async fn register_task_definition(&self, d: &DesiredService) -> Result<String, ReconcileError> {
        // Describing by family returns its latest ACTIVE revision (not cached: it moves).
        // Only "not found" means there is none; any other failure stops here rather than
        // risk registering a duplicate revision. A family the listing did not name has no
        // revision to describe.
        let may_have_revision = self
            .families_with_revisions
            .as_ref()
            .is_none_or(|families| families.contains(&d.task_definition.family));
        let latest = if may_have_revision {
            ecs::describe_task_definition(self.aws, &d.task_definition.family).await?
        } else {
            None
        };
        if let Some(latest) = latest {
            if ecs::normalise_task_definition(&latest) == d.task_definition {
                if let Some(arn) = latest.task_definition_arn() {
                    self.observer
                        .remember(arn, Arc::new(d.task_definition.clone()));
                    return Ok(arn.to_string());
                }
            }
        }
        let out = sdk::register_task_definition(&self.aws.ecs, d)?
            .send()
            .await
            .map_err(self.aws.error("ecs:RegisterTaskDefinition"))?;
        let arn = out
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .ok_or_else(|| {
                ReconcileError::Invalid("RegisterTaskDefinition returned no ARN".into())
            })?
            .to_string();
        self.observer
            .remember(&arn, Arc::new(d.task_definition.clone()));
        self.deregister_old_revisions(&d.task_definition.family, &arn)
            .await;
        Ok(arn)
    }

    /// Keeps the newest `keep_revisions` revisions of a family and deregisters older ones that
    /// this operator registered. Best effort: hygiene never fails a reconcile.
    async fn deregister_old_revisions(&self, family: &str, keep_arn: &str) {
        // Revisions are numbered from 1 in each family: revision r leaves at most r - 1 older
        // ones, so a young family has nothing to deregister and needs no listing.
        if revision_of(keep_arn).is_some_and(|r| r <= u64::from(self.keep_revisions.max(1))) {
            return;
        }
        let mut arns = Vec::new();
        let mut pages = self
            .aws
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .sort(aws_sdk_ecs::types::SortOrder::Desc)
            .into_paginator()
            .send();
        while let Some(Ok(page)) = pages.next().await {
            arns.extend(
                page.task_definition_arns()
                    .iter()
                    .filter(|a| family_of(a) == family)
                    .cloned(),
            );
        }
        for arn in arns
            .iter()
            .skip(self.keep_revisions.max(1) as usize)
            .take(10)
        {
            if arn == keep_arn {
                continue;
            }
            let owned = self
                .aws
                .ecs
                .describe_task_definition()
                .task_definition(arn)
                .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                .send()
                .await
                .ok()
                .is_some_and(|out| {
                    out.tags().iter().any(|t| {
                        t.key() == Some(tags::OWNER) && t.value() == Some(self.operator_id)
                    })
                });
            if owned {
                let _ = self
                    .aws
                    .ecs
                    .deregister_task_definition()
                    .task_definition(arn)
                    .send()
                    .await;
            }
        }
    }

    async fn create_discovery(&self, d: &DesiredService) -> Result<String, ReconcileError> {
        let Some(want) = d.discovery.as_ref() else {
            return Err(ReconcileError::Invalid(format!(
                "{}: no Cloud Map service is wanted",
                d.name
            )));
        };
        let out = sdk::create_discovery(
            &self.aws.discovery,
            d,
            want,
            &self.discovery_description,
            &creator_request_id(self.operator_id, &want.name, self.generation),
        )?
        .send()
        .await
        .map_err(self.aws.error("servicediscovery:CreateService"))?;
        Ok(out
            .service()
            .and_then(|s| s.arn())
            .unwrap_or_default()
            .to_string())
    }

    async fn update_discovery_ttl(
        &self,
        d: &DesiredService,
        id: &str,
    ) -> Result<(), ReconcileError> {
        use aws_sdk_servicediscovery::types::{DnsConfigChange, ServiceChange};
        let Some(want) = &d.discovery else {
            return Ok(());
        };
        let dns = DnsConfigChange::builder()
            .set_dns_records(Some(sdk::dns_records(want)?))
            .build()
            .map_err(|e| ReconcileError::Invalid(e.to_string()))?;
        self.aws
            .discovery
            .update_service()
            .id(id)
            .service(
                ServiceChange::builder()
                    .description(&self.discovery_description)
                    .dns_config(dns)
                    .build(),
            )
            .send()
            .await
            .map_err(self.aws.error("servicediscovery:UpdateService"))?;
        Ok(())
    }
}

/// The revision number of a task definition ARN (`...:task-definition/family:7` -> 7).
fn revision_of(arn: &str) -> Option<u64> {
    arn.rsplit(':').next()?.parse().ok()
}

fn family_of(arn: &str) -> &str {
    arn.rsplit('/')
        .next()
        .and_then(|s| s.split(':').next())
        .unwrap_or(arn)
}

/// A delete of something already gone succeeded.
fn ignore_not_found(result: Result<(), AwsError>) -> Result<(), ReconcileError> {
    match result {
        Err(e) if !e.is_not_found() => Err(e.into()),
        _ => Ok(()),
    }
}
