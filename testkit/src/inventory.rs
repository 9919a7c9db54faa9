//! What exists in moto, read through an independent client: services, Cloud Map services,
//! task definitions, scalable targets and policies, and what is wrong with them.

use std::collections::{BTreeMap, BTreeSet};

use ecs_operator::aws::AwsClients;
use futures::stream::{self, StreamExt};

/// Resource tags, key -> value.
pub type Tags = BTreeMap<String, String>;
/// One task definition revision: (ARN, status, container image).
pub type Revision = (String, String, String);

/// One ECS service as read back from moto.
#[derive(Debug, Clone)]
pub struct SeenService {
    pub name: String,
    pub status: String,
    pub tags: BTreeMap<String, String>,
    pub task_definition: String,
    pub registries: Vec<String>,
}

/// One Cloud Map service as read back from moto.
#[derive(Debug, Clone)]
pub struct SeenDiscovery {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
}

/// Everything in moto that belongs to one test: its cluster's ECS services, the Cloud Map
/// services whose names start with `prefix`, the task definition families of `names`, and the
/// scalable targets and policies of the cluster.
#[derive(Debug, Default)]
pub struct Inventory {
    pub services: Vec<SeenService>,
    pub discovery: Vec<SeenDiscovery>,
    /// family -> ACTIVE revisions (arn, tags)
    pub task_definitions: BTreeMap<String, Vec<(String, Tags)>>,
    pub scalable_targets: Vec<String>,
    pub scaling_policies: Vec<(String, String)>,
}

impl Inventory {
    pub fn active_services(&self) -> Vec<&SeenService> {
        self.services
            .iter()
            .filter(|s| s.status == "ACTIVE")
            .collect()
    }

    pub fn revisions(&self) -> usize {
        self.task_definitions.values().map(Vec::len).sum()
    }
}

pub async fn inventory(
    moto: &AwsClients,
    cluster: &str,
    prefix: &str,
    names: &BTreeSet<String>,
) -> Inventory {
    let mut inv = Inventory::default();
    let arns = moto
        .ecs
        .list_services()
        .cluster(cluster)
        .max_results(100)
        .send()
        .await
        .unwrap()
        .service_arns()
        .to_vec();
    for batch in arns.chunks(10) {
        let out = moto
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(batch.to_vec()))
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .unwrap();
        for s in out.services() {
            inv.services.push(SeenService {
                name: s.service_name().unwrap_or_default().to_string(),
                status: s.status().unwrap_or_default().to_string(),
                tags: s
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap_or_default().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
                task_definition: s.task_definition().unwrap_or_default().to_string(),
                registries: s
                    .service_registries()
                    .iter()
                    .filter_map(|r| r.registry_arn().map(str::to_string))
                    .collect(),
            });
        }
    }
    let mut listed = Vec::new();
    let mut pages = moto.discovery.list_services().into_paginator().send();
    while let Some(page) = pages.next().await {
        for s in page.unwrap().services() {
            if s.name().unwrap_or_default().starts_with(prefix) {
                listed.push(s.clone());
            }
        }
    }
    inv.discovery = stream::iter(listed)
        .map(|s| async move {
            let arn = s.arn().unwrap_or_default().to_string();
            let tags = moto
                .discovery
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await
                .unwrap()
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            SeenDiscovery {
                id: s.id().unwrap_or_default().to_string(),
                arn,
                name: s.name().unwrap_or_default().to_string(),
                description: s.description().unwrap_or_default().to_string(),
                tags,
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let families: Vec<Vec<(String, String, Tags)>> = stream::iter(names)
        .map(|name| async move {
            let listed = moto
                .ecs
                .list_task_definitions()
                .family_prefix(name)
                .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
                .send()
                .await
                .unwrap();
            let mut found = Vec::new();
            for arn in listed.task_definition_arns() {
                let family = arn
                    .rsplit('/')
                    .next()
                    .and_then(|s| s.split(':').next())
                    .unwrap_or_default();
                if family != name {
                    continue;
                }
                let described = moto
                    .ecs
                    .describe_task_definition()
                    .task_definition(arn)
                    .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                    .send()
                    .await
                    .unwrap();
                let tags = described
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap_or_default().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                found.push((family.to_string(), arn.clone(), tags));
            }
            found
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for (family, arn, tags) in families.into_iter().flatten() {
        inv.task_definitions
            .entry(family)
            .or_default()
            .push((arn, tags));
    }
    let service_prefix = format!("service/{cluster}/");
    // By resource id, at most 50 per call (moto's pagination of the unfiltered listing repeats
    // its NextToken).
    let ids: Vec<String> = names
        .iter()
        .map(|n| format!("{service_prefix}{n}"))
        .collect();
    for batch in ids.chunks(50) {
        let targets = moto
            .scaling
            .describe_scalable_targets()
            .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
            .set_resource_ids(Some(batch.to_vec()))
            .send()
            .await
            .unwrap();
        inv.scalable_targets.extend(
            targets
                .scalable_targets()
                .iter()
                .map(|t| t.resource_id().to_string()),
        );
    }
    let mut pages = moto
        .scaling
        .describe_scaling_policies()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        inv.scaling_policies.extend(
            page.unwrap()
                .scaling_policies()
                .iter()
                .filter(|p| p.resource_id().starts_with(&service_prefix))
                .map(|p| (p.resource_id().to_string(), p.policy_name().to_string())),
        );
    }
    inv
}

/// Problems with an inventory against the expectation "exactly one of everything per
/// manifest, all owned": duplicates, orphans, foreign or untagged resources.
pub fn inventory_problems(
    inv: &Inventory,
    operator_id: &str,
    names: &BTreeSet<String>,
    discovery_description: &str,
    expect_revisions: Option<usize>,
    expect_scaling: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let owner = ecs_operator::domain::tags::OWNER;
    let manifest_tag = ecs_operator::domain::tags::MANIFEST;
    let active = inv.active_services();
    let mut seen = BTreeSet::new();
    for s in &active {
        if !seen.insert(s.name.clone()) {
            problems.push(format!("duplicate ECS service {}", s.name));
        }
        if !names.contains(&s.name) {
            problems.push(format!("orphan ECS service {} (no manifest)", s.name));
        }
        if s.tags.get(owner).map(String::as_str) != Some(operator_id) {
            problems.push(format!("ECS service {} lacks the ownership tag", s.name));
        }
        if s.tags.get(manifest_tag) != Some(&s.name) {
            problems.push(format!("ECS service {} lacks its manifest tag", s.name));
        }
        if s.registries.len() != 1 {
            problems.push(format!(
                "ECS service {} has {} registries",
                s.name,
                s.registries.len()
            ));
        }
    }
    for n in names {
        if !seen.contains(n) {
            problems.push(format!("missing ECS service {n}"));
        }
    }
    let mut discovery_names = BTreeMap::<&str, usize>::new();
    for d in &inv.discovery {
        *discovery_names.entry(d.name.as_str()).or_default() += 1;
        if !names.contains(&d.name) {
            problems.push(format!("orphan Cloud Map service {}", d.name));
        }
        if d.description != discovery_description {
            problems.push(format!(
                "Cloud Map service {} lacks the ownership marker",
                d.name
            ));
        }
        if d.tags.get(owner).map(String::as_str) != Some(operator_id) {
            problems.push(format!(
                "Cloud Map service {} lacks the ownership tag",
                d.name
            ));
        }
    }
    for (name, n) in &discovery_names {
        if *n > 1 {
            problems.push(format!("{n} Cloud Map services named {name}"));
        }
    }
    for n in names {
        if !discovery_names.contains_key(n.as_str()) {
            problems.push(format!("missing Cloud Map service {n}"));
        }
    }
    // Every ECS service's registry is one of the Cloud Map services of its own name.
    for s in &active {
        for r in &s.registries {
            if !inv
                .discovery
                .iter()
                .any(|d| &d.arn == r && d.name == s.name)
            {
                problems.push(format!(
                    "ECS service {} is registered in a foreign Cloud Map service {r}",
                    s.name
                ));
            }
        }
    }
    for n in names {
        let revisions = inv.task_definitions.get(n).map(Vec::len).unwrap_or(0);
        if expect_revisions.is_some_and(|e| e != revisions) || revisions == 0 {
            problems.push(format!(
                "family {n} has {revisions} active revisions, expected {expect_revisions:?}"
            ));
        }
    }
    for (family, revisions) in &inv.task_definitions {
        for (arn, tags) in revisions {
            if tags.get(owner).map(String::as_str) != Some(operator_id) {
                problems.push(format!(
                    "task definition {arn} of {family} lacks the ownership tag"
                ));
            }
        }
    }
    if expect_scaling {
        let targets: BTreeSet<&String> = inv.scalable_targets.iter().collect();
        if targets.len() != inv.scalable_targets.len() {
            problems.push("duplicate scalable targets".into());
        }
        if inv.scalable_targets.len() != names.len() {
            problems.push(format!(
                "{} scalable targets for {} services",
                inv.scalable_targets.len(),
                names.len()
            ));
        }
        if inv.scaling_policies.len() != names.len() {
            problems.push(format!(
                "{} scaling policies for {} services",
                inv.scaling_policies.len(),
                names.len()
            ));
        }
    }
    problems
}

/// Every revision of a family, ACTIVE or INACTIVE, with its container image.
pub async fn revision_images(moto: &AwsClients, family: &str) -> Vec<Revision> {
    let mut found = Vec::new();
    for status in [
        aws_sdk_ecs::types::TaskDefinitionStatus::Active,
        aws_sdk_ecs::types::TaskDefinitionStatus::Inactive,
    ] {
        let listed = moto
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(status.clone())
            .send()
            .await
            .unwrap();
        for arn in listed.task_definition_arns() {
            if !arn.contains(&format!("/{family}:")) {
                continue;
            }
            let td = moto
                .ecs
                .describe_task_definition()
                .task_definition(arn)
                .send()
                .await
                .unwrap();
            let image = td
                .task_definition()
                .and_then(|t| t.container_definitions().first())
                .and_then(|c| c.image())
                .unwrap_or_default()
                .to_string();
            found.push((arn.clone(), status.as_str().to_string(), image));
        }
    }
    found
}

/// Deregisters a test's scalable targets (their policies go with them) and deletes its Cloud
/// Map services, so later tests on the same moto do not page through them (moto lists every
/// namespace's Cloud Map services and every policy of the account).
pub async fn clean_up(moto: &AwsClients, cluster: &str, inv: &Inventory) {
    let targets = inv.scalable_targets.clone();
    stream::iter(targets)
        .for_each_concurrent(8, |resource_id| async move {
            let _ = moto
                .scaling
                .deregister_scalable_target()
                .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
                .scalable_dimension(
                    aws_sdk_applicationautoscaling::types::ScalableDimension::EcsServiceDesiredCount,
                )
                .resource_id(resource_id)
                .send()
                .await;
        })
        .await;
    let services: Vec<String> = inv.services.iter().map(|s| s.name.clone()).collect();
    stream::iter(services)
        .for_each_concurrent(8, |name| async move {
            let _ = moto
                .ecs
                .delete_service()
                .cluster(cluster)
                .service(name)
                .force(true)
                .send()
                .await;
        })
        .await;
    let ids: Vec<String> = inv.discovery.iter().map(|d| d.id.clone()).collect();
    stream::iter(ids)
        .for_each_concurrent(8, |id| async move {
            let _ = moto.discovery.delete_service().id(id).send().await;
        })
        .await;
}
