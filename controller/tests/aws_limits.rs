//! Real AWS limits that moto does not emulate, proven with in-process fakes (`aws-smithy-mocks`
//! rules behind the real SDK clients, so serialisation, pagination and the retry layer are the
//! SDK's own):
//!
//! - DescribeServices takes at most 10 services; ListServices pages with `nextToken`;
//! - DescribeScalableTargets takes at most 50 resource ids;
//! - throttling is retried by the SDK and otherwise surfaces as a transient error;
//! - CreateService carries an idempotency token (at most 36 characters) that is stable for one
//!   desired state, and Cloud Map's CreatorRequestId stays within its 64 characters;
//! - the planner's ownership and pruning guards, as pure plans over hand-built observations.
//!
//! Each fake behaves like AWS at the limit: a request over it is answered with the error AWS
//! returns, so code that ignores the limit fails here as it would in production.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_mocks::{
    create_mock_http_client, mock, MockResponse, MockResponseInterceptor, Rule,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use ecs_operator::aws::AwsClients;
use ecs_operator::aws::AwsError;
use ecs_operator::domain::tags::{
    MANIFEST as MANIFEST_TAG, OWNER as OWNER_TAG, PRUNE as PRUNE_TAG,
};
use ecs_operator::domain::ScalingResourceId;
use ecs_operator::manifest::{ManifestSet, MonitoredService};
use ecs_operator::observe::{
    ObserveScope, Observed, ObservedConfig, ObservedDiscovery, ObservedScaling, ObservedService,
    Observer, ServiceState, TaskCounts,
};
use ecs_operator::plan::{self, Outcome, Plan, PlanOptions, Step};
use ecs_operator::reconcile::{ErrorClass, ReconcileError, ReconcileOptions, Reconciler};
use ecs_operator::render::{render_service, DesiredService};
use ecs_operator::settings::Settings;

const ACCOUNT: &str = "123456789012";
const CLUSTER: &str = "prod";
const OPERATOR: &str = "op-a";

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// Observe only the test cluster, with no Cloud Map namespace and no task definitions.
fn only_cluster_scope() -> ObserveScope<'static> {
    static CLUSTERS: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| vec![CLUSTER.to_string()]);
    ObserveScope {
        clusters: &CLUSTERS,
        discovery: None,
        managed: &|_| false,
        scaling_trusted: &|_, _| false,
        scaling_sweep: std::time::Duration::ZERO,
        only: None,
        ingress: None,
    }
}

fn settings() -> Settings {
    let mut s = Settings::local_defaults();
    s.operator_id = OPERATOR.into();
    s.cluster = CLUSTER.into();
    s
}

fn manifest_yaml(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: {name}\n{extra}spec:\n  container:\n    image: {image}\n  notify:\n    team: test\n"
    )
}

/// Loads documents like the source does; every one must be valid.
fn load(docs: &[String], settings: &Settings) -> ManifestSet {
    let mut set = ManifestSet::default();
    for (i, doc) in docs.iter().enumerate() {
        set.add_source(&format!("doc-{i}.yaml"), doc.as_bytes(), Some(settings));
    }
    set.finish();
    let problems: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    assert!(
        problems.is_empty(),
        "fixture manifests are invalid: {problems:?}"
    );
    set
}

fn one_manifest(yaml: String, settings: &Settings) -> MonitoredService {
    let set = load(&[yaml], settings);
    set.manifests[0].manifest.clone()
}

fn service_arn(cluster: &str, name: &str) -> String {
    format!("arn:aws:ecs:us-east-1:{ACCOUNT}:service/{cluster}/{name}")
}

/// SDK configuration whose HTTP client never leaves the process: the mock interceptors answer.
fn sdk_config(max_attempts: u32) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "test",
        )))
        .http_client(create_mock_http_client())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(max_attempts)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(5)),
        )
        .build()
}

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    // MatchAny: each rule serves its own operation; a request no rule matches panics the test.
    rules
        .iter()
        .fold(MockResponseInterceptor::new(), |i, r| i.with_rule(r))
}

/// The operator's clients (with the call-counting interceptor `AwsClients::from_config`
/// installs), each answered by its mock rules.
fn clients(max_attempts: u32, ecs: &[&Rule], scaling: &[&Rule], discovery: &[&Rule]) -> AwsClients {
    let mut aws = AwsClients::from_config(&sdk_config(max_attempts), false);
    aws.ecs = aws_sdk_ecs::Client::from_conf(
        aws.ecs
            .config()
            .to_builder()
            .interceptor(interceptor(ecs))
            .build(),
    );
    aws.scaling = aws_sdk_applicationautoscaling::Client::from_conf(
        aws.scaling
            .config()
            .to_builder()
            .interceptor(interceptor(scaling))
            .build(),
    );
    aws.discovery = aws_sdk_servicediscovery::Client::from_conf(
        aws.discovery
            .config()
            .to_builder()
            .interceptor(interceptor(discovery))
            .build(),
    );
    aws
}

/// Attempts the call counter saw for one operation (all outcomes).
fn attempts(aws: &AwsClients, operation: &str) -> u64 {
    aws.calls
        .snapshot()
        .iter()
        .filter(|((_, op, _), _)| op == operation)
        .map(|(_, n)| n)
        .sum()
}

fn throttled(aws: &AwsClients, operation: &str) -> u64 {
    aws.calls
        .snapshot()
        .iter()
        .filter(|((_, op, outcome), _)| {
            op == operation && *outcome == ecs_operator::aws::calls::Outcome::Throttled
        })
        .map(|(_, n)| n)
        .sum()
}

/// What ECS answers when it throttles a call (awsJson1_1).
fn throttling_response() -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
    )
}

// ---------------------------------------------------------------------------------------------
// A fake ECS control plane for ListServices / DescribeServices
// ---------------------------------------------------------------------------------------------

/// One ListServices request: (nextToken, maxResults).
type ListRequest = (Option<String>, Option<i32>);
/// One DescribeServices request: (services, include TAGS).
type DescribeRequest = (Vec<String>, bool);

/// Services in one cluster, served with AWS's paging and batch limits.
struct FakeEcs {
    list: Rule,
    describe: Rule,
    list_requests: Arc<Mutex<Vec<ListRequest>>>,
    describe_requests: Arc<Mutex<Vec<DescribeRequest>>>,
}

/// ListServices returns 10 ARNs per page unless asked for up to 100.
const LIST_DEFAULT_PAGE: i32 = 10;
const LIST_MAX_PAGE: i32 = 100;
const DESCRIBE_MAX: usize = 10;

impl FakeEcs {
    /// `names` with their owner tags (`None`: untagged).
    fn new(cluster: &'static str, services: Vec<(String, Option<String>)>) -> FakeEcs {
        use aws_sdk_ecs::operation::describe_services::{
            DescribeServicesError, DescribeServicesOutput,
        };
        use aws_sdk_ecs::operation::list_services::{ListServicesError, ListServicesOutput};
        use aws_sdk_ecs::types::error::InvalidParameterException;
        use aws_sdk_ecs::types::{Service, ServiceField, Tag};

        let services = Arc::new(services);
        let list_requests: Arc<Mutex<Vec<ListRequest>>> = Arc::default();
        let describe_requests: Arc<Mutex<Vec<DescribeRequest>>> = Arc::default();

        let list = {
            let services = services.clone();
            let seen = list_requests.clone();
            mock!(aws_sdk_ecs::Client::list_services)
                .match_requests(move |req| req.cluster() == Some(cluster))
                .then_compute_response(move |req| {
                    seen.lock()
                        .unwrap()
                        .push((req.next_token().map(str::to_string), req.max_results()));
                    let page = req.max_results().unwrap_or(LIST_DEFAULT_PAGE);
                    if !(1..=LIST_MAX_PAGE).contains(&page) {
                        return MockResponse::Error(ListServicesError::InvalidParameterException(
                            InvalidParameterException::builder()
                                .message("maxResults must be between 1 and 100")
                                .build(),
                        ));
                    }
                    let start: usize = req.next_token().map_or(0, |t| t.parse().unwrap());
                    let end = (start + page as usize).min(services.len());
                    let arns: Vec<String> = services[start..end]
                        .iter()
                        .map(|(name, _)| service_arn(cluster, name))
                        .collect();
                    MockResponse::Output(
                        ListServicesOutput::builder()
                            .set_service_arns(Some(arns))
                            .set_next_token((end < services.len()).then(|| end.to_string()))
                            .build(),
                    )
                })
        };

        let describe = {
            let services = services.clone();
            let seen = describe_requests.clone();
            mock!(aws_sdk_ecs::Client::describe_services)
                .match_requests(move |req| req.cluster() == Some(cluster))
                .then_compute_response(move |req| {
                    let asked = req.services().to_vec();
                    let tags = req.include().contains(&ServiceField::Tags);
                    seen.lock().unwrap().push((asked.clone(), tags));
                    if asked.len() > DESCRIBE_MAX {
                        // What ECS says when given more than 10 services.
                        return MockResponse::Error(
                            DescribeServicesError::InvalidParameterException(
                                InvalidParameterException::builder()
                                    .message("services can have at most 10 items.")
                                    .build(),
                            ),
                        );
                    }
                    let found = asked
                        .iter()
                        .filter_map(|arn| {
                            let name = arn.rsplit('/').next().unwrap();
                            let (_, owner) = services.iter().find(|(n, _)| n == name)?;
                            let mut s = Service::builder()
                                .service_arn(arn)
                                .service_name(name)
                                .cluster_arn(format!(
                                    "arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{cluster}"
                                ))
                                .status("ACTIVE")
                                .desired_count(1)
                                .running_count(1);
                            // ECS only returns tags when asked for them.
                            if let (true, Some(owner)) = (tags, owner) {
                                s = s.tags(Tag::builder().key(OWNER_TAG).value(owner).build());
                            }
                            Some(s.build())
                        })
                        .collect();
                    MockResponse::Output(
                        DescribeServicesOutput::builder()
                            .set_services(Some(found))
                            .build(),
                    )
                })
        };

        FakeEcs {
            list,
            describe,
            list_requests,
            describe_requests,
        }
    }
}

fn foreign_services(n: usize) -> Vec<(String, Option<String>)> {
    (0..n)
        .map(|i| (format!("svc-{i:03}"), Some("someone-else".to_string())))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A fake Application Auto Scaling
// ---------------------------------------------------------------------------------------------

const TARGETS_MAX: usize = 50;
const POLICIES_PAGE: usize = 10;

struct FakeScaling {
    targets: Rule,
    policies: Rule,
    target_requests: Arc<Mutex<Vec<Vec<String>>>>,
}

impl FakeScaling {
    /// `registered`: resource ids that have a scalable target, each with one target-tracking
    /// policy named `<service>-cpu`.
    fn new(registered: Vec<String>) -> FakeScaling {
        use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::{
            DescribeScalableTargetsError, DescribeScalableTargetsOutput,
        };
        use aws_sdk_applicationautoscaling::operation::describe_scaling_policies::DescribeScalingPoliciesOutput;
        use aws_sdk_applicationautoscaling::types::error::ValidationException;
        use aws_sdk_applicationautoscaling::types::{
            MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension,
            ScalableTarget, ScalingPolicy, ServiceNamespace,
            TargetTrackingScalingPolicyConfiguration,
        };
        use aws_smithy_types::DateTime;

        let registered = Arc::new(registered);
        let target_requests: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();

        let targets = {
            let registered = registered.clone();
            let seen = target_requests.clone();
            mock!(aws_sdk_applicationautoscaling::Client::describe_scalable_targets)
                .match_requests(|req| req.service_namespace() == Some(&ServiceNamespace::Ecs))
                .then_compute_response(move |req| {
                    let ids = req.resource_ids().to_vec();
                    seen.lock().unwrap().push(ids.clone());
                    if ids.len() > TARGETS_MAX {
                        return MockResponse::Error(
                            DescribeScalableTargetsError::ValidationException(
                                ValidationException::builder()
                                    .message("1 validation error detected: Value at 'resourceIds' failed to satisfy constraint: Member must have length less than or equal to 50")
                                    .build(),
                            ),
                        );
                    }
                    let found = ids
                        .iter()
                        .filter(|id| registered.contains(id))
                        .map(|id| {
                            ScalableTarget::builder()
                                .service_namespace(ServiceNamespace::Ecs)
                                .resource_id(id)
                                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                                .min_capacity(2)
                                .max_capacity(6)
                                .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/autoscaling"))
                                .creation_time(DateTime::from_secs(0))
                                .build()
                                .unwrap()
                        })
                        .collect();
                    MockResponse::Output(
                        DescribeScalableTargetsOutput::builder()
                            .set_scalable_targets(Some(found))
                            .build(),
                    )
                })
        };

        let policies = {
            let registered = registered.clone();
            mock!(aws_sdk_applicationautoscaling::Client::describe_scaling_policies)
                .match_requests(|req| req.service_namespace() == Some(&ServiceNamespace::Ecs))
                .then_compute_output(move |req| {
                    let start: usize = req.next_token().map_or(0, |t| t.parse().unwrap());
                    let end = (start + POLICIES_PAGE).min(registered.len());
                    let page = registered[start..end]
                        .iter()
                        .map(|id| {
                            let name = id.rsplit('/').next().unwrap();
                            ScalingPolicy::builder()
                                .policy_arn(format!(
                                    "arn:aws:autoscaling:us-east-1:{ACCOUNT}:scalingPolicy:{name}"
                                ))
                                .policy_name(format!("{name}-cpu"))
                                .service_namespace(ServiceNamespace::Ecs)
                                .resource_id(id)
                                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                                .policy_type(PolicyType::TargetTrackingScaling)
                                .target_tracking_scaling_policy_configuration(
                                    TargetTrackingScalingPolicyConfiguration::builder()
                                        .target_value(60.0)
                                        .predefined_metric_specification(
                                            PredefinedMetricSpecification::builder()
                                                .predefined_metric_type(
                                                    MetricType::EcsServiceAverageCpuUtilization,
                                                )
                                                .build()
                                                .unwrap(),
                                        )
                                        .build()
                                        .unwrap(),
                                )
                                .creation_time(DateTime::from_secs(0))
                                .build()
                                .unwrap()
                        })
                        .collect();
                    DescribeScalingPoliciesOutput::builder()
                        .set_scaling_policies(Some(page))
                        .set_next_token((end < registered.len()).then(|| end.to_string()))
                        .build()
                })
        };

        FakeScaling {
            targets,
            policies,
            target_requests,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. ListServices pagination and DescribeServices batches of at most 10
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn two_hundred_and_five_services_are_listed_over_three_pages_of_at_most_a_hundred_and_described_ten_at_a_time(
) {
    let ecs = FakeEcs::new(CLUSTER, foreign_services(205));
    let scaling = FakeScaling::new(vec![]);
    let aws = clients(3, &[&ecs.list, &ecs.describe], &[&scaling.targets], &[]);
    let r = Reconciler::new(aws, settings(), ReconcileOptions::default());

    let (plan, observed) = r
        .plan(&ManifestSet::default(), true)
        .await
        .expect("the pass observes");

    // Pagination: the operator asks for the largest page (100; 10 when unasked), the second
    // and third ListServices carry the previous page's nextToken, and no request asks for
    // more than AWS allows.
    let lists = ecs.list_requests.lock().unwrap().clone();
    assert_eq!(ecs.list.num_calls(), 3, "{lists:?}");
    let tokens: Vec<Option<String>> = lists.iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(tokens, [None, Some("100".into()), Some("200".into())]);
    assert!(lists.iter().all(|(_, max)| *max == Some(LIST_MAX_PAGE)));

    // Batches: twenty of 10 and one of 5 (several in flight at once), each with tags, every
    // service exactly once.
    let describes = ecs.describe_requests.lock().unwrap().clone();
    assert_eq!(ecs.describe.num_calls(), 21, "{describes:?}");
    let mut sizes: Vec<usize> = describes.iter().map(|(s, _)| s.len()).collect();
    sizes.sort();
    assert_eq!(sizes[0], 5);
    assert!(sizes[1..].iter().all(|n| *n == 10));
    assert!(describes.iter().all(|(s, _)| s.len() <= DESCRIBE_MAX));
    assert!(
        describes.iter().all(|(_, tags)| *tags),
        "every DescribeServices must include TAGS (ownership is read from them)"
    );
    let mut described: Vec<String> = describes.into_iter().flat_map(|(s, _)| s).collect();
    described.sort();
    let expected: Vec<String> = (0..205)
        .map(|i| service_arn(CLUSTER, &format!("svc-{i:03}")))
        .collect();
    assert_eq!(described, expected, "each service described exactly once");

    // The result: all 25 observed with their (foreign) owner, and nothing planned against them.
    assert_eq!(observed.services.len(), 205);
    assert!(observed
        .services
        .values()
        .all(|s| s.owner() == Some("someone-else")));
    assert!(!plan.has_changes(), "{plan:?}");

    // The operator's own call counter agrees with the fakes.
    assert_eq!(attempts(&r.aws, "ListServices"), 3);
    assert_eq!(attempts(&r.aws, "DescribeServices"), 21);
    // DescribeScalableTargets takes at most 50 resource ids: 205 services, 5 calls.
    assert_eq!(attempts(&r.aws, "DescribeScalableTargets"), 5);
    assert_eq!(scaling.targets.num_calls(), 5);
    // No scalable target was found, so policies are not listed at all.
    assert_eq!(scaling.policies.num_calls(), 0);
}

#[tokio::test]
async fn a_cluster_with_exactly_ten_services_needs_one_page_and_one_describe() {
    let ecs = FakeEcs::new(CLUSTER, foreign_services(10));
    let scaling = FakeScaling::new(vec![]);
    let aws = clients(3, &[&ecs.list, &ecs.describe], &[&scaling.targets], &[]);
    let observed = Observer::default()
        .observe(&aws, &only_cluster_scope())
        .await
        .unwrap();
    assert_eq!(observed.services.len(), 10);
    assert_eq!(ecs.list.num_calls(), 1);
    assert_eq!(ecs.describe.num_calls(), 1);
}

// ---------------------------------------------------------------------------------------------
// 2. DescribeScalableTargets: at most 50 resource ids per call
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scalable_targets_of_120_services_are_described_in_three_calls_of_at_most_fifty_ids() {
    let ecs = FakeEcs::new(CLUSTER, foreign_services(120));
    // Every second service is autoscaled.
    let registered: Vec<String> = (0..120)
        .step_by(2)
        .map(|i| format!("service/{CLUSTER}/svc-{i:03}"))
        .collect();
    let scaling = FakeScaling::new(registered.clone());
    let aws = clients(
        3,
        &[&ecs.list, &ecs.describe],
        &[&scaling.targets, &scaling.policies],
        &[],
    );

    let observed = Observer::default()
        .observe(&aws, &only_cluster_scope())
        .await
        .expect("observe succeeds within the limits");

    let requests = scaling.target_requests.lock().unwrap().clone();
    assert_eq!(scaling.targets.num_calls(), 3, "{:?}", requests.len());
    let sizes: Vec<usize> = requests.iter().map(Vec::len).collect();
    assert_eq!(sizes, [50, 50, 20]);
    assert!(requests.iter().all(|ids| ids.len() <= TARGETS_MAX));
    let mut asked: Vec<String> = requests.into_iter().flatten().collect();
    asked.sort();
    let all: Vec<String> = (0..120)
        .map(|i| format!("service/{CLUSTER}/svc-{i:03}"))
        .collect();
    assert_eq!(
        asked, all,
        "every service's resource id asked for exactly once"
    );

    // 60 targets, each with its policy from the paginated policy listing (6 pages of 10).
    assert_eq!(observed.scaling.len(), 60);
    assert_eq!(scaling.policies.num_calls(), 6);
    for id in &registered {
        let target = &observed.scaling[&ScalingResourceId::from_aws(id)];
        assert_eq!((target.min_capacity, target.max_capacity), (2, 6));
        assert_eq!(target.policies.len(), 1, "{id}");
        assert_eq!(target.policies[0].metric, "ECSServiceAverageCPUUtilization");
    }
    // And the ECS side of the same pass: 2 pages (100 + 20: the operator asks for the
    // largest page), 12 batches of 10.
    assert_eq!(ecs.list.num_calls(), 2);
    assert_eq!(ecs.describe.num_calls(), 12);
    assert_eq!(attempts(&aws, "DescribeScalableTargets"), 3);
    assert_eq!(attempts(&aws, "DescribeScalingPolicies"), 6);
}

// ---------------------------------------------------------------------------------------------
// 3. Throttling
// ---------------------------------------------------------------------------------------------

fn three_service_list() -> Rule {
    use aws_sdk_ecs::operation::list_services::ListServicesOutput;
    mock!(aws_sdk_ecs::Client::list_services).then_output(|| {
        ListServicesOutput::builder()
            .set_service_arns(Some(
                ["a", "b", "c"]
                    .iter()
                    .map(|n| service_arn(CLUSTER, n))
                    .collect(),
            ))
            .build()
    })
}

fn three_services_described() -> aws_sdk_ecs::operation::describe_services::DescribeServicesOutput {
    use aws_sdk_ecs::types::{Service, Tag};
    aws_sdk_ecs::operation::describe_services::DescribeServicesOutput::builder()
        .set_services(Some(
            ["a", "b", "c"]
                .iter()
                .map(|n| {
                    Service::builder()
                        .service_arn(service_arn(CLUSTER, n))
                        .service_name(*n)
                        .status("ACTIVE")
                        .tags(Tag::builder().key(OWNER_TAG).value("someone-else").build())
                        .build()
                })
                .collect(),
        ))
        .build()
}

fn no_scalable_targets() -> Rule {
    use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::DescribeScalableTargetsOutput;
    mock!(aws_sdk_applicationautoscaling::Client::describe_scalable_targets)
        .then_output(|| DescribeScalableTargetsOutput::builder().build())
}

#[tokio::test]
async fn a_throttled_describe_services_is_retried_by_the_sdk_and_the_pass_succeeds() {
    let list = three_service_list();
    let describe = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .http_response(throttling_response)
        .output(three_services_described)
        .build();
    let targets = no_scalable_targets();
    let aws = clients(3, &[&list, &describe], &[&targets], &[]);

    let observed = Observer::default()
        .observe(&aws, &only_cluster_scope())
        .await
        .expect("one throttle is absorbed by the SDK's retry layer");

    assert_eq!(observed.services.len(), 3);
    assert_eq!(
        describe.num_calls(),
        2,
        "one throttled attempt, one success"
    );
    assert_eq!(attempts(&aws, "DescribeServices"), 2);
    assert_eq!(
        throttled(&aws, "DescribeServices"),
        1,
        "the call counter records the throttled attempt: {:?}",
        aws.calls.snapshot()
    );
}

#[tokio::test]
async fn describe_services_that_stays_throttled_fails_the_pass_with_a_transient_error_after_max_attempts(
) {
    let list = three_service_list();
    let describe = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .http_response(throttling_response)
        .repeatedly()
        .build();
    let targets = no_scalable_targets();
    let aws = clients(3, &[&list, &describe], &[&targets], &[]);

    let error = Observer::default()
        .observe(&aws, &only_cluster_scope())
        .await
        .expect_err("throttled on every attempt");

    let error = ReconcileError::from(error);
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    let text = error.to_string();
    assert!(text.contains("ecs:DescribeServices"), "{text}");
    assert!(text.contains("ThrottlingException"), "{text}");
    assert_eq!(
        describe.num_calls(),
        3,
        "max_attempts(3) bounds the retries"
    );
    assert_eq!(throttled(&aws, "DescribeServices"), 3);
    // The pass stopped there: scaling was never read.
    assert_eq!(targets.num_calls(), 0);
}

fn raw(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(body.to_string()),
    )
}

#[test]
fn from_sdk_classifies_throttling_as_transient_and_invalid_parameters_as_stalled() {
    use aws_sdk_ecs::error::{ErrorMetadata, SdkError};
    use aws_sdk_ecs::operation::create_service::CreateServiceError;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesError;
    use aws_sdk_ecs::types::error::{ClientException, InvalidParameterException, ServerException};

    let throttled: SdkError<DescribeServicesError, HttpResponse> = SdkError::service_error(
        DescribeServicesError::generic(
            ErrorMetadata::builder()
                .code("ThrottlingException")
                .message("Rate exceeded")
                .build(),
        ),
        raw(400, r#"{"__type":"ThrottlingException"}"#),
    );
    let e = ReconcileError::from(AwsError::from_sdk("ecs:DescribeServices", None, throttled));
    assert_eq!(e.class(), ErrorClass::Transient, "{e}");
    assert!(e.to_string().contains("ThrottlingException"), "{e}");

    let invalid: SdkError<CreateServiceError, HttpResponse> = SdkError::service_error(
        CreateServiceError::InvalidParameterException(
            InvalidParameterException::builder()
                .message("clientToken must be at most 36 characters")
                .build(),
        ),
        raw(400, r#"{"__type":"InvalidParameterException"}"#),
    );
    let e = ReconcileError::from(AwsError::from_sdk("ecs:CreateService", None, invalid));
    assert_eq!(e.class(), ErrorClass::Stalled, "{e}");

    let client: SdkError<CreateServiceError, HttpResponse> = SdkError::service_error(
        CreateServiceError::ClientException(
            ClientException::builder()
                .message("role cannot be assumed")
                .build(),
        ),
        raw(400, r#"{"__type":"ClientException"}"#),
    );
    assert_eq!(
        ReconcileError::from(AwsError::from_sdk("ecs:CreateService", None, client)).class(),
        ErrorClass::Stalled
    );

    let server: SdkError<CreateServiceError, HttpResponse> = SdkError::service_error(
        CreateServiceError::ServerException(ServerException::builder().message("oops").build()),
        raw(500, r#"{"__type":"ServerException"}"#),
    );
    assert_eq!(
        ReconcileError::from(AwsError::from_sdk("ecs:CreateService", None, server)).class(),
        ErrorClass::Transient
    );

    let timeout: SdkError<CreateServiceError, HttpResponse> =
        SdkError::timeout_error("operation timed out");
    assert_eq!(
        ReconcileError::from(AwsError::from_sdk("ecs:CreateService", None, timeout)).class(),
        ErrorClass::Transient
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Idempotency tokens of creates
// ---------------------------------------------------------------------------------------------

/// What the create calls carried: (service name, clientToken) for ECS and
/// (name, CreatorRequestId) for Cloud Map.
#[derive(Default)]
struct Creates {
    ecs: Mutex<Vec<(String, String)>>,
    discovery: Mutex<Vec<(String, String)>>,
}

/// A fake account where nothing exists yet: registering and creating succeed and are recorded.
struct FakeCreates {
    rules_ecs: Vec<Rule>,
    rules_discovery: Vec<Rule>,
    seen: Arc<Creates>,
}

impl FakeCreates {
    fn new() -> FakeCreates {
        use aws_sdk_ecs::operation::create_service::CreateServiceOutput;
        use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionError;
        use aws_sdk_ecs::operation::list_task_definition_families::ListTaskDefinitionFamiliesOutput;
        use aws_sdk_ecs::operation::list_task_definitions::ListTaskDefinitionsOutput;
        use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionOutput;
        use aws_sdk_ecs::types::error::ClientException;
        use aws_sdk_ecs::types::{Service, TaskDefinition};
        use aws_sdk_servicediscovery::operation::create_service::CreateServiceOutput as CreateDiscoveryOutput;

        let seen: Arc<Creates> = Arc::default();
        let describe_td = mock!(aws_sdk_ecs::Client::describe_task_definition).then_error(|| {
            DescribeTaskDefinitionError::ClientException(
                ClientException::builder()
                    .message("Unable to describe task definition.")
                    .build(),
            )
        });
        let register =
            mock!(aws_sdk_ecs::Client::register_task_definition).then_compute_output(|req| {
                let family = req.family().unwrap_or_default();
                RegisterTaskDefinitionOutput::builder()
                    .task_definition(
                        TaskDefinition::builder()
                            .family(family)
                            .revision(1)
                            .task_definition_arn(format!(
                                "arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{family}:1"
                            ))
                            .build(),
                    )
                    .build()
            });
        let list_tds = mock!(aws_sdk_ecs::Client::list_task_definitions)
            .then_output(|| ListTaskDefinitionsOutput::builder().build());
        // No family has a revision yet.
        let list_families = mock!(aws_sdk_ecs::Client::list_task_definition_families)
            .then_output(|| ListTaskDefinitionFamiliesOutput::builder().build());
        let create = {
            let seen = seen.clone();
            mock!(aws_sdk_ecs::Client::create_service).then_compute_output(move |req| {
                let name = req.service_name().unwrap_or_default().to_string();
                let token = req.client_token().unwrap_or_default().to_string();
                seen.ecs.lock().unwrap().push((name.clone(), token));
                let cluster = req.cluster().unwrap_or_default();
                CreateServiceOutput::builder()
                    .service(
                        Service::builder()
                            .service_arn(service_arn(cluster, &name))
                            .service_name(&name)
                            .status("ACTIVE")
                            .build(),
                    )
                    .build()
            })
        };
        let create_discovery = {
            let seen = seen.clone();
            mock!(aws_sdk_servicediscovery::Client::create_service).then_compute_output(
                move |req| {
                    let name = req.name().unwrap_or_default().to_string();
                    let id = req.creator_request_id().unwrap_or_default().to_string();
                    seen.discovery.lock().unwrap().push((name.clone(), id));
                    CreateDiscoveryOutput::builder()
                        .service(
                            aws_sdk_servicediscovery::types::Service::builder()
                                .id(format!("srv-{name}"))
                                .arn(format!(
                                    "arn:aws:servicediscovery:us-east-1:{ACCOUNT}:service/srv-{name}"
                                ))
                                .name(&name)
                                .build(),
                        )
                        .build()
                },
            )
        };
        FakeCreates {
            rules_ecs: vec![describe_td, register, list_tds, list_families, create],
            rules_discovery: vec![create_discovery],
            seen,
        }
    }

    fn clients(&self) -> AwsClients {
        let ecs: Vec<&Rule> = self.rules_ecs.iter().collect();
        let discovery: Vec<&Rule> = self.rules_discovery.iter().collect();
        clients(3, &ecs, &[], &discovery)
    }

    fn ecs_creates(&self) -> Vec<(String, String)> {
        self.seen.ecs.lock().unwrap().clone()
    }

    fn discovery_creates(&self) -> Vec<(String, String)> {
        self.seen.discovery.lock().unwrap().clone()
    }
}

/// Renders the documents afresh (as a new pass would), plans them against an account where
/// nothing exists and applies the plan; every service must be created without error.
async fn create_pass(
    fake: &FakeCreates,
    settings: &Settings,
    docs: &[String],
) -> Vec<std::sync::Arc<DesiredService>> {
    let set = load(docs, settings);
    let mut r = Reconciler::new(
        fake.clients(),
        settings.clone(),
        ReconcileOptions::default(),
    );
    // One generation, as the retries of one create share (tokens of later generations are
    // covered in aws_fidelity.rs).
    r.generation = Some(GENERATION);
    let desired = r.render(&set);
    let known = set.all_names();
    let none = BTreeSet::new();
    let options = PlanOptions {
        operator_id: &settings.operator_id,
        known_names: &known,
        adopt: &none,
        source_complete: true,
        allow_empty: false,
        max_prune: 3,
        discovery_description: r.discovery_description(),
    };
    let plan = plan::plan(&desired, &Observed::default(), &options);
    assert!(plan
        .services
        .iter()
        .all(|s| s.outcome == Outcome::Create && s.steps.contains(&Step::CreateService)));
    for result in r.apply(&plan).await {
        assert!(
            result.error.is_none(),
            "{}: {:?}",
            result.name,
            result.error
        );
    }
    desired
}

/// The pass generation of [`create_pass`] (base 36 in tokens: "7").
const GENERATION: u64 = 7;

/// ECS accepts up to 36 ASCII characters in 33..=126 as a clientToken.
fn valid_ecs_client_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= 36 && token.bytes().all(|b| (33..=126).contains(&b))
}

#[tokio::test]
async fn create_service_sends_a_client_token_that_is_stable_for_one_desired_state_and_changes_with_the_spec(
) {
    let settings = settings();
    let fake = FakeCreates::new();
    let v1 = manifest_yaml("hello", "nginx:1.27", "");
    let v1_relabelled = manifest_yaml("hello", "nginx:1.27", "  labels:\n    tier: web\n");
    let v2 = manifest_yaml("hello", "nginx:1.28", "");

    // The same manifest rendered twice (a create retried by a later pass after a crash).
    let first = create_pass(&fake, &settings, std::slice::from_ref(&v1)).await;
    let again = create_pass(&fake, &settings, &[v1]).await;
    // Labels are tags only, not part of the spec: still the same desired service.
    let relabelled = create_pass(&fake, &settings, &[v1_relabelled]).await;
    // A changed spec.
    let changed = create_pass(&fake, &settings, &[v2]).await;

    let creates = fake.ecs_creates();
    assert_eq!(creates.len(), 4, "{creates:?}");
    assert!(creates.iter().all(|(name, _)| name == "hello"));
    let tokens: Vec<&str> = creates.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(tokens[0], tokens[1], "same desired state, same token");
    assert_eq!(tokens[0], tokens[2], "a label change is not a new spec");
    assert_ne!(
        tokens[0], tokens[3],
        "a new spec must not reuse the old token"
    );
    assert_eq!(first[0].spec_hash, again[0].spec_hash);
    assert_eq!(first[0].spec_hash, relabelled[0].spec_hash);
    assert_ne!(first[0].spec_hash, changed[0].spec_hash);
    assert_eq!(tokens[0], format!("hello-{}-7", &first[0].spec_hash[..12]));
    assert_eq!(
        tokens[3],
        format!("hello-{}-7", &changed[0].spec_hash[..12])
    );
    for token in &tokens {
        assert!(valid_ecs_client_token(token), "{token:?}");
    }
}

#[tokio::test]
async fn client_tokens_of_the_longest_service_names_fit_ecs_limit_and_stay_distinct() {
    // 32 characters: the longest name a manifest may have. `{name}-{spec hash}` would be 49
    // characters, and ECS rejects a clientToken over 36 with InvalidParameterException.
    let a = "order-notification-dispatcher-01";
    let b = "order-notification-dispatcher-02";
    assert_eq!(a.len(), ecs_operator::manifest::validate::MAX_NAME_LEN);
    let settings = settings();
    let fake = FakeCreates::new();
    let docs = [
        manifest_yaml(a, "nginx:1.27", ""),
        manifest_yaml(b, "nginx:1.27", ""),
    ];
    create_pass(&fake, &settings, &docs).await;
    create_pass(&fake, &settings, &docs).await;

    let creates = fake.ecs_creates();
    assert_eq!(creates.len(), 4, "{creates:?}");
    let token_of = |name: &str| -> Vec<String> {
        creates
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .collect()
    };
    let (ta, tb) = (token_of(a), token_of(b));
    for token in ta.iter().chain(&tb) {
        assert!(
            valid_ecs_client_token(token),
            "{token:?} ({} characters) is not a valid ECS clientToken",
            token.len()
        );
    }
    assert_eq!(ta[0], ta[1], "stable across passes");
    assert_eq!(tb[0], tb[1], "stable across passes");
    assert_ne!(ta[0], tb[0], "two services never share a token");
}

#[tokio::test]
async fn cloud_map_creator_request_ids_fit_their_64_characters_even_for_the_longest_ids() {
    let mut settings = settings();
    settings.operator_id = "o".repeat(64);
    settings.service_discovery_namespace_id = Some("ns-0123456789abcdef".into());
    let fake = FakeCreates::new();
    let name = "order-notification-dispatcher-01";
    let docs = [manifest_yaml(name, "nginx:1.27", "")];
    create_pass(&fake, &settings, &docs).await;
    create_pass(&fake, &settings, &docs).await;

    let creates = fake.discovery_creates();
    assert_eq!(creates.len(), 2, "{creates:?}");
    assert!(creates.iter().all(|(n, _)| n == name));
    let (first, second) = (&creates[0].1, &creates[1].1);
    assert!(
        !first.is_empty() && first.len() <= 64,
        "{first:?} ({} characters): Cloud Map allows at most 64",
        first.len()
    );
    assert_eq!(first, second, "a retried create reuses its request id");
    // The ECS service that followed registered with the Cloud Map service just created.
    assert_eq!(fake.ecs_creates().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 5. Planner guards over hand-built observations (pure)
// ---------------------------------------------------------------------------------------------

fn observed_service(name: &str, tags: &[(&str, &str)]) -> ObservedService {
    let desired = desired(name, "");
    ObservedService {
        arn: service_arn(CLUSTER, name),
        name: name.into(),
        cluster: CLUSTER.into(),
        state: ServiceState::Active,
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        tasks: TaskCounts {
            desired: 1,
            running: 1,
            pending: 0,
        },
        task_definition_arn: format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{name}:1"),
        task_definition: None,
        // Nothing about the service's settings was reported: every field unknown.
        config: ObservedConfig {
            service: desired.service.clone(),
            unknown: [
                "subnets",
                "securityGroups",
                "assignPublicIp",
                "minimumHealthyPercent",
                "maximumPercent",
                "circuitBreakerEnabled",
                "circuitBreakerRollback",
                "capacityProvider",
                "healthCheckGracePeriodSeconds",
                "propagateTags",
                "loadBalancers",
                "enableExecuteCommand",
            ]
            .into(),
        },
        registry_arns: vec![],
        deployments: Vec::new(),
    }
}

/// A service this operator created from a manifest now removed, with `prune: true`.
fn owned_orphan(name: &str) -> ObservedService {
    observed_service(
        name,
        &[
            (OWNER_TAG, OPERATOR),
            (MANIFEST_TAG, name),
            (PRUNE_TAG, "true"),
        ],
    )
}

fn observed_of(services: Vec<ObservedService>) -> Observed {
    Observed {
        services: services
            .into_iter()
            .map(|s| (s.key(), std::sync::Arc::new(s)))
            .collect(),
        ..Observed::default()
    }
}

struct Guards {
    known: BTreeSet<String>,
    adopt: BTreeSet<String>,
    source_complete: bool,
    allow_empty: bool,
    max_prune: usize,
}

impl Default for Guards {
    fn default() -> Self {
        Guards {
            known: BTreeSet::new(),
            adopt: BTreeSet::new(),
            source_complete: true,
            allow_empty: false,
            max_prune: 3,
        }
    }
}

fn plan_with(desired: &[DesiredService], observed: &Observed, g: &Guards) -> Plan {
    let mut known = g.known.clone();
    known.extend(desired.iter().map(|d| d.name.clone()));
    let options = PlanOptions {
        operator_id: OPERATOR,
        known_names: &known,
        adopt: &g.adopt,
        source_complete: g.source_complete,
        allow_empty: g.allow_empty,
        max_prune: g.max_prune,
        discovery_description: plan::discovery_description(OPERATOR, "-"),
    };
    plan::plan(desired, observed, &options)
}

fn desired(name: &str, extra: &str) -> DesiredService {
    let settings = settings();
    render_service(
        &one_manifest(manifest_yaml(name, "nginx:1.27", extra), &settings),
        &settings,
    )
}

fn outcome_of<'a>(plan: &'a Plan, name: &str) -> &'a Outcome {
    &plan
        .services
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the plan: {plan:?}"))
        .outcome
}

fn deletes(plan: &Plan) -> Vec<String> {
    plan.services
        .iter()
        .filter(|s| {
            s.steps
                .iter()
                .any(|st| matches!(st, Step::DeleteService { .. }))
        })
        .map(|s| s.name.clone())
        .collect()
}

fn write_steps(plan: &Plan, name: &str) -> Vec<Step> {
    plan.services
        .iter()
        .filter(|s| s.name == name)
        .flat_map(|s| s.steps.clone())
        .collect()
}

#[test]
fn the_planner_never_plans_writes_against_a_service_owned_by_another_operator() {
    let want = desired("hello", "");
    for owner in [Some("other-operator"), None] {
        let tags: Vec<(&str, &str)> = owner.map(|o| (OWNER_TAG, o)).into_iter().collect();
        let observed = observed_of(vec![observed_service("hello", &tags)]);
        let plan = plan_with(std::slice::from_ref(&want), &observed, &Guards::default());
        assert!(
            matches!(outcome_of(&plan, "hello"), Outcome::Conflict(why) if why.contains("not managed by this operator")),
            "owner {owner:?}: {plan:?}"
        );
        assert!(write_steps(&plan, "hello").is_empty(), "{plan:?}");
        assert!(!plan.has_changes());
    }

    // The same service carrying this operator's tag is managed (here: its drift is corrected).
    let ours = observed_of(vec![observed_service("hello", &[(OWNER_TAG, OPERATOR)])]);
    let plan = plan_with(std::slice::from_ref(&want), &ours, &Guards::default());
    assert_eq!(outcome_of(&plan, "hello"), &Outcome::Update);
    assert!(!write_steps(&plan, "hello").is_empty());

    // Adoption is explicit: only with the annotation does a hand-made (untagged) service get
    // changed; another operator's service is never adopted.
    let adopting = Guards {
        adopt: ["hello".to_string()].into(),
        ..Guards::default()
    };
    let handmade = observed_of(vec![observed_service("hello", &[])]);
    let plan = plan_with(std::slice::from_ref(&want), &handmade, &adopting);
    assert_eq!(outcome_of(&plan, "hello"), &Outcome::Update);
    let foreign = observed_of(vec![observed_service(
        "hello",
        &[(OWNER_TAG, "other-operator")],
    )]);
    let plan = plan_with(std::slice::from_ref(&want), &foreign, &adopting);
    assert!(
        matches!(outcome_of(&plan, "hello"), Outcome::Conflict(why) if why.contains("another operator")),
        "{plan:?}"
    );
    assert!(write_steps(&plan, "hello").is_empty());
}

#[test]
fn services_of_another_operator_are_never_pruned_whatever_their_tags_say() {
    let theirs = observed_service(
        "their-svc",
        &[
            (OWNER_TAG, "other-operator"),
            (MANIFEST_TAG, "their-svc"),
            (PRUNE_TAG, "true"),
        ],
    );
    let untagged = observed_service("hand-made", &[]);
    let observed = observed_of(vec![theirs, untagged]);
    let g = Guards {
        allow_empty: true,
        max_prune: 100,
        ..Guards::default()
    };
    for desired in [vec![], vec![desired("keeper", "")]] {
        let plan = plan_with(&desired, &observed, &g);
        assert!(deletes(&plan).is_empty(), "{plan:?}");
        assert!(
            plan.services
                .iter()
                .all(|s| s.name != "their-svc" && s.name != "hand-made"),
            "{plan:?}"
        );
    }
}

#[test]
fn a_foreign_cloud_map_service_with_the_wanted_name_is_a_conflict_without_writes() {
    let mut settings = settings();
    settings.service_discovery_namespace_id = Some("ns-1".into());
    let want = render_service(
        &one_manifest(manifest_yaml("hello", "nginx:1.27", ""), &settings),
        &settings,
    );
    let mut observed = Observed::default();
    observed.discovery.insert(
        "hello".into(),
        ObservedDiscovery {
            id: "srv-1".into(),
            arn: "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1".into(),
            name: "hello".into(),
            description: "made by hand".into(),
            dns_ttl_seconds: Some(10),
            instance_count: 0,
            tags: None,
        },
    );
    let plan = plan_with(&[want], &observed, &Guards::default());
    assert!(
        matches!(outcome_of(&plan, "hello"), Outcome::Conflict(_)),
        "{plan:?}"
    );
    assert!(!plan.has_changes());
}

fn five_orphans() -> Observed {
    observed_of(
        (1..=5)
            .map(|i| owned_orphan(&format!("gone-{i}")))
            .collect(),
    )
}

#[test]
fn nothing_is_pruned_while_the_source_is_incomplete() {
    let g = Guards {
        source_complete: false,
        ..Guards::default()
    };
    let plan = plan_with(&[desired("keeper", "")], &five_orphans(), &g);
    assert!(deletes(&plan).is_empty(), "{plan:?}");
    for i in 1..=5 {
        assert!(
            matches!(outcome_of(&plan, &format!("gone-{i}")), Outcome::Kept(why) if why.contains("source failed")),
            "{plan:?}"
        );
    }
    assert!(plan.notes.iter().any(|n| n.contains("nothing is pruned")));

    // Complete again: the same orphans are pruned (up to the cap).
    let plan = plan_with(
        &[desired("keeper", "")],
        &five_orphans(),
        &Guards::default(),
    );
    assert_eq!(deletes(&plan).len(), 3);
}

#[test]
fn an_empty_source_prunes_nothing_unless_explicitly_allowed() {
    let plan = plan_with(&[], &five_orphans(), &Guards::default());
    assert!(deletes(&plan).is_empty(), "{plan:?}");
    assert!(plan
        .notes
        .iter()
        .any(|n| n.contains("empty while 5 service(s) are owned")));
    assert!(plan
        .services
        .iter()
        .all(|s| matches!(&s.outcome, Outcome::Kept(_))));

    let allowed = Guards {
        allow_empty: true,
        max_prune: 10,
        ..Guards::default()
    };
    let plan = plan_with(&[], &five_orphans(), &allowed);
    assert_eq!(deletes(&plan).len(), 5, "{plan:?}");
}

#[test]
fn one_pass_deletes_at_most_max_prune_services_and_defers_the_rest() {
    for max_prune in 0..=6 {
        let g = Guards {
            max_prune,
            ..Guards::default()
        };
        let plan = plan_with(&[desired("keeper", "")], &five_orphans(), &g);
        let deleted = deletes(&plan);
        assert_eq!(
            deleted.len(),
            max_prune.min(5),
            "max_prune {max_prune}: {plan:?}"
        );
        let deferred = plan
            .services
            .iter()
            .filter(|s| matches!(&s.outcome, Outcome::Kept(why) if why.contains("deferred")))
            .count();
        assert_eq!(deferred, 5 - max_prune.min(5));
        // Deleted ones carry exactly the delete of their own ARN.
        for name in &deleted {
            assert_eq!(
                write_steps(&plan, name),
                [Step::DeleteService {
                    arn: service_arn(CLUSTER, name)
                }]
            );
        }
    }
}

#[test]
fn pruning_keeps_services_whose_manifest_is_still_mentioned_or_that_opted_out() {
    let mut services: Vec<ObservedService> = (1..=3)
        .map(|i| owned_orphan(&format!("gone-{i}")))
        .collect();
    services.push(observed_service(
        "sticky",
        &[
            (OWNER_TAG, OPERATOR),
            (MANIFEST_TAG, "sticky"),
            (PRUNE_TAG, "false"),
        ],
    ));
    let mut observed = observed_of(services);
    // gone-3 is autoscaled: its target goes first, then the service.
    let gone_3 = ScalingResourceId::new(CLUSTER, "gone-3");
    observed.scaling.insert(
        gone_3.clone(),
        ObservedScaling {
            resource_id: gone_3,
            min_capacity: 1,
            max_capacity: 2,
            policies: vec![],
            other_policies: vec![],
        },
    );
    // gone-1's manifest still exists but failed validation: not an orphan.
    let g = Guards {
        known: ["gone-1".to_string()].into(),
        max_prune: 10,
        ..Guards::default()
    };
    let plan = plan_with(&[desired("keeper", "")], &observed, &g);

    assert!(plan.services.iter().all(|s| s.name != "gone-1"), "{plan:?}");
    assert!(
        matches!(outcome_of(&plan, "sticky"), Outcome::Kept(why) if why.contains("prune was false"))
    );
    assert!(write_steps(&plan, "sticky").is_empty());
    assert_eq!(deletes(&plan), ["gone-2", "gone-3"]);
    assert_eq!(
        write_steps(&plan, "gone-3"),
        [
            Step::DeregisterScalableTarget {
                resource_id: ScalingResourceId::new(CLUSTER, "gone-3")
            },
            Step::DeleteService {
                arn: service_arn(CLUSTER, "gone-3")
            }
        ]
    );
}

#[test]
fn a_service_still_desired_is_never_an_orphan_even_with_prune_on() {
    // Its manifest tag names another manifest (say, one renamed since): being desired alone
    // must protect it.
    let observed = observed_of(vec![observed_service(
        "keeper",
        &[
            (OWNER_TAG, OPERATOR),
            (MANIFEST_TAG, "renamed-since"),
            (PRUNE_TAG, "true"),
        ],
    )]);
    let g = Guards {
        max_prune: 10,
        ..Guards::default()
    };
    let plan = plan_with(&[desired("keeper", "")], &observed, &g);
    assert!(deletes(&plan).is_empty(), "{plan:?}");
    assert_ne!(outcome_of(&plan, "keeper"), &Outcome::Delete);
}
