//! Counts AWS call attempts by service, operation and outcome. The counts prove idempotency in
//! tests (a second pass makes zero writes), feed the benchmarks and are exported as metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::error::{error_code_of_response, ErrorKind};

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Ok,
    Throttled,
    ClientError,
    ServerError,
    TransportError,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Throttled => "throttled",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::TransportError => "transport_error",
        }
    }
}

/// Key of one counter: (service, operation, outcome).
pub type CallKey = (String, String, Outcome);

#[derive(Debug, Default)]
pub struct CallCounter {
    counts: Mutex<BTreeMap<CallKey, u64>>,
}

/// Whether an operation only reads. Everything else counts as a write.
pub fn is_read(operation: &str) -> bool {
    ["Describe", "List", "Get", "Discover", "Head"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
}

impl CallCounter {
    pub fn record(&self, service: &str, operation: &str, outcome: Outcome) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts
            .entry((service.to_string(), operation.to_string(), outcome))
            .or_default() += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<CallKey, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Totals of (reads, writes) in a snapshot, optionally restricted to some services.
    pub fn totals(snapshot: &BTreeMap<CallKey, u64>, services: Option<&[&str]>) -> CallTotals {
        let mut totals = CallTotals::default();
        for ((service, operation, outcome), n) in snapshot {
            if services.is_some_and(|s| !s.contains(&service.as_str())) {
                continue;
            }
            if is_read(operation) {
                totals.reads += n;
            } else {
                totals.writes += n;
            }
            if *outcome == Outcome::Throttled {
                totals.throttled += n;
            }
            if *outcome != Outcome::Ok {
                totals.failed += n;
            }
        }
        totals
    }

    /// The difference between two snapshots (calls made in between).
    pub fn since(
        before: &BTreeMap<CallKey, u64>,
        after: &BTreeMap<CallKey, u64>,
    ) -> BTreeMap<CallKey, u64> {
        after
            .iter()
            .filter_map(|(k, v)| {
                let d = v - before.get(k).copied().unwrap_or(0);
                (d > 0).then(|| (k.clone(), d))
            })
            .collect()
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CallTotals {
    pub reads: u64,
    pub writes: u64,
    pub throttled: u64,
    pub failed: u64,
}

/// The SDK interceptor feeding a [`CallCounter`]; sees every attempt, retries included.
#[derive(Debug, Clone)]
pub struct CountingInterceptor(pub Arc<CallCounter>);

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "CountingInterceptor"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        let outcome = match context.response() {
            None => Outcome::TransportError,
            Some(response) => outcome_of(
                response.status().as_u16(),
                response.headers().get("x-amzn-errortype"),
                response.body().bytes().unwrap_or_default(),
            ),
        };
        self.0.record(&service, &operation, outcome);
        Ok(())
    }
}

/// The outcome of one attempt from its status and, for errors, its error code.
fn outcome_of(status: u16, error_type: Option<&str>, body: &[u8]) -> Outcome {
    if status < 400 {
        return Outcome::Ok;
    }
    let code = error_code_of_response(error_type, body);
    match ErrorKind::from_code(code.as_deref(), Some(status)) {
        ErrorKind::Throttled => Outcome::Throttled,
        _ if status >= 500 => Outcome::ServerError,
        _ => Outcome::ClientError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_counted_by_their_error_code() {
        assert_eq!(outcome_of(200, None, b""), Outcome::Ok);
        assert_eq!(
            outcome_of(400, None, br#"{"__type":"ThrottlingException"}"#),
            Outcome::Throttled
        );
        assert_eq!(
            outcome_of(503, None, b"<Error><Code>SlowDown</Code></Error>"),
            Outcome::Throttled
        );
        assert_eq!(outcome_of(429, None, b""), Outcome::Throttled);
        assert_eq!(
            outcome_of(
                400,
                None,
                br#"{"__type":"ClientException","message":"Throttle me"}"#
            ),
            Outcome::ClientError,
            "a message mentioning throttling is not throttling"
        );
        assert_eq!(outcome_of(500, None, b""), Outcome::ServerError);
    }
}
