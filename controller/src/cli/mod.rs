//! The commands of `ecs-operator`, one module per group, and what they share. `main.rs`
//! parses the command line and dispatches here; library errors become exit codes here and
//! nowhere else.

pub mod controller;
pub mod offline;
pub mod reconcile;
pub mod rollout;
pub mod run_task;

use std::path::PathBuf;

use ecs_operator::aws::{AwsClients, ClientOptions};
use ecs_operator::domain::S3Location;
use ecs_operator::manifest::ManifestSet;
use ecs_operator::settings::Settings;

pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    ecs_operator::duration::PromDuration::parse(text).map(|d| d.std())
}

pub fn load_settings(path: Option<&PathBuf>) -> anyhow::Result<Option<Settings>> {
    Ok(match path {
        Some(p) => Some(Settings::load(p)?),
        None => None,
    })
}

pub fn print_diagnostics(set: &ManifestSet) {
    for d in set.diagnostics() {
        eprintln!("{d}");
    }
}

/// Human logs on a terminal, JSON otherwise (`LOG_FORMAT=json|text` overrides); level from
/// `RUST_LOG` (default warn for one-shot commands).
pub fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let json = match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok(_) => false,
        Err(_) => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The settings' state location as a directory, if set.
pub fn state_location(settings: &Settings) -> anyhow::Result<Option<S3Location>> {
    Ok((settings.state_location.as_deref())
        .map(S3Location::parse)
        .transpose()?
        .flatten()
        .map(|l| l.as_dir()))
}

/// AWS clients for a one-shot command that acts as a person, not as the operator's role.
pub async fn user_clients(settings: &Settings, emulator: bool) -> AwsClients {
    AwsClients::from_env(ClientOptions {
        region: settings.region.clone(),
        emulator,
        ..ClientOptions::default()
    })
    .await
}
