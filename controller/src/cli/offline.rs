//! Commands that need no AWS: `validate`, `schema`, `render` and `task-policy`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use ecs_operator::domain::is_environment_name;
use ecs_operator::manifest::{self, ManifestSet};
use ecs_operator::render::monitoring::alertmanager::receivers_of;
use ecs_operator::render::render_service;
use ecs_operator::render::task_policy::task_role_policy;
use ecs_operator::settings::Settings;

use super::{load_settings, print_diagnostics};

#[derive(Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Yaml,
    Json,
}

/// Flags of `validate`.
#[derive(clap::Args)]
pub struct ValidateArgs {
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Also check against the platform (allowed clusters, roles, networks).
    #[arg(long, env = "ECS_OPERATOR_SETTINGS")]
    pub settings: Option<PathBuf>,
    /// The environment about to be deployed (`spec.environments.NAME`); default: the settings'
    /// `environment`. Every environment is validated either way; this one's name is checked
    /// and a name no manifest overrides is warned about (a misspelt promotion).
    #[arg(long, value_name = "NAME")]
    pub environment: Option<String>,
}

/// Flags of `render`.
#[derive(clap::Args)]
pub struct RenderArgs {
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[arg(long, env = "ECS_OPERATOR_SETTINGS")]
    pub settings: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "yaml")]
    pub output: OutputFormat,
    /// Write the monitoring files (Prometheus, Alertmanager, Grafana) into this directory.
    #[arg(long)]
    pub write: Option<PathBuf>,
    /// Render with this environment's overrides (`spec.environments.NAME`) merged in; default:
    /// the settings' `environment`, else the base spec.
    #[arg(long, value_name = "NAME")]
    pub environment: Option<String>,
}

/// Flags of `task-policy`.
#[derive(clap::Args)]
pub struct TaskPolicyArgs {
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The operator's settings (region, the default task role, the deployed environment).
    #[arg(long, env = "ECS_OPERATOR_SETTINGS")]
    pub settings: PathBuf,
}

/// Prints, per service, its task role and the least-privilege policy that role needs for
/// what the manifest asks of ECS (EFS mounts with IAM authorisation, ECS Exec): one JSON
/// object by service name, services needing nothing left out.
pub fn task_policy(args: TaskPolicyArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(&args.settings)?;
    let set = manifest::load_paths_in(
        &args.paths,
        Some(&settings),
        settings.environment.as_deref(),
    )?;
    print_diagnostics(&set);
    if !set.rejected.is_empty() {
        return Ok(ExitCode::from(1));
    }
    let mut out = serde_json::Map::new();
    for m in &set.manifests {
        if let Some(p) = task_role_policy(&m.manifest, &settings)? {
            out.insert(
                m.manifest.metadata.name.clone(),
                serde_json::json!({"taskRoleArn": p.role_arn, "policy": p.policy}),
            );
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

/// Warns about services whose alerts would reach nobody (a warning: they still deploy).
pub fn warn_unrouted(set: &ManifestSet, settings: &Settings) {
    for m in &set.manifests {
        if receivers_of(&m.manifest, settings).is_empty() {
            let team = &m.manifest.spec.notify.team;
            let at = m.positions.lookup("spec.notify");
            eprintln!(
                "warning: {}:{}:{}: spec.notify: no receiver for team {team:?}, so this service's alerts reach nobody; add spec.notify.receivers, or monitoring.teams.{team} or monitoring.fallbackReceivers to the settings",
                m.source, at.line, at.column
            );
        }
    }
}

/// The environment a command works for: the flag, else the settings'; refused when it is not
/// a valid environment name.
fn chosen_environment<'a>(
    flag: Option<&'a str>,
    settings: Option<&'a Settings>,
) -> anyhow::Result<Option<&'a str>> {
    let environment = flag.or(settings.and_then(|s| s.environment.as_deref()));
    if let Some(name) = environment.filter(|n| !is_environment_name(n)) {
        anyhow::bail!(
            "--environment {name:?}: lower-case letters, digits and '-', at most 32 characters"
        );
    }
    Ok(environment)
}

/// A misspelt environment would silently deploy the base spec of every manifest.
fn warn_unknown_environment(set: &ManifestSet, environment: Option<&str>) {
    let Some(name) = environment else { return };
    let key = format!("spec.environments.{name}");
    if !set.manifests.is_empty() && !set.manifests.iter().any(|m| m.positions.contains(&key)) {
        eprintln!(
            "warning: no manifest overrides environment {name:?}: every service renders its base spec"
        );
    }
}

pub fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(args.settings.as_ref())?;
    let environment = chosen_environment(args.environment.as_deref(), settings.as_ref())?;
    let set = manifest::load_paths_in(&args.paths, settings.as_ref(), environment)?;
    print_diagnostics(&set);
    warn_unknown_environment(&set, environment);
    if let Some(settings) = &settings {
        warn_unrouted(&set, settings);
    }
    let problems = set.diagnostics().count();
    if set.manifests.is_empty() && set.rejected.is_empty() {
        eprintln!("error: no manifests (*.yaml, *.yml) found under the given paths");
        return Ok(ExitCode::from(1));
    }
    println!(
        "{} valid, {} invalid manifest(s), {} problem(s)",
        set.manifests.len(),
        set.rejected.len(),
        problems
    );
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn schema(settings: bool) -> anyhow::Result<ExitCode> {
    let schema = if settings {
        serde_json::to_value(schemars::schema_for!(Settings))?
    } else {
        manifest::json_schema()
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}

pub fn render(args: RenderArgs) -> anyhow::Result<ExitCode> {
    // Platform checks only against a real settings file; without one, render with
    // placeholder platform values.
    let given = load_settings(args.settings.as_ref())?;
    let environment = chosen_environment(args.environment.as_deref(), given.as_ref())?;
    let set = manifest::load_paths_in(&args.paths, given.as_ref(), environment)?;
    warn_unknown_environment(&set, environment);
    let settings = given.unwrap_or_else(|| Settings {
        ingress: Some(ecs_operator::settings::IngressSettings::placeholder()),
        ..Settings::local_defaults()
    });
    print_diagnostics(&set);
    if !set.rejected.is_empty() {
        return Ok(ExitCode::from(1));
    }
    let services: Vec<_> = set
        .manifests
        .iter()
        .map(|m| render_service(&m.manifest, &settings))
        .collect();
    let manifests: Vec<_> = set.manifests.iter().map(|m| &m.manifest).collect();
    let monitoring = ecs_operator::render::monitoring::render(&manifests, &settings);
    if let Some(dir) = args.write {
        for (relative, content) in &monitoring.files {
            let path = dir.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, content)?;
        }
        eprintln!(
            "wrote {} file(s) under {}",
            monitoring.files.len(),
            dir.display()
        );
    }
    let document = serde_json::json!({
        "services": services,
        "monitoring": monitoring.files,
    });
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&document)?),
        OutputFormat::Yaml => print!(
            "{}",
            ecs_operator::yaml::to_string(&document).map_err(anyhow::Error::msg)?
        ),
    }
    Ok(ExitCode::SUCCESS)
}
