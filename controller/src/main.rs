//! The `ecs-operator` command line. Library errors become exit codes here and nowhere else.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use ecs_operator::aws::{AwsClients, CallCounter, ClientOptions};
use ecs_operator::domain::S3Location;
use ecs_operator::manifest::{self, ManifestSet};
use ecs_operator::plan::{Outcome, Plan};
use ecs_operator::reconcile::rollback::{self, RetryRequest};
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use ecs_operator::render::monitoring::alertmanager::receivers_of;
use ecs_operator::render::render_service;
use ecs_operator::settings::Settings;
use ecs_operator::source::{Source, SourceLocation};
use ecs_operator::status::{unix_now, StatusStore};

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

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum PlanFormat {
    Text,
    Json,
}

/// Flags shared by `plan` and `apply`.
#[derive(clap::Args)]
struct ReconcileArgs {
    /// Settings file (YAML or JSON); see manifests/schema/settings.schema.json.
    #[arg(long, env = "ECS_OPERATOR_SETTINGS")]
    settings: PathBuf,
    /// Manifest source: a directory or s3://bucket/prefix (default: the settings' manifestSource).
    #[arg(long, env = "ECS_OPERATOR_SOURCE")]
    source: Option<String>,
    /// Prune even when the source holds no manifests at all.
    #[arg(long)]
    allow_empty: bool,
    /// At most this many services are deleted per pass (default: the settings' maxPrune).
    #[arg(long)]
    max_prune: Option<usize>,
    /// Services applied concurrently.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Talking to an emulator on loopback (path-style S3, no Cloud Map data- host prefix).
    #[arg(long, env = "ECS_OPERATOR_EMULATOR")]
    emulator: bool,
    #[arg(long, value_enum, default_value = "text")]
    output: PlanFormat,
}

/// Flags of `retry`.
#[derive(clap::Args)]
struct RetryArgs {
    /// The service (manifest name) whose rolled-back spec to deploy again.
    name: String,
    /// Settings file: its stateLocation holds the status records and the request.
    #[arg(long, env = "ECS_OPERATOR_SETTINGS")]
    settings: PathBuf,
    /// Talking to an emulator on loopback (path-style S3).
    #[arg(long, env = "ECS_OPERATOR_EMULATOR")]
    emulator: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Deploy a spec ECS rolled back once more (every replica honours the request).
    Retry(RetryArgs),
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
    /// Show what apply would change. Exit code: 0 in sync, 2 changes pending, 1 error.
    Plan(ReconcileArgs),
    /// Make AWS match the manifests once, and print what was done.
    Apply(ReconcileArgs),
    /// Run the controller: reconcile continuously, serve health, metrics, discovery and status.
    Run(RunArgs),
    /// Exit 0 when the local controller answers /healthz (for container health checks).
    Healthcheck {
        #[arg(long, env = "ECS_OPERATOR_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    reconcile: ReconcileArgs,
    /// Address of the HTTP endpoint.
    #[arg(long, env = "ECS_OPERATOR_LISTEN", default_value = "0.0.0.0:8080")]
    listen: std::net::SocketAddr,
    /// Full resync interval (jittered by +-10%).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    interval: std::time::Duration,
    /// How often the source is checked for changed manifests.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    poll_interval: std::time::Duration,
    /// How often service discovery targets are refreshed from Cloud Map (default: the
    /// settings' monitoring.discoveryRefresh, 10s unless set there).
    #[arg(long, value_parser = parse_duration)]
    sd_refresh: Option<std::time::Duration>,
    /// Leader lease time to live.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    lease_ttl: std::time::Duration,
    /// Act without electing a leader (a single replica).
    #[arg(long)]
    no_leader_election: bool,
    /// Identity in the leader lease (default: hostname and process id).
    #[arg(long, env = "ECS_OPERATOR_HOLDER")]
    holder: Option<String>,
    /// Require `Authorization: Bearer <token>` on /status.
    #[arg(long, env = "ECS_OPERATOR_STATUS_TOKEN")]
    status_token: Option<String>,
    /// Stop after this many reconcile passes.
    #[arg(long)]
    max_passes: Option<u64>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    ecs_operator::duration::PromDuration::parse(text).map(|d| d.std())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One line for people (each error names what failed and why); the chain of
            // causes, SDK detail included, at debug level (RUST_LOG=debug).
            tracing::debug!(error = ?e, "failed");
            eprintln!("error: {e}");
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

/// Human logs on a terminal, JSON otherwise (`LOG_FORMAT=json|text` overrides); level from
/// `RUST_LOG` (default warn for one-shot commands).
fn init_tracing() {
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

async fn reconciler(args: &ReconcileArgs) -> anyhow::Result<(Reconciler, Source)> {
    let settings = Settings::load(&args.settings)?;
    let location =
        SourceLocation::parse(args.source.as_deref().unwrap_or(&settings.manifest_source))?;
    let aws = AwsClients::from_env(ClientOptions {
        region: settings.region.clone(),
        emulator: args.emulator,
        account_arn: Some(settings.execution_role_arn.clone()),
        ..ClientOptions::default()
    })
    .await;
    let options = ReconcileOptions {
        allow_empty: args.allow_empty,
        max_prune: args.max_prune.unwrap_or(settings.max_prune),
        concurrency: args.concurrency,
    };
    Ok((
        Reconciler::new(aws, settings, options),
        Source::new(location),
    ))
}

/// Warns about services whose alerts would reach nobody (a warning: they still deploy).
fn warn_unrouted(set: &ManifestSet, settings: &Settings) {
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

/// The settings' state location as a directory, if set.
fn state_location(settings: &Settings) -> anyhow::Result<Option<S3Location>> {
    Ok((settings.state_location.as_deref())
        .map(S3Location::parse)
        .transpose()?
        .flatten()
        .map(|l| l.as_dir()))
}

/// `ecs-operator retry NAME`: deploy a rolled-back spec once more.
#[tokio::main]
async fn retry(args: RetryArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(&args.settings)?;
    let aws = AwsClients::from_env(ClientOptions {
        region: settings.region.clone(),
        emulator: args.emulator,
        ..ClientOptions::default()
    })
    .await;
    let mut store = StatusStore::new(state_location(&settings)?);
    store.load(&aws).await;
    let Some(held) = store.statuses.get(&args.name).and_then(|s| s.held.clone()) else {
        eprintln!(
            "error: {} is not held: its status record names no rolled-back spec",
            args.name
        );
        return Ok(ExitCode::from(1));
    };
    let request = RetryRequest {
        spec_hash: held.spec_hash.clone(),
        at: unix_now(),
    };
    store
        .request_retry(&aws, &args.name, &request)
        .await
        .map_err(anyhow::Error::msg)?;
    println!(
        "{}: spec {} (rolled back from {}: {}) is deployed again on the next pass",
        args.name, held.spec_hash, held.revision, held.reason
    );
    Ok(ExitCode::SUCCESS)
}

fn print_plan(plan: &Plan) {
    let (mut create, mut update, mut delete, mut in_sync, mut other) = (0, 0, 0, 0, 0);
    for s in &plan.services {
        let label = match &s.outcome {
            Outcome::Create => {
                create += 1;
                "create".to_string()
            }
            Outcome::Update => {
                update += 1;
                "update".to_string()
            }
            Outcome::Delete => {
                delete += 1;
                "delete".to_string()
            }
            Outcome::InSync => {
                in_sync += 1;
                continue;
            }
            Outcome::Conflict(why) => {
                other += 1;
                format!("conflict: {why}")
            }
            Outcome::Suspended => {
                other += 1;
                "suspended".to_string()
            }
            Outcome::Waiting(why) => {
                other += 1;
                format!("waiting: {why}")
            }
            Outcome::Kept(why) => {
                other += 1;
                format!("kept: {why}")
            }
            Outcome::Held(why) => {
                other += 1;
                format!("held: {why}")
            }
        };
        println!("{} (cluster {}): {label}", s.name, s.cluster);
        for c in &s.changes {
            println!("  ~ {}: {} -> {}", c.field, c.from, c.to);
        }
        for step in &s.steps {
            println!(
                "  + {}",
                serde_json::to_value(step)
                    .ok()
                    .and_then(|v| v["step"].as_str().map(str::to_string))
                    .unwrap_or_default()
            );
        }
    }
    for note in &plan.notes {
        println!("note: {note}");
    }
    println!("Plan: {create} to create, {update} to update, {delete} to delete, {in_sync} in sync, {other} other.");
}

#[tokio::main]
async fn run_controller(args: RunArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(&args.reconcile.settings)?;
    let source = SourceLocation::parse(
        args.reconcile
            .source
            .as_deref()
            .unwrap_or(&settings.manifest_source),
    )?;
    let aws = AwsClients::from_env(ClientOptions {
        region: settings.region.clone(),
        emulator: args.reconcile.emulator,
        account_arn: Some(settings.execution_role_arn.clone()),
        ..ClientOptions::default()
    })
    .await;
    let holder = args.holder.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let config = ecs_operator::controller::RunConfig {
        reconcile: ReconcileOptions {
            allow_empty: args.reconcile.allow_empty,
            max_prune: args.reconcile.max_prune.unwrap_or(settings.max_prune),
            concurrency: args.reconcile.concurrency,
        },
        sd_refresh: args
            .sd_refresh
            .unwrap_or(settings.monitoring.discovery_refresh.std()),
        settings,
        source,
        listen: args.listen,
        interval: args.interval,
        poll_interval: args.poll_interval,
        lease_ttl: args.lease_ttl,
        holder,
        leader_election: !args.no_leader_election,
        status_token: args.status_token,
        max_passes: args.max_passes,
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let signal_cancel = cancel.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("stop requested");
        signal_cancel.cancel();
    });
    ecs_operator::controller::run(config, aws, cancel).await?;
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn plan_or_apply(args: ReconcileArgs, apply: bool) -> anyhow::Result<ExitCode> {
    let (reconciler, mut source) = reconciler(&args).await?;
    let fetched = source
        .fetch(Some(&reconciler.aws), &reconciler.settings)
        .await?;
    print_diagnostics(&fetched.set);
    let before = reconciler.aws.calls.snapshot();
    let (mut plan, _observed) = reconciler.plan(&fetched.set, true).await?;
    // The status records (and the holds of rolled-back specs) the controller keeps.
    let mut statuses = StatusStore::new(state_location(&reconciler.settings)?);
    statuses.load(&reconciler.aws).await;
    let rolled_back = rollback::rolled_back(&statuses, &reconciler.aws, &plan, unix_now()).await;
    rollback::hold_rolled_back(&mut plan, &rolled_back);
    let invalid = !fetched.set.rejected.is_empty();
    if !apply {
        if args.output == PlanFormat::Json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            print_plan(&plan);
        }
        return Ok(if invalid {
            ExitCode::from(1)
        } else if plan.has_changes() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        });
    }
    let results = reconciler.apply(&plan).await;
    let calls = CallCounter::since(&before, &reconciler.aws.calls.snapshot());
    // The same status records a controller pass leaves, so a later `run` or `plan` knows.
    let status_errors = statuses
        .record_apply(
            &reconciler.aws,
            &fetched.set,
            &results,
            &rolled_back,
            unix_now(),
        )
        .await;
    for e in &status_errors {
        eprintln!("warning: {e}");
    }
    let totals = CallCounter::totals(&calls, None);
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    if args.output == PlanFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "results": results,
                "notes": plan.notes,
                "calls": {"reads": totals.reads, "writes": totals.writes, "throttled": totals.throttled},
            }))?
        );
    } else {
        print_plan(&plan);
        for r in results.iter().filter(|r| r.error.is_some()) {
            println!(
                "FAILED {}: {}",
                r.name,
                r.error.as_deref().unwrap_or_default()
            );
        }
        println!(
            "Applied: {} service(s) changed, {failed} failed. AWS calls: {} reads, {} writes ({} throttled).",
            results.iter().filter(|r| r.steps_done > 0).count(),
            totals.reads,
            totals.writes,
            totals.throttled
        );
    }
    Ok(if failed > 0 || invalid {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plan(args) => plan_or_apply(args, false),
        Command::Apply(args) => plan_or_apply(args, true),
        Command::Retry(args) => retry(args),
        Command::Run(args) => run_controller(args),
        Command::Healthcheck { listen } => {
            let port = listen.rsplit(':').next().unwrap_or("8080");
            let url = format!("http://127.0.0.1:{port}/healthz");
            let ok = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(async {
                    reqwest::Client::new()
                        .get(&url)
                        .timeout(std::time::Duration::from_secs(3))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                });
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Validate { paths, settings } => {
            let settings = load_settings(settings.as_ref())?;
            let set = manifest::load_paths(&paths, settings.as_ref())?;
            print_diagnostics(&set);
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
            // Platform checks only against a real settings file; without one, render with
            // placeholder platform values.
            let given = load_settings(settings.as_ref())?;
            let set = manifest::load_paths(&paths, given.as_ref())?;
            let settings = given.unwrap_or_else(Settings::local_defaults);
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
            if let Some(dir) = write {
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
            match output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&document)?),
                OutputFormat::Yaml => print!(
                    "{}",
                    ecs_operator::yaml::to_string(&document).map_err(anyhow::Error::msg)?
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
