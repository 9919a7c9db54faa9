//! The monitoring settings that decide how alerts leave Alertmanager (`monitoring.smtp`) and
//! how quickly a new task is scraped (`monitoring.discoveryRefresh`,
//! `monitoring.prometheusSdRefresh`), from the files people write.
//!
//! The cases run what `ecs-operator validate --settings FILE PATH` and `render` run (settings
//! loaded from a file, manifests loaded with them, diagnostics printed with `Display`) through
//! the library: the binary in the shared target directory may have been built by another
//! worktree a moment ago.

use std::path::{Path, PathBuf};

use ecs_operator::manifest::{load_paths, ManifestSet, MonitoredService};
use ecs_operator::Settings;

/// Settings without a relay; `monitoring` is appended by the cases.
const SETTINGS: &str = "\
operatorId: smtp-test
cluster: main
network: {subnets: [subnet-a]}
executionRoleArn: arn:aws:iam::123456789012:role/ecs-task-execution
logGroup: /ecs/services
manifestSource: manifests
";

const SMTP: &str = "\
monitoring:
  smtp:
    smarthost: email-smtp.eu-central-1.amazonaws.com:587
    from: alerts@example.com
    authUsername: AKIAEXAMPLE
    authPasswordFile: /etc/alertmanager/secrets/smtp-password
";

/// A manifest whose second receiver (line 14) is an email receiver.
const MANIFEST: &str = "\
apiVersion: ecs-operator.io/v1alpha1
kind: MonitoredService
metadata:
  name: mailer
spec:
  container:
    image: mailer:1
    port: 8080
  notify:
    team: post
    receivers:
      - webhook:
          url: https://hooks.example.com/post
      - email:
          to: post-oncall@example.com
        minSeverity: critical
";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `ecs-operator validate [--settings FILE] PATH`: the settings error, or the loaded set.
fn validate(settings: Option<&Path>, manifest: &Path) -> Result<ManifestSet, String> {
    let settings = settings
        .map(|p| Settings::load(p).map_err(|e| e.to_string()))
        .transpose()?;
    Ok(load_paths(&[manifest.to_path_buf()], settings.as_ref()).unwrap())
}

fn printed(set: &ManifestSet) -> Vec<String> {
    set.diagnostics().map(|d| d.to_string()).collect()
}

#[test]
fn validating_against_settings_without_an_smtp_relay_refuses_an_email_receiver_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let settings = write(dir.path(), "settings.yaml", SETTINGS);
    let manifest = write(dir.path(), "mailer.yaml", MANIFEST);
    let set = validate(Some(&settings), &manifest).unwrap();
    assert!(set.manifests.is_empty());
    assert_eq!(
        printed(&set),
        vec![format!(
            "{}:14:9: spec.notify.receivers[1].email: an email receiver needs an SMTP relay, and the operator settings have none: set monitoring.smtp (smarthost, from) or use another receiver (document 0)",
            manifest.display()
        )]
    );
}

#[test]
fn plain_validation_without_settings_accepts_an_email_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(dir.path(), "mailer.yaml", MANIFEST);
    let set = validate(None, &manifest).unwrap();
    assert_eq!(printed(&set), Vec::<String>::new());
    assert_eq!(set.manifests.len(), 1);
}

#[test]
fn with_an_smtp_relay_the_email_receiver_is_accepted_and_alertmanager_gets_the_relay() {
    let dir = tempfile::tempdir().unwrap();
    let settings = write(dir.path(), "settings.yaml", &format!("{SETTINGS}{SMTP}"));
    let manifest = write(dir.path(), "mailer.yaml", MANIFEST);
    let set = validate(Some(&settings), &manifest).unwrap();
    assert_eq!(printed(&set), Vec::<String>::new());
    let manifests: Vec<&MonitoredService> = set.manifests.iter().map(|m| &m.manifest).collect();
    let settings = Settings::load(&settings).unwrap();
    let files = ecs_operator::render::monitoring::render(&manifests, &settings).files;
    let am = &files["alertmanager/alertmanager.yml"];
    let doc: serde_json::Value = ecs_operator::yaml::from_str(am).unwrap();
    assert_eq!(
        doc["global"],
        serde_json::json!({
            "resolve_timeout": "5m",
            "smtp_smarthost": "email-smtp.eu-central-1.amazonaws.com:587",
            "smtp_from": "alerts@example.com",
            "smtp_auth_username": "AKIAEXAMPLE",
            "smtp_auth_password_file": "/etc/alertmanager/secrets/smtp-password",
            "smtp_require_tls": true,
        })
    );
    let email: Vec<&serde_json::Value> = doc["receivers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("email_configs").is_some())
        .collect();
    assert_eq!(email.len(), 1, "{am}");
    assert_eq!(
        email[0]["email_configs"][0]["to"],
        "post-oncall@example.com"
    );
    assert!(!am.contains("localhost:25"), "{am}");
}

#[test]
fn a_malformed_smtp_relay_is_refused_when_the_settings_load() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(dir.path(), "mailer.yaml", MANIFEST);
    for (from, to, complaint) in [
        (
            "email-smtp.eu-central-1.amazonaws.com:587",
            "email-smtp.eu-central-1.amazonaws.com",
            "monitoring.smtp.smarthost: \"email-smtp.eu-central-1.amazonaws.com\" must be host:port",
        ),
        (
            "from: alerts@example.com",
            "from: alerts",
            "monitoring.smtp.from: \"alerts\" is not an email address",
        ),
        (
            "/etc/alertmanager/secrets/smtp-password",
            "secrets/smtp-password",
            "monitoring.smtp.authPasswordFile: \"secrets/smtp-password\" must be an absolute path",
        ),
        (
            "    authUsername: AKIAEXAMPLE\n",
            "",
            "monitoring.smtp.authPasswordFile: needs authUsername",
        ),
    ] {
        let smtp = SMTP.replace(from, to);
        assert_ne!(smtp, SMTP, "{from}");
        let settings = write(dir.path(), "settings.yaml", &format!("{SETTINGS}{smtp}"));
        let error = validate(Some(&settings), &manifest).unwrap_err();
        assert!(
            error.starts_with(&format!("{}: {complaint}", settings.display())),
            "{complaint}\n{error}"
        );
    }
}

#[test]
fn discovery_refreshes_come_from_the_settings_and_reach_prometheus_yml() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(dir.path(), "mailer.yaml", MANIFEST);
    let refresh_of = |monitoring: &str| -> Result<(Settings, String), String> {
        let path = write(
            dir.path(),
            "settings.yaml",
            &format!("{SETTINGS}monitoring:\n{monitoring}"),
        );
        let settings = Settings::load(&path).map_err(|e| e.to_string())?;
        let set = validate(Some(&path), &manifest)?;
        let manifests: Vec<&MonitoredService> = set.manifests.iter().map(|m| &m.manifest).collect();
        let files = ecs_operator::render::monitoring::render(&manifests, &settings).files;
        let doc: serde_json::Value =
            ecs_operator::yaml::from_str(&files["prometheus/prometheus.yml"]).unwrap();
        let job = doc["scrape_configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job_name"] == "mailer")
            .unwrap()
            .clone();
        Ok((
            settings,
            job["http_sd_configs"][0]["refresh_interval"]
                .as_str()
                .unwrap()
                .to_string(),
        ))
    };
    // Defaults: the operator reads Cloud Map every 10 s, Prometheus asks it every 5 s.
    let (settings, refresh) =
        refresh_of("  smtp: {smarthost: \"relay:25\", from: a@b.example}\n").unwrap();
    assert_eq!(settings.monitoring.discovery_refresh.to_string(), "10s");
    assert_eq!(refresh, "5s");
    let (settings, refresh) = refresh_of(
        "  smtp: {smarthost: \"relay:25\", from: a@b.example}\n  discoveryRefresh: 3s\n  prometheusSdRefresh: 2s\n",
    )
    .unwrap();
    assert_eq!(settings.monitoring.discovery_refresh.to_string(), "3s");
    assert_eq!(refresh, "2s");
    let error = refresh_of("  prometheusSdRefresh: 500ms\n").unwrap_err();
    assert!(
        error.contains("monitoring.prometheusSdRefresh: 500ms is below the minimum of 1s"),
        "{error}"
    );
}

/// The minimal example's shape: team `web`, no receivers of its own.
const NO_RECEIVERS: &str = "\
apiVersion: ecs-operator.io/v1alpha1
kind: MonitoredService
metadata:
  name: quiet
spec:
  container:
    image: quiet:1
  notify:
    team: web
";

const DIRECTORY: &str = "\
monitoring:
  teams:
    web:
      - slack:
          channel: '#web-alerts'
          apiUrlFile: /etc/alertmanager/secrets/slack-web
  fallbackReceivers:
    - webhook:
        url: https://oncall.example.com/unrouted
";

#[test]
fn a_team_without_receivers_is_told_through_the_team_directory_or_the_fallback() {
    use ecs_operator::render::monitoring::alertmanager::receivers_of;
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(dir.path(), "quiet.yaml", NO_RECEIVERS);
    let bare = write(dir.path(), "bare.yaml", SETTINGS);
    let set = validate(Some(&bare), &manifest).unwrap();
    let quiet = &set.manifests[0].manifest;
    // What `validate --settings` warns about and ecs_operator_services_without_receiver counts.
    assert!(receivers_of(quiet, &Settings::load(&bare).unwrap()).is_empty());

    let with_directory = write(dir.path(), "teams.yaml", &format!("{SETTINGS}{DIRECTORY}"));
    let settings = Settings::load(&with_directory).unwrap();
    let to = receivers_of(quiet, &settings);
    assert_eq!(to.len(), 1);
    assert_eq!(to[0].slack.as_ref().unwrap().channel, "#web-alerts");

    let mut other_team = settings.clone();
    other_team.monitoring.teams.clear();
    let to = receivers_of(quiet, &other_team);
    assert_eq!(
        to[0].webhook.as_ref().unwrap().url,
        "https://oncall.example.com/unrouted"
    );
}

#[test]
fn a_team_directory_receiver_naming_two_channels_or_email_without_a_relay_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let two = write(
        dir.path(),
        "two.yaml",
        &format!(
            "{SETTINGS}monitoring:\n  teams:\n    web:\n      - webhook: {{url: https://a.example.com}}\n        sns: {{topicArn: 'arn:aws:sns:eu-central-1:123456789012:t'}}\n"
        ),
    );
    let e = Settings::load(&two).unwrap_err().to_string();
    assert!(
        e.contains("monitoring.teams.web: each receiver names exactly one of"),
        "{e}"
    );
    let mail = write(
        dir.path(),
        "mail.yaml",
        &format!(
            "{SETTINGS}monitoring:\n  fallbackReceivers:\n    - email: {{to: ops@example.com}}\n"
        ),
    );
    let e = Settings::load(&mail).unwrap_err().to_string();
    assert!(
        e.contains("monitoring.fallbackReceivers: an email receiver needs monitoring.smtp"),
        "{e}"
    );
}
