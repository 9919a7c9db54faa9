//! Actuators: the only code that changes the world. Each takes a step's output and makes one
//! kind of thing match it.
//!
//! | module | changes |
//! | --- | --- |
//! | [`aws`] | ECS, Cloud Map and Application Auto Scaling, from a [`crate::plan::Plan`] |
//! | [`ingress`] | the ELBv2 target groups and listener rules of `traffic.ingress` (steps of the same plan) |
//! | [`files`] | the Prometheus / Alertmanager / Grafana files in the monitoring directory, plus reloads |
//! | [`grafana`] | dashboards, folders and the datasource through Grafana's HTTP API |
//! | [`schedules`] | the EventBridge Scheduler group and schedules of the manifests' jobs |
//! | [`tasks`] | one-off ECS tasks: the pre-deploy task, stopped at its timeout |
//!
//! The two monitoring actuators share one small trait, [`MonitoringSink`], so a pass treats
//! them alike.

pub mod aws;
pub mod files;
pub mod grafana;
pub mod ingress;
pub mod schedules;
pub mod tasks;
mod tokens;

use futures::future::BoxFuture;

use crate::render::monitoring::MonitoringOutput;
use crate::settings::Settings;

/// What a monitoring sink did in one sync.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SinkReport {
    /// Files written or dashboards upserted.
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// Servers reloaded.
    pub reloaded: Vec<String>,
    pub errors: Vec<String>,
}

/// A destination of the rendered monitoring output.
pub trait MonitoringSink: Send {
    /// For logs: `monitoring files`, `grafana`.
    fn name(&self) -> &'static str;

    /// Brings the destination in line with `output`. `prune` allows removing what belongs to
    /// services that are gone (false while the manifest source is incomplete).
    fn sync<'a>(
        &'a mut self,
        output: &'a MonitoringOutput,
        prune: bool,
    ) -> BoxFuture<'a, SinkReport>;
}

/// The sinks the settings ask for: the monitoring directory, and Grafana's API when a URL and
/// credentials are configured (ECS injects them from Secrets Manager: a service-account token
/// in `ECS_OPERATOR_GRAFANA_TOKEN`, or `ECS_OPERATOR_GRAFANA_USER` and `_PASSWORD`).
///
/// Grafana is called at `grafanaApiUrl` (inside the VPC) when set, else at `grafanaUrl`; with
/// `grafanaCaFile` its certificate may be signed by a private CA. A CA file that cannot be
/// read or parsed is an error: the operator would otherwise run without its dashboards.
pub fn sinks_from_settings(settings: &Settings) -> Result<Vec<Box<dyn MonitoringSink>>, String> {
    let m = &settings.monitoring;
    let mut sinks: Vec<Box<dyn MonitoringSink>> = Vec::new();
    if let Some(url) = m.grafana_api_url.as_ref().or(m.grafana_url.as_ref()) {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let auth = match (
            env("ECS_OPERATOR_GRAFANA_TOKEN"),
            env("ECS_OPERATOR_GRAFANA_USER"),
            env("ECS_OPERATOR_GRAFANA_PASSWORD"),
        ) {
            (Some(token), _, _) => Some(grafana::GrafanaAuth::Token(token)),
            (None, Some(user), Some(password)) => Some(grafana::GrafanaAuth::Basic(user, password)),
            _ => None,
        };
        if let Some(auth) = auth {
            let mut client = grafana::GrafanaClient::new(url, auth, m.prometheus_url.clone());
            if let Some(path) = &m.grafana_ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("monitoring.grafanaCaFile {path}: {e}"))?;
                client = client
                    .trusting_ca(&pem)
                    .map_err(|e| format!("monitoring.grafanaCaFile {path}: {e}"))?;
            }
            sinks.push(Box::new(client));
        }
    }
    if let Some(dir) = &m.config_dir {
        sinks.push(Box::new(files::MonitoringWriter::new(
            dir.into(),
            m.prometheus_url.clone(),
            m.alertmanager_url.clone(),
        )));
    }
    Ok(sinks)
}
