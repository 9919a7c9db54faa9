//! The one error type of the AWS boundary: what failed (the operation, as its IAM action), what
//! kind of failure it was, and the SDK error as its source.
//!
//! The kind comes from the error *code* AWS returned (`ProvideErrorMetadata::code`), then the
//! HTTP status, then the `SdkError` variant, never from the text of a message. Users see one
//! line (`ecs:ListServices: cannot reach http://127.0.0.1:1: Connection refused (os error
//! 111)`); the SDK's debug dump goes to the debug log.

use std::fmt;
use std::sync::Arc;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What kind of failure an AWS call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// Rate limited (`ThrottlingException`, S3 `SlowDown`, HTTP 429, ...).
    Throttled,
    /// The resource does not exist (`ServiceNotFoundException`, `NoSuchKey`, HTTP 404, ...).
    NotFound,
    /// The resource cannot be changed while something uses it (Cloud Map `ResourceInUse`).
    InUse,
    /// A concurrent change or a duplicate request (`ConcurrentUpdateException`, HTTP 409).
    Conflict,
    /// A conditional request's condition did not hold (S3 `If-Match` / `If-None-Match`, 412).
    PreconditionFailed,
    /// IAM or credentials said no.
    AccessDenied,
    /// The request itself is wrong (`InvalidParameterException`, `ValidationException`, ...).
    Invalid,
    /// The endpoint could not be reached or the connection broke.
    Transport,
    /// No answer within the operation or attempt timeout.
    Timeout,
    /// AWS failed (HTTP 5xx, `ServerException`, `InternalFailure`).
    Server,
    /// Anything else, treated as transient.
    Unknown,
}

impl ErrorKind {
    /// Classifies an error code, falling back to the HTTP status when the code is unknown.
    pub fn from_code(code: Option<&str>, status: Option<u16>) -> Self {
        if let Some(kind) = code.and_then(kind_of_code) {
            return kind;
        }
        match status {
            Some(404) => ErrorKind::NotFound,
            Some(412) => ErrorKind::PreconditionFailed,
            Some(409) => ErrorKind::Conflict,
            Some(401 | 403) => ErrorKind::AccessDenied,
            Some(429) => ErrorKind::Throttled,
            Some(500..=599) => ErrorKind::Server,
            Some(400..=499) => ErrorKind::Invalid,
            _ => ErrorKind::Unknown,
        }
    }

    /// Whether retrying the same request later may succeed without anything else changing.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled
                | ErrorKind::Transport
                | ErrorKind::Timeout
                | ErrorKind::Server
                | ErrorKind::Unknown
        )
    }
}

/// Error codes by kind. The throttling list is the SDK's own (aws-smithy-runtime's
/// `THROTTLING_ERRORS`), so the retry layer and this classification agree.
fn kind_of_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "Throttling"
        | "ThrottlingException"
        | "ThrottledException"
        | "RequestThrottledException"
        | "TooManyRequestsException"
        | "ProvisionedThroughputExceededException"
        | "TransactionInProgressException"
        | "RequestLimitExceeded"
        | "BandwidthLimitExceeded"
        | "LimitExceededException"
        | "RequestThrottled"
        | "SlowDown"
        | "PriorRequestNotComplete"
        | "EC2ThrottledException" => ErrorKind::Throttled,
        "ServiceNotFoundException"
        | "ClusterNotFoundException"
        | "ServiceNotFound"
        | "NamespaceNotFound"
        | "InstanceNotFound"
        | "OperationNotFound"
        | "ObjectNotFoundException"
        | "ResourceNotFoundException"
        | "NoSuchKey"
        | "NoSuchBucket"
        | "NotFound"
        | "TargetGroupNotFound"
        | "RuleNotFound"
        | "ListenerNotFound"
        | "LoadBalancerNotFound" => ErrorKind::NotFound,
        "ResourceInUse" | "ResourceInUseException" => ErrorKind::InUse,
        // ELBv2: a listener rule priority another rule holds, a target group name taken with
        // other settings (CreateTargetGroup is idempotent only for identical settings).
        "PriorityInUse" | "DuplicateTargetGroupName" => ErrorKind::Conflict,
        "ConcurrentUpdateException"
        | "ConditionalRequestConflict"
        | "DuplicateRequest"
        | "ServiceAlreadyExists"
        | "ResourceAlreadyExists"
        | "ServiceNotActiveException" => ErrorKind::Conflict,
        "PreconditionFailed" => ErrorKind::PreconditionFailed,
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "MissingAuthenticationToken" => ErrorKind::AccessDenied,
        "InvalidParameterException"
        | "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "MissingParameter"
        | "ClientException"
        | "ValidationException"
        | "InvalidInput"
        | "UnsupportedFeatureException"
        | "PlatformUnknownException"
        | "PlatformTaskDefinitionIncompatibilityException"
        | "InvalidRequest"
        | "InvalidArgument"
        | "InvalidBucketName"
        | "ValidationError"
        | "InvalidConfigurationRequest"
        | "IncompatibleProtocols"
        | "TooManyConditionValues"
        | "TooManyRules"
        | "TooManyTargetGroups"
        | "TooManyTags"
        | "DuplicateTagKeys" => ErrorKind::Invalid,
        "InternalFailure"
        | "InternalError"
        | "InternalServiceException"
        | "InternalServiceError"
        | "ServerException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "RequestTimeout"
        | "RequestTimeoutException" => ErrorKind::Server,
        _ => return None,
    })
}

/// One failed AWS call.
#[derive(Debug, Clone, thiserror::Error)]
pub struct AwsError {
    /// The operation as its IAM action, e.g. `ecs:CreateService`.
    pub operation: &'static str,
    pub kind: ErrorKind,
    /// The error code AWS returned, when it returned one.
    pub code: Option<String>,
    pub message: Option<String>,
    pub status: Option<u16>,
    /// The endpoint the call went to, for "cannot reach" messages.
    pub endpoint: Option<String>,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl AwsError {
    /// Classifies an SDK error of `operation` (its IAM action name).
    pub fn from_sdk<E>(
        operation: &'static str,
        endpoint: Option<&str>,
        error: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        tracing::debug!(operation, error = ?error, "AWS call failed");
        let status = error.raw_response().map(|r| r.status().as_u16());
        let code = error.code().map(str::to_string);
        let message = error.message().map(str::to_string);
        let kind = match &error {
            SdkError::TimeoutError(_) => ErrorKind::Timeout,
            SdkError::DispatchFailure(failure) if failure.is_timeout() => ErrorKind::Timeout,
            SdkError::DispatchFailure(_) => ErrorKind::Transport,
            SdkError::ResponseError(_) => ErrorKind::Transport,
            SdkError::ConstructionFailure(_) => ErrorKind::Invalid,
            _ => ErrorKind::from_code(code.as_deref(), status),
        };
        // The message of a transport failure is its deepest cause ("Connection refused").
        let message = message.or_else(|| match kind {
            ErrorKind::Transport | ErrorKind::Timeout | ErrorKind::Invalid => {
                root_cause(&error).map(|m| m.to_string())
            }
            _ => None,
        });
        Self {
            operation,
            kind,
            code,
            message,
            status,
            endpoint: endpoint.map(str::to_string),
            source: Some(Arc::new(error)),
        }
    }

    /// An error found on our side of the boundary (a request that could not be built).
    pub fn local(operation: &'static str, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            operation,
            kind,
            code: None,
            message: Some(message.into()),
            status: None,
            endpoint: None,
            source: None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }

    /// The IAM service prefix of the operation (`ecs`, `s3`, ...).
    pub fn service(&self) -> &str {
        self.operation.split(':').next().unwrap_or(self.operation)
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut deepest = error.source()?;
    while let Some(next) = deepest.source() {
        deepest = next;
    }
    Some(deepest.to_string())
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoint = self.endpoint.as_deref().unwrap_or("its endpoint");
        let message = self.message.as_deref().unwrap_or("no message");
        write!(f, "{}: ", self.operation)?;
        match (self.kind, self.code.as_deref()) {
            (ErrorKind::Transport, _) => write!(f, "cannot reach {endpoint}: {message}"),
            (ErrorKind::Timeout, _) => write!(f, "no answer from {endpoint} in time: {message}"),
            (ErrorKind::Throttled, code) => write!(
                f,
                "throttled by AWS ({}), still throttled after the retries",
                code.unwrap_or("HTTP 429")
            ),
            (ErrorKind::AccessDenied, code) => write!(
                f,
                "access denied ({}): {message}; the operator's IAM role must allow {}",
                code.unwrap_or("HTTP 403"),
                self.operation
            ),
            (_, Some(code)) => write!(f, "{code}: {message}"),
            (_, None) => match self.status {
                Some(status) => write!(f, "HTTP {status}: {message}"),
                None => f.write_str(message),
            },
        }
    }
}

/// Reads the error code of a raw error response, for code paths that see only bytes (the call
/// counter): the JSON protocols' `X-Amzn-ErrorType` header or `__type` / `code` field, or the
/// XML protocols' `<Code>` element.
pub fn error_code_of_response(header: Option<&str>, body: &[u8]) -> Option<String> {
    let clean = |raw: &str| {
        // `ThrottlingException:http://internal...` and `com.amazonaws.ecs#ThrottlingException`.
        let raw = raw.split(':').next().unwrap_or(raw);
        raw.rsplit('#').next().unwrap_or(raw).trim().to_string()
    };
    if let Some(h) = header.filter(|h| !h.is_empty()) {
        return Some(clean(h));
    }
    let text = std::str::from_utf8(body).ok()?.trim_start();
    if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        let raw = value
            .get("__type")
            .or_else(|| value.get("code"))
            .or_else(|| value.get("Code"))?
            .as_str()?;
        return Some(clean(raw));
    }
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_decide_the_kind_before_the_status() {
        assert_eq!(
            ErrorKind::from_code(Some("ThrottlingException"), Some(400)),
            ErrorKind::Throttled
        );
        assert_eq!(
            ErrorKind::from_code(Some("SlowDown"), Some(503)),
            ErrorKind::Throttled
        );
        assert_eq!(
            ErrorKind::from_code(Some("ResourceInUse"), Some(400)),
            ErrorKind::InUse
        );
        assert_eq!(
            ErrorKind::from_code(Some("AccessDeniedException"), Some(400)),
            ErrorKind::AccessDenied
        );
        assert_eq!(
            ErrorKind::from_code(Some("SomethingNew"), Some(412)),
            ErrorKind::PreconditionFailed
        );
        assert_eq!(ErrorKind::from_code(None, Some(404)), ErrorKind::NotFound);
        for (code, kind) in [
            ("PriorityInUse", ErrorKind::Conflict),
            ("DuplicateTargetGroupName", ErrorKind::Conflict),
            ("ResourceInUse", ErrorKind::InUse),
            ("TargetGroupNotFound", ErrorKind::NotFound),
            ("RuleNotFound", ErrorKind::NotFound),
            ("TooManyConditionValues", ErrorKind::Invalid),
        ] {
            assert_eq!(ErrorKind::from_code(Some(code), Some(400)), kind, "{code}");
        }
        assert_eq!(ErrorKind::from_code(None, Some(502)), ErrorKind::Server);
        assert_eq!(ErrorKind::from_code(None, None), ErrorKind::Unknown);
    }

    #[test]
    fn a_request_id_that_contains_412_is_not_a_precondition_failure() {
        // The old classification searched the debug text for "412".
        assert_eq!(
            ErrorKind::from_code(Some("InternalError"), Some(500)),
            ErrorKind::Server
        );
    }

    #[test]
    fn error_codes_are_read_from_json_headers_json_bodies_and_xml_bodies() {
        assert_eq!(
            error_code_of_response(Some("ThrottlingException:http://internal.amazon.com/"), b"")
                .as_deref(),
            Some("ThrottlingException")
        );
        assert_eq!(
            error_code_of_response(
                None,
                br#"{"__type":"com.amazonaws.ecs#ClientException","message":"x"}"#
            )
            .as_deref(),
            Some("ClientException")
        );
        assert_eq!(
            error_code_of_response(
                None,
                b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>m</Message></Error>"
            )
            .as_deref(),
            Some("SlowDown")
        );
        assert_eq!(error_code_of_response(None, b"not an error"), None);
    }
}
