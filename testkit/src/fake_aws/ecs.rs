//! The fake ECS: services and task definitions.
//!
//! Modelled from the Amazon ECS API reference:
//! - DescribeServices: "You may specify up to 10 services to describe."
//! - ListServices: "maxResults ... If this parameter isn't used, then ListServices returns up to
//!   10 results".
//! - DeleteService: the service moves to DRAINING while its tasks stop, then INACTIVE; a
//!   service of the same name cannot be created until then (CreateService answers
//!   InvalidParameterException).
//! - UpdateService, capacityProviderStrategy: moving to another strategy (or from a launch
//!   type to a strategy) needs `forceNewDeployment`; the fake answers
//!   InvalidParameterException without it.
//! - DescribeTaskDefinition of an unknown family: ClientException.
//! - Deployment circuit breaker with rollback (Amazon ECS Developer Guide, "How the Amazon ECS
//!   deployment circuit breaker detects failures"): the failed deployment is marked FAILED
//!   and stays listed (ACTIVE) while a new PRIMARY deployment of the previous revision rolls
//!   back; once that drains, only the PRIMARY is listed. A test drives it with
//!   [`FakeAws::circuit_breaker_rolls_back`] and [`FakeAws::rollback_drained`].
//! - Deployment alarms and the blue/green, linear and canary strategies: see [`deployment`].

use std::collections::BTreeMap;

use aws_sdk_ecs::operation::create_service::CreateServiceOutput;
use aws_sdk_ecs::operation::delete_service::DeleteServiceOutput;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::list_services::ListServicesOutput;
use aws_sdk_ecs::operation::list_task_definition_families::ListTaskDefinitionFamiliesOutput;
use aws_sdk_ecs::operation::list_task_definitions::ListTaskDefinitionsOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionOutput;
use aws_sdk_ecs::operation::tag_resource::TagResourceOutput;
use aws_sdk_ecs::operation::untag_resource::UntagResourceOutput;
use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, Deployment, DeploymentConfiguration, LaunchType, LoadBalancer,
    NetworkConfiguration, Service, ServiceRegistry, Tag, TaskDefinition,
};
use aws_sdk_ecs::Client;
use aws_smithy_mocks::{mock, MockResponse, Rule};

use super::{aws_error, deployment, FakeAws, ACCOUNT, REGION};

/// One ECS service as the fake keeps it.
#[derive(Debug, Clone)]
pub struct FakeService {
    pub arn: String,
    pub cluster: String,
    pub name: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: String,
    pub tags: BTreeMap<String, String>,
    pub desired: i32,
    pub task_definition: String,
    /// The capacity provider strategy: (provider, base, weight).
    pub capacity_providers: Vec<(String, i32, i32)>,
    pub launch_type: Option<String>,
    pub network: Option<NetworkConfiguration>,
    pub deployment: Option<DeploymentConfiguration>,
    pub load_balancers: Vec<LoadBalancer>,
    pub registry_arns: Vec<String>,
    pub client_token: Option<String>,
    pub drain_ticks_left: u32,
    /// RegisterScalableTarget calls still refused for it (Application Auto Scaling lag).
    pub scaling_lag_left: u32,
    /// The revision before the last UpdateService that changed it.
    pub previous_task_definition: Option<String>,
    /// A deployment the circuit breaker failed and still listed: (id, revision).
    pub failed_deployment: Option<(String, String)>,
    /// Ticks until the rollout of a new revision completes (its tasks started and the old
    /// ones stopped); 0 when settled.
    pub rollout_ticks_left: u32,
    /// `enableExecuteCommand` (ECS Exec).
    pub enable_execute_command: bool,
}

impl FakeService {
    /// A service made by hand on a launch type, without the operator's tags.
    pub fn hand_made(cluster: &str, name: &str, task_definition: &str) -> Self {
        FakeService {
            arn: service_arn(cluster, name),
            cluster: cluster.into(),
            name: name.into(),
            status: "ACTIVE".into(),
            tags: BTreeMap::new(),
            desired: 1,
            task_definition: task_definition.into(),
            capacity_providers: Vec::new(),
            launch_type: Some("FARGATE".into()),
            network: None,
            deployment: None,
            load_balancers: Vec::new(),
            registry_arns: Vec::new(),
            client_token: None,
            drain_ticks_left: 0,
            scaling_lag_left: 0,
            previous_task_definition: None,
            failed_deployment: None,
            rollout_ticks_left: 0,
            enable_execute_command: false,
        }
    }

    fn to_sdk(&self) -> Service {
        Service::builder()
            .service_arn(&self.arn)
            .service_name(&self.name)
            .cluster_arn(format!(
                "arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{}",
                self.cluster
            ))
            .status(&self.status)
            .desired_count(self.desired)
            .running_count(self.desired)
            .pending_count(0)
            .task_definition(&self.task_definition)
            .set_capacity_provider_strategy(Some(
                self.capacity_providers
                    .iter()
                    .map(|(p, base, weight)| {
                        CapacityProviderStrategyItem::builder()
                            .capacity_provider(p)
                            .base(*base)
                            .weight(*weight)
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .set_launch_type(self.launch_type.as_deref().map(LaunchType::from))
            .set_network_configuration(self.network.clone())
            .set_deployment_configuration(self.deployment.clone())
            .set_load_balancers(Some(self.load_balancers.clone()))
            .set_service_registries(Some(
                self.registry_arns
                    .iter()
                    .map(|arn| ServiceRegistry::builder().registry_arn(arn).build())
                    .collect(),
            ))
            .set_deployments(Some(self.deployments()))
            .enable_execute_command(self.enable_execute_command)
            .set_tags(Some(tags(&self.tags)))
            .build()
    }
}

impl FakeService {
    fn deployments(&self) -> Vec<Deployment> {
        use aws_sdk_ecs::types::DeploymentRolloutState as State;
        let rolling = self.rollout_ticks_left > 0 && self.previous_task_definition.is_some();
        let primary_state = if self.failed_deployment.is_some() || rolling {
            State::InProgress
        } else {
            State::Completed
        };
        // While rolling out, the new revision's tasks are starting and the old ones serve.
        let new_running = if rolling { 0 } else { self.desired };
        let mut deployments = vec![Deployment::builder()
            .id("ecs-svc/primary")
            .status("PRIMARY")
            .task_definition(&self.task_definition)
            .rollout_state(primary_state)
            .desired_count(self.desired)
            .running_count(new_running)
            .pending_count(self.desired - new_running)
            .build()];
        if let (true, Some(previous)) = (rolling, &self.previous_task_definition) {
            deployments.push(
                Deployment::builder()
                    .id("ecs-svc/previous")
                    .status("ACTIVE")
                    .task_definition(previous)
                    .rollout_state(State::Completed)
                    .desired_count(self.desired)
                    .running_count(self.desired)
                    .build(),
            );
        }
        if let Some((id, revision)) = &self.failed_deployment {
            deployments.push(
                Deployment::builder()
                    .id(id)
                    .status("ACTIVE")
                    .task_definition(revision)
                    .rollout_state(State::Failed)
                    .rollout_state_reason("ECS deployment circuit breaker: tasks failed to start.")
                    .build(),
            );
        }
        deployments
    }
}

/// One task definition revision.
#[derive(Debug, Clone)]
pub struct Revision {
    pub arn: String,
    pub active: bool,
    pub definition: TaskDefinition,
    pub tags: Vec<Tag>,
}

pub fn service_arn(cluster: &str, name: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{name}")
}

fn tags(map: &BTreeMap<String, String>) -> Vec<Tag> {
    map.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn short_name(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

pub(super) fn rules(fake: &FakeAws) -> Vec<Rule> {
    let f = fake.clone();
    let list = mock!(Client::list_services).then_compute_response(move |req| {
        let state = f.state();
        let cluster = req.cluster().unwrap_or("default");
        let arns: Vec<String> = state
            .services
            .values()
            .filter(|s| s.cluster == cluster)
            .filter(|s| {
                s.status == "ACTIVE"
                    || (s.status == "DRAINING" && state.behaviour.list_draining_services)
            })
            .map(|s| s.arn.clone())
            .collect();
        let page = req.max_results().unwrap_or(10).clamp(1, 100) as usize;
        let start: usize = req.next_token().and_then(|t| t.parse().ok()).unwrap_or(0);
        let end = (start + page).min(arns.len());
        MockResponse::Output(
            ListServicesOutput::builder()
                .set_service_arns(Some(arns[start..end].to_vec()))
                .set_next_token((end < arns.len()).then(|| end.to_string()))
                .build(),
        )
    });
    let f = fake.clone();
    let describe = mock!(Client::describe_services).then_compute_response(move |req| {
        if req.services().len() > 10 {
            return aws_error("InvalidParameterException", "At most 10 services per call.");
        }
        let state = f.state();
        let cluster = req.cluster().unwrap_or("default");
        let found = req
            .services()
            .iter()
            .filter_map(|s| {
                state
                    .services
                    .get(&(cluster.to_string(), short_name(s).to_string()))
            })
            .map(FakeService::to_sdk)
            .collect();
        MockResponse::Output(
            DescribeServicesOutput::builder()
                .set_services(Some(found))
                .build(),
        )
    });
    let f = fake.clone();
    let create = mock!(Client::create_service).then_compute_response(move |req| {
        let mut state = f.state();
        let cluster = req.cluster().unwrap_or("default").to_string();
        let name = req.service_name().unwrap_or_default().to_string();
        state.record(
            "CreateService",
            serde_json::json!({
                "name": name,
                "clientToken": req.client_token(),
                "deploymentConfiguration": deployment::summary(req.deployment_configuration()),
                "enableExecuteCommand": req.enable_execute_command(),
                "strategy": strategy_of(req.capacity_provider_strategy()),
            }),
        );
        if let Some(why) = deployment::refusal(req.deployment_configuration(), req.load_balancers())
        {
            return aws_error("InvalidParameterException", &why);
        }
        if let Some(existing) = state.services.get(&(cluster.clone(), name.clone())) {
            match existing.status.as_str() {
                "DRAINING" => {
                    return aws_error(
                        "InvalidParameterException",
                        "Unable to Start a service that is still Draining.",
                    )
                }
                "ACTIVE" if existing.client_token.as_deref() != req.client_token() => {
                    return aws_error(
                        "InvalidParameterException",
                        "Creation of service was not idempotent.",
                    )
                }
                "ACTIVE" => {
                    let service = existing.to_sdk();
                    return MockResponse::Output(
                        CreateServiceOutput::builder().service(service).build(),
                    );
                }
                // "If you repeat a request with the same client token, ... the response is
                // the original service": a re-create reusing the token of a deleted service
                // gets the deleted one back.
                _ if existing.client_token.is_some()
                    && existing.client_token.as_deref() == req.client_token() =>
                {
                    let service = existing.to_sdk();
                    return MockResponse::Output(
                        CreateServiceOutput::builder().service(service).build(),
                    );
                }
                _ => {}
            }
        }
        let lag = state.behaviour.scaling_lag;
        let service = FakeService {
            arn: service_arn(&cluster, &name),
            cluster: cluster.clone(),
            name: name.clone(),
            status: "ACTIVE".into(),
            tags: req
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect(),
            desired: req.desired_count().unwrap_or(1),
            task_definition: req.task_definition().unwrap_or_default().to_string(),
            capacity_providers: strategy_of(req.capacity_provider_strategy()),
            launch_type: req.launch_type().map(|l| l.as_str().to_string()),
            network: req.network_configuration().cloned(),
            deployment: req.deployment_configuration().map(deployment::stored),
            load_balancers: req.load_balancers().to_vec(),
            registry_arns: req
                .service_registries()
                .iter()
                .filter_map(|r| r.registry_arn().map(str::to_string))
                .collect(),
            client_token: req.client_token().map(str::to_string),
            drain_ticks_left: 0,
            scaling_lag_left: lag,
            previous_task_definition: None,
            failed_deployment: None,
            rollout_ticks_left: 0,
            enable_execute_command: req.enable_execute_command().unwrap_or(false),
        };
        for arn in &service.registry_arns {
            if let Some(d) = state.discovery.values_mut().find(|d| &d.arn == arn) {
                d.instances += service.desired.max(0) as u32;
            }
        }
        let out = service.to_sdk();
        state.services.insert((cluster, name), service);
        MockResponse::Output(CreateServiceOutput::builder().service(out).build())
    });
    vec![
        list,
        describe,
        create,
        update_rule(fake),
        delete_rule(fake),
        tag_rule(fake),
        untag_rule(fake),
    ]
    .into_iter()
    .chain(task_definition_rules(fake))
    .collect()
}

fn update_rule(fake: &FakeAws) -> Rule {
    let f = fake.clone();
    mock!(Client::update_service).then_compute_response(move |req| {
        let mut state = f.state();
        let cluster = req.cluster().unwrap_or("default").to_string();
        let name = short_name(req.service().unwrap_or_default()).to_string();
        state.record(
            "UpdateService",
            serde_json::json!({
                "name": name,
                "taskDefinition": req.task_definition(),
                "desiredCount": req.desired_count(),
                "capacityProviderStrategy": req.capacity_provider_strategy().iter().map(|c| c.capacity_provider().to_string()).collect::<Vec<_>>(),
                "strategy": strategy_of(req.capacity_provider_strategy()),
                "forceNewDeployment": req.force_new_deployment(),
                "networkConfiguration": req.network_configuration().is_some(),
                "deploymentConfiguration": req.deployment_configuration().is_some(),
                "deployment": deployment::summary(req.deployment_configuration()),
                "loadBalancers": req.load_balancers().len(),
                "serviceRegistries": req.service_registries().len(),
                "enableExecuteCommand": req.enable_execute_command(),
                "propagateTags": req.propagate_tags().map(|p| p.as_str().to_string()),
            }),
        );
        let rollout_ticks = state.behaviour.rollout_ticks;
        let Some(service) = state.services.get_mut(&(cluster, name)) else {
            return aws_error("ServiceNotFoundException", "Service not found.");
        };
        if service.status != "ACTIVE" {
            return aws_error("ServiceNotActiveException", "Service was not ACTIVE.");
        }
        let strategy = strategy_of(req.capacity_provider_strategy());
        let strategy_changes = !strategy.is_empty()
            && (strategy != service.capacity_providers || service.launch_type.is_some());
        if strategy_changes && req.force_new_deployment() != Some(true) {
            return aws_error(
                "InvalidParameterException",
                "Changing the capacity provider strategy of a service requires forceNewDeployment.",
            );
        }
        if !strategy.is_empty() {
            service.capacity_providers = strategy;
            service.launch_type = None;
        }
        if let Some(td) = req.task_definition() {
            if service.task_definition != td {
                service.previous_task_definition = Some(service.task_definition.clone());
                service.rollout_ticks_left = rollout_ticks;
            }
            service.task_definition = td.to_string();
        }
        if let Some(n) = req.desired_count() {
            service.desired = n;
        }
        if let Some(on) = req.enable_execute_command() {
            service.enable_execute_command = on;
        }
        if let Some(network) = req.network_configuration() {
            service.network = Some(network.clone());
        }
        // Whole structures replace what ECS kept; the result must be valid as a whole.
        let config = req.deployment_configuration().or(service.deployment.as_ref());
        let load_balancers = req.load_balancers.as_ref().unwrap_or(&service.load_balancers);
        if let Some(why) = deployment::refusal(config, load_balancers) {
            return aws_error("InvalidParameterException", &why);
        }
        if let Some(config) = req.deployment_configuration() {
            service.deployment = Some(deployment::stored(config));
        }
        if let Some(load_balancers) = &req.load_balancers {
            service.load_balancers = load_balancers.clone();
        }
        MockResponse::Output(UpdateServiceOutput::builder().service(service.to_sdk()).build())
    })
}

fn delete_rule(fake: &FakeAws) -> Rule {
    let f = fake.clone();
    mock!(Client::delete_service).then_compute_response(move |req| {
        let mut state = f.state();
        let cluster = req.cluster().unwrap_or("default").to_string();
        let name = short_name(req.service().unwrap_or_default()).to_string();
        state.record("DeleteService", serde_json::json!({"name": name}));
        let ticks = state.behaviour.drain_ticks.max(1);
        match state.services.get_mut(&(cluster, name)) {
            Some(s) if s.status == "ACTIVE" => {
                s.status = "DRAINING".into();
                s.drain_ticks_left = ticks;
                MockResponse::Output(DeleteServiceOutput::builder().service(s.to_sdk()).build())
            }
            Some(_) => aws_error("ServiceNotActiveException", "Service was not ACTIVE."),
            None => aws_error("ServiceNotFoundException", "Service not found."),
        }
    })
}

fn tag_rule(fake: &FakeAws) -> Rule {
    let f = fake.clone();
    mock!(Client::tag_resource).then_compute_response(move |req| {
        let mut state = f.state();
        let arn = req.resource_arn().unwrap_or_default().to_string();
        let new: BTreeMap<String, String> = req
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        state.record("TagResource", serde_json::json!({"arn": arn, "tags": new}));
        match state.services.values_mut().find(|s| s.arn == arn) {
            Some(s) => {
                s.tags.extend(new);
                MockResponse::Output(TagResourceOutput::builder().build())
            }
            None => aws_error("InvalidParameterException", "The resource does not exist."),
        }
    })
}

fn untag_rule(fake: &FakeAws) -> Rule {
    let f = fake.clone();
    mock!(Client::untag_resource).then_compute_response(move |req| {
        let mut state = f.state();
        let arn = req.resource_arn().unwrap_or_default().to_string();
        let keys: Vec<String> = req.tag_keys().to_vec();
        state.record(
            "UntagResource",
            serde_json::json!({"arn": arn, "keys": keys}),
        );
        match state.services.values_mut().find(|s| s.arn == arn) {
            Some(s) => {
                s.tags.retain(|k, _| !keys.contains(k));
                MockResponse::Output(UntagResourceOutput::builder().build())
            }
            None => aws_error("InvalidParameterException", "The resource does not exist."),
        }
    })
}

fn task_definition_rules(fake: &FakeAws) -> Vec<Rule> {
    let f = fake.clone();
    let register = mock!(Client::register_task_definition).then_compute_response(move |req| {
        let mut state = f.state();
        let family = req.family().unwrap_or_default().to_string();
        let revisions = state.task_definitions.entry(family.clone()).or_default();
        let revision = revisions.len() as i32 + 1;
        let arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{revision}");
        let definition = TaskDefinition::builder()
            .task_definition_arn(&arn)
            .family(&family)
            .revision(revision)
            .set_cpu(req.cpu().map(str::to_string))
            .set_memory(req.memory().map(str::to_string))
            .set_network_mode(req.network_mode().cloned())
            .set_requires_compatibilities(Some(req.requires_compatibilities().to_vec()))
            .set_execution_role_arn(req.execution_role_arn().map(str::to_string))
            .set_task_role_arn(req.task_role_arn().map(str::to_string))
            .set_container_definitions(Some(req.container_definitions().to_vec()))
            .set_volumes(Some(req.volumes().to_vec()))
            .build();
        revisions.push(Revision {
            arn: arn.clone(),
            active: true,
            definition: definition.clone(),
            tags: req.tags().to_vec(),
        });
        MockResponse::Output(
            RegisterTaskDefinitionOutput::builder()
                .task_definition(definition)
                .build(),
        )
    });
    let f = fake.clone();
    let describe = mock!(Client::describe_task_definition).then_compute_response(move |req| {
        let state = f.state();
        let wanted = req.task_definition().unwrap_or_default();
        // By ARN, that revision; by family, its latest ACTIVE one.
        let found = state
            .task_definitions
            .values()
            .flatten()
            .find(|r| r.arn == wanted)
            .or_else(|| {
                state
                    .task_definitions
                    .get(wanted)
                    .and_then(|revisions| revisions.iter().rev().find(|r| r.active))
            });
        match found {
            Some(r) => MockResponse::Output(
                DescribeTaskDefinitionOutput::builder()
                    .task_definition(r.definition.clone())
                    .set_tags(Some(r.tags.clone()))
                    .build(),
            ),
            None => aws_error("ClientException", "Unable to describe task definition."),
        }
    });
    let f = fake.clone();
    let list = mock!(Client::list_task_definitions).then_compute_response(move |req| {
        let state = f.state();
        let prefix = req.family_prefix().unwrap_or_default();
        let mut arns: Vec<String> = state
            .task_definitions
            .iter()
            .filter(|(family, _)| family.starts_with(prefix))
            .flat_map(|(_, revisions)| revisions.iter().filter(|r| r.active))
            .map(|r| r.arn.clone())
            .collect();
        arns.reverse();
        MockResponse::Output(
            ListTaskDefinitionsOutput::builder()
                .set_task_definition_arns(Some(arns))
                .build(),
        )
    });
    // Families with an ACTIVE revision, as `status: ACTIVE` asks (one page: the fake holds few).
    let f = fake.clone();
    let families = mock!(Client::list_task_definition_families).then_compute_response(move |req| {
        let state = f.state();
        let prefix = req.family_prefix().unwrap_or_default();
        let names: Vec<String> = (state.task_definitions.iter())
            .filter(|(family, revisions)| {
                family.starts_with(prefix) && revisions.iter().any(|r| r.active)
            })
            .map(|(family, _)| family.clone())
            .collect();
        MockResponse::Output(
            ListTaskDefinitionFamiliesOutput::builder()
                .set_families(Some(names))
                .build(),
        )
    });
    let tasks = mock!(Client::list_tasks).then_output(|| {
        ListTasksOutput::builder()
            .set_task_arns(Some(vec![]))
            .build()
    });
    vec![register, describe, list, families, tasks]
}

/// A capacity provider strategy as the fake keeps it: (provider, base, weight), ECS's defaults
/// (base 0, weight 0) for what the request leaves out.
fn strategy_of(items: &[CapacityProviderStrategyItem]) -> Vec<(String, i32, i32)> {
    items
        .iter()
        .map(|c| (c.capacity_provider().to_string(), c.base(), c.weight()))
        .collect()
}
