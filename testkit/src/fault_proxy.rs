//! A fault-injecting HTTP proxy on 127.0.0.1 in front of moto_server.
//!
//! Every request is classified (AWS service and operation, from `X-Amz-Target` for the awsJson
//! APIs and from method, path and query for S3) and then either forwarded to the upstream or
//! answered with a fault. Faults are chosen by a deterministic rule the test sets (e.g. "every
//! S3 request gets 403") or at random for a share of the eligible requests:
//!
//! | fault | answer | reaches moto |
//! | --- | --- | --- |
//! | `Throttle` | awsJson: 400 `ThrottlingException`; S3: 503 `SlowDown` | no |
//! | `ServerError` | 500 with the protocol's internal-error body | no |
//! | `AccessDenied` | awsJson: 400 `AccessDeniedException`; S3: 403 `AccessDenied` | no |
//! | `Drop` | the connection is closed without an answer | no |
//! | `Delay` | forwarded after a random delay | yes |
//! | `Truncate` | forwarded; the answer's body is cut in half | yes |
//!
//! Faults that answer instead of forwarding model what real AWS does when it throttles or
//! fails a request: it was never performed. (moto ignores idempotency tokens, so a fault that
//! loses the answer of a *performed* create would make moto, not the operator, duplicate it.)
//!
//! The proxy runs on its own runtime thread, so it keeps serving while a test blocks on a
//! child process. It counts what it injected and what it forwarded.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use rand::Rng;

use crate::aws_pages;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Fault {
    Throttle,
    ServerError,
    AccessDenied,
    Drop,
    Delay,
    Truncate,
}

/// What the proxy knows about one request.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// `ECS`, `ServiceDiscovery`, `ApplicationAutoScaling` or `S3`.
    pub service: String,
    pub operation: String,
    pub method: String,
    pub path: String,
    pub query: String,
}

impl RequestInfo {
    pub fn is_s3(&self) -> bool {
        self.service == "S3"
    }

    /// Same rule as the operator's call counter: Describe/List/Get/Discover/Head read.
    pub fn is_write(&self) -> bool {
        !ecs_operator::aws::calls::is_read(&self.operation)
    }

    /// An S3 ListObjectsV2 request for a later page.
    pub fn is_continuation(&self) -> bool {
        self.query.contains("continuation-token=")
    }
}

pub type Rule = Arc<dyn Fn(&RequestInfo) -> Option<Fault> + Send + Sync>;
/// Answers a request itself instead of forwarding it: the HTTP status and the JSON body (an
/// AWS JSON protocol answer), or None to forward. Stand-ins of what moto lacks use it
/// ([`crate::task_standin`]).
pub type Answer = Arc<dyn Fn(&RequestInfo, &[u8]) -> Option<(u16, String)> + Send + Sync>;
pub type Filter = Arc<dyn Fn(&RequestInfo) -> bool + Send + Sync>;

/// What to inject. The default forwards everything untouched.
#[derive(Clone, Default)]
pub struct Config {
    /// Checked first: a fault for this request, or None to fall through to the random share.
    pub rule: Option<Rule>,
    /// Share (0..=1) of eligible requests that get one of `faults`, picked uniformly.
    pub share: f64,
    pub faults: Vec<Fault>,
    /// Which requests the random share applies to (all when None).
    pub eligible: Option<Filter>,
    /// Delay range for `Fault::Delay`, in milliseconds.
    pub delay_ms: (u64, u64),
    /// Latency added to every forwarded request, in milliseconds.
    pub latency_ms: (u64, u64),
    /// Rewrites S3 ListObjectsV2 requests to ask for at most this many keys per page.
    pub s3_max_keys: Option<u32>,
    /// Pages and limits the AWS JSON APIs as AWS does, not as moto does ([`crate::aws_pages`]).
    pub aws_pages: bool,
    /// Requests answered by a stand-in rather than moto (after faults, before forwarding).
    pub answer: Option<Answer>,
}

impl Config {
    /// Random faults of the given kinds for `share` of all requests.
    pub fn random(share: f64, faults: &[Fault]) -> Self {
        Config {
            share,
            faults: faults.to_vec(),
            delay_ms: (50, 400),
            ..Config::default()
        }
    }

    /// Every request `rule` picks gets its fault; everything else is forwarded.
    pub fn rule(rule: impl Fn(&RequestInfo) -> Option<Fault> + Send + Sync + 'static) -> Self {
        Config {
            rule: Some(Arc::new(rule)),
            ..Config::default()
        }
    }
}

/// Counts since the proxy started (or the last reset).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// (service/operation, fault) -> count.
    pub injected: BTreeMap<(String, Fault), u64>,
    /// service/operation -> requests forwarded to the upstream.
    pub forwarded: BTreeMap<String, u64>,
    /// (service/operation, upstream status) -> answers relayed.
    pub answered: BTreeMap<(String, u16), u64>,
    /// service/operation -> requests `Config::aws_pages` refused, as AWS would (never forwarded).
    pub refused: BTreeMap<String, u64>,
}

impl Stats {
    pub fn injected_total(&self) -> u64 {
        self.injected.values().sum()
    }

    pub fn injected_of(&self, fault: Fault) -> u64 {
        self.injected
            .iter()
            .filter(|((_, f), _)| *f == fault)
            .map(|(_, n)| n)
            .sum()
    }

    /// Forwarded write calls to ECS, Cloud Map and Application Auto Scaling.
    pub fn control_plane_writes(&self) -> u64 {
        self.forwarded
            .iter()
            .filter(|(k, _)| !k.starts_with("S3/"))
            .filter(|(k, _)| {
                let op = k.split('/').nth(1).unwrap_or("");
                !ecs_operator::aws::calls::is_read(op)
            })
            .map(|(_, n)| n)
            .sum()
    }

    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }

    pub fn forwarded_total(&self) -> u64 {
        self.forwarded.values().sum()
    }

    /// Upstream answers to `key` (`service/operation`) whose status satisfies `keep`.
    pub fn answered(&self, key: &str, keep: impl Fn(u16) -> bool) -> u64 {
        self.answered
            .iter()
            .filter(|((k, status), _)| k == key && keep(*status))
            .map(|(_, n)| n)
            .sum()
    }
}

struct State {
    upstream: String,
    config: Mutex<Config>,
    stats: Mutex<Stats>,
    http: reqwest::Client,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream` (e.g. the moto endpoint).
    pub fn start(upstream: &str) -> FaultProxy {
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            config: Mutex::new(Config::default()),
            stats: Mutex::new(Stats::default()),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(serve(listener, thread_state, stopped));
                runtime.shutdown_background();
            })
            .expect("the proxy thread starts");
        FaultProxy {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, config: Config) {
        *self.state.config.lock().unwrap() = config;
    }

    /// Forward everything again.
    pub fn clear(&self) {
        self.set(Config::default());
    }

    pub fn stats(&self) -> Stats {
        self.state.stats.lock().unwrap().clone()
    }

    pub fn reset_stats(&self) {
        *self.state.stats.lock().unwrap() = Stats::default();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = state.clone();
                async move { handle(state, request).await }
            });
            // A service error (Fault::Drop) makes hyper close the connection unanswered.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The error that makes hyper drop the connection.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

fn classify(request: &Request<Incoming>) -> RequestInfo {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    if let Some(target) = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        let (prefix, operation) = target.split_once('.').unwrap_or((target, ""));
        let service = match prefix {
            p if p.starts_with("AmazonEC2ContainerService") => "ECS",
            p if p.starts_with("Route53AutoNaming") => "ServiceDiscovery",
            p if p.starts_with("AnyScaleFrontendService") => "ApplicationAutoScaling",
            other => other,
        };
        return RequestInfo {
            service: service.to_string(),
            operation: operation.to_string(),
            method,
            path,
            query,
        };
    }
    // S3, path style: /bucket or /bucket/key.
    let object = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    let has = |name: &str| {
        query
            .split('&')
            .any(|p| p == name || p.starts_with(&format!("{name}=")))
    };
    let operation = match (method.as_str(), object) {
        ("GET", false) if has("list-type") => "ListObjectsV2",
        ("GET", false) => "ListObjects",
        ("GET", true) => "GetObject",
        ("HEAD", true) => "HeadObject",
        ("HEAD", false) => "HeadBucket",
        ("PUT", true) => "PutObject",
        ("PUT", false) => "CreateBucket",
        ("DELETE", true) => "DeleteObject",
        ("POST", false) if has("delete") => "DeleteObjects",
        _ => "Other",
    };
    RequestInfo {
        service: "S3".into(),
        operation: operation.into(),
        method,
        path,
        query,
    }
}

fn pick(config: &Config, info: &RequestInfo) -> Option<Fault> {
    if let Some(rule) = &config.rule {
        if let Some(fault) = rule(info) {
            return Some(fault);
        }
    }
    if config.faults.is_empty() || config.share <= 0.0 {
        return None;
    }
    if config.eligible.as_ref().is_some_and(|e| !e(info)) {
        return None;
    }
    let mut rng = rand::rng();
    if rng.random_bool(config.share.min(1.0)) {
        Some(config.faults[rng.random_range(0..config.faults.len())])
    } else {
        None
    }
}

fn answer(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-requestid", "fault-proxy")
        .header("x-amz-request-id", "fault-proxy")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn json_error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    answer(
        status,
        "application/x-amz-json-1.1",
        serde_json::json!({"__type": code, "message": message}).to_string(),
    )
}

fn s3_error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    answer(
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
        ),
    )
}

fn ms(range: (u64, u64)) -> Duration {
    let (low, high) = range;
    if high <= low {
        return Duration::from_millis(low);
    }
    Duration::from_millis(rand::rng().random_range(low..=high))
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let info = classify(&request);
    let key = format!("{}/{}", info.service, info.operation);
    let config = state.config.lock().unwrap().clone();
    let fault = pick(&config, &info);
    if let Some(fault) = fault {
        *state
            .stats
            .lock()
            .unwrap()
            .injected
            .entry((key.clone(), fault))
            .or_default() += 1;
    }
    let immediate = match fault {
        Some(Fault::Throttle) if info.is_s3() => Some(s3_error(
            503,
            "SlowDown",
            "Please reduce your request rate. (injected)",
        )),
        Some(Fault::Throttle) => Some(json_error(
            400,
            "ThrottlingException",
            "Rate exceeded (injected)",
        )),
        Some(Fault::ServerError) if info.is_s3() => Some(s3_error(
            500,
            "InternalError",
            "We encountered an internal error. Please try again. (injected)",
        )),
        Some(Fault::ServerError) => Some(json_error(
            500,
            "ServerException",
            "internal error (injected)",
        )),
        Some(Fault::AccessDenied) if info.is_s3() => {
            Some(s3_error(403, "AccessDenied", "Access Denied (injected)"))
        }
        Some(Fault::AccessDenied) => Some(json_error(
            400,
            "AccessDeniedException",
            "not authorized (injected)",
        )),
        Some(Fault::Drop) => {
            // Read nothing more, answer nothing: the client sees the connection close.
            return Err(Dropped);
        }
        _ => None,
    };
    if let Some(response) = immediate {
        return Ok(response);
    }
    if fault == Some(Fault::Delay) {
        tokio::time::sleep(ms(config.delay_ms)).await;
    }
    if config.latency_ms.1 > 0 {
        tokio::time::sleep(ms(config.latency_ms)).await;
    }

    // Forward.
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|_| Dropped)?
        .to_bytes()
        .to_vec();
    if let Some(answer) = config.answer.as_ref().and_then(|a| a(&info, &body)) {
        let (status, text) = answer;
        *state
            .stats
            .lock()
            .unwrap()
            .answered
            .entry((key, status))
            .or_default() += 1;
        return Ok(self::answer(status, "application/x-amz-json-1.1", text));
    }
    let (body, page) = match config.aws_pages {
        true => match aws_pages::prepare(&info.service, &info.operation, body) {
            aws_pages::Prepared::Forward { body, repage } => (body, repage),
            aws_pages::Prepared::Refuse(status, code, message) => {
                *state.stats.lock().unwrap().refused.entry(key).or_default() += 1;
                return Ok(json_error(status, code, &message));
            }
        },
        false => (body, None),
    };
    let mut query = info.query.clone();
    if let (Some(max), "ListObjectsV2") = (config.s3_max_keys, info.operation.as_str()) {
        query = query
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("max-keys="))
            .map(str::to_string)
            .chain(std::iter::once(format!("max-keys={max}")))
            .collect::<Vec<_>>()
            .join("&");
    }
    let url = if query.is_empty() {
        format!("{}{}", state.upstream, info.path)
    } else {
        format!("{}{}?{query}", state.upstream, info.path)
    };
    let mut forward = state.http.request(parts.method.clone(), &url);
    for (name, value) in &parts.headers {
        if matches!(
            name.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding" | "expect"
        ) {
            continue;
        }
        forward = forward.header(name, value);
    }
    let upstream = forward.body(body).send().await.map_err(|_| Dropped)?;
    let status = upstream.status();
    {
        let mut stats = state.stats.lock().unwrap();
        *stats.forwarded.entry(key.clone()).or_default() += 1;
        *stats.answered.entry((key, status.as_u16())).or_default() += 1;
    }
    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in upstream.headers() {
        if matches!(
            name.as_str(),
            "connection" | "content-length" | "transfer-encoding"
        ) {
            continue;
        }
        response = response.header(name, value);
    }
    let mut bytes = upstream.bytes().await.map_err(|_| Dropped)?.to_vec();
    if let (Some(page), true) = (&page, status.is_success()) {
        bytes = aws_pages::repage(page, bytes);
    }
    if fault == Some(Fault::Truncate) {
        bytes.truncate(bytes.len() / 2);
    }
    Ok(response.body(Full::new(Bytes::from(bytes))).unwrap())
}
