//! The errors of a reconcile step and their classes. The class, not the error, decides what happens
//! next (Flux's Stalled / Waiting / transient): the runtime turns it into a requeue.

use serde::Serialize;

use crate::aws::{AwsError, ErrorKind};

/// How an error should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorClass {
    /// Throttling, timeouts, 5xx: retry with backoff.
    Transient,
    /// Something else must happen first (a dependency, a draining service, a concurrent
    /// change): requeue later.
    Waiting,
    /// Needs a manifest or settings change: report, retry slowly.
    Stalled,
}

impl ErrorClass {
    /// The label of the class in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Waiting => "waiting",
            ErrorClass::Stalled => "stalled",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A desired state the operator cannot turn into a request (a bug or an unvalidated
    /// manifest).
    #[error("{0}")]
    Invalid(String),
    /// This replica lost the leader lease: no further writes.
    #[error("leadership lost: no further writes")]
    Fenced,
    /// AWS refused because something has not happened yet (a service still draining, a
    /// service too new for Application Auto Scaling to see): wait, do not stall.
    #[error("{why}: {source}")]
    NotYet {
        why: String,
        #[source]
        source: Box<AwsError>,
    },
    /// RunTask answered with `failures` and no task (no capacity, a missing revision): ECS's
    /// reasons. Tried again at the next pass.
    #[error("ECS started no task: {0}")]
    TaskNotStarted(String),
}

impl ReconcileError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ReconcileError::Aws(e) => class_of(e),
            ReconcileError::Invalid(_) => ErrorClass::Stalled,
            ReconcileError::Fenced
            | ReconcileError::NotYet { .. }
            | ReconcileError::TaskNotStarted(_) => ErrorClass::Waiting,
        }
    }
}

/// The class of an AWS error, by its kind (and, for a missing cluster, its code: the
/// settings or the manifest name a cluster that does not exist).
pub fn class_of(e: &AwsError) -> ErrorClass {
    match e.kind {
        k if k.is_transient() => ErrorClass::Transient,
        ErrorKind::NotFound if e.code.as_deref() == Some("ClusterNotFoundException") => {
            ErrorClass::Stalled
        }
        ErrorKind::NotFound
        | ErrorKind::InUse
        | ErrorKind::Conflict
        | ErrorKind::PreconditionFailed => ErrorClass::Waiting,
        _ => ErrorClass::Stalled,
    }
}
