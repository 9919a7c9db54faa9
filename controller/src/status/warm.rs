//! The warm-start cache, kept beside the status records: `<stateLocation>cache/warm.json`
//! holds what a successor process (a restart, a new leader) would otherwise read again: the
//! manifest objects of the last fetch (key, ETag, text), the task definitions the services
//! run, and the status records as last written (name, ETag, body). The leader writes it after a pass when it changed; a process reads it once at start.
//!
//! # Guarantees
//! - It only saves reads, never decides anything: a manifest whose ETag S3 no longer lists is
//!   downloaded as before, a task definition ARN names one immutable revision, and a status
//!   record is used only while S3 still lists it with the same ETag (a record another replica
//!   or `ecs-operator retry` rewrote is read again). A missing, unreadable or other-version
//!   cache is ignored.
//! - An unchanged world writes nothing: the body's SHA-256 is compared with that of the last
//!   one read or written.
//!
//! # Caveats
//! - One object for every service: at N = 1,000 it is about 2 MB of JSON, read once per start
//!   and written when a manifest or a running revision changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::aws::{AwsClients, AwsError};
use crate::domain::S3Location;
use crate::render::aws::TaskDefinition;
use crate::source::CachedObject;

/// The format of the object; another version is ignored (and replaced at the next save).
pub const VERSION: u32 = 1;

/// What the cache holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WarmCache {
    pub version: u32,
    /// S3 key -> ETag and text.
    pub manifests: BTreeMap<String, CachedObject>,
    /// ARN -> the task definition as the operator observes it (shared with the observer's
    /// cache, not copied, while the cache is written).
    pub task_definitions: BTreeMap<String, Arc<TaskDefinition>>,
    /// Service name -> its status record as written (caches written before it have none).
    #[serde(default)]
    pub statuses: BTreeMap<String, CachedRecord>,
}

/// A status record as the state bucket holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedRecord {
    pub etag: String,
    /// The record's JSON, as written.
    pub body: String,
}

/// Reads and writes the cache object.
#[derive(Debug, Default)]
pub struct WarmStore {
    location: Option<S3Location>,
    /// SHA-256 of the body last read or written: an equal one is not written again. A digest,
    /// not the body: at 1,000 services the body is megabytes the process would keep for good.
    written: Option<[u8; 32]>,
}

impl WarmStore {
    /// `location` is the state location; none keeps nothing.
    pub fn new(location: Option<S3Location>) -> Self {
        Self {
            location,
            written: None,
        }
    }

    fn key(location: &S3Location) -> String {
        location.key("cache/warm.json")
    }

    /// The cache a predecessor left, if any (one GetObject).
    pub async fn load(&mut self, aws: &AwsClients) -> Option<WarmCache> {
        let location = self.location.as_ref()?;
        let out = match aws
            .s3
            .get_object()
            .bucket(&location.bucket)
            .key(Self::key(location))
            .send()
            .await
            .map_err(aws.error("s3:GetObject"))
        {
            Ok(out) => out,
            Err(e) => {
                if !e.is_not_found() {
                    tracing::warn!(error = %e, "warm-start cache not read");
                }
                return None;
            }
        };
        let bytes = out.body.collect().await.ok()?.into_bytes().to_vec();
        let cache: WarmCache = serde_json::from_slice(&bytes).ok()?;
        if cache.version != VERSION {
            return None;
        }
        self.written = Some(Sha256::digest(&bytes).into());
        Some(cache)
    }

    /// Writes `cache` unless it is what was last read or written. `Ok(true)`: written.
    pub async fn save(&mut self, aws: &AwsClients, cache: &WarmCache) -> Result<bool, AwsError> {
        let Some(location) = &self.location else {
            return Ok(false);
        };
        let body = serde_json::to_vec(cache).unwrap_or_default();
        let digest: [u8; 32] = Sha256::digest(&body).into();
        if self.written == Some(digest) {
            return Ok(false);
        }
        aws.s3
            .put_object()
            .bucket(&location.bucket)
            .key(Self::key(location))
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(aws.error("s3:PutObject"))?;
        self.written = Some(digest);
        Ok(true)
    }
}
