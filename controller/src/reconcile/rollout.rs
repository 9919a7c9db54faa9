//! One service's rollout, by hand: what `ecs-operator rollout status` shows, what
//! `apply --wait` waits for, and `ecs-operator rollback`.
//!
//! # Guarantees
//! - [`progress`] is pure: one DescribeServices answer and the revision waited for in, a
//!   verdict out. A rollout ECS failed or rolled back is never reported as completed.
//! - [`rollback`] changes only a service this operator owns (its owner tag), and holds the
//!   spec it rolled back from before it touches the service: the controller sees the hold (a
//!   tag on the service, read with every DescribeServices) on its next pass and does not
//!   deploy that spec again until the manifest changes or `ecs-operator retry`.
//!
//! # Caveats
//! - moto lists the deployment made at creation forever (its task definition and counts are
//!   never updated), so against moto a rollout never completes; `apply --wait` is tested
//!   against the fake ECS of `testkit`, built from the API reference.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::types::{SortOrder, TaskDefinitionStatus};

use crate::aws::{AwsClients, AwsError};
use crate::domain::short_revision;
use crate::domain::tags;
use crate::observe::{ObservedService, RolloutState};
use crate::status::{HeldRollout, HoldKind};

/// A service `apply --wait` waits for: it must come to run `revision`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitTarget {
    pub name: String,
    pub cluster: String,
    /// The task definition the apply set (or the one the service ran, when only other
    /// settings changed).
    pub revision: String,
}

/// Where a waited-for rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Still rolling out: what ECS reports so far.
    Pending(String),
    Completed,
    /// ECS stopped the rollout and did not roll back: the reason.
    Failed(String),
    /// ECS rolled back to the previous revision: the reason.
    RolledBack(String),
    /// The service runs another revision now (another apply, or a rollback by hand).
    Superseded(String),
    /// The service does not exist (any more).
    Gone,
}

impl Progress {
    pub fn is_done(&self) -> bool {
        !matches!(self, Progress::Pending(_))
    }

    pub fn is_success(&self) -> bool {
        *self == Progress::Completed
    }
}

/// Judges the rollout of `revision` from the service as DescribeServices reports it. Pure.
pub fn progress(service: Option<&ObservedService>, revision: &str) -> Progress {
    let Some(o) = service.filter(|o| o.is_active()) else {
        return Progress::Gone;
    };
    let ours = o
        .deployments
        .iter()
        .find(|d| d.task_definition_arn == revision);
    if let Some(d) = ours.filter(|d| d.rollout == RolloutState::Failed) {
        return if o.task_definition_arn == revision {
            Progress::Failed(d.reason.clone())
        } else {
            Progress::RolledBack(d.reason.clone())
        };
    }
    if o.task_definition_arn != revision {
        return Progress::Superseded(short_revision(&o.task_definition_arn).to_string());
    }
    let Some(d) = ours else {
        return Progress::Pending("ECS lists no deployment of it yet".into());
    };
    let old_running: i32 = (o.deployments.iter())
        .filter(|other| other.id != d.id)
        .map(|other| other.tasks.running)
        .sum();
    let settled = d.tasks.running >= d.tasks.desired && old_running == 0;
    match &d.rollout {
        RolloutState::Completed => return Progress::Completed,
        // Without the circuit breaker ECS reports no rollout state: judged by the counts.
        RolloutState::Unknown(_) if settled => return Progress::Completed,
        _ => {}
    }
    Progress::Pending(format!(
        "{} of {} new tasks running, {} pending, {} failed; {old_running} old still running",
        d.tasks.running, d.tasks.desired, d.tasks.pending, d.failed_tasks
    ))
}

/// DescribeServices (with tags) of named services of one cluster, by name.
pub async fn describe(
    aws: &AwsClients,
    cluster: &str,
    names: &[String],
) -> Result<BTreeMap<String, ObservedService>, AwsError> {
    let found = crate::observe::ecs::describe(aws, cluster, names).await?;
    Ok(found.into_iter().map(|o| (o.name.clone(), o)).collect())
}

/// Polls every target until each is done or `timeout` passes; `on_round` sees each round's
/// progress (the progress display). Returns the last progress of each target.
pub async fn wait(
    aws: &AwsClients,
    targets: &[WaitTarget],
    interval: Duration,
    timeout: Duration,
    mut on_round: impl FnMut(&[(WaitTarget, Progress)]),
) -> Result<Vec<(WaitTarget, Progress)>, AwsError> {
    let started = tokio::time::Instant::now();
    let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for t in targets {
        by_cluster
            .entry(&t.cluster)
            .or_default()
            .push(t.name.clone());
    }
    loop {
        let mut seen = BTreeMap::new();
        for (cluster, names) in &by_cluster {
            for (name, o) in describe(aws, cluster, names).await? {
                seen.insert((cluster.to_string(), name), o);
            }
        }
        let round: Vec<(WaitTarget, Progress)> = targets
            .iter()
            .map(|t| {
                let o = seen.get(&(t.cluster.clone(), t.name.clone()));
                (t.clone(), progress(o, &t.revision))
            })
            .collect();
        on_round(&round);
        if round.iter().all(|(_, p)| p.is_done()) || started.elapsed() >= timeout {
            return Ok(round);
        }
        tokio::time::sleep(interval).await;
    }
}

/// Why a rollback by hand was refused.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("service {0} does not exist in cluster {1}")]
    NotFound(String, String),
    #[error("service {0} is not owned by this operator (tag {owner} is {1:?}): not touched", owner = tags::OWNER)]
    NotOwned(String, Option<String>),
    #[error("service {0} has no earlier ACTIVE revision than {1} to roll back to")]
    NoEarlierRevision(String, String),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// What `rollback` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualRollback {
    pub from: String,
    pub to: String,
    pub hold: HeldRollout,
}

/// Rolls a service back to the revision before the one it runs (the older deployment while a
/// rollout is in progress, otherwise the previous ACTIVE revision of its family), after
/// holding the spec it ran with the [`tags::HELD`] tag.
pub async fn rollback(
    aws: &AwsClients,
    operator_id: &str,
    cluster: &str,
    name: &str,
    now: u64,
) -> Result<ManualRollback, RollbackError> {
    let services = describe(aws, cluster, &[name.to_string()]).await?;
    let Some(o) = services.get(name).filter(|o| o.is_active()) else {
        return Err(RollbackError::NotFound(name.into(), cluster.into()));
    };
    if o.owner() != Some(operator_id) {
        return Err(RollbackError::NotOwned(
            name.into(),
            o.owner().map(str::to_string),
        ));
    }
    let from = o.task_definition_arn.clone();
    let to = match (o.deployments.iter()).find(|d| d.task_definition_arn != from) {
        Some(older) => older.task_definition_arn.clone(),
        None => earlier_revision(aws, &from)
            .await?
            .ok_or_else(|| RollbackError::NoEarlierRevision(name.into(), from.clone()))?,
    };
    let hold = HeldRollout {
        spec_hash: o.tags.get(tags::SPEC_HASH).cloned().unwrap_or_default(),
        revision: from.clone(),
        deployment: format!("manual@{now}"),
        reason: HoldKind::Hand.reason().into(),
        since: now,
    };
    roll_back_to(aws, o, &to, &hold, HoldKind::Hand).await?;
    Ok(ManualRollback { from, to, hold })
}

/// Holds `hold`'s spec on the service (the [`tags::HELD`] tag), then sets the service to
/// `to`. The tag first: should the update fail, the spec is held anyway and nothing deploys
/// it again; should the tag fail, nothing was changed.
pub async fn roll_back_to(
    aws: &AwsClients,
    o: &ObservedService,
    to: &str,
    hold: &HeldRollout,
    kind: HoldKind,
) -> Result<(), AwsError> {
    aws.ecs
        .tag_resource()
        .resource_arn(&o.arn)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key(tags::HELD)
                .value(hold.to_tag(kind))
                .build(),
        )
        .send()
        .await
        .map_err(aws.error("ecs:TagResource"))?;
    aws.ecs
        .update_service()
        .cluster(&o.cluster)
        .service(&o.name)
        .task_definition(to)
        .send()
        .await
        .map_err(aws.error("ecs:UpdateService"))?;
    Ok(())
}

/// The newest ACTIVE revision of `arn`'s family older than `arn`.
async fn earlier_revision(aws: &AwsClients, arn: &str) -> Result<Option<String>, AwsError> {
    let Some((family, number)) = short_revision(arn).rsplit_once(':') else {
        return Ok(None);
    };
    let current: u64 = number.parse().unwrap_or(0);
    let mut pages = aws
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(TaskDefinitionStatus::Active)
        .sort(SortOrder::Desc)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws.error("ecs:ListTaskDefinitions"))?;
        for candidate in page.task_definition_arns() {
            // familyPrefix matches other families that start alike: same family only.
            let Some((f, n)) = short_revision(candidate).rsplit_once(':') else {
                continue;
            };
            if f == family && n.parse::<u64>().is_ok_and(|n| n < current) {
                return Ok(Some(candidate.clone()));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
