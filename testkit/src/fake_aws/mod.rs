//! An in-process fake of the parts of ECS, Cloud Map and Application Auto Scaling the operator
//! uses, with the behaviours of real AWS that moto does not emulate, each taken from the API
//! reference (cited where it is modelled):
//!
//! | behaviour | module |
//! | --- | --- |
//! | a deleted ECS service stays `DRAINING` until its tasks stopped; its name cannot be reused meanwhile | [`ecs`] |
//! | changing the capacity provider strategy needs `forceNewDeployment` | [`ecs`] |
//! | DescribeServices takes at most 10 services; ListServices pages 10 at a time | [`ecs`] |
//! | deployment alarms and the blue/green, linear and canary strategies: limits, required fields, defaults ECS fills in | [`deployment`] |
//! | Cloud Map DeleteService fails with `ResourceInUse` while instances are registered | [`cloud_map`] |
//! | RegisterScalableTarget right after CreateService can fail with `ValidationException` | [`scaling`] |
//!
//! Answers are the operator's SDK clients talking to the fake through `aws-smithy-mocks`
//! rules: successes are typed outputs, failures are HTTP responses with the JSON error body
//! AWS sends, so the SDK reads their error code as it would from AWS. Time is explicit: a test
//! calls [`FakeAws::tick`] where real seconds would pass.

mod cloud_map;
pub mod deployment;
mod ecs;
mod scaling;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_mocks::{create_mock_http_client, MockResponse, MockResponseInterceptor, Rule};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use ecs_operator::aws::AwsClients;

pub use cloud_map::FakeDiscovery;
pub use ecs::FakeService;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// How the fake behaves where AWS's documentation leaves a choice, or where a test needs a
/// delay.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Whether ListServices returns DRAINING services (the API reference does not say; the
    /// operator must cope with both answers).
    pub list_draining_services: bool,
    /// How many ticks a deleted service stays DRAINING (its tasks stopping).
    pub drain_ticks: u32,
    /// How many RegisterScalableTarget calls for a new service fail with ValidationException
    /// before Application Auto Scaling sees it.
    pub scaling_lag: u32,
    /// How many ticks the rollout of a new revision stays IN_PROGRESS (0: it completes at
    /// once, as the other tests assume).
    pub rollout_ticks: u32,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            list_draining_services: true,
            drain_ticks: 2,
            scaling_lag: 0,
            rollout_ticks: 0,
        }
    }
}

/// One recorded request: operation and the parts a test asserts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub operation: &'static str,
    pub detail: serde_json::Value,
}

#[derive(Debug, Default)]
pub struct State {
    pub behaviour: Behaviour,
    pub services: BTreeMap<(String, String), FakeService>,
    /// family -> revisions (ARN, ACTIVE?, tags), oldest first.
    pub task_definitions: BTreeMap<String, Vec<ecs::Revision>>,
    pub discovery: BTreeMap<String, FakeDiscovery>,
    pub targets: BTreeMap<String, scaling::Target>,
    pub requests: Vec<Request>,
    next_id: u64,
}

impl State {
    pub fn record(&mut self, operation: &'static str, detail: serde_json::Value) {
        self.requests.push(Request { operation, detail });
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// The fake account. Cheap to clone: clones share the state.
#[derive(Clone, Default)]
pub struct FakeAws {
    state: Arc<Mutex<State>>,
}

impl FakeAws {
    pub fn new(behaviour: Behaviour) -> Self {
        let fake = FakeAws::default();
        fake.state().behaviour = behaviour;
        fake
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Time passes: draining services move on (after `drain_ticks`, INACTIVE, and their Cloud
    /// Map instances are deregistered).
    pub fn tick(&self) {
        let mut state = self.state();
        let mut deregistered = Vec::new();
        for service in state.services.values_mut() {
            service.rollout_ticks_left = service.rollout_ticks_left.saturating_sub(1);
            if service.status == "DRAINING" {
                service.drain_ticks_left = service.drain_ticks_left.saturating_sub(1);
                if service.drain_ticks_left == 0 {
                    service.status = "INACTIVE".into();
                    deregistered.extend(service.registry_arns.clone());
                }
            }
        }
        for d in state.discovery.values_mut() {
            if deregistered.contains(&d.arn) {
                d.instances = 0;
            }
        }
    }

    /// The deployment circuit breaker fails the service's last deployment and rolls back to
    /// the revision before it: the failed deployment stays listed until
    /// [`Self::rollback_drained`].
    pub fn circuit_breaker_rolls_back(&self, cluster: &str, name: &str) {
        let mut state = self.state();
        let id = format!("ecs-svc/failed-{}", state.next_id());
        let service = state
            .services
            .get_mut(&(cluster.to_string(), name.to_string()))
            .expect("the service exists");
        let previous = service
            .previous_task_definition
            .take()
            .expect("the service was updated to a new revision");
        let failed = std::mem::replace(&mut service.task_definition, previous);
        service.failed_deployment = Some((id, failed));
        service.rollout_ticks_left = 0;
    }

    /// The rolled-back tasks have stopped: ECS no longer lists the failed deployment.
    pub fn rollback_drained(&self, cluster: &str, name: &str) {
        if let Some(service) = self
            .state()
            .services
            .get_mut(&(cluster.to_string(), name.to_string()))
        {
            service.failed_deployment = None;
        }
    }

    /// Requests of one operation, oldest first.
    pub fn requests(&self, operation: &str) -> Vec<serde_json::Value> {
        self.state()
            .requests
            .iter()
            .filter(|r| r.operation == operation)
            .map(|r| r.detail.clone())
            .collect()
    }

    /// The operator's clients (with the call counter `AwsClients::from_config` installs),
    /// answered by this fake.
    pub fn clients(&self) -> AwsClients {
        let mut aws = AwsClients::from_config(&sdk_config(), false);
        aws.ecs = aws_sdk_ecs::Client::from_conf(
            aws.ecs
                .config()
                .to_builder()
                .interceptor(interceptor(&ecs::rules(self)))
                .build(),
        );
        aws.discovery = aws_sdk_servicediscovery::Client::from_conf(
            aws.discovery
                .config()
                .to_builder()
                .interceptor(interceptor(&cloud_map::rules(self)))
                .build(),
        );
        aws.scaling = aws_sdk_applicationautoscaling::Client::from_conf(
            aws.scaling
                .config()
                .to_builder()
                .interceptor(interceptor(&scaling::rules(self)))
                .build(),
        );
        aws
    }
}

/// SDK configuration whose HTTP client never leaves the process; no retries, so every call
/// the operator makes is one request the fake answers.
fn sdk_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "test",
        )))
        .http_client(create_mock_http_client())
        .retry_config(RetryConfig::disabled())
        .build()
}

fn interceptor(rules: &[Rule]) -> MockResponseInterceptor {
    rules
        .iter()
        .fold(MockResponseInterceptor::new(), |i, r| i.with_rule(r))
}

/// An AWS JSON-protocol error: HTTP 400 with `__type` and `message`, as AWS sends it.
pub fn aws_error<O, E>(code: &str, message: &str) -> MockResponse<O, E> {
    MockResponse::Http(HttpResponse::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(serde_json::json!({"__type": code, "message": message}).to_string()),
    ))
}
