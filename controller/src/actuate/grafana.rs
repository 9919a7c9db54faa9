//! Grafana HTTP API client: ensures the team folders and the Prometheus datasource exist,
//! upserts the rendered dashboards by uid (only when their content changed), and deletes
//! dashboards of services that no longer exist (only when the manifest source is complete).
//!
//! Authentication is a service-account token or a user and password (ECS injects either from
//! Secrets Manager as environment variables). Dashboards carry the `ecs-operator` tag; only
//! tagged dashboards are ever deleted.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{MonitoringSink, SinkReport};
use crate::render::monitoring::MonitoringOutput;

/// The tag every generated dashboard carries.
pub const MANAGED_TAG: &str = "ecs-operator";
/// uid of the Prometheus datasource the operator ensures.
pub const DATASOURCE_UID: &str = "ecs-operator-prometheus";

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct GrafanaReport {
    pub folders_created: Vec<String>,
    pub datasource_created: bool,
    pub upserted: Vec<String>,
    pub deleted: Vec<String>,
    pub errors: Vec<String>,
}

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum GrafanaAuth {
    /// A service-account token (`Authorization: Bearer`).
    Token(String),
    /// Basic authentication (the admin user the bootstrap creates).
    Basic(String, String),
}

pub struct GrafanaClient {
    base: String,
    auth: GrafanaAuth,
    prometheus_url: Option<String>,
    http: reqwest::Client,
    /// uid -> hash of the dashboard last uploaded (or found identical).
    uploaded: HashMap<String, String>,
}

fn content_hash(dashboard: &Value) -> String {
    let mut d = dashboard.clone();
    if let Some(o) = d.as_object_mut() {
        // Grafana assigns these itself.
        o.remove("id");
        o.remove("version");
    }
    hex::encode(Sha256::digest(d.to_string().as_bytes()))
}

/// `grafana/dashboards/<team>/<service>.json` -> (team, dashboard JSON).
fn dashboards(output: &MonitoringOutput) -> Vec<(String, Value)> {
    output
        .files
        .iter()
        .filter_map(|(path, content)| {
            let rest = path.strip_prefix("grafana/dashboards/")?;
            let (team, file) = rest.split_once('/')?;
            file.ends_with(".json").then_some(())?;
            Some((team.to_string(), serde_json::from_str(content).ok()?))
        })
        .collect()
}

pub fn folder_uid(team: &str) -> String {
    format!("ecs-operator-{team}")
}

impl GrafanaClient {
    pub fn new(base: &str, auth: GrafanaAuth, prometheus_url: Option<String>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            auth,
            prometheus_url,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            uploaded: HashMap::new(),
        }
    }

    /// Also trusts the CA certificate(s) in `pem`, for a Grafana whose certificate a private
    /// CA signed (the bootstrap's trial setup uses a self-signed one).
    pub fn trusting_ca(mut self, pem: &[u8]) -> Result<Self, String> {
        let certificates = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("not a PEM certificate: {e}"))?;
        if certificates.is_empty() {
            return Err("no certificate in the file".into());
        }
        let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10));
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
        self.http = builder
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(self)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        request = match &self.auth {
            GrafanaAuth::Token(token) => request.bearer_auth(token),
            GrafanaAuth::Basic(user, password) => request.basic_auth(user, Some(password)),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let value = response.json::<Value>().await.unwrap_or(Value::Null);
        if status >= 500 || status == 401 || status == 403 {
            return Err(format!("{method} {path}: HTTP {status}: {value}"));
        }
        Ok((status, value))
    }

    /// Brings Grafana in line with the rendered dashboards. `prune` allows deleting managed
    /// dashboards whose service is gone.
    pub async fn sync(&mut self, output: &MonitoringOutput, prune: bool) -> GrafanaReport {
        let mut report = GrafanaReport::default();
        let wanted = dashboards(output);
        if let Err(e) = self.ensure_datasource(&mut report).await {
            report.errors.push(e);
        }
        let mut teams: Vec<&String> = wanted.iter().map(|(t, _)| t).collect();
        teams.sort();
        teams.dedup();
        for team in teams {
            if let Err(e) = self.ensure_folder(team, &mut report).await {
                report.errors.push(e);
            }
        }
        for (team, dashboard) in &wanted {
            let uid = dashboard["uid"].as_str().unwrap_or_default().to_string();
            let hash = content_hash(dashboard);
            if self.uploaded.get(&uid) == Some(&hash) {
                continue;
            }
            match self
                .call(
                    reqwest::Method::GET,
                    &format!("/api/dashboards/uid/{uid}"),
                    None,
                )
                .await
            {
                Ok((200, existing))
                    if content_hash(&existing["dashboard"]) == hash
                        && existing["meta"]["folderUid"] == json!(folder_uid(team)) =>
                {
                    self.uploaded.insert(uid, hash);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    report.errors.push(e);
                    continue;
                }
            }
            let body = json!({
                "dashboard": dashboard,
                "folderUid": folder_uid(team),
                "overwrite": true,
                "message": "updated by ecs-operator",
            });
            match self
                .call(reqwest::Method::POST, "/api/dashboards/db", Some(&body))
                .await
            {
                Ok((200, _)) => {
                    self.uploaded.insert(uid.clone(), hash);
                    report.upserted.push(uid);
                }
                Ok((status, value)) => report
                    .errors
                    .push(format!("upserting dashboard {uid}: HTTP {status}: {value}")),
                Err(e) => report.errors.push(e),
            }
        }
        if prune {
            let keep: BTreeMap<String, ()> = wanted
                .iter()
                .filter_map(|(_, d)| Some((d["uid"].as_str()?.to_string(), ())))
                .collect();
            match self
                .call(
                    reqwest::Method::GET,
                    &format!("/api/search?type=dash-db&tag={MANAGED_TAG}&limit=5000"),
                    None,
                )
                .await
            {
                Ok((200, Value::Array(found))) => {
                    for hit in found {
                        let Some(uid) = hit["uid"].as_str() else {
                            continue;
                        };
                        let tagged = hit["tags"]
                            .as_array()
                            .is_some_and(|t| t.iter().any(|x| x == MANAGED_TAG));
                        if keep.contains_key(uid) || !tagged {
                            continue;
                        }
                        match self
                            .call(
                                reqwest::Method::DELETE,
                                &format!("/api/dashboards/uid/{uid}"),
                                None,
                            )
                            .await
                        {
                            Ok((200, _)) | Ok((404, _)) => {
                                self.uploaded.remove(uid);
                                report.deleted.push(uid.to_string());
                            }
                            Ok((status, value)) => report
                                .errors
                                .push(format!("deleting dashboard {uid}: HTTP {status}: {value}")),
                            Err(e) => report.errors.push(e),
                        }
                    }
                }
                Ok((status, value)) => report
                    .errors
                    .push(format!("searching dashboards: HTTP {status}: {value}")),
                Err(e) => report.errors.push(e),
            }
        }
        report
    }

    async fn ensure_folder(&self, team: &str, report: &mut GrafanaReport) -> Result<(), String> {
        let uid = folder_uid(team);
        let (status, _) = self
            .call(reqwest::Method::GET, &format!("/api/folders/{uid}"), None)
            .await?;
        if status == 200 {
            return Ok(());
        }
        let body = json!({"uid": uid, "title": team});
        match self
            .call(reqwest::Method::POST, "/api/folders", Some(&body))
            .await?
        {
            (200, _) | (409, _) => {
                report.folders_created.push(uid);
                Ok(())
            }
            (status, value) => Err(format!("creating folder {uid}: HTTP {status}: {value}")),
        }
    }

    async fn ensure_datasource(&self, report: &mut GrafanaReport) -> Result<(), String> {
        let Some(url) = &self.prometheus_url else {
            return Ok(());
        };
        let (status, _) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/datasources/uid/{DATASOURCE_UID}"),
                None,
            )
            .await?;
        if status == 200 {
            return Ok(());
        }
        let body = json!({
            "uid": DATASOURCE_UID,
            "name": "Prometheus (ecs-operator)",
            "type": "prometheus",
            "access": "proxy",
            "url": url,
            "isDefault": false,
        });
        match self
            .call(reqwest::Method::POST, "/api/datasources", Some(&body))
            .await?
        {
            (200, _) | (409, _) => {
                report.datasource_created = true;
                Ok(())
            }
            (status, value) => Err(format!("creating the datasource: HTTP {status}: {value}")),
        }
    }
}

impl MonitoringSink for GrafanaClient {
    fn name(&self) -> &'static str {
        "grafana"
    }

    fn sync<'a>(
        &'a mut self,
        output: &'a MonitoringOutput,
        prune: bool,
    ) -> futures::future::BoxFuture<'a, SinkReport> {
        Box::pin(async move {
            let report = GrafanaClient::sync(self, output, prune).await;
            SinkReport {
                changed: report.upserted,
                removed: report.deleted,
                reloaded: Vec::new(),
                errors: report.errors,
            }
        })
    }
}
