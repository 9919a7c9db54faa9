//! The S3 copies of the status records: `<stateLocation>status/<name>.json`, written with
//! conditional requests (`If-None-Match: *` to create, `If-Match: <etag>` to update), only
//! when their persisted form changed.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_s3::primitives::ByteStream;

use super::warm::CachedRecord;
use super::{HeldRollout, PreDeployRun, RetryRequest};
use super::{ServiceStatus, StopReasons};
use crate::actuate::aws::ServiceResult;
use crate::aws::AwsClients;
use crate::domain::S3Location;
use crate::manifest::ManifestSet;

/// The in-memory statuses and their S3 copies.
#[derive(Debug, Default)]
pub struct StatusStore {
    /// What [`Self::flush`] writes. The controller keeps its statuses in its own memory and
    /// flushes them with [`Self::flush_from`] (one copy of every record, not two).
    pub statuses: BTreeMap<String, ServiceStatus>,
    /// name -> (ETag, persisted JSON) of what is in S3.
    written: HashMap<String, (String, Vec<u8>)>,
    pub location: Option<S3Location>,
    pub writes: u64,
}

impl StatusStore {
    /// `location` is the state location (`s3://bucket/prefix/`); none keeps statuses in memory.
    pub fn new(location: Option<S3Location>) -> Self {
        Self {
            location,
            ..Self::default()
        }
    }

    fn key(location: &S3Location, name: &str) -> String {
        location.key(&format!("status/{name}.json"))
    }

    /// Loads existing records (so transition times and ETags survive a restart).
    pub async fn load(&mut self, aws: &AwsClients) {
        self.load_known(aws, BTreeMap::new()).await
    }

    /// Like [`load`](Self::load), reading only the records `known` (from the warm-start
    /// cache) does not hold with the ETag S3 lists: one listing instead of one GetObject per
    /// service.
    pub async fn load_known(&mut self, aws: &AwsClients, known: BTreeMap<String, CachedRecord>) {
        let Some(location) = self.location.clone() else {
            return;
        };
        let bucket = &location.bucket;
        let mut pages = aws
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(location.key("status/"))
            .into_paginator()
            .send();
        let mut listed = Vec::new();
        while let Some(Ok(page)) = pages.next().await {
            listed.extend(page.contents().iter().filter_map(|o| {
                Some((
                    o.key()?.to_string(),
                    o.e_tag().unwrap_or_default().to_string(),
                ))
            }));
        }
        let prefix = location.key("status/");
        for (key, etag) in listed {
            let name = (key.strip_prefix(&prefix)).and_then(|k| k.strip_suffix(".json"));
            let cached = name
                .and_then(|name| known.get(name))
                .filter(|record| !etag.is_empty() && record.etag == etag);
            let (etag, bytes) = match cached {
                Some(record) => (etag, record.body.clone().into_bytes()),
                _ => {
                    let Ok(out) = aws.s3.get_object().bucket(bucket).key(&key).send().await else {
                        continue;
                    };
                    let etag = out.e_tag().unwrap_or_default().to_string();
                    let Ok(bytes) = out.body.collect().await.map(|b| b.into_bytes().to_vec())
                    else {
                        continue;
                    };
                    (etag, bytes)
                }
            };
            if let Ok(status) = serde_json::from_slice::<ServiceStatus>(&bytes) {
                self.written.insert(status.name.clone(), (etag, bytes));
                self.statuses.insert(status.name.clone(), status);
            }
        }
    }

    /// The records as last read or written, for the warm-start cache.
    pub fn export(&self) -> BTreeMap<String, CachedRecord> {
        (self.written.iter())
            .filter_map(|(name, (etag, body))| {
                let body = String::from_utf8(body.clone()).ok()?;
                let record = CachedRecord {
                    etag: etag.clone(),
                    body,
                };
                Some((name.clone(), record))
            })
            .collect()
    }

    /// Reads one service's record (one GetObject), for commands about one service: `None`
    /// without a state location or record.
    pub async fn load_one(
        &self,
        aws: &AwsClients,
        name: &str,
    ) -> Result<Option<ServiceStatus>, crate::aws::AwsError> {
        let Some(location) = &self.location else {
            return Ok(None);
        };
        let out = match aws
            .s3
            .get_object()
            .bucket(&location.bucket)
            .key(Self::key(location, name))
            .send()
            .await
            .map_err(aws.error("s3:GetObject"))
        {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map(|b| b.into_bytes().to_vec())
            .unwrap_or_default();
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// Writes every status whose persisted form changed. Returns errors as messages.
    pub async fn flush(&mut self, aws: &AwsClients) -> Vec<String> {
        let statuses = std::mem::take(&mut self.statuses);
        let errors = self.flush_from(aws, &statuses).await;
        self.statuses = statuses;
        errors
    }

    /// [`Self::flush`] of statuses kept elsewhere (the controller's, shared with `/status`).
    pub async fn flush_from(
        &mut self,
        aws: &AwsClients,
        statuses: &BTreeMap<String, ServiceStatus>,
    ) -> Vec<String> {
        let Some(location) = self.location.clone() else {
            return Vec::new();
        };
        let bucket = &location.bucket;
        let mut errors = Vec::new();
        for (name, status) in statuses {
            let body = serde_json::to_vec_pretty(&status.persisted()).unwrap_or_default();
            if self.written.get(name).is_some_and(|(_, b)| *b == body) {
                continue;
            }
            let key = Self::key(&location, name);
            let mut request = aws
                .s3
                .put_object()
                .bucket(bucket)
                .key(&key)
                .content_type("application/json")
                .body(ByteStream::from(body.clone()));
            request = match self.written.get(name) {
                Some((etag, _)) => request.if_match(etag),
                None => request.if_none_match("*"),
            };
            match request.send().await {
                Ok(out) => {
                    self.writes += 1;
                    self.written.insert(
                        name.clone(),
                        (out.e_tag().unwrap_or_default().to_string(), body),
                    );
                }
                Err(e) => {
                    // Another writer changed it: forget our ETag; the next flush re-reads.
                    self.written.remove(name);
                    if let Ok(out) = aws.s3.head_object().bucket(bucket).key(&key).send().await {
                        self.written.insert(
                            name.clone(),
                            (out.e_tag().unwrap_or_default().to_string(), Vec::new()),
                        );
                    }
                    errors.push(format!("status {name}: {}", aws.error("s3:PutObject")(e)));
                }
            }
        }
        errors
    }

    /// What `ecs-operator apply` leaves behind: the records a controller pass would write for
    /// these results, derived on top of the records [`Self::load`] read before the plan (so a
    /// later `run` or `plan` knows what was applied, and transition times carry on). Stopped
    /// tasks are not read by a one-shot apply, so no stop reasons are added. Returns errors as
    /// messages. The pre-deploy runs of the plan are recorded too (`reconcile::predeploy`).
    pub async fn record_apply(
        &mut self,
        aws: &AwsClients,
        set: &ManifestSet,
        results: &[ServiceResult],
        held: &BTreeMap<String, HeldRollout>,
        pre_deploy: (&crate::plan::Plan, &BTreeMap<String, PreDeployRun>),
        now: u64,
    ) -> Vec<String> {
        if self.location.is_none() {
            return Vec::new();
        }
        let previous = std::mem::take(&mut self.statuses);
        self.statuses = super::derive(
            &previous,
            set,
            results,
            &StopReasons::default(),
            held,
            &BTreeMap::new(),
            now,
        );
        let (plan, runs) = pre_deploy;
        super::predeploy::record(&mut self.statuses, runs, plan, &previous, now);
        self.flush(aws).await
    }

    /// The `ecs-operator retry` requests of the services `statuses` hold a rolled-back spec
    /// for: one GetObject each, none while no hold stands. A missing or unreadable request
    /// is no request.
    pub async fn retries(
        &self,
        aws: &AwsClients,
        statuses: &BTreeMap<String, ServiceStatus>,
    ) -> BTreeMap<String, RetryRequest> {
        let names = statuses
            .iter()
            .filter(|(_, s)| s.held.is_some())
            .map(|(name, _)| name);
        let mut found = BTreeMap::new();
        let Some(location) = &self.location else {
            return found;
        };
        for name in names {
            let key = location.key(&format!("retry/{name}.json"));
            let Ok(out) = aws
                .s3
                .get_object()
                .bucket(&location.bucket)
                .key(&key)
                .send()
                .await
            else {
                continue;
            };
            if let Ok(bytes) = out.body.collect().await.map(|b| b.into_bytes()) {
                if let Ok(request) = serde_json::from_slice::<RetryRequest>(&bytes) {
                    found.insert(name.to_string(), request);
                }
            }
        }
        found
    }

    /// Asks every replica to deploy `name`'s held spec once more (`ecs-operator retry`).
    pub async fn request_retry(
        &self,
        aws: &AwsClients,
        name: &str,
        request: &RetryRequest,
    ) -> Result<(), String> {
        let Some(location) = &self.location else {
            return Err("settings.stateLocation is not set: there are no holds to retry".into());
        };
        let key = location.key(&format!("retry/{name}.json"));
        aws.s3
            .put_object()
            .bucket(&location.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(
                serde_json::to_vec(request).unwrap_or_default(),
            ))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws.error("s3:PutObject")(e).to_string())
    }
}
