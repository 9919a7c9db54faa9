//! EventBridge Scheduler schedules of the operator's group, read back in the terms the planner
//! compares ([`ScheduleSpec`]), and the stopped runs of scheduled jobs.
//!
//! Schedules carry no tags (EventBridge Scheduler tags schedule groups only), so a schedule is
//! the operator's when it sits in the operator's group (created and tagged by it) *and* its
//! description starts with the operator's marker; anything else in the group is left alone.
//!
//! Reads: one ListSchedules listing of the group per pass; GetSchedule only for a schedule
//! whose `LastModificationDate` changed since it was last read (an idle pass reads none).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use serde::Serialize;

use crate::aws::{AwsClients, AwsError};

/// A Fargate capacity provider of a job's task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityItem {
    pub capacity_provider: String,
    pub base: i32,
    pub weight: i32,
}

/// One schedule, as the operator writes it and reads it back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    pub description: String,
    pub schedule_expression: String,
    pub schedule_expression_timezone: String,
    pub state: String,
    /// The target: the cluster's ARN.
    pub cluster_arn: String,
    pub role_arn: String,
    pub task_definition_arn: String,
    pub capacity_provider_strategy: Vec<CapacityItem>,
    /// Sorted.
    pub subnets: Vec<String>,
    /// Sorted.
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    /// ECS `group` of the job's tasks (`job:<schedule>`): how a stopped task is known as a run.
    pub task_group: String,
    /// The RunTask overrides (the container's command), as JSON.
    pub input: String,
    pub maximum_retry_attempts: i32,
    pub maximum_event_age_in_seconds: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_queue_arn: Option<String>,
    /// Tags each task of the job starts with (owner, manifest, team), so that a job's tasks are
    /// known as the operator's like its services' tasks.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub task_tags: BTreeMap<String, String>,
    /// ECS managed tags (the cluster's name) on the job's tasks.
    pub ecs_managed_tags: bool,
}

/// A schedule found in the group.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSchedule {
    pub name: String,
    pub spec: ScheduleSpec,
    /// Unix seconds.
    pub created_at: u64,
    pub(crate) last_modified: i64,
}

/// What the observer remembers between passes.
#[derive(Debug, Default)]
pub struct ScheduleMemory {
    /// The group was found (or created) and carries this operator's tag.
    pub group_ready: Mutex<bool>,
    read: Mutex<HashMap<String, ObservedSchedule>>,
    /// Stopped job tasks already counted.
    seen_runs: Mutex<HashSet<String>>,
}

fn secs(t: Option<&aws_smithy_types::DateTime>) -> i64 {
    t.map_or(0, |t| t.secs())
}

impl ScheduleMemory {
    /// Every schedule of `group`; a group that does not exist holds none.
    pub async fn list(
        &self,
        aws: &AwsClients,
        group: &str,
    ) -> Result<BTreeMap<String, ObservedSchedule>, AwsError> {
        let mut listed = Vec::new();
        let mut pages = aws
            .scheduler
            .list_schedules()
            .group_name(group)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            match page.map_err(aws.error("scheduler:ListSchedules")) {
                Ok(page) => listed.extend((page.schedules().iter()).filter_map(|s| {
                    Some((s.name()?.to_string(), secs(s.last_modification_date())))
                })),
                Err(e) if e.is_not_found() => return Ok(BTreeMap::new()),
                Err(e) => return Err(e),
            }
        }
        let mut found = BTreeMap::new();
        for (name, modified) in listed {
            let remembered = (self.read.lock().unwrap_or_else(|e| e.into_inner()))
                .get(&name)
                .filter(|s| s.last_modified == modified)
                .cloned();
            let schedule = match remembered {
                Some(s) => s,
                None => {
                    let out = aws
                        .scheduler
                        .get_schedule()
                        .group_name(group)
                        .name(&name)
                        .send()
                        .await
                        .map_err(aws.error("scheduler:GetSchedule"));
                    let out = match out {
                        Ok(out) => out,
                        Err(e) if e.is_not_found() => continue,
                        Err(e) => return Err(e),
                    };
                    let s = read(&name, &out);
                    (self.read.lock().unwrap_or_else(|e| e.into_inner()))
                        .insert(name.clone(), s.clone());
                    s
                }
            };
            found.insert(name, schedule);
        }
        Ok(found)
    }

    /// Forgets a schedule (after a write, so the next read is fresh).
    pub fn forget(&self, name: &str) {
        (self.read.lock().unwrap_or_else(|e| e.into_inner())).remove(name);
    }

    /// Of `arns`, those not counted before (and counts them now).
    pub fn new_runs(&self, arns: &[String]) -> Vec<String> {
        let mut seen = self.seen_runs.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 100_000 {
            seen.clear();
        }
        arns.iter()
            .filter(|a| seen.insert((*a).clone()))
            .cloned()
            .collect()
    }
}

fn read(
    name: &str,
    out: &aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput,
) -> ObservedSchedule {
    let target = out.target();
    let ecs = target.and_then(|t| t.ecs_parameters());
    let vpc = ecs
        .and_then(|e| e.network_configuration())
        .and_then(|n| n.awsvpc_configuration());
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let retry = target.and_then(|t| t.retry_policy());
    ObservedSchedule {
        name: name.to_string(),
        created_at: secs(out.creation_date()).max(0) as u64,
        last_modified: secs(out.last_modification_date()),
        spec: ScheduleSpec {
            description: out.description().unwrap_or_default().to_string(),
            schedule_expression: out.schedule_expression().unwrap_or_default().to_string(),
            schedule_expression_timezone: out
                .schedule_expression_timezone()
                .unwrap_or("UTC")
                .to_string(),
            state: out.state().map_or("ENABLED", |s| s.as_str()).to_string(),
            cluster_arn: target.map(|t| t.arn().to_string()).unwrap_or_default(),
            role_arn: target.map(|t| t.role_arn().to_string()).unwrap_or_default(),
            task_definition_arn: ecs
                .map(|e| e.task_definition_arn().to_string())
                .unwrap_or_default(),
            capacity_provider_strategy: (ecs
                .map(|e| e.capacity_provider_strategy())
                .unwrap_or_default())
            .iter()
            .map(|c| CapacityItem {
                capacity_provider: c.capacity_provider().to_string(),
                base: c.base(),
                weight: c.weight(),
            })
            .collect(),
            subnets: sorted(vpc.map(|v| v.subnets()).unwrap_or_default()),
            security_groups: sorted(vpc.map(|v| v.security_groups()).unwrap_or_default()),
            assign_public_ip: vpc
                .and_then(|v| v.assign_public_ip())
                .is_some_and(|a| a.as_str() == "ENABLED"),
            task_group: ecs.and_then(|e| e.group()).unwrap_or_default().to_string(),
            input: target
                .and_then(|t| t.input())
                .unwrap_or_default()
                .to_string(),
            maximum_retry_attempts: retry
                .and_then(|r| r.maximum_retry_attempts())
                .unwrap_or(185),
            maximum_event_age_in_seconds: retry
                .and_then(|r| r.maximum_event_age_in_seconds())
                .unwrap_or(86_400),
            dead_letter_queue_arn: target
                .and_then(|t| t.dead_letter_config())
                .and_then(|d| d.arn())
                .map(str::to_string),
            // A list of maps: one map holds them all, as the operator writes it.
            task_tags: (ecs.map(|e| e.tags()).unwrap_or_default().iter())
                .flat_map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())))
                .collect(),
            ecs_managed_tags: ecs.and_then(|e| e.enable_ecs_managed_tags()) == Some(true),
        },
    }
}
