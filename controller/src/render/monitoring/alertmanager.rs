//! `alertmanager.yml`: a route per team, receivers from the manifests, inhibitions.
//!
//! ```text
//! route (receiver: ecs-operator-drop; group_by [alertname, service])
//! └─ team="pizza"                            one route per team
//!    ├─ [service=~"a|b"]                      only when the team's services notify differently
//!    │  ├─ severity="critical"  group_by [...], group_wait from settings, 1m, 1h
//!    │  │  ├─ receiver pizza-webhook-1a2b3c4d   continue: true   (every receiver whose
//!    │  │  └─ ...                               minSeverity allows critical)
//!    │  ├─ severity="warning"   10s (settings), 5m, 4h
//!    │  └─ severity="info"      1m, 10m, 12h
//! ```
//!
//! Critical alerts are grouped by every label (`group_by: ['...']`): each one is its own
//! group, so a new critical alert (say `FailedOrdersIncident`) is sent after `group_wait`
//! and never waits a `group_interval` behind a group that already notified.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{yaml_file, ServiceCtx, Timing};
use crate::duration::PromDuration;
use crate::manifest::{MonitoredService, Receiver as ManifestReceiver, Severity};
use crate::settings::{Settings, SmtpSettings};

/// Receiver of everything no team route takes: it has no configuration, so it drops.
pub const DROP_RECEIVER: &str = "ecs-operator-drop";

/// Warning alerts wait this long for company before the first notification (default of
/// `settings.monitoring.warningGroupWait`). It was 30 s (Alertmanager's own default): with
/// 15 s scrapes and evaluations that made a warning such as the order surge arrive after
/// 60 s at worst before its condition had even built up. Later alerts of the group still
/// wait `group_interval` (5 m), so 10 s costs little batching.
pub const WARNING_GROUP_WAIT: PromDuration = PromDuration::from_secs(10);

/// (group_wait, group_interval, repeat_interval) per severity; critical's and warning's
/// group_wait come from the settings.
fn timing_of(severity: Severity, timing: &Timing) -> (PromDuration, PromDuration, PromDuration) {
    let m = PromDuration::from_secs;
    match severity {
        Severity::Critical => (timing.critical_group_wait, m(60), m(3600)),
        Severity::Warning => (timing.warning_group_wait, m(300), m(4 * 3600)),
        Severity::Info => (m(60), m(600), m(12 * 3600)),
    }
}

#[derive(Serialize)]
struct Config {
    global: Global,
    route: Route,
    inhibit_rules: Vec<InhibitRule>,
    receivers: Vec<Receiver>,
}

#[derive(Serialize)]
struct Global {
    resolve_timeout: String,
    #[serde(flatten)]
    smtp: Option<Smtp>,
}

/// `settings.monitoring.smtp` as Alertmanager's global SMTP keys (checked with amtool 0.25).
#[derive(Serialize)]
struct Smtp {
    smtp_smarthost: String,
    smtp_from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    smtp_auth_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    smtp_auth_password_file: Option<String>,
    smtp_require_tls: bool,
}

impl Smtp {
    fn from_settings(s: &SmtpSettings) -> Self {
        Self {
            smtp_smarthost: s.smarthost.clone(),
            smtp_from: s.from.clone(),
            smtp_auth_username: s.auth_username.clone(),
            smtp_auth_password_file: s.auth_password_file.clone(),
            smtp_require_tls: s.require_tls,
        }
    }
}

#[derive(Serialize, Default)]
struct Route {
    #[serde(skip_serializing_if = "Option::is_none")]
    receiver: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    matchers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_by: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_wait: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat_interval: Option<String>,
    #[serde(rename = "continue", skip_serializing_if = "std::ops::Not::not")]
    continue_: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
}

#[derive(Serialize)]
struct InhibitRule {
    source_matchers: Vec<String>,
    target_matchers: Vec<String>,
    equal: Vec<String>,
}

#[derive(Serialize, Default)]
struct Receiver {
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    webhook_configs: Vec<WebhookConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    slack_configs: Vec<SlackConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    email_configs: Vec<EmailConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sns_configs: Vec<SnsConfig>,
}

#[derive(Serialize)]
struct WebhookConfig {
    url: String,
    send_resolved: bool,
}

#[derive(Serialize)]
struct SlackConfig {
    api_url_file: String,
    channel: String,
    send_resolved: bool,
    title: String,
    text: String,
}

#[derive(Serialize)]
struct EmailConfig {
    to: String,
    send_resolved: bool,
}

#[derive(Serialize)]
struct SnsConfig {
    topic_arn: String,
    sigv4: Sigv4,
    subject: String,
    send_resolved: bool,
}

#[derive(Serialize)]
struct Sigv4 {
    region: String,
}

const SLACK_TITLE: &str =
    "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} on {{ .CommonLabels.service }}";
/// Each alert's summary, the release it concerns ("running pizza-service:7 (image ...),
/// deployed 12m 3s ago") and its dashboard.
const SLACK_TEXT: &str = "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ with .Annotations.deployment }}running {{ . }}\n{{ end }}{{ .Annotations.dashboard }}\n{{ end }}";
const SNS_SUBJECT: &str =
    "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} on {{ .CommonLabels.service }}";

/// A matcher in Alertmanager's `name="value"` syntax (values escaped like PromQL strings).
fn matcher(name: &str, op: &str, value: &str) -> String {
    format!("{name}{op}{}", super::promql::quote(value))
}

/// A receiver's kind and its configuration, as rendered, plus a stable name derived from its
/// content: the same channel declared by two services of a team is one receiver, and its name
/// does not change when other receivers come and go (Alertmanager's notification log is keyed
/// by receiver name).
fn build_receiver(team: &str, r: &ManifestReceiver, settings: &Settings) -> Option<Receiver> {
    let (kind, identity) = if let Some(w) = &r.webhook {
        ("webhook", w.url.clone())
    } else if let Some(s) = &r.slack {
        ("slack", format!("{}\n{}", s.channel, s.api_url_file))
    } else if let Some(e) = &r.email {
        // No relay, no email: validation against the settings refuses such a manifest; should
        // one get here anyway, its email receiver is left out rather than making Alertmanager
        // reject the whole file ("no global SMTP smarthost set") for every team.
        settings.monitoring.smtp.as_ref()?;
        ("email", e.to.clone())
    } else if let Some(s) = &r.sns {
        ("sns", s.topic_arn.clone())
    } else {
        return None;
    };
    let digest = Sha256::digest(format!("{kind}\n{identity}").as_bytes());
    let mut receiver = Receiver {
        name: format!("{team}-{kind}-{}", hex::encode(&digest[..4])),
        ..Receiver::default()
    };
    if let Some(w) = &r.webhook {
        receiver.webhook_configs.push(WebhookConfig {
            url: w.url.clone(),
            send_resolved: true,
        });
    } else if let Some(s) = &r.slack {
        receiver.slack_configs.push(SlackConfig {
            api_url_file: s.api_url_file.clone(),
            channel: s.channel.clone(),
            send_resolved: true,
            title: SLACK_TITLE.into(),
            text: SLACK_TEXT.into(),
        });
    } else if let Some(e) = &r.email {
        receiver.email_configs.push(EmailConfig {
            to: e.to.clone(),
            send_resolved: true,
        });
    } else if let Some(s) = &r.sns {
        // SNS must be called in the topic's own region, which its ARN names.
        let region = s
            .topic_arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .or_else(|| settings.region.clone())
            .unwrap_or_else(|| "us-east-1".into());
        receiver.sns_configs.push(SnsConfig {
            topic_arn: s.topic_arn.clone(),
            sigv4: Sigv4 { region },
            subject: SNS_SUBJECT.into(),
            send_resolved: true,
        });
    }
    Some(receiver)
}

/// The receivers a service's alerts go to: its manifest's own and its team's (the settings'
/// team directory), or, when there are none, the settings' fallback receivers. Only those
/// Alertmanager can deliver count (an email receiver needs the SMTP relay). Empty: the alerts
/// go nowhere.
pub fn receivers_of<'a>(
    m: &'a MonitoredService,
    settings: &'a Settings,
) -> Vec<&'a ManifestReceiver> {
    let deliverable =
        |r: &&ManifestReceiver| r.email.is_none() || settings.monitoring.smtp.is_some();
    let team = settings.monitoring.teams.get(&m.spec.notify.team);
    let own: Vec<&ManifestReceiver> = (m.spec.notify.receivers.iter())
        .chain(team.into_iter().flatten())
        .filter(deliverable)
        .collect();
    if !own.is_empty() {
        return own;
    }
    (settings.monitoring.fallback_receivers.iter())
        .filter(deliverable)
        .collect()
}

/// Receiver name -> lowest severity it takes, for one service.
type Plan = BTreeMap<String, Severity>;

fn severity_routes(plan: &Plan, timing: &Timing) -> Vec<Route> {
    [Severity::Critical, Severity::Warning, Severity::Info]
        .into_iter()
        .filter_map(|severity| {
            let children: Vec<Route> = plan
                .iter()
                .filter(|(_, min)| **min <= severity)
                .map(|(name, _)| Route {
                    receiver: Some(name.clone()),
                    continue_: true,
                    ..Route::default()
                })
                .collect();
            if children.is_empty() {
                return None;
            }
            let (wait, interval, repeat) = timing_of(severity, timing);
            Some(Route {
                receiver: Some(DROP_RECEIVER.into()),
                matchers: vec![matcher("severity", "=", severity.as_str())],
                group_by: (severity == Severity::Critical).then(|| vec!["...".to_string()]),
                group_wait: Some(wait.to_string()),
                group_interval: Some(interval.to_string()),
                repeat_interval: Some(repeat.to_string()),
                routes: children,
                ..Route::default()
            })
        })
        .collect()
}

pub(crate) fn config(services: &[ServiceCtx], settings: &Settings, timing: &Timing) -> String {
    let mut receivers: BTreeMap<String, Receiver> = BTreeMap::new();
    // team -> plan -> services with that plan
    let mut teams: BTreeMap<&str, BTreeMap<Plan, BTreeSet<&str>>> = BTreeMap::new();
    for svc in services {
        let mut plan = Plan::new();
        for r in receivers_of(svc.m, settings) {
            if let Some(receiver) = build_receiver(svc.team, r, settings) {
                let min = plan.entry(receiver.name.clone()).or_insert(r.min_severity);
                *min = (*min).min(r.min_severity);
                receivers.entry(receiver.name.clone()).or_insert(receiver);
            }
        }
        if !plan.is_empty() {
            teams
                .entry(svc.team)
                .or_default()
                .entry(plan)
                .or_default()
                .insert(svc.name);
        }
    }

    let mut team_routes = Vec::new();
    for (team, plans) in &teams {
        let routes = if plans.len() == 1 {
            let plan = plans.keys().next().expect("one plan");
            severity_routes(plan, timing)
        } else {
            plans
                .iter()
                .map(|(plan, names)| {
                    let names: Vec<&str> = names.iter().copied().collect();
                    let m = if names.len() == 1 {
                        matcher("service", "=", names[0])
                    } else {
                        matcher("service", "=~", &names.join("|"))
                    };
                    Route {
                        matchers: vec![m],
                        routes: severity_routes(plan, timing),
                        ..Route::default()
                    }
                })
                .collect()
        };
        team_routes.push(Route {
            receiver: Some(DROP_RECEIVER.into()),
            matchers: vec![matcher("team", "=", team)],
            routes,
            ..Route::default()
        });
    }

    let (wait, interval, repeat) = timing_of(Severity::Warning, timing);
    let doc = Config {
        global: Global {
            resolve_timeout: "5m".into(),
            smtp: settings.monitoring.smtp.as_ref().map(Smtp::from_settings),
        },
        route: Route {
            receiver: Some(DROP_RECEIVER.into()),
            group_by: Some(vec!["alertname".into(), "service".into()]),
            group_wait: Some(wait.to_string()),
            group_interval: Some(interval.to_string()),
            repeat_interval: Some(repeat.to_string()),
            routes: team_routes,
            ..Route::default()
        },
        inhibit_rules: vec![
            InhibitRule {
                source_matchers: vec![matcher("severity", "=", "critical")],
                target_matchers: vec![matcher("severity", "=", "warning")],
                equal: vec!["service".into()],
            },
            InhibitRule {
                source_matchers: vec![matcher("severity", "=~", "critical|warning")],
                target_matchers: vec![matcher("severity", "=", "info")],
                equal: vec!["service".into()],
            },
        ],
        receivers: std::iter::once(Receiver {
            name: DROP_RECEIVER.into(),
            ..Receiver::default()
        })
        .chain(receivers.into_values())
        .collect(),
    };
    yaml_file(
        "Generated by ecs-operator. Do not edit: the next render overwrites it.",
        &doc,
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::{example, settings};
    use super::*;
    use crate::manifest::{MonitoredService, WebhookReceiver};

    fn am(ms: &[&MonitoredService]) -> serde_json::Value {
        let out = super::super::render(ms, &settings());
        crate::yaml::from_str(&out.files["alertmanager/alertmanager.yml"]).unwrap()
    }

    #[test]
    fn services_of_a_team_with_the_same_receiver_share_one_receiver_and_one_route() {
        let a = example("pizza-service");
        let mut b = example("pizza-service");
        b.metadata.name = "pizza-oven".into();
        let doc = am(&[&a, &b]);
        let receivers: Vec<&str> = doc["receivers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(receivers.len(), 2, "{receivers:?}");
        assert_eq!(receivers[0], DROP_RECEIVER);
        assert!(receivers[1].starts_with("pizza-webhook-"));
        let team = &doc["route"]["routes"][0];
        assert_eq!(team["matchers"][0], "team=\"pizza\"");
        assert_eq!(team["routes"][0]["matchers"][0], "severity=\"critical\"");
        assert_eq!(team["routes"][0]["group_by"], serde_json::json!(["..."]));
        assert_eq!(team["routes"][0]["group_wait"], "10s");
        assert_eq!(team["routes"][1]["group_wait"], "10s");
    }

    #[test]
    fn warning_group_wait_comes_from_the_settings() {
        let a = example("pizza-service");
        let mut s = settings();
        s.monitoring.group_wait = "0s".into();
        s.monitoring.warning_group_wait = "0s".into();
        let text = super::super::render(&[&a], &s).files["alertmanager/alertmanager.yml"].clone();
        let doc: serde_json::Value = crate::yaml::from_str(&text).unwrap();
        let team = &doc["route"]["routes"][0];
        assert_eq!(team["routes"][0]["matchers"][0], "severity=\"critical\"");
        assert_eq!(team["routes"][0]["group_wait"], "0s");
        assert_eq!(team["routes"][1]["matchers"][0], "severity=\"warning\"");
        assert_eq!(team["routes"][1]["group_wait"], "0s");
        assert_eq!(doc["route"]["group_wait"], "0s");
    }

    #[test]
    fn services_of_a_team_that_notify_differently_get_service_routes() {
        let a = example("pizza-service");
        let mut b = example("pizza-service");
        b.metadata.name = "pizza-oven".into();
        b.spec.notify.receivers[0].webhook = Some(WebhookReceiver {
            url: "http://127.0.0.1:9099/alerts/oven".into(),
        });
        let doc = am(&[&b, &a]);
        let team = &doc["route"]["routes"][0];
        let matchers: Vec<&str> = team["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["matchers"][0].as_str().unwrap())
            .collect();
        assert_eq!(matchers.len(), 2);
        assert!(matchers.contains(&"service=\"pizza-oven\""));
        assert!(matchers.contains(&"service=\"pizza-service\""));
        assert_eq!(doc["receivers"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn receiver_names_do_not_change_when_other_receivers_are_added() {
        let a = example("pizza-service");
        let checkout = example("every-field");
        let alone = am(&[&a]);
        let both = am(&[&a, &checkout]);
        let name = |doc: &serde_json::Value| {
            doc["receivers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_string())
                .find(|n| n.starts_with("pizza-"))
                .unwrap()
        };
        assert_eq!(name(&alone), name(&both));
    }

    #[test]
    fn without_an_smtp_relay_email_receivers_are_left_out_and_nothing_names_a_relay() {
        let checkout = example("every-field");
        let mut s = settings();
        s.monitoring.smtp = None;
        let text =
            super::super::render(&[&checkout], &s).files["alertmanager/alertmanager.yml"].clone();
        assert!(!text.contains("email_configs"), "{text}");
        assert!(!text.contains("smtp_"), "{text}");
        // The other receivers of the team are still there.
        assert!(
            text.contains("slack_configs") && text.contains("sns_configs"),
            "{text}"
        );
    }

    #[test]
    fn slack_urls_come_from_a_file_and_sns_signs_for_the_topic_region() {
        let text = super::super::render(&[&example("every-field")], &settings()).files
            ["alertmanager/alertmanager.yml"]
            .clone();
        assert!(text.contains("api_url_file: /etc/alertmanager/secrets/slack-shop"));
        assert!(!text.contains("api_url:"));
        assert!(text.contains("region: eu-central-1"));
    }

    #[test]
    fn a_team_without_receivers_gets_its_team_directory_or_else_the_fallback() {
        let minimal = example("minimal");
        assert!(minimal.spec.notify.receivers.is_empty());
        let webhook = |url: &str| ManifestReceiver {
            webhook: Some(WebhookReceiver { url: url.into() }),
            slack: None,
            email: None,
            sns: None,
            min_severity: Severity::Warning,
        };
        let mut s = settings();
        assert!(
            receivers_of(&minimal, &s).is_empty(),
            "its alerts go nowhere"
        );
        s.monitoring.fallback_receivers = vec![webhook("http://oncall.internal/all")];
        assert_eq!(
            receivers_of(&minimal, &s),
            vec![&webhook("http://oncall.internal/all")]
        );
        s.monitoring
            .teams
            .insert("web".into(), vec![webhook("http://web.internal/alerts")]);
        assert_eq!(
            receivers_of(&minimal, &s),
            vec![&webhook("http://web.internal/alerts")],
            "the team's own receivers, the fallback only for teams with none"
        );
        let out = super::super::render(&[&minimal], &s);
        let doc: serde_json::Value =
            crate::yaml::from_str(&out.files["alertmanager/alertmanager.yml"]).unwrap();
        let team = &doc["route"]["routes"][0];
        assert_eq!(team["matchers"][0], "team=\"web\"");
        let receiver = team["routes"][0]["routes"][0]["receiver"].as_str().unwrap();
        assert!(receiver.starts_with("web-webhook-"), "{doc}");
    }
}
