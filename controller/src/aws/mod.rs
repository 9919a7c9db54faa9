//! The AWS boundary: one client factory (one shared SDK configuration, one retry layer: the
//! SDK's standard retry with jittered exponential backoff, timeouts; the lease gets a client of
//! its own, see [`AwsClients::lease_s3`]), a counter of every call attempt by service, operation and outcome, the one error
//! type every failed call becomes ([`AwsError`], typed by error code), and the conversions from
//! the rendered desired state to SDK request types ([`sdk`]).

pub mod audit;
pub mod calls;
pub mod error;
pub mod sdk;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;

pub use calls::CallCounter;
pub use error::{AwsError, ErrorKind};

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The clients the operator uses, sharing one configuration and one call counter.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub ecs: aws_sdk_ecs::Client,
    pub discovery: aws_sdk_servicediscovery::Client,
    pub scaling: aws_sdk_applicationautoscaling::Client,
    /// The platform's load balancer (`traffic.ingress`).
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub s3: aws_sdk_s3::Client,
    /// The events queue (`ecs-operator run` with an events queue URL).
    pub sqs: aws_sdk_sqs::Client,
    /// EventBridge Scheduler: the schedules of the manifests' jobs.
    pub scheduler: aws_sdk_scheduler::Client,
    /// CloudWatch: the metrics of queue workers' queues (`spec.scaling.queue`).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub calls: Arc<CallCounter>,
    /// Records every request as IAM evaluates it, when asked to ([`audit`]).
    pub recorder: Option<Arc<audit::Recorder>>,
    /// Where calls go, for error messages.
    endpoints: Arc<Endpoints>,
    /// The shared configuration, for clients with their own retry and timeouts (the lease).
    shared: Arc<aws_types::SdkConfig>,
    emulator: bool,
}

/// The endpoint override (an emulator) or the region, to name the endpoint a failed call went
/// to.
#[derive(Debug, Default)]
struct Endpoints {
    url: Option<String>,
    region: Option<String>,
}

/// Knobs for the SDK clients.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub region: Option<String>,
    /// Total attempts per call, including the first.
    pub max_attempts: u32,
    pub connect_timeout: Duration,
    pub operation_timeout: Duration,
    /// Strip the `data-` host prefix Cloud Map adds to DiscoverInstances: emulators on loopback
    /// serve every operation on one host. Never set in production.
    pub emulator: bool,
    /// Record every AWS request as IAM evaluates it (audit): JSON lines appended to this file
    /// ([`audit`]). `ECS_OPERATOR_RECORD_REQUESTS=<file>` sets it in [`AwsClients::from_env`].
    pub record_requests: Option<PathBuf>,
    /// An ARN in the operator's account (the settings' execution role): the partition and
    /// account of the ARNs recorded.
    pub account_arn: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            region: None,
            max_attempts: 5,
            connect_timeout: Duration::from_secs(3),
            operation_timeout: Duration::from_secs(30),
            emulator: false,
            record_requests: None,
            account_arn: None,
        }
    }
}

impl AwsClients {
    /// Builds clients from the standard AWS chain (env, profile, container / instance role);
    /// `AWS_ENDPOINT_URL` points them at an emulator.
    pub async fn from_env(options: ClientOptions) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            // Standard, not adaptive: adaptive retry's client-side rate limiter falls to its
            // floor after a few throttles and then slows every call of the client. Measured
            // (tests/reliability_retry.rs, RELIABILITY.md "retry_modes"): 24 services through
            // 7 % throttling on fresh clients took 39.8 s adaptive, 2.7 s standard.
            .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(options.connect_timeout)
                    .operation_timeout(options.operation_timeout)
                    .build(),
            );
        if let Some(region) = &options.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let shared = loader.load().await;
        let recorder = audit::from_options(&options, &shared);
        Self::from_config_recorded(&shared, options.emulator, recorder)
    }

    /// Builds clients from an existing SDK configuration (tests point it at an emulator).
    pub fn from_config(shared: &aws_types::SdkConfig, emulator: bool) -> Self {
        Self::from_config_recorded(shared, emulator, None)
    }

    /// The same, recording every request with `recorder` when given.
    pub fn from_config_recorded(
        shared: &aws_types::SdkConfig,
        emulator: bool,
        recorder: Option<Arc<audit::Recorder>>,
    ) -> Self {
        use audit::Service;
        let calls = Arc::new(CallCounter::default());
        let interceptor = calls::CountingInterceptor(calls.clone());
        let recording = |service| recorder.as_ref().map(|r| r.interceptor(service));
        let mut ecs_config =
            aws_sdk_ecs::config::Builder::from(shared).interceptor(interceptor.clone());
        let mut discovery_config = aws_sdk_servicediscovery::config::Builder::from(shared)
            .interceptor(interceptor.clone());
        let mut scaling_config = aws_sdk_applicationautoscaling::config::Builder::from(shared)
            .interceptor(interceptor.clone());
        let mut elbv2_config = aws_sdk_elasticloadbalancingv2::config::Builder::from(shared)
            .interceptor(interceptor.clone());
        let mut sqs_config =
            aws_sdk_sqs::config::Builder::from(shared).interceptor(interceptor.clone());
        let mut scheduler_config =
            aws_sdk_scheduler::config::Builder::from(shared).interceptor(interceptor.clone());
        let mut cloudwatch_config =
            aws_sdk_cloudwatch::config::Builder::from(shared).interceptor(interceptor.clone());
        let mut s3_config = aws_sdk_s3::config::Builder::from(shared)
            .interceptor(interceptor)
            .force_path_style(emulator);
        if let Some(r) = recording(Service::Ecs) {
            ecs_config = ecs_config.interceptor(r);
        }
        if let Some(r) = recording(Service::Discovery) {
            discovery_config = discovery_config.interceptor(r);
        }
        if let Some(r) = recording(Service::Scaling) {
            scaling_config = scaling_config.interceptor(r);
        }
        if let Some(r) = recording(Service::Elbv2) {
            elbv2_config = elbv2_config.interceptor(r);
        }
        if let Some(r) = recording(Service::S3) {
            s3_config = s3_config.interceptor(r);
        }
        if let Some(r) = recording(Service::Sqs) {
            sqs_config = sqs_config.interceptor(r);
        }
        if let Some(r) = recording(Service::Scheduler) {
            scheduler_config = scheduler_config.interceptor(r);
        }
        if let Some(r) = recording(Service::CloudWatch) {
            cloudwatch_config = cloudwatch_config.interceptor(r);
        }
        if emulator {
            discovery_config = discovery_config.interceptor(StripDataHostPrefix);
        }
        Self {
            ecs: aws_sdk_ecs::Client::from_conf(ecs_config.build()),
            discovery: aws_sdk_servicediscovery::Client::from_conf(discovery_config.build()),
            scaling: aws_sdk_applicationautoscaling::Client::from_conf(scaling_config.build()),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::from_conf(elbv2_config.build()),
            s3: aws_sdk_s3::Client::from_conf(s3_config.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs_config.build()),
            scheduler: aws_sdk_scheduler::Client::from_conf(scheduler_config.build()),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(cloudwatch_config.build()),
            calls,
            recorder,
            endpoints: Arc::new(Endpoints {
                url: shared.endpoint_url().map(str::to_string),
                region: shared.region().map(|r| r.to_string()),
            }),
            shared: Arc::new(shared.clone()),
            emulator,
        }
    }

    /// An S3 client of its own for the leader lease: standard retry (two attempts, no
    /// client-side rate limiter another caller's throttling could slow down) and an operation
    /// timeout, so a lease call never outlives `timeout`, whatever the other clients meet.
    /// Its calls are counted with the others.
    pub fn lease_s3(&self, timeout: Duration) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(self.shared.as_ref())
                .retry_config(RetryConfig::standard().with_max_attempts(2))
                .timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(timeout.min(Duration::from_secs(3)))
                        .operation_timeout(timeout)
                        .build(),
                )
                .interceptor(calls::CountingInterceptor(self.calls.clone()))
                .force_path_style(self.emulator)
                .build(),
        )
    }

    /// The endpoint of an AWS service (its IAM prefix: `ecs`, `s3`, ...), as a person would
    /// look it up: the override, or the regional public endpoint.
    pub fn endpoint_of(&self, service: &str) -> String {
        match (&self.endpoints.url, &self.endpoints.region) {
            (Some(url), _) => url.clone(),
            (None, Some(region)) => format!("https://{service}.{region}.amazonaws.com"),
            (None, None) => format!("the {service} endpoint (no region configured)"),
        }
    }

    /// Turns an SDK error of `operation` (its IAM action, `ecs:CreateService`) into an
    /// [`AwsError`]: `.send().await.map_err(aws.error("ecs:CreateService"))?`.
    pub fn error<E>(
        &self,
        operation: &'static str,
    ) -> impl Fn(SdkError<E, HttpResponse>) -> AwsError + '_
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        move |e| {
            let service = operation.split(':').next().unwrap_or(operation);
            AwsError::from_sdk(operation, Some(&self.endpoint_of(service)), e)
        }
    }
}

/// Emulator-only: Cloud Map sends DiscoverInstances to `data-<endpoint>`; an emulator on
/// 127.0.0.1 serves everything on one host, so the prefix is removed before sending.
#[derive(Debug, Clone)]
struct StripDataHostPrefix;

impl aws_smithy_runtime_api::client::interceptors::Intercept for StripDataHostPrefix {
    fn name(&self) -> &'static str {
        "StripDataHostPrefix"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let request = context.request_mut();
        let uri = request.uri().to_string();
        if let Some(rest) = uri.split_once("://data-") {
            request.set_uri(format!("{}://{}", rest.0, rest.1))?;
        }
        Ok(())
    }
}
