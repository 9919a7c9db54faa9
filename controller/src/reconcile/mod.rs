//! One reconcile pass: render -> observe -> plan -> apply.

pub mod apply;
pub mod observe;
pub mod plan;

use std::collections::BTreeSet;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::aws::AwsClients;
use crate::manifest::validate::ADOPT_ANNOTATION;
use crate::manifest::ManifestSet;
use crate::render::{render_service, DesiredService};
use crate::settings::Settings;
use apply::{Applied, Applier};
use observe::{Observed, Observer};
use plan::{discovery_description, Outcome, Plan, PlanOptions};

/// How an error should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorClass {
    /// Throttling, timeouts, 5xx: retry with backoff.
    Transient,
    /// Something else must happen first (a dependency, a draining service): requeue later.
    Waiting,
    /// Needs a manifest or settings change: report, retry slowly.
    Stalled,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ReconcileError {
    #[error("{context}: {message}")]
    Aws {
        context: String,
        message: String,
        class: ErrorClass,
    },
    #[error("{0}")]
    Invalid(String),
}

impl ReconcileError {
    /// Classifies an SDK error by its code.
    pub fn from_sdk<E: std::fmt::Debug>(context: &str, error: &E) -> Self {
        let text = format!("{error:?}");
        let class = if [
            "Throttl",
            "TooManyRequests",
            "RequestLimitExceeded",
            "TimeoutError",
            "DispatchFailure",
            "ResponseError",
            "ServerException",
            "ServiceUnavailable",
            "InternalFailure",
        ]
        .iter()
        .any(|needle| text.contains(needle))
        {
            ErrorClass::Transient
        } else if [
            "InvalidParameter",
            "ClientException",
            "AccessDenied",
            "ValidationException",
            "InvalidInput",
            "ClusterNotFound",
            "UnsupportedFeature",
        ]
        .iter()
        .any(|needle| text.contains(needle))
        {
            ErrorClass::Stalled
        } else {
            ErrorClass::Transient
        };
        ReconcileError::Aws {
            context: context.to_string(),
            message: short_message(&text),
            class,
        }
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            ReconcileError::Aws { class, .. } => *class,
            ReconcileError::Invalid(_) => ErrorClass::Stalled,
        }
    }
}

/// The useful part of an SDK error's debug text: its code and message.
fn short_message(text: &str) -> String {
    let find = |key: &str| {
        text.find(key).map(|i| {
            let rest = &text[i + key.len()..];
            let rest = rest.trim_start_matches([' ', ':', '"', '(']);
            let end = rest.find(['"', ')', ',']).unwrap_or(rest.len());
            rest[..end].to_string()
        })
    };
    match (find("code: Some("), find("message: Some(")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => text.chars().take(300).collect(),
    }
}

/// Knobs of a pass.
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    pub allow_empty: bool,
    pub max_prune: usize,
    /// Services applied at once.
    pub concurrency: usize,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        Self {
            allow_empty: false,
            max_prune: 3,
            concurrency: 8,
        }
    }
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
    #[serde(skip)]
    pub desired: Option<DesiredService>,
    #[serde(skip)]
    pub observed: Option<observe::ObservedService>,
}

/// The operator's core: owns the AWS clients, the settings and the task definition cache.
pub struct Reconciler {
    pub aws: AwsClients,
    pub settings: Settings,
    pub observer: Observer,
    pub options: ReconcileOptions,
    /// When set, every write first checks it (leader election).
    pub fence: Option<apply::Fence>,
}

impl Reconciler {
    pub fn new(aws: AwsClients, settings: Settings, options: ReconcileOptions) -> Self {
        Self {
            aws,
            settings,
            observer: Observer::default(),
            options,
            fence: None,
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

    /// Renders the valid manifests of a set.
    pub fn render(&self, set: &ManifestSet) -> Vec<DesiredService> {
        set.manifests
            .iter()
            .map(|m| render_service(&m.manifest, &self.settings))
            .collect()
    }

    /// Observes the world and plans. `source_complete` is false when the source failed.
    pub async fn plan(
        &self,
        set: &ManifestSet,
        source_complete: bool,
    ) -> Result<(Plan, Observed), ReconcileError> {
        let desired = self.render(set);
        let adopt: BTreeSet<String> = set
            .manifests
            .iter()
            .filter(|m| {
                m.manifest
                    .metadata
                    .annotations
                    .get(ADOPT_ANNOTATION)
                    .map(String::as_str)
                    == Some("true")
            })
            .map(|m| m.name().to_string())
            .collect();
        let known_names = set.all_names();
        let mut clusters: Vec<String> = self
            .settings
            .permitted_clusters()
            .map(str::to_string)
            .collect();
        clusters.sort();
        clusters.dedup();
        let operator_id = self.settings.operator_id.clone();
        let wanted: BTreeSet<(String, String)> = desired
            .iter()
            .map(|d| (d.cluster.clone(), d.name.clone()))
            .collect();
        let wanted_discovery: BTreeSet<String> = desired
            .iter()
            .filter_map(|d| d.discovery.as_ref().map(|x| x.name.clone()))
            .collect();
        let observed = self
            .observer
            .observe(
                &self.aws,
                &clusters,
                self.settings
                    .service_discovery_namespace_id
                    .as_deref()
                    .map(|ns| (ns, self.discovery_description(), &wanted_discovery)),
                |s| {
                    s.owner() == Some(operator_id.as_str())
                        || wanted.contains(&(s.cluster.clone(), s.name.clone()))
                },
            )
            .await?;
        let options = PlanOptions {
            operator_id: &self.settings.operator_id,
            known_names: &known_names,
            adopt: &adopt,
            source_complete: source_complete && !set.has_unnamed_rejects(),
            allow_empty: self.options.allow_empty,
            max_prune: self.options.max_prune,
            discovery_description: self.discovery_description(),
        };
        Ok((plan::plan(&desired, &observed, &options), observed))
    }

    /// Applies a plan wave by wave (dependencies first); services of a wave run concurrently.
    /// One service failing never stops the others.
    pub async fn apply(&self, plan: &Plan) -> Vec<ServiceResult> {
        let applier = Applier {
            aws: &self.aws,
            observer: &self.observer,
            operator_id: &self.settings.operator_id,
            discovery_description: self.discovery_description(),
            keep_revisions: self.settings.keep_task_definition_revisions,
            fence: self.fence.clone(),
        };
        let mut results = Vec::new();
        let max_wave = plan.services.iter().map(|s| s.wave).max().unwrap_or(0);
        for wave in 0..=max_wave {
            let in_wave = plan.services.iter().filter(|s| s.wave == wave);
            let wave_results: Vec<ServiceResult> = stream::iter(in_wave)
                .map(|sp| {
                    let applier = &applier;
                    async move {
                        let outcome = applier.apply_service(sp).await;
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
                        ServiceResult {
                            name: sp.name.clone(),
                            cluster: sp.cluster.clone(),
                            outcome: sp.outcome.clone(),
                            steps_done: applied.steps_done,
                            steps_planned: sp.steps.len(),
                            error_class: error.as_ref().map(ReconcileError::class),
                            error: error.map(|e| e.to_string()),
                            task_definition_arn: applied.task_definition_arn,
                            service_arn: applied.service_arn,
                            desired: sp.desired.clone(),
                            observed: sp.observed.clone(),
                        }
                    }
                })
                .buffer_unordered(self.options.concurrency.max(1))
                .collect()
                .await;
            results.extend(wave_results);
        }
        results.sort_by(|a, b| a.name.cmp(&b.name));
        results
    }
}
