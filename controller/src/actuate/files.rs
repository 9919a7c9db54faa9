//! Writes the monitoring configuration for Prometheus, Alertmanager and Grafana (file
//! provisioning) into a directory (an EFS mount in AWS) and asks the servers to reload.
//!
//! Files are written only when their content changed, each atomically (temp file + rename).
//! If a server rejects the reload, the previous files are restored and reloaded, and the error
//! is reported: a bad render never leaves Prometheus without its last good configuration.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::{MonitoringSink, SinkReport};
use crate::render::monitoring::MonitoringOutput;

/// Which server a file belongs to, by its top-level directory.
fn server_of(relative: &str) -> &str {
    relative.split('/').next().unwrap_or("")
}

/// Refuses absolute paths, `..` and the empty path (which named the directory itself, so its
/// temp file landed next to it): nothing may be written outside the directory.
fn safe_join(dir: &Path, relative: &str) -> Option<PathBuf> {
    let rel = Path::new(relative);
    (rel.components().next().is_some()
        && rel.components().all(|c| matches!(c, Component::Normal(_))))
    .then(|| dir.join(rel))
}

fn write_atomically(path: &Path, content: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)
}

/// Files the operator manages (so it may delete them when a service goes away).
fn managed_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for sub in ["prometheus/rules", "grafana/dashboards"] {
        let mut stack = vec![dir.join(sub)];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "yml" || x == "json") {
                    if let Ok(rel) = p.strip_prefix(dir) {
                        found.push(rel.to_string_lossy().replace('\\', "/"));
                    }
                }
            }
        }
    }
    found
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SyncReport {
    pub written: Vec<String>,
    pub removed: Vec<String>,
    pub reloaded: Vec<String>,
    pub errors: Vec<String>,
}

#[derive(Debug)]
pub struct MonitoringWriter {
    pub dir: PathBuf,
    pub prometheus_url: Option<String>,
    pub alertmanager_url: Option<String>,
    http: reqwest::Client,
    /// Servers whose reload failed for a transport reason: retried on the next sync.
    pending_reload: Vec<String>,
}

impl MonitoringWriter {
    pub fn new(
        dir: PathBuf,
        prometheus_url: Option<String>,
        alertmanager_url: Option<String>,
    ) -> Self {
        Self {
            dir,
            prometheus_url,
            alertmanager_url,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            pending_reload: Vec::new(),
        }
    }

    fn url_of(&self, server: &str) -> Option<&str> {
        match server {
            "prometheus" => self.prometheus_url.as_deref(),
            "alertmanager" => self.alertmanager_url.as_deref(),
            _ => None,
        }
    }

    async fn reload(&self, server: &str) -> Result<(), ReloadError> {
        let Some(base) = self.url_of(server) else {
            return Ok(());
        };
        let url = format!("{}/-/reload", base.trim_end_matches('/'));
        match self.http.post(&url).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                Err(ReloadError::Rejected(format!(
                    "{server} rejected the new configuration ({status}): {}",
                    body.trim()
                )))
            }
            Err(e) => Err(ReloadError::Unreachable(format!(
                "{server} unreachable at {url}: {e}"
            ))),
        }
    }

    /// Brings the directory in line with `output` and reloads what changed.
    pub async fn sync(&mut self, output: &MonitoringOutput) -> SyncReport {
        let mut report = SyncReport::default();
        // previous content per changed file (None = did not exist)
        let mut backups: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
        for (relative, content) in &output.files {
            let Some(path) = safe_join(&self.dir, relative) else {
                report.errors.push(format!(
                    "refusing to write {relative:?}: outside the config directory"
                ));
                continue;
            };
            let old = std::fs::read(&path).ok();
            if old.as_deref() == Some(content.as_bytes()) {
                continue;
            }
            if let Err(e) = write_atomically(&path, content.as_bytes()) {
                report
                    .errors
                    .push(format!("writing {}: {e}", path.display()));
                continue;
            }
            backups.insert(relative.clone(), old);
            report.written.push(relative.clone());
        }
        for relative in managed_files(&self.dir) {
            if !output.files.contains_key(&relative) {
                let path = self.dir.join(&relative);
                let old = std::fs::read(&path).ok();
                if std::fs::remove_file(&path).is_ok() {
                    backups.insert(relative.clone(), old);
                    report.removed.push(relative);
                }
            }
        }
        let mut servers: Vec<String> = backups.keys().map(|r| server_of(r).to_string()).collect();
        servers.append(&mut self.pending_reload);
        servers.sort();
        servers.dedup();
        for server in servers {
            match self.reload(&server).await {
                Ok(()) => {
                    if self.url_of(&server).is_some() {
                        report.reloaded.push(server);
                    }
                }
                Err(ReloadError::Unreachable(message)) => {
                    report.errors.push(message);
                    self.pending_reload.push(server);
                }
                Err(ReloadError::Rejected(message)) => {
                    report.errors.push(message);
                    // Put the previous files back and reload them.
                    for (relative, old) in backups.iter().filter(|(r, _)| server_of(r) == server) {
                        let path = self.dir.join(relative);
                        let restored = match old {
                            Some(bytes) => write_atomically(&path, bytes),
                            None => std::fs::remove_file(&path),
                        };
                        if let Err(e) = restored {
                            report
                                .errors
                                .push(format!("restoring {}: {e}", path.display()));
                        }
                    }
                    report.written.retain(|r| server_of(r) != server);
                    report.removed.retain(|r| server_of(r) != server);
                    if let Err(e) = self.reload(&server).await {
                        report.errors.push(format!(
                            "reloading the restored configuration: {}",
                            e.message()
                        ));
                    }
                }
            }
        }
        report
    }
}

enum ReloadError {
    Rejected(String),
    Unreachable(String),
}

impl ReloadError {
    fn message(&self) -> &str {
        match self {
            ReloadError::Rejected(m) | ReloadError::Unreachable(m) => m,
        }
    }
}

impl MonitoringSink for MonitoringWriter {
    fn name(&self) -> &'static str {
        "monitoring files"
    }

    /// Files of removed services are always removed: the writer only sees what the pass kept
    /// (the controller keeps a service's last valid manifest while its source is incomplete).
    fn sync<'a>(
        &'a mut self,
        output: &'a MonitoringOutput,
        _prune: bool,
    ) -> futures::future::BoxFuture<'a, SinkReport> {
        Box::pin(async move {
            let report = MonitoringWriter::sync(self, output).await;
            SinkReport {
                changed: report.written,
                removed: report.removed,
                reloaded: report.reloaded,
                errors: report.errors,
            }
        })
    }
}
