//! Controller settings: the facts about the AWS account the operator runs in.
//!
//! Manifests describe *services*; settings describe the *platform* (cluster, subnets, roles, the
//! Cloud Map namespace, where manifests and status live). The Terraform bootstrap prints exactly
//! this document as its `operator_settings_yaml` output, so a fresh account goes from
//! `terraform apply` to a running operator without hand-copying IDs.

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod ingress;

pub use ingress::IngressSettings;

use crate::domain::{BuiltinAlert, Receiver};
use crate::duration::PromDuration;
use crate::yaml;

/// Everything the operator needs to know about its platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// Names this operator instance; the value of the ownership tag on everything it creates.
    /// Two operators with different ids can share an account without touching each other.
    pub operator_id: String,
    /// The environment this operator deploys (`prod`, `staging`): a manifest's
    /// `spec.environments.<environment>` overrides are merged into its spec before it is
    /// rendered, planned and applied. A manifest without an override for it, or an operator
    /// without `environment`, uses the base spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::domain::ENVIRONMENT_NAME_PATTERN))]
    pub environment: Option<String>,
    /// AWS region (falls back to the standard AWS chain when absent).
    #[serde(default)]
    pub region: Option<String>,
    /// ECS cluster every service lands in unless the manifest names another allowed cluster.
    pub cluster: String,
    /// Extra clusters manifests may choose with `spec.placement.cluster`.
    #[serde(default)]
    pub allowed_clusters: Vec<String>,
    /// Network used when a manifest names none.
    pub network: NetworkSettings,
    /// Named networks a manifest may pick with `spec.placement.network`.
    #[serde(default)]
    pub networks: BTreeMap<String, NetworkSettings>,
    /// The task execution role (pulls images, writes logs, reads secrets).
    pub execution_role_arn: String,
    /// Default task role for services that do not name one.
    #[serde(default)]
    pub task_role_arn: Option<String>,
    /// Task roles a manifest may ask for; anything else is rejected (no privilege escalation
    /// through iam:PassRole).
    #[serde(default)]
    pub allowed_task_role_arns: Vec<String>,
    /// ARN patterns (`*` and `?` as in IAM) of the Secrets Manager secrets and SSM parameters
    /// manifests may reference; the bootstrap grants the task execution role exactly these.
    /// Empty: no secret may be referenced.
    #[serde(default)]
    pub allowed_secret_arns: Vec<String>,
    /// The ECS infrastructure role for load balancers that blue/green, linear and canary
    /// deployments use when a manifest names none (`traffic.loadBalancer.roleArn`). The
    /// operator passes it to ECS (iam:PassRole to ecs.amazonaws.com).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_role_arn: Option<String>,
    /// Other roles manifests may pass to ECS for deployments: infrastructure roles and the
    /// roles of lifecycle hooks. Anything else is rejected, as for task roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_deployment_role_arns: Vec<String>,
    /// Cloud Map private DNS namespace id for service discovery.
    #[serde(default)]
    pub service_discovery_namespace_id: Option<String>,
    /// The namespace's DNS name (e.g. `internal`), used in generated URLs.
    #[serde(default)]
    pub service_discovery_namespace_name: Option<String>,
    /// CloudWatch log group for container logs (awslogs driver).
    pub log_group: String,
    /// Where manifests are read from: `s3://bucket/prefix/`, or a local directory.
    pub manifest_source: String,
    /// Where status records and the leader lease live: `s3://bucket/prefix/`.
    #[serde(default)]
    pub state_location: Option<String>,
    /// How many task definition revisions registered by the operator to keep per family.
    #[serde(default = "default_keep_revisions")]
    pub keep_task_definition_revisions: u32,
    /// At most this many services may be deleted in one pass (a guard against mass pruning).
    #[serde(default = "default_max_prune")]
    pub max_prune: usize,
    /// The monitoring stack the operator feeds.
    #[serde(default)]
    pub monitoring: MonitoringSettings,
    /// The shared HTTPS listener `traffic.ingress` routes from (the bootstrap's ALB). Without
    /// it a manifest with an ingress is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSettings>,
    /// EventBridge Scheduler, for the manifests' `spec.jobs`. Without it a manifest with jobs
    /// is refused when validated against these settings, and no schedule is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<SchedulerSettings>,
}

/// Where and as whom scheduled jobs run (the bootstrap's `scheduler_role_arn` and
/// `scheduler_dead_letter_queue_arn` outputs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchedulerSettings {
    /// The role EventBridge Scheduler assumes to start job tasks: trusts
    /// `scheduler.amazonaws.com`, may `ecs:RunTask` the operator's task definitions in its
    /// clusters and pass their execution and task roles to ECS.
    pub role_arn: String,
    /// The schedule group holding this operator's schedules (created and tagged by the
    /// operator; at most 64 letters, digits, `-`, `_`, `.`). Default
    /// `ecs-operator-<operatorId>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// The SQS queue of undeliverable runs for jobs whose manifest names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_queue_arn: Option<String>,
}

impl SchedulerSettings {
    /// The schedule group's name.
    pub fn group(&self, operator_id: &str) -> String {
        self.group_name
            .clone()
            .unwrap_or_else(|| format!("ecs-operator-{operator_id}"))
    }
}

/// Subnets and security groups for awsvpc tasks.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSettings {
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub assign_public_ip: bool,
}

/// Where generated monitoring configuration goes and how to reach the monitoring services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MonitoringSettings {
    /// Directory (an EFS mount in AWS) where `prometheus.yml`, rule files and
    /// `alertmanager.yml` are written.
    #[serde(default)]
    pub config_dir: Option<String>,
    /// Prometheus base URL, for `POST /-/reload`.
    #[serde(default)]
    pub prometheus_url: Option<String>,
    /// Alertmanager base URL, for `POST /-/reload` and as Prometheus's alerting target.
    #[serde(default)]
    pub alertmanager_url: Option<String>,
    /// Grafana base URL (dashboards are linked from alerts and upserted through its API).
    #[serde(default)]
    pub grafana_url: Option<String>,
    /// Where Prometheus reaches the operator's `/sd/prometheus` endpoint.
    #[serde(default = "default_sd_url")]
    pub service_discovery_url: String,
    /// Scrape interval for jobs whose manifest sets none.
    #[serde(default = "default_scrape_interval")]
    pub default_scrape_interval: String,
    /// Rule evaluation interval written into `prometheus.yml`.
    #[serde(default = "default_evaluation_interval")]
    pub evaluation_interval: String,
    /// Alertmanager `group_wait` for critical routes.
    #[serde(default = "default_group_wait")]
    pub group_wait: String,
    /// Alertmanager `group_wait` for warning routes: how long a new warning waits for company
    /// before its first notification.
    #[serde(default = "default_warning_group_wait")]
    pub warning_group_wait: String,
    /// Replaces the `for` of built-in alerts, by alert name (e.g. `TargetDown: 5s`). Empty in
    /// production: every built-in keeps its documented default (`TargetDown` 1m,
    /// `CpuNearLimit` 2m, ...). Demos and tests shorten them here; unknown names are rejected.
    #[serde(default)]
    pub builtin_alert_for: BTreeMap<String, PromDuration>,
    /// Grafana's API as the operator reaches it (inside the VPC, e.g.
    /// `http://grafana.internal:3000`); `grafanaUrl` stays the address in links people click.
    /// Default: `grafanaUrl`.
    #[serde(default)]
    pub grafana_api_url: Option<String>,
    /// PEM file of the CA that signed Grafana's certificate, for an API URL on HTTPS with a
    /// private or self-signed certificate.
    #[serde(default)]
    pub grafana_ca_file: Option<String>,
    /// The ports Prometheus may reach on services (the security group rule the platform
    /// grants, `service_ports` in the bootstrap). With it, validation rejects a manifest whose
    /// metrics port Prometheus could not scrape.
    #[serde(default)]
    pub scrape_ports: Option<PortRange>,

    // --- Notification delivery and discovery timing (the "Hardening" issue) ----------------
    /// The SMTP relay Alertmanager sends email receivers' mail through. Without it a manifest
    /// with an email receiver is refused when validated against these settings, and no email
    /// receiver is rendered.
    #[serde(default)]
    pub smtp: Option<SmtpSettings>,
    /// The team directory, kept by the platform team: receivers per team (`notify.team` of the
    /// manifests), merged with a manifest's own `notify.receivers`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub teams: BTreeMap<String, Vec<Receiver>>,
    /// Where the alerts of a service with no receiver at all (none in its manifest, none for
    /// its team) go. Without it they go nowhere: `validate --settings` warns, and
    /// `ecs_operator_services_without_receiver` counts them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback_receivers: Vec<Receiver>,
    /// How often the operator reads each scraped service's tasks from Cloud Map (one
    /// DiscoverInstances per service) for its `/sd/prometheus` endpoint. `ecs-operator run
    /// --sd-refresh` overrides it. With `prometheusSdRefresh` it bounds how long a new task
    /// waits for its first scrape: see the module docs of `render::monitoring`.
    #[serde(default = "default_discovery_refresh")]
    pub discovery_refresh: PromDuration,
    /// With the events queue: the longest a scraped service goes without a Cloud Map read.
    /// Between these sweeps a service is read when an ECS task or service event names it,
    /// when a pass saw its tasks change, or while it rolls out; nothing changing costs
    /// N / 15 DiscoverInstances a minute by default. Without the queue every service is read
    /// every `discoveryRefresh`.
    #[serde(default = "default_discovery_full_refresh")]
    pub discovery_full_refresh: PromDuration,
    /// `refresh_interval` of every rendered `http_sd_configs`: how often Prometheus asks the
    /// operator for a service's tasks (a cheap in-memory answer).
    #[serde(default = "default_prometheus_sd_refresh")]
    pub prometheus_sd_refresh: PromDuration,
}

/// Default of `monitoring.discoveryRefresh`: it and the default `prometheusSdRefresh` add up
/// to the default scrape interval (15 s). The larger share goes here because this one costs
/// AWS calls (one per service per refresh) while Prometheus's asks only the operator.
pub const DEFAULT_DISCOVERY_REFRESH: PromDuration = PromDuration::from_secs(10);
/// Default of `monitoring.prometheusSdRefresh`. Prometheus hands discovered targets to its
/// scrape manager at most every 5 s anyway, so a shorter refresh would gain little.
pub const DEFAULT_PROMETHEUS_SD_REFRESH: PromDuration = PromDuration::from_secs(5);

fn default_discovery_refresh() -> PromDuration {
    DEFAULT_DISCOVERY_REFRESH
}
fn default_discovery_full_refresh() -> PromDuration {
    PromDuration::from_secs(15 * 60)
}
fn default_prometheus_sd_refresh() -> PromDuration {
    DEFAULT_PROMETHEUS_SD_REFRESH
}

/// Alertmanager's SMTP relay: rendered as the `smtp_*` keys of `alertmanager.yml`'s `global`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmtpSettings {
    /// `host:port` of the relay, e.g. `email-smtp.eu-central-1.amazonaws.com:587`.
    pub smarthost: String,
    /// The From address of every notification.
    pub from: String,
    /// User name for SMTP AUTH; without it Alertmanager does not authenticate.
    #[serde(default)]
    pub auth_username: Option<String>,
    /// Path, inside the Alertmanager container, of a file holding the SMTP password
    /// (`smtp_auth_password_file`, read by Alertmanager 0.25+ when it sends). The password
    /// itself never appears in the settings or in the generated files.
    #[serde(default)]
    pub auth_password_file: Option<String>,
    /// Refuse to send unless the relay offers STARTTLS (`smtp_require_tls`).
    #[serde(default = "default_require_tls")]
    pub require_tls: bool,
}

fn default_require_tls() -> bool {
    true
}

impl SmtpSettings {
    /// The checks `Settings::check` runs on `monitoring.smtp`.
    fn check(&self) -> Result<(), String> {
        let port_ok = self.smarthost.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !port_ok {
            return Err(format!(
                "monitoring.smtp.smarthost: {:?} must be host:port, e.g. email-smtp.eu-central-1.amazonaws.com:587",
                self.smarthost
            ));
        }
        let from_ok = self
            .from
            .rsplit_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
            && !self.from.contains(char::is_whitespace);
        if !from_ok {
            return Err(format!(
                "monitoring.smtp.from: {:?} is not an email address",
                self.from
            ));
        }
        if let Some(file) = &self.auth_password_file {
            if !file.starts_with('/') || file.split('/').any(|part| part == "..") {
                return Err(format!(
                    "monitoring.smtp.authPasswordFile: {file:?} must be an absolute path inside the Alertmanager container"
                ));
            }
            if self.auth_username.is_none() {
                return Err(
                    "monitoring.smtp.authPasswordFile: needs authUsername (Alertmanager only authenticates with a user name)".into(),
                );
            }
        }
        Ok(())
    }
}

/// An inclusive range of TCP ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

impl PortRange {
    pub fn contains(&self, port: u16) -> bool {
        (self.from..=self.to).contains(&port)
    }
}

impl Default for MonitoringSettings {
    fn default() -> Self {
        Self {
            config_dir: None,
            prometheus_url: None,
            alertmanager_url: None,
            grafana_url: None,
            service_discovery_url: default_sd_url(),
            default_scrape_interval: default_scrape_interval(),
            evaluation_interval: default_evaluation_interval(),
            group_wait: default_group_wait(),
            warning_group_wait: default_warning_group_wait(),
            builtin_alert_for: BTreeMap::new(),
            grafana_api_url: None,
            grafana_ca_file: None,
            scrape_ports: None,
            smtp: None,
            teams: BTreeMap::new(),
            fallback_receivers: Vec::new(),
            discovery_refresh: DEFAULT_DISCOVERY_REFRESH,
            discovery_full_refresh: default_discovery_full_refresh(),
            prometheus_sd_refresh: DEFAULT_PROMETHEUS_SD_REFRESH,
        }
    }
}

fn default_keep_revisions() -> u32 {
    5
}
fn default_max_prune() -> usize {
    3
}
fn default_sd_url() -> String {
    "http://127.0.0.1:9090/sd/prometheus".to_string()
}
fn default_scrape_interval() -> String {
    "15s".to_string()
}
fn default_evaluation_interval() -> String {
    "15s".to_string()
}
fn default_group_wait() -> String {
    "10s".to_string()
}
fn default_warning_group_wait() -> String {
    "10s".to_string()
}

/// A settings file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{path}: cannot read settings: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Settings {
    /// Reads and checks a settings file (YAML or JSON).
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let display = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| SettingsError::Read {
            path: display.clone(),
            source,
        })?;
        // The same encoding rules as manifests: a leading UTF-8 byte-order mark is dropped.
        let text = String::from_utf8(yaml::strip_utf8_bom(&bytes).to_vec()).map_err(|_| {
            SettingsError::Invalid {
                path: display.clone(),
                message: match yaml::utf16_encoding(&bytes) {
                    Some(encoding) => {
                        format!("file is UTF-16 ({encoding}), not UTF-8: save it as UTF-8")
                    }
                    None => "file is not UTF-8".into(),
                },
            }
        })?;
        let settings: Settings = yaml::from_str(&text).map_err(|e| SettingsError::Invalid {
            path: display.clone(),
            message: e.to_string(),
        })?;
        settings.check().map_err(|message| SettingsError::Invalid {
            path: display,
            message,
        })?;
        Ok(settings)
    }

    /// Settings for local use against an emulator: every id is a recognisable placeholder.
    pub fn local_defaults() -> Self {
        Settings {
            operator_id: "local".into(),
            environment: None,
            region: Some("us-east-1".into()),
            cluster: "default".into(),
            allowed_clusters: vec![],
            network: NetworkSettings {
                subnets: vec!["subnet-local-a".into()],
                security_groups: vec!["sg-local".into()],
                assign_public_ip: false,
            },
            networks: BTreeMap::new(),
            execution_role_arn: "arn:aws:iam::123456789012:role/ecs-task-execution".into(),
            task_role_arn: None,
            allowed_task_role_arns: vec![],
            deployment_role_arn: None,
            allowed_deployment_role_arns: vec![],
            allowed_secret_arns: vec![
                "arn:aws:secretsmanager:*:123456789012:secret:*".into(),
                "arn:aws:ssm:*:123456789012:parameter/*".into(),
            ],
            service_discovery_namespace_id: None,
            service_discovery_namespace_name: Some("internal".into()),
            log_group: "/ecs/services".into(),
            manifest_source: "manifests/examples".into(),
            state_location: None,
            keep_task_definition_revisions: default_keep_revisions(),
            max_prune: default_max_prune(),
            monitoring: MonitoringSettings {
                // A local relay as a recognisable placeholder, so `render` without a settings
                // file still shows what an email receiver becomes.
                smtp: Some(SmtpSettings {
                    smarthost: "localhost:25".into(),
                    from: "alertmanager@local.ecs-operator.invalid".into(),
                    auth_username: None,
                    auth_password_file: None,
                    require_tls: false,
                }),
                ..MonitoringSettings::default()
            },
            scheduler: None,
            ingress: None,
        }
    }

    /// Internal consistency checks that the type system cannot express.
    pub fn check(&self) -> Result<(), String> {
        if self.operator_id.is_empty()
            || self.operator_id.len() > 64
            || !self
                .operator_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "operatorId: {:?} must be 1-64 characters of [A-Za-z0-9_-]",
                self.operator_id
            ));
        }
        if let Some(environment) = &self.environment {
            if !crate::domain::is_environment_name(environment) {
                return Err(format!(
                    "environment: {environment:?} must be lower-case letters, digits and '-', at most {} characters",
                    crate::domain::MAX_ENVIRONMENT_LEN
                ));
            }
        }
        if self.cluster.is_empty() {
            return Err("cluster: must not be empty".into());
        }
        if self.network.subnets.is_empty() {
            return Err("network.subnets: at least one subnet is required".into());
        }
        for name in self.monitoring.builtin_alert_for.keys() {
            if name.parse::<BuiltinAlert>().is_err() {
                return Err(format!(
                    "monitoring.builtinAlertFor.{name}: not a built-in alert (one of {})",
                    BuiltinAlert::names()
                ));
            }
        }
        if let Some(ports) = self.monitoring.scrape_ports {
            if ports.from == 0 || ports.from > ports.to {
                return Err(format!(
                    "monitoring.scrapePorts: {}-{} is not a port range",
                    ports.from, ports.to
                ));
            }
        }
        if let Some(smtp) = &self.monitoring.smtp {
            smtp.check()?;
        }
        if let Some(scheduler) = &self.scheduler {
            let group = scheduler.group(&self.operator_id);
            if !crate::domain::is_schedule_name(&group) {
                return Err(format!(
                    "scheduler.groupName: {group:?} must be 1-64 letters, digits, '-', '_' or '.'"
                ));
            }
            if !scheduler.role_arn.starts_with("arn:") || !scheduler.role_arn.contains(":role/") {
                return Err(format!(
                    "scheduler.roleArn: {:?} is not an IAM role ARN",
                    scheduler.role_arn
                ));
            }
        }
        let directory = (self.monitoring.teams.iter())
            .flat_map(|(team, list)| list.iter().map(move |r| (format!("teams.{team}"), r)));
        let fallback = (self.monitoring.fallback_receivers.iter())
            .map(|r| ("fallbackReceivers".to_string(), r));
        for (at, receiver) in directory.chain(fallback) {
            let channels = [
                receiver.webhook.is_some(),
                receiver.slack.is_some(),
                receiver.email.is_some(),
                receiver.sns.is_some(),
            ];
            if channels.iter().filter(|set| **set).count() != 1 {
                return Err(format!(
                    "monitoring.{at}: each receiver names exactly one of webhook, slack, email, sns"
                ));
            }
            if receiver.email.is_some() && self.monitoring.smtp.is_none() {
                return Err(format!(
                    "monitoring.{at}: an email receiver needs monitoring.smtp (the relay Alertmanager sends through)"
                ));
            }
        }
        for (name, refresh) in [
            ("discoveryRefresh", self.monitoring.discovery_refresh),
            ("prometheusSdRefresh", self.monitoring.prometheus_sd_refresh),
        ] {
            // Below a second the refresh loops would hammer Cloud Map and the operator for no
            // gain: Prometheus passes new targets on at most every 5 s.
            if refresh < PromDuration::from_secs(1) {
                return Err(format!(
                    "monitoring.{name}: {refresh} is below the minimum of 1s"
                ));
            }
        }
        if let Some(ingress) = &self.ingress {
            ingress.check()?;
        }
        for (name, net) in &self.networks {
            if net.subnets.is_empty() {
                return Err(format!(
                    "networks.{name}.subnets: at least one subnet is required"
                ));
            }
        }
        Ok(())
    }

    /// Every cluster a manifest may place a service in.
    pub fn permitted_clusters(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.cluster.as_str())
            .chain(self.allowed_clusters.iter().map(String::as_str))
    }

    /// Whether a manifest may reference this secret or parameter ARN.
    pub fn permits_secret(&self, arn: &str) -> bool {
        self.allowed_secret_arns
            .iter()
            .any(|pattern| crate::domain::arn_like(pattern, arn))
    }

    /// Every role a manifest may pass to ECS for its deployments.
    pub fn permitted_deployment_roles(&self) -> impl Iterator<Item = &str> {
        self.deployment_role_arn
            .iter()
            .chain(self.allowed_deployment_role_arns.iter())
            .map(String::as_str)
    }

    /// Every task role a manifest may ask for.
    pub fn permitted_task_roles(&self) -> impl Iterator<Item = &str> {
        self.task_role_arn
            .iter()
            .chain(self.allowed_task_role_arns.iter())
            .map(String::as_str)
    }
}
