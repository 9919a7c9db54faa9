//! Records every AWS request as IAM evaluates it (audit): one JSON line per (action, resource)
//! pair IAM authorizes for a call, in the format `tools/iam-simulate/evaluate.mjs` reads:
//!
//! ```json
//! {"call": "ecs:CreateService#7", "action": "ecs:CreateService",
//!  "resource": "arn:aws:ecs:us-east-1:123456789012:service/main/web",
//!  "context": {"ecs:cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/main",
//!              "aws:RequestTag/ecs-operator.io/owner": "prod", "aws:TagKeys": ["..."]}}
//! ```
//!
//! An SDK interceptor on every client reads the typed operation input before the call (names,
//! clusters, tags, roles) and the typed output after it (ARNs AWS assigns, tags it reports), and
//! writes the lines once the call is over, whatever its outcome: IAM evaluates a request that
//! fails for another reason too. `call` is `<prefix>:<operation>#<n>`, `n` counting calls, so
//! the several lines of one call share it. The mapping per operation follows the Service
//! Authorization Reference (actions, resource types, condition keys) and the services' docs for
//! the extra actions a call needs; it lives in one module per service ([`ecs`], [`discovery`],
//! [`scaling`], [`elbv2`], [`s3`]), each with a table of what it records.
//!
//! What IAM knows and the client does not, the recorder remembers from what it has seen:
//! - the tags on a resource at request time (`aws:ResourceTag/<key>`): from DescribeServices
//!   and DescribeTaskDefinition outputs that include tags, ListTagsForResource outputs, and the
//!   recorder's own create, tag and untag requests. A resource whose tags it never saw is
//!   recorded without `aws:ResourceTag` keys: a policy that needs them then denies the call,
//!   which shows up rather than hides;
//! - ARNs that AWS assigns (task definition revisions, Cloud Map service ids, scalable target
//!   ids, target tracking alarms), from outputs;
//! - the account and partition of ARNs, from [`RecordOptions`], and the region, from the client.
//!
//! An operation the recorder has no mapping for is never dropped: it is recorded as
//! `<prefix>:<operation>` on `"*"`, which the evaluator refuses or denies, naming the call.
//! Recording never fails a request: a write error is logged.

mod discovery;
mod ecs;
mod elbv2;
mod s3;
mod scaling;
mod scheduler;
mod sqs;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef, Input, Output,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::Value;

/// The environment variable that turns recording on in `AwsClients::from_env`.
pub const RECORD_REQUESTS_ENV: &str = "ECS_OPERATOR_RECORD_REQUESTS";

/// Where to record, and the account the recorded ARNs belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOptions {
    /// JSON Lines, appended to (created when missing).
    pub path: PathBuf,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// The 12-digit account of the operator's resources.
    pub account_id: String,
}

impl RecordOptions {
    /// Options whose partition and account are those of `arn` (e.g. the settings' execution
    /// role, which lives in the operator's account). None when `arn` names no account.
    pub fn for_account_of(path: PathBuf, arn: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let account = parts.get(4)?;
        (parts.first() == Some(&"arn")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit()))
        .then(|| RecordOptions {
            path,
            partition: parts[1].to_string(),
            account_id: account.to_string(),
        })
    }
}

/// The recorder `AwsClients::from_env` gives its clients: asked for by
/// [`ClientOptions::record_requests`](super::ClientOptions) or `ECS_OPERATOR_RECORD_REQUESTS`,
/// in the account of [`ClientOptions::account_arn`](super::ClientOptions). A request to record
/// that cannot be met (no account, an unwritable file) is logged as an error: the operator
/// still runs, unrecorded.
pub(super) fn from_options(
    options: &super::ClientOptions,
    shared: &aws_types::SdkConfig,
) -> Option<Arc<Recorder>> {
    let path = options
        .record_requests
        .clone()
        .or_else(|| std::env::var_os(RECORD_REQUESTS_ENV).map(PathBuf::from))?;
    let Some(record) = options
        .account_arn
        .as_deref()
        .and_then(|arn| RecordOptions::for_account_of(path.clone(), arn))
    else {
        tracing::error!(path = %path.display(), "cannot record AWS requests: no ARN names the operator's account");
        return None;
    };
    let region = shared.region().map(|r| r.to_string()).unwrap_or_default();
    match Recorder::open(&record, &region) {
        Ok(recorder) => {
            tracing::info!(path = %path.display(), "recording every AWS request as IAM evaluates it");
            Some(recorder)
        }
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot record AWS requests");
            None
        }
    }
}

/// Builds the ARNs IAM evaluates, in one account, partition and region.
#[derive(Debug, Clone)]
pub(crate) struct Arns {
    pub partition: String,
    pub account: String,
    pub region: String,
}

impl Arns {
    /// `arn:<partition>:<service>:<region>:<account>:<rest>`.
    pub fn regional(&self, service: &str, rest: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{rest}",
            self.partition, self.region, self.account
        )
    }

    /// A global resource of this account (IAM): `arn:<partition>:<service>::<account>:<rest>`.
    pub fn global(&self, service: &str, rest: &str) -> String {
        format!("arn:{}:{service}::{}:{rest}", self.partition, self.account)
    }

    /// `given` when it is an ARN, else the ARN `build` makes of it.
    pub fn or_build(given: &str, build: impl FnOnce(&str) -> String) -> String {
        if given.starts_with("arn:") {
            given.to_string()
        } else {
            build(given)
        }
    }
}

/// One (action, resource) pair IAM authorizes, with the condition keys of the request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, Value>,
}

impl Line {
    pub fn new(action: &str, resource: impl Into<String>) -> Self {
        Line {
            action: action.to_string(),
            resource: resource.into(),
            context: BTreeMap::new(),
        }
    }

    /// A single-valued condition key.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.context
            .insert(key.to_string(), Value::String(value.into()));
        self
    }

    /// A single-valued key, when the request has a value for it.
    pub fn with_some(self, key: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// A multivalued condition key (a set of strings).
    pub fn with_set(mut self, key: &str, values: impl IntoIterator<Item = String>) -> Self {
        let values: Vec<Value> = values.into_iter().map(Value::String).collect();
        self.context.insert(key.to_string(), Value::Array(values));
        self
    }

    /// `aws:RequestTag/<key>` per tag and `aws:TagKeys`; nothing when no tags are sent.
    pub fn request_tags(mut self, tags: &BTreeMap<String, String>) -> Self {
        if tags.is_empty() {
            return self;
        }
        for (k, v) in tags {
            self = self.with(&format!("aws:RequestTag/{k}"), v.clone());
        }
        self.with_set("aws:TagKeys", tags.keys().cloned())
    }

    /// `aws:ResourceTag/<key>` per tag the resource carries, as far as the recorder knows.
    pub fn resource_tags(mut self, tags: Option<&BTreeMap<String, String>>) -> Self {
        for (k, v) in tags.into_iter().flatten() {
            self = self.with(&format!("aws:ResourceTag/{k}"), v.clone());
        }
        self
    }

    fn json(&self, call: &str) -> Value {
        serde_json::json!({
            "call": call,
            "action": self.action,
            "resource": self.resource,
            "context": self.context,
        })
    }
}

/// What the recorder has learnt from requests and responses.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// Tags by resource ARN (ECS services and task definitions, Cloud Map services).
    tags: HashMap<String, BTreeMap<String, String>>,
    /// Cloud Map services by name: (service id, namespace id when known).
    pub discovery: HashMap<String, (String, Option<String>)>,
    /// Scalable target ARNs by resource id (`service/<cluster>/<name>`).
    pub targets: HashMap<String, String>,
    /// Target tracking alarm ARNs by (resource id, policy name).
    pub alarms: HashMap<(String, String), Vec<String>>,
    /// The latest task definition revision seen, by family.
    pub revisions: HashMap<String, i32>,
}

impl Known {
    pub fn tags(&self, arn: &str) -> Option<&BTreeMap<String, String>> {
        self.tags.get(arn)
    }

    pub fn set_tags(&mut self, arn: &str, tags: BTreeMap<String, String>) {
        self.tags.insert(arn.to_string(), tags);
    }

    pub fn add_tags(&mut self, arn: &str, tags: &BTreeMap<String, String>) {
        let known = self.tags.entry(arn.to_string()).or_default();
        known.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    pub fn remove_tags(&mut self, arn: &str, keys: &[String]) {
        if let Some(known) = self.tags.get_mut(arn) {
            known.retain(|k, _| !keys.contains(k));
        }
    }

    pub fn forget(&mut self, arn: &str) {
        self.tags.remove(arn);
    }

    /// Remembers the revision of a task definition ARN (`...:task-definition/<family>:<n>`).
    pub fn saw_revision(&mut self, arn: &str) {
        let Some((family, revision)) = arn
            .rsplit_once('/')
            .and_then(|(_, rest)| rest.rsplit_once(':'))
            .and_then(|(f, r)| Some((f.to_string(), r.parse::<i32>().ok()?)))
        else {
            return;
        };
        let latest = self.revisions.entry(family).or_insert(revision);
        *latest = (*latest).max(revision);
    }
}

/// Turns a call's output into more lines, updating what the recorder knows. `None` output: the
/// call failed (nothing is learnt, but IAM evaluated the request all the same).
pub(crate) type After = Box<dyn FnOnce(Option<&Output>, &Arns, &mut Known) -> Vec<Line> + Send>;

/// The lines of a call known before it is sent, and what completes them afterwards.
pub(crate) struct Planned {
    pub lines: Vec<Line>,
    pub after: Option<After>,
}

impl Planned {
    pub fn lines(lines: Vec<Line>) -> Self {
        Planned { lines, after: None }
    }

    pub fn then(
        lines: Vec<Line>,
        after: impl FnOnce(Option<&Output>, &Arns, &mut Known) -> Vec<Line> + Send + 'static,
    ) -> Self {
        Planned {
            lines,
            after: Some(Box::new(after)),
        }
    }
}

/// The typed output of a call, when it succeeded and is a `T`.
pub(crate) fn output<T: fmt::Debug + Send + Sync + 'static>(out: Option<&Output>) -> Option<&T> {
    out.and_then(|o| o.downcast_ref::<T>())
}

/// The clients whose calls are recorded, with their IAM service prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ecs,
    Discovery,
    Scaling,
    Elbv2,
    S3,
    Sqs,
    Scheduler,
    CloudWatch,
}

impl Service {
    pub fn prefix(self) -> &'static str {
        match self {
            Service::Ecs => "ecs",
            Service::Discovery => "servicediscovery",
            Service::Scaling => "application-autoscaling",
            Service::Elbv2 => "elasticloadbalancing",
            Service::S3 => "s3",
            Service::Sqs => "sqs",
            Service::Scheduler => "scheduler",
            Service::CloudWatch => "cloudwatch",
        }
    }
}

/// Writes the lines; shared by the interceptors of every client.
pub struct Recorder {
    file: Mutex<std::fs::File>,
    arns: Arns,
    known: Mutex<Known>,
    calls: AtomicU64,
    path: PathBuf,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .field("arns", &self.arns)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Opens (appends to) the file; `region` is the clients' region.
    pub fn open(options: &RecordOptions, region: &str) -> std::io::Result<Arc<Recorder>> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&options.path)?;
        Ok(Arc::new(Recorder {
            file: Mutex::new(file),
            arns: Arns {
                partition: options.partition.clone(),
                account: options.account_id.clone(),
                region: region.to_string(),
            },
            known: Mutex::new(Known::default()),
            calls: AtomicU64::new(0),
            path: options.path.clone(),
        }))
    }

    /// The interceptor recording the calls of one client.
    pub fn interceptor(self: &Arc<Self>, service: Service) -> RecordingInterceptor {
        RecordingInterceptor {
            recorder: self.clone(),
            service,
        }
    }

    /// Calls recorded so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn plan(&self, service: Service, operation: &str, input: &Input) -> (String, Planned) {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let action = format!("{}:{operation}", service.prefix());
        let call = format!("{action}#{n}");
        let known = self.known();
        let planned = match service {
            Service::Ecs => ecs::plan(input, &self.arns, &known),
            Service::Discovery => discovery::plan(input, &self.arns, &known),
            Service::Scaling => scaling::plan(input, &self.arns, &known),
            Service::Elbv2 => elbv2::plan(input, &self.arns, &known),
            Service::S3 => s3::plan(input, &self.arns),
            Service::Sqs => sqs::plan(input, &self.arns),
            Service::Scheduler => scheduler::plan(input, &self.arns),
            // GetMetricData, the only CloudWatch call, has no resource type: `*` below.
            Service::CloudWatch => None,
        };
        // Never dropped: an operation without a mapping is recorded so the evaluator flags it.
        let planned = planned.unwrap_or_else(|| Planned::lines(vec![Line::new(&action, "*")]));
        (call, planned)
    }

    fn finish(&self, call: &str, planned: Planned, out: Option<&Output>) {
        let mut lines = planned.lines;
        if let Some(after) = planned.after {
            lines.extend(after(out, &self.arns, &mut self.known()));
        }
        let mut text = String::new();
        for line in &lines {
            text.push_str(&line.json(call).to_string());
            text.push('\n');
        }
        // One write per call: lines of concurrent calls never interleave.
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(text.as_bytes()) {
            tracing::warn!(path = %self.path.display(), error = %e, call, "could not record an AWS request");
        }
    }
}

/// The planned lines of the call in flight, kept in the call's config bag between the hooks.
#[derive(Clone)]
struct InFlight(Arc<Mutex<Option<(String, Planned)>>>);

impl fmt::Debug for InFlight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InFlight")
    }
}

impl Storable for InFlight {
    type Storer = StoreReplace<Self>;
}

/// The SDK interceptor feeding a [`Recorder`]: plans before the call, writes after it.
#[derive(Debug, Clone)]
pub struct RecordingInterceptor {
    recorder: Arc<Recorder>,
    service: Service,
}

impl Intercept for RecordingInterceptor {
    fn name(&self) -> &'static str {
        "RecordingInterceptor"
    }

    // Before serialization rather than before execution: the operation's own configuration
    // (its name, in `Metadata`) is in the bag only from here on; the input still is.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_else(|| "UnknownOperation".into());
        let planned = self
            .recorder
            .plan(self.service, &operation, context.input());
        cfg.interceptor_state()
            .store_put(InFlight(Arc::new(Mutex::new(Some(planned)))));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(in_flight) = cfg.load::<InFlight>() else {
            return Ok(());
        };
        let taken = in_flight.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((call, planned)) = taken {
            let out = context.output_or_error().and_then(Result::ok);
            self.recorder.finish(&call, planned, out);
        }
        Ok(())
    }
}

/// Tags given as (key, value) pairs of SDK tag types, as a map.
pub(crate) fn tag_map<'a>(
    tags: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    tags.into_iter()
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
        .collect()
}

#[cfg(test)]
mod tests;
