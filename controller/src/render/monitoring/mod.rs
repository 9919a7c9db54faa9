//! Monitoring outputs rendered from manifests: what turns a deployed service into a watched one.
//!
//! [`render`] is pure (no I/O, no clock) and deterministic: the same manifests and settings give
//! byte-identical files. It writes
//!
//! | path | consumer |
//! | --- | --- |
//! | `prometheus/prometheus.yml` | Prometheus 2.42 and 3.x: one merged config (2.42 has no `scrape_config_files`) |
//! | `prometheus/rules/<service>.rules.yml` | one rule file per service, so one bad service never blocks the others |
//! | `alertmanager/alertmanager.yml` | Alertmanager 0.25: a route per team, receivers, inhibitions |
//! | `grafana/dashboards/<team>/<service>.json` | Grafana, through the file provider below (folder = team) |
//! | `grafana/provisioning/dashboards/ecs-operator.yaml` | Grafana's dashboard file provider |
//!
//! Names are stable across renders (file, group and rule names, labels): Prometheus keeps an
//! alert's `for` state across a reload only when those are unchanged.
//!
//! # Timing defaults and detection latency
//!
//! Every built-in alert's delay from "the problem starts" to "the receiver is called" is the sum
//! of: the scrape that first sees it (up to one scrape interval `s`), the share of the rate
//! window needed for the windowed value to cross the threshold, the rule evaluation that sees it
//! (up to one evaluation interval `e`), the alert's `for`, and Alertmanager's `group_wait` for
//! the alert's severity (critical: `settings.monitoring.groupWait`, 10 s by default; warning:
//! `settings.monitoring.warningGroupWait`, [`alertmanager::WARNING_GROUP_WAIT`] = 10 s by
//! default). The figures next to each constant below are for the defaults `s = e = 15s`.
//! Prometheus -> Alertmanager -> webhook adds about 10 ms (measured).
//!
//! The built-ins' `for` durations are production defaults (constants in [`prometheus`]);
//! `settings.monitoring.builtinAlertFor` replaces them by alert name, e.g. `TargetDown: 5s`.
//! It is empty by default and meant for demos and tests: the local pizza demo
//! (`examples/demo`) runs with 1 s evaluation, `groupWait` and `warningGroupWait` of 0 s and
//! `TargetDown` / `CpuNearLimit` held 5 s, so each scenario ends in seconds, not minutes.
//!
//! The pizza case (`manifests/examples/pizza-service.yaml`, no `for` on its alerts):
//!
//! - `OrdersPaceAnomaly` (warning; pace over a 5 m window above 20,000/h): when the pace jumps
//!   from `p0` to `p1`, the windowed pace crosses 20,000 after `(20,000 - p0) / (p1 - p0) × 5m`.
//!   10,000 -> 20,400/h: 4 m 49 s, so it fires at the first evaluation after the window has
//!   filled with the new pace; worst case 15 + 289 + 15 + 0 + 10 = 5 m 29 s. A 1,000/s spike
//!   crosses after 0.2 s: 15 + 0 + 15 + 10 = 40 s worst (1-2 s with 1 s scrapes and
//!   `group_wait: 0s`, as measured end to end).
//! - `OrdersCountAnomaly` (warning; more than 20,000 in 1 h) and `FailedOrdersIncident`
//!   (critical; at least 500 in 1 h): counted exactly ([`promql::count_over`]), so they fire
//!   at the first evaluation after the scrape that sees the 20,001st / 500th order: time to pile
//!   them up + s + e + group_wait (10 s for both). 500 failures at 1/s: 500 + 15 +
//!   15 + 10 s = 9 m worst. A critical alert is its own Alertmanager group, so it never waits a
//!   `group_interval` behind an earlier notification.

//!
//! # Discovery latency: from a new task to its first scrape
//!
//! ECS registers a new task in the service's Cloud Map service when it starts. From there:
//!
//! | step | at most | default |
//! | --- | --- | --- |
//! | the operator's next Cloud Map read (`settings.monitoring.discoveryRefresh`, `D`; `ecs-operator run --sd-refresh` overrides it) | `D` | 10 s |
//! | Prometheus's next `http_sd_configs` request to the operator (`settings.monitoring.prometheusSdRefresh`, `P`, rendered as `refresh_interval`) | `P` | 5 s |
//! | Prometheus's discovery manager passes new target groups on at most every 5 s | 5 s | 5 s |
//! | its scrape manager applies them at most every 5 s (`scrape/manager.go`, `reloader`) | 5 s | 5 s |
//! | the new target's first scrape: Prometheus spreads targets over the interval, so it waits up to one scrape interval `s` | `s` | 15 s |
//!
//! The defaults are chosen so that `D + P` = 15 s, one default scrape interval: the refreshes
//! the operator controls add no more than one scrape interval to a new task's discovery (the
//! old 15 s + 30 s added three). Worst case to the first scrape: 10 + 5 + 5 + 5 + 15 = 40 s
//! (was 15 + 30 + 10 + 15 = 70 s); on average about half of each term, 20 s. The local demo
//! measures it (`examples/demo`: a replica registered in Cloud Map until Prometheus's
//! `lastScrape` of it). The operator also refreshes at once when the set of scrape targets
//! changes (a new service), so only new tasks of known services wait for `D`.
//!
//! With the events queue (`ecs-operator run --events-queue-url`), `D` is replaced by the
//! ECS task state change event of the new task (seconds): the operator reads that service's
//! instances when the event arrives and otherwise only when a pass saw the service's tasks
//! change, while it rolls out, or at the `monitoring.discoveryFullRefresh` sweep (15 m), so
//! N idle services cost about N / 15 Cloud Map reads a minute instead of 6 N
//! (`controller::discovery`).

pub mod alertmanager;
pub mod grafana;
pub mod prometheus;
pub mod promql;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::domain::BuiltinAlert;
use crate::duration::PromDuration;
use crate::manifest::MonitoredService;
use crate::settings::Settings;

/// The rendered files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonitoringOutput {
    /// Relative path -> content.
    pub files: BTreeMap<String, String>,
}

/// Renders every monitoring file for `manifests`. Manifests are taken in name order whatever
/// order they come in.
pub fn render(manifests: &[&MonitoredService], settings: &Settings) -> MonitoringOutput {
    let mut sorted: Vec<&MonitoredService> = manifests.to_vec();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    sorted.dedup_by(|a, b| a.metadata.name == b.metadata.name);
    let timing = Timing::from_settings(settings);
    let services: Vec<ServiceCtx> = sorted
        .iter()
        .map(|m| ServiceCtx::new(m, settings, &timing))
        .collect();

    let mut files = BTreeMap::new();
    files.insert(
        "prometheus/prometheus.yml".to_string(),
        prometheus::config(&services, settings, &timing),
    );
    for svc in &services {
        files.insert(
            format!("prometheus/rules/{}.rules.yml", svc.name),
            prometheus::rules(svc, &timing),
        );
    }
    files.insert(
        "alertmanager/alertmanager.yml".to_string(),
        alertmanager::config(&services, settings, &timing),
    );
    for svc in &services {
        if svc.m.spec.dashboard.enabled {
            files.insert(
                format!("grafana/dashboards/{}/{}.json", svc.team, svc.name),
                grafana::dashboard(svc),
            );
        }
    }
    files.insert(
        "grafana/provisioning/dashboards/ecs-operator.yaml".to_string(),
        grafana::provisioning(settings),
    );
    MonitoringOutput { files }
}

/// Grafana uid of a service's dashboard: `ecs-<service>`, or a readable prefix plus a hash when
/// the name would not be a valid uid (at most 40 characters of `[A-Za-z0-9_-]`).
pub fn dashboard_uid(service: &str) -> String {
    let safe = !service.is_empty()
        && service
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if safe && service.len() <= 36 {
        return format!("ecs-{service}");
    }
    let digest = Sha256::digest(service.as_bytes());
    let hash = hex::encode(&digest[..4]);
    let prefix: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(27)
        .collect();
    format!("ecs-{prefix}-{hash}")
}

/// Intervals from the settings, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Timing {
    pub scrape: PromDuration,
    pub evaluation: PromDuration,
    pub critical_group_wait: PromDuration,
    pub warning_group_wait: PromDuration,
    /// `settings.monitoring.builtinAlertFor`: replaced `for` of built-in alerts, by name.
    pub builtin_for: BTreeMap<String, PromDuration>,
    /// `settings.monitoring.prometheusSdRefresh`: `refresh_interval` of the `http_sd_configs`.
    pub prometheus_sd_refresh: PromDuration,
}

impl Timing {
    fn from_settings(settings: &Settings) -> Self {
        let m = &settings.monitoring;
        let parse = |text: &str, default: u64| {
            PromDuration::parse(text)
                .ok()
                .filter(|d| d.as_millis() > 0)
                .unwrap_or(PromDuration::from_secs(default))
        };
        Self {
            scrape: parse(&m.default_scrape_interval, 15),
            evaluation: parse(&m.evaluation_interval, 15),
            critical_group_wait: PromDuration::parse(&m.group_wait)
                .unwrap_or(PromDuration::from_secs(10)),
            warning_group_wait: PromDuration::parse(&m.warning_group_wait)
                .unwrap_or(alertmanager::WARNING_GROUP_WAIT),
            builtin_for: m.builtin_alert_for.clone(),
            prometheus_sd_refresh: m.prometheus_sd_refresh,
        }
    }
}

/// Shortest rate window of the built-in alerts, whatever the scrape interval.
///
/// The window is `max(2m, 4 × scrape interval)`: at least four scrapes (eight at 15 s), so one
/// missed scrape never leaves `rate()` with fewer than two samples, and short enough that a 100 %
/// error burst crosses a 5 % threshold after 5 % of it (6 s).
pub const MIN_RATE_WINDOW: PromDuration = PromDuration::from_secs(120);

/// One service with everything derived from it that several outputs need.
pub(crate) struct ServiceCtx<'a> {
    pub m: &'a MonitoredService,
    pub name: &'a str,
    pub team: &'a str,
    /// The job's scrape interval.
    pub scrape: PromDuration,
    /// Rate window of the built-in alerts and dashboard panels.
    pub rate_window: PromDuration,
    /// `<grafanaUrl>/d/<uid>`, or `/d/<uid>` without a Grafana URL; none without a dashboard.
    pub dashboard_url: Option<String>,
    /// Replaced `for` of built-in alerts (settings), by alert name.
    pub builtin_for: &'a BTreeMap<String, PromDuration>,
}

impl<'a> ServiceCtx<'a> {
    fn new(m: &'a MonitoredService, settings: &Settings, timing: &'a Timing) -> Self {
        let scrape = m.spec.metrics.interval.unwrap_or(timing.scrape);
        let rate_window = MIN_RATE_WINDOW.max(PromDuration::from_millis(4 * scrape.as_millis()));
        let dashboard_url = m.spec.dashboard.enabled.then(|| {
            let base = settings
                .monitoring
                .grafana_url
                .as_deref()
                .unwrap_or("")
                .trim_end_matches('/');
            format!("{base}/d/{}", dashboard_uid(&m.metadata.name))
        });
        Self {
            m,
            name: &m.metadata.name,
            team: &m.spec.notify.team,
            scrape,
            rate_window,
            dashboard_url,
            builtin_for: &timing.builtin_for,
        }
    }

    /// The `for` of built-in alert `name`: its default unless the settings replace it.
    pub fn builtin_for(&self, alert: BuiltinAlert, default: PromDuration) -> PromDuration {
        self.builtin_for
            .get(alert.as_str())
            .copied()
            .unwrap_or(default)
    }

    /// The selector every query about the service's own metrics starts from.
    pub fn job(&self, metric: &str) -> promql::Selector {
        promql::Selector::new(metric).eq("job", self.name)
    }

    /// The selector of the operator's metrics about the service.
    pub fn operator(&self, metric: &str) -> promql::Selector {
        promql::Selector::new(metric).eq("service", self.name)
    }
}

/// Writes a YAML document with a header comment.
pub(crate) fn yaml_file<T: serde::Serialize>(header: &str, value: &T) -> String {
    let body = crate::yaml::to_string(value)
        .expect("monitoring documents are plain maps, lists and strings");
    let mut out = String::new();
    for line in header.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    pub(crate) fn example(name: &str) -> MonitoredService {
        let path = format!(
            "{}/../manifests/examples/{name}.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        yaml::from_str(&text).unwrap()
    }

    pub(crate) fn settings() -> Settings {
        let mut s = Settings::local_defaults();
        s.monitoring.grafana_url = Some("https://grafana.example.com".into());
        s.monitoring.alertmanager_url = Some("http://alertmanager.internal:9093".into());
        s.monitoring.service_discovery_url =
            "http://ecs-operator.internal:8080/sd/prometheus".into();
        s
    }

    fn all() -> Vec<MonitoredService> {
        ["pizza-service", "every-field", "minimal"]
            .iter()
            .map(|n| example(n))
            .collect()
    }

    #[test]
    fn rendering_twice_gives_byte_identical_files_whatever_the_input_order() {
        let ms = all();
        let refs: Vec<&MonitoredService> = ms.iter().collect();
        let reversed: Vec<&MonitoredService> = ms.iter().rev().collect();
        let a = render(&refs, &settings());
        let b = render(&refs, &settings());
        let c = render(&reversed, &settings());
        assert_eq!(a, b);
        assert_eq!(a, c);
        let paths: Vec<&str> = a.files.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            vec![
                "alertmanager/alertmanager.yml",
                "grafana/dashboards/pizza/pizza-service.json",
                "grafana/dashboards/shop/checkout.json",
                "grafana/dashboards/web/hello.json",
                "grafana/provisioning/dashboards/ecs-operator.yaml",
                "prometheus/prometheus.yml",
                "prometheus/rules/checkout.rules.yml",
                "prometheus/rules/hello.rules.yml",
                "prometheus/rules/pizza-service.rules.yml",
            ]
        );
    }

    #[test]
    fn a_service_rule_file_does_not_change_when_another_service_is_added_or_removed() {
        let pizza = example("pizza-service");
        let checkout = example("every-field");
        let alone = render(&[&pizza], &settings());
        let both = render(&[&pizza, &checkout], &settings());
        let key = "prometheus/rules/pizza-service.rules.yml";
        assert_eq!(alone.files[key], both.files[key]);
        let key = "grafana/dashboards/pizza/pizza-service.json";
        assert_eq!(alone.files[key], both.files[key]);
    }

    #[test]
    fn dashboard_uids_are_stable_short_and_grafana_safe() {
        assert_eq!(dashboard_uid("pizza-service"), "ecs-pizza-service");
        assert_eq!(
            dashboard_uid("pizza-service"),
            dashboard_uid("pizza-service")
        );
        let long = "a-service-name-that-is-much-longer-than-forty-characters";
        let odd = "weird name/with:chars";
        for name in [long, odd, "x", &"y".repeat(36), &"z".repeat(37), ""] {
            let uid = dashboard_uid(name);
            assert!(uid.len() <= 40, "{uid}");
            assert!(
                uid.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{uid}"
            );
        }
        assert_ne!(dashboard_uid(long), dashboard_uid(&format!("{long}2")));
        assert_ne!(dashboard_uid("a b"), dashboard_uid("a_b"));
    }

    #[test]
    fn the_default_discovery_refreshes_add_up_to_one_default_scrape_interval() {
        let m = crate::settings::MonitoringSettings::default();
        let sum = m.discovery_refresh.as_millis() + m.prometheus_sd_refresh.as_millis();
        let scrape = PromDuration::parse(&m.default_scrape_interval).unwrap();
        assert!(sum <= scrape.as_millis(), "{sum} ms > {scrape}");
        assert_eq!(m.discovery_refresh, PromDuration::from_secs(10));
        assert_eq!(m.prometheus_sd_refresh, PromDuration::from_secs(5));
    }

    #[test]
    fn prometheus_asks_for_targets_as_often_as_the_settings_say() {
        let refresh = |s: &Settings| -> Vec<String> {
            let out = render(&[&example("minimal")], s);
            let doc: serde_json::Value =
                yaml::from_str(&out.files["prometheus/prometheus.yml"]).unwrap();
            doc["scrape_configs"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|j| j["http_sd_configs"].as_array().cloned().unwrap_or_default())
                .map(|sd| sd["refresh_interval"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(refresh(&settings()), vec!["5s"]);
        let mut s = settings();
        s.monitoring.prometheus_sd_refresh = PromDuration::from_secs(7);
        assert_eq!(refresh(&s), vec!["7s"]);
    }

    #[test]
    fn rate_windows_are_at_least_four_scrapes() {
        let mut m = example("minimal");
        let s = settings();
        let t = Timing::from_settings(&s);
        assert_eq!(
            ServiceCtx::new(&m, &s, &t).rate_window,
            PromDuration::from_secs(120)
        );
        m.spec.metrics.interval = Some(PromDuration::from_secs(60));
        assert_eq!(
            ServiceCtx::new(&m, &s, &t).rate_window,
            PromDuration::from_secs(240)
        );
    }
}
