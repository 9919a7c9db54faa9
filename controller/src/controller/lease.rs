//! Leader election through one S3 object written with conditional requests.
//!
//! Acquire: create with `If-None-Match: *`, or take over an expired lease with
//! `If-Match: <etag>`. Renew: `If-Match` on our own ETag. Any 412 means someone else holds it.
//! The holder acts only while its *local* deadline (last successful renew + TTL - margin) has
//! not passed, so a leader paused past its TTL stops writing the moment it wakes, before it
//! even learns it lost the lease (fencing by ETag does the rest).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use super::http::Shared;
use crate::actuate::aws::Fence;
use crate::aws::{AwsClients, AwsError, ErrorKind};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LeaseRecord {
    pub holder: String,
    /// Unix milliseconds of the last renew.
    pub renewed_at_ms: u64,
    pub ttl_ms: u64,
}

impl LeaseRecord {
    fn expired(&self, now_ms: u64) -> bool {
        now_ms > self.renewed_at_ms.saturating_add(self.ttl_ms)
    }
}

#[derive(Debug, Clone)]
pub struct Lease {
    /// The client lease calls go through (its own: see [`AwsClients::lease_s3`]); the shared
    /// S3 client when unset.
    pub s3: Option<aws_sdk_s3::Client>,
    pub bucket: String,
    pub key: String,
    pub holder: String,
    pub ttl: Duration,
    etag: Option<String>,
    /// Until when we may act, by the monotonic clock.
    deadline: Option<Instant>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Another writer won: the condition of our conditional write did not hold (412), or S3 saw
/// a concurrent conditional write to the same key (409 `ConditionalRequestConflict`).
fn lost_the_race(e: &AwsError) -> bool {
    matches!(e.kind, ErrorKind::PreconditionFailed | ErrorKind::Conflict)
}

impl Lease {
    pub fn new(bucket: &str, key: &str, holder: &str, ttl: Duration) -> Self {
        Self {
            s3: None,
            bucket: bucket.to_string(),
            key: key.to_string(),
            holder: holder.to_string(),
            ttl,
            etag: None,
            deadline: None,
        }
    }

    /// Uses `s3` for every lease call.
    pub fn with_client(mut self, s3: aws_sdk_s3::Client) -> Self {
        self.s3 = Some(s3);
        self
    }

    fn client<'a>(&'a self, aws: &'a AwsClients) -> &'a aws_sdk_s3::Client {
        self.s3.as_ref().unwrap_or(&aws.s3)
    }

    /// Whether this replica may act right now.
    pub fn is_leader(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() < d)
    }

    fn granted(&mut self, etag: Option<String>, started: Instant) {
        self.etag = etag;
        // A margin of a fifth of the TTL covers clock skew between replicas.
        self.deadline = Some(started + self.ttl - self.ttl / 5);
    }

    fn lose(&mut self) {
        self.etag = None;
        self.deadline = None;
    }

    fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&LeaseRecord {
            holder: self.holder.clone(),
            renewed_at_ms: now_ms(),
            ttl_ms: self.ttl.as_millis() as u64,
        })
        .unwrap_or_default()
    }

    /// Acquires or renews; returns whether we are leader afterwards. Errors talking to S3 keep
    /// the current state until the local deadline passes.
    pub async fn tick(&mut self, aws: &AwsClients) -> bool {
        let started = Instant::now();
        if let Some(etag) = self.etag.clone() {
            // Renew our own lease.
            let result = self
                .client(aws)
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .if_match(etag)
                .body(ByteStream::from(self.body()))
                .send()
                .await
                .map_err(aws.error("s3:PutObject"));
            match result {
                Ok(out) => self.granted(out.e_tag().map(str::to_string), started),
                Err(e) if lost_the_race(&e) => {
                    tracing::warn!(holder = %self.holder, "lost the leader lease");
                    self.lose();
                }
                Err(e) => tracing::warn!(error = %e, "could not renew the leader lease; retrying"),
            }
            return self.is_leader();
        }
        // Not holding it: read the current record.
        let current = self
            .client(aws)
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .send()
            .await
            .map_err(aws.error("s3:GetObject"));
        let (record, etag) = match current {
            Ok(out) => {
                let etag = out.e_tag().map(str::to_string);
                let bytes = match out.body.collect().await {
                    Ok(b) => b.into_bytes(),
                    Err(_) => return false,
                };
                (serde_json::from_slice::<LeaseRecord>(&bytes).ok(), etag)
            }
            // No lease yet. S3 answers a missing key with 404 only to a caller allowed to
            // list the bucket; without s3:ListBucket on the prefix it answers 403 (S3 API
            // reference, GetObject, "Permissions"). Either way the conditional create below
            // settles it: it fails with 412 if the object does exist.
            Err(e) if e.is_not_found() || e.kind == ErrorKind::AccessDenied => (None, None),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the leader lease");
                return false;
            }
        };
        let request = self
            .client(aws)
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .body(ByteStream::from(self.body()));
        let request = match (&record, etag) {
            (None, None) => request.if_none_match("*"),
            (Some(r), Some(etag)) if r.expired(now_ms()) || r.holder == self.holder => {
                request.if_match(etag)
            }
            (None, Some(etag)) => request.if_match(etag), // unreadable record: take it over
            _ => return false,                            // held by someone else, not expired
        };
        match request.send().await.map_err(aws.error("s3:PutObject")) {
            Ok(out) => {
                tracing::info!(holder = %self.holder, "acquired the leader lease");
                self.granted(out.e_tag().map(str::to_string), started);
            }
            Err(e) if lost_the_race(&e) => {}
            Err(e) => tracing::warn!(error = %e, "could not acquire the leader lease"),
        }
        self.is_leader()
    }

    /// Gives the lease up (on shutdown) so another replica takes over at once: writes an
    /// already-expired record, conditional on still holding it.
    pub async fn release(&mut self, aws: &AwsClients) {
        let Some(etag) = self.etag.clone() else {
            return;
        };
        let body = serde_json::to_vec(&LeaseRecord {
            holder: String::new(),
            renewed_at_ms: 0,
            ttl_ms: 0,
        })
        .unwrap_or_default();
        let _ = self
            .client(aws)
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .if_match(etag)
            .body(ByteStream::from(body))
            .send()
            .await;
        self.lose();
        tracing::info!(holder = %self.holder, "released the leader lease");
    }
}

/// Keeps the lease: acquires or renews it every third of its TTL (so two renewals can fail
/// before the deadline) until `cancel`, then releases it. Returns the fence every write
/// checks: `true` while this replica leads, always `true` without election.
pub fn keep(
    lease: Option<Lease>,
    aws: &AwsClients,
    shared: Arc<Shared>,
    cancel: tokio_util::sync::CancellationToken,
) -> (Fence, tokio::task::JoinHandle<()>) {
    let period = lease.as_ref().map(|l| l.ttl / 3);
    let lease = Arc::new(Mutex::new(lease));
    let fence: Fence = {
        let lease = lease.clone();
        Arc::new(move || {
            lease
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .is_none_or(|l| l.is_leader())
        })
    };
    let aws = aws.clone();
    let task = tokio::spawn(async move {
        let Some(period) = period else {
            shared.leader.store(true, Ordering::Relaxed);
            shared.metrics.leader.set(1);
            return;
        };
        loop {
            // Tick a copy: while a renewal is in flight the lease stays in place and keeps
            // answering is_leader() by its deadline (taken out, it read as "no election").
            let copy = lease.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let Some(mut current) = copy else { return };
            let leader = current.tick(&aws).await;
            let stopping = cancel.is_cancelled();
            if stopping {
                current.release(&aws).await;
            }
            let leader = leader && !stopping;
            *lease.lock().unwrap_or_else(|e| e.into_inner()) = Some(current);
            shared.leader.store(leader, Ordering::Relaxed);
            shared.metrics.leader.set(i64::from(leader));
            if stopping {
                return;
            }
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(period) => {}
            }
        }
    });
    (fence, task)
}
