//! Status per manifest: conditions (Ready / Reconciling / Stalled) with reason and message, the
//! last applied spec hash, the last error and the owned resources. Served at `/status` and
//! stored as JSON in S3 under `<stateLocation>status/<name>.json` with conditional writes
//! (`If-None-Match: *` to create, `If-Match: <etag>` to update), only when it changed.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use crate::aws::AwsClients;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: bool,
    pub reason: String,
    pub message: String,
    /// Unix seconds of the last change of `status`.
    pub last_transition: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scalable_target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery_service: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_applied_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default)]
    pub inventory: Inventory,
    /// Validation problems, when the manifest is invalid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<String>,
    /// Live task counts (served, not persisted: they change without any reconcile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<BTreeMap<String, i64>>,
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl ServiceStatus {
    /// Sets a condition, keeping its transition time when the status did not flip.
    pub fn set_condition(
        &mut self,
        kind: &str,
        status: bool,
        reason: &str,
        message: &str,
        previous: Option<&ServiceStatus>,
    ) {
        let last_transition = previous
            .and_then(|p| p.conditions.iter().find(|c| c.kind == kind))
            .filter(|c| c.status == status)
            .map(|c| c.last_transition)
            .unwrap_or_else(unix_now);
        self.conditions.retain(|c| c.kind != kind);
        self.conditions.push(Condition {
            kind: kind.to_string(),
            status,
            reason: reason.to_string(),
            message: message.to_string(),
            last_transition,
        });
        self.conditions.sort_by(|a, b| a.kind.cmp(&b.kind));
    }

    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    fn persisted(&self) -> ServiceStatus {
        ServiceStatus {
            tasks: None,
            ..self.clone()
        }
    }
}

/// The in-memory statuses and their S3 copies.
#[derive(Debug, Default)]
pub struct StatusStore {
    pub statuses: BTreeMap<String, ServiceStatus>,
    /// name -> (ETag, persisted JSON) of what is in S3.
    written: HashMap<String, (String, Vec<u8>)>,
    pub location: Option<(String, String)>,
    pub writes: u64,
}

impl StatusStore {
    pub fn new(location: Option<(String, String)>) -> Self {
        Self {
            location,
            ..Self::default()
        }
    }

    fn key(prefix: &str, name: &str) -> String {
        format!("{prefix}status/{name}.json")
    }

    /// Loads existing records (so transition times and ETags survive a restart).
    pub async fn load(&mut self, aws: &AwsClients) {
        let Some((bucket, prefix)) = self.location.clone() else {
            return;
        };
        let mut pages = aws
            .s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(format!("{prefix}status/"))
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(Ok(page)) = pages.next().await {
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        for key in keys {
            let Ok(out) = aws.s3.get_object().bucket(&bucket).key(&key).send().await else {
                continue;
            };
            let etag = out.e_tag().unwrap_or_default().to_string();
            let Ok(bytes) = out.body.collect().await.map(|b| b.into_bytes().to_vec()) else {
                continue;
            };
            if let Ok(status) = serde_json::from_slice::<ServiceStatus>(&bytes) {
                self.written.insert(status.name.clone(), (etag, bytes));
                self.statuses.insert(status.name.clone(), status);
            }
        }
    }

    /// Writes every status whose persisted form changed. Returns errors as messages.
    pub async fn flush(&mut self, aws: &AwsClients) -> Vec<String> {
        let Some((bucket, prefix)) = self.location.clone() else {
            return Vec::new();
        };
        let mut errors = Vec::new();
        let names: Vec<String> = self.statuses.keys().cloned().collect();
        for name in names {
            let body =
                serde_json::to_vec_pretty(&self.statuses[&name].persisted()).unwrap_or_default();
            if self.written.get(&name).is_some_and(|(_, b)| *b == body) {
                continue;
            }
            let key = Self::key(&prefix, &name);
            let mut request = aws
                .s3
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .content_type("application/json")
                .body(ByteStream::from(body.clone()));
            request = match self.written.get(&name) {
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
                    self.written.remove(&name);
                    if let Ok(out) = aws.s3.head_object().bucket(&bucket).key(&key).send().await {
                        self.written.insert(
                            name.clone(),
                            (out.e_tag().unwrap_or_default().to_string(), Vec::new()),
                        );
                    }
                    errors.push(format!(
                        "status {name}: {}",
                        crate::reconcile::ReconcileError::from_sdk("s3:PutObject", &e)
                    ));
                }
            }
        }
        errors
    }
}
