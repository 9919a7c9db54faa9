//! The `ecs-operator` command line. Library errors become exit codes here and nowhere else.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use ecs_operator::manifest::{self, ManifestSet};
use ecs_operator::render::render_service;
use ecs_operator::settings::Settings;

#[derive(Parser)]
#[command(
    name = "ecs-operator",
    version,
    about = "A Kubernetes-free operator for Amazon ECS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Yaml,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check manifests (files or directories); print every problem with file:line:column.
    Validate {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also check against the platform (allowed clusters, roles, networks).
        #[arg(long, env = "ECS_OPERATOR_SETTINGS")]
        settings: Option<PathBuf>,
    },
    /// Print the JSON Schema of MonitoredService (or of the settings file).
    Schema {
        /// The settings file's schema instead of the manifest's.
        #[arg(long)]
        settings: bool,
    },
    /// Print the complete desired state the operator would create for the manifests.
    Render {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, env = "ECS_OPERATOR_SETTINGS")]
        settings: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "yaml")]
        output: OutputFormat,
        /// Write the monitoring files (Prometheus, Alertmanager, Grafana) into this directory.
        #[arg(long)]
        write: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load_settings(path: Option<&PathBuf>) -> anyhow::Result<Option<Settings>> {
    Ok(match path {
        Some(p) => Some(Settings::load(p)?),
        None => None,
    })
}

fn print_diagnostics(set: &ManifestSet) {
    for d in set.diagnostics() {
        eprintln!("{d}");
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate { paths, settings } => {
            let settings = load_settings(settings.as_ref())?;
            let set = manifest::load_paths(&paths, settings.as_ref())?;
            print_diagnostics(&set);
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
        Command::Schema { settings } => {
            let schema = if settings {
                serde_json::to_value(schemars::schema_for!(Settings))?
            } else {
                manifest::json_schema()
            };
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Render {
            paths,
            settings,
            output,
            write,
        } => {
            let settings =
                load_settings(settings.as_ref())?.unwrap_or_else(Settings::local_defaults);
            let set = manifest::load_paths(&paths, Some(&settings))?;
            print_diagnostics(&set);
            if !set.rejected.is_empty() {
                return Ok(ExitCode::from(1));
            }
            let services: Vec<_> = set
                .manifests
                .iter()
                .map(|m| render_service(&m.manifest, &settings))
                .collect();
            let _ = write; // monitoring files: wired in with the monitoring renderer
            let document = serde_json::json!({
                "services": services,
            });
            match output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&document)?),
                OutputFormat::Yaml => print!(
                    "{}",
                    manifest::yaml::to_string(&document).map_err(anyhow::Error::msg)?
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
