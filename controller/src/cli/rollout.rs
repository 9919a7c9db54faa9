//! Rollout commands: `rollout status`, `rollback` and `retry`.

use std::path::PathBuf;
use std::process::ExitCode;

use aws_sdk_ecs::primitives::DateTime;
use aws_smithy_types::date_time::Format;

use ecs_operator::aws::AwsClients;
use ecs_operator::domain::tags;
use ecs_operator::observe::ecs::describe_task_definition;
use ecs_operator::observe::{DeploymentStatus, ObservedService, RolloutState};
use ecs_operator::reconcile::rollback::RetryRequest;
use ecs_operator::reconcile::rollout::{self, Progress};
use ecs_operator::render::render_service;
use ecs_operator::settings::Settings;
use ecs_operator::source::{Source, SourceLocation};
use ecs_operator::status::rollout::short_revision;
use ecs_operator::status::{unix_now, HeldRollout, StatusStore};

use super::reconcile::PlanFormat;
use super::{state_location, user_clients};

/// Flags of `retry`.
#[derive(clap::Args)]
pub struct RetryArgs {
    /// The service (manifest name) whose rolled-back spec to deploy again.
    pub name: String,
    /// Settings file: its stateLocation holds the status records and the request.
    #[arg(long, env = "ECS_OPERATOR_SETTINGS")]
    pub settings: PathBuf,
    /// Talking to an emulator on loopback (path-style S3).
    #[arg(long, env = "ECS_OPERATOR_EMULATOR")]
    pub emulator: bool,
}

/// Flags of `rollout status` and `rollback`: one service of the manifests.
#[derive(clap::Args)]
pub struct ServiceArgs {
    /// The service (manifest name).
    pub name: String,
    /// Settings file (YAML or JSON).
    #[arg(long, env = "ECS_OPERATOR_SETTINGS")]
    pub settings: PathBuf,
    /// Manifest source, where the service's cluster is read (default: the settings'
    /// manifestSource).
    #[arg(long, env = "ECS_OPERATOR_SOURCE")]
    pub source: Option<String>,
    /// Talking to an emulator on loopback (path-style S3).
    #[arg(long, env = "ECS_OPERATOR_EMULATOR")]
    pub emulator: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub output: PlanFormat,
}

/// `rollout` subcommands.
#[derive(clap::Subcommand)]
pub enum RolloutCommand {
    /// The service's deployments: revisions, images, task counts, state, and any hold.
    Status(ServiceArgs),
}

/// The settings, clients and cluster of the service a command names.
struct Located {
    settings: Settings,
    aws: AwsClients,
    cluster: String,
}

async fn locate(args: &ServiceArgs) -> anyhow::Result<Located> {
    let settings = Settings::load(&args.settings)?;
    let aws = user_clients(&settings, args.emulator).await;
    let location =
        SourceLocation::parse(args.source.as_deref().unwrap_or(&settings.manifest_source))?;
    let fetched = Source::new(location).fetch(Some(&aws), &settings).await?;
    let Some(m) = fetched.set.manifests.iter().find(|m| m.name() == args.name) else {
        anyhow::bail!(
            "no valid manifest named {} in {}",
            args.name,
            args.source.as_deref().unwrap_or(&settings.manifest_source)
        );
    };
    let cluster = render_service(&m.manifest, &settings).cluster;
    Ok(Located {
        settings,
        aws,
        cluster,
    })
}

/// `ecs-operator retry NAME`: deploy a rolled-back spec once more.
#[tokio::main]
pub async fn retry(args: RetryArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(&args.settings)?;
    let aws = user_clients(&settings, args.emulator).await;
    let store = StatusStore::new(state_location(&settings)?);
    let record = store.load_one(&aws, &args.name).await?;
    let Some(held) = record.and_then(|s| s.held) else {
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

/// `ecs-operator rollback NAME`: back to the previous revision, and hold the spec.
#[tokio::main]
pub async fn rollback(args: ServiceArgs) -> anyhow::Result<ExitCode> {
    let at = locate(&args).await?;
    let done = rollout::rollback(
        &at.aws,
        &at.settings.operator_id,
        &at.cluster,
        &args.name,
        unix_now(),
    )
    .await?;
    if args.output == PlanFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "service": args.name,
                "from": done.from,
                "to": done.to,
                "held": done.hold,
            }))?
        );
    } else {
        println!(
            "{}: rolling back from {} to {}; spec {} is held until the manifest changes or `ecs-operator retry {}`",
            args.name,
            short_revision(&done.from),
            short_revision(&done.to),
            done.hold.spec_hash,
            args.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rollout(command: RolloutCommand) -> anyhow::Result<ExitCode> {
    match command {
        RolloutCommand::Status(args) => status(args),
    }
}

/// `ecs-operator rollout status NAME`. Exit code: 0 settled, 2 rolling out, 1 failed, rolled
/// back or missing.
#[tokio::main]
async fn status(args: ServiceArgs) -> anyhow::Result<ExitCode> {
    let at = locate(&args).await?;
    let services =
        rollout::describe(&at.aws, &at.cluster, std::slice::from_ref(&args.name)).await?;
    let Some(o) = services.get(&args.name).filter(|o| o.is_active()) else {
        eprintln!(
            "error: service {} does not exist in cluster {}",
            args.name, at.cluster
        );
        return Ok(ExitCode::from(1));
    };
    let mut images = std::collections::BTreeMap::new();
    for d in &o.deployments {
        if let Some(td) = describe_task_definition(&at.aws, &d.task_definition_arn).await? {
            let image = td
                .container_definitions()
                .first()
                .and_then(|c| c.image())
                .unwrap_or_default();
            images.insert(d.task_definition_arn.clone(), image.to_string());
        }
    }
    let (held, guard) = recorded(o, &at, &args.name).await?;
    let verdict = rollout::progress(Some(o), &o.task_definition_arn);
    if args.output == PlanFormat::Json {
        let deployments: Vec<_> = o
            .deployments
            .iter()
            .map(|d| {
                serde_json::json!({
                    "id": d.id,
                    "status": format!("{:?}", d.status),
                    "revision": short_revision(&d.task_definition_arn),
                    "image": images.get(&d.task_definition_arn),
                    "rolloutState": rollout_state(&d.rollout),
                    "reason": d.reason,
                    "createdAt": d.created_at,
                    "desired": d.tasks.desired,
                    "running": d.tasks.running,
                    "pending": d.tasks.pending,
                    "failed": d.failed_tasks,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "service": args.name,
                "cluster": at.cluster,
                "revision": short_revision(&o.task_definition_arn),
                "progress": format!("{verdict:?}"),
                "deployments": deployments,
                "held": held,
                "guard": guard,
            }))?
        );
    } else {
        print_status(o, &args.name, &at.cluster, &verdict, &images, held.as_ref());
        if let Some(guard) = guard {
            println!("guard: {guard}");
        }
    }
    Ok(match verdict {
        Progress::Completed => ExitCode::SUCCESS,
        Progress::Pending(_) => ExitCode::from(2),
        _ => ExitCode::from(1),
    })
}

/// What the status record and the service's tags add: the hold (a rollback by hand or by
/// the guard is on the service's tag; ECS's rollbacks in the record) and the SLO guard's last
/// verdict (in the record, when the settings name a state location).
async fn recorded(
    o: &ObservedService,
    at: &Located,
    name: &str,
) -> anyhow::Result<(Option<HeldRollout>, Option<String>)> {
    let store = StatusStore::new(state_location(&at.settings)?);
    let record = store.load_one(&at.aws, name).await?;
    let record = record.as_ref();
    let guard = record
        .and_then(|r| r.rollout.as_ref())
        .and_then(|r| r.guard.clone());
    let tagged = o
        .tags
        .get(tags::HELD)
        .and_then(|v| HeldRollout::from_tag(v));
    let current = o.tags.get(tags::SPEC_HASH);
    let held = tagged
        .filter(|h| Some(&h.spec_hash) == current)
        .or_else(|| record.and_then(|r| r.held.as_deref().cloned()));
    Ok((held, guard))
}

fn rollout_state(state: &RolloutState) -> &str {
    match state {
        RolloutState::InProgress => "IN_PROGRESS",
        RolloutState::Completed => "COMPLETED",
        RolloutState::Failed => "FAILED",
        RolloutState::Unknown(text) if text.is_empty() => "-",
        RolloutState::Unknown(text) => text,
    }
}

fn print_status(
    o: &ObservedService,
    name: &str,
    cluster: &str,
    verdict: &Progress,
    images: &std::collections::BTreeMap<String, String>,
    held: Option<&HeldRollout>,
) {
    let now = unix_now();
    let summary = match verdict {
        Progress::Completed => "completed".to_string(),
        Progress::Pending(what) => format!("in progress: {what}"),
        Progress::Failed(why) => format!("failed: {why}"),
        Progress::RolledBack(why) => format!("rolled back: {why}"),
        Progress::Superseded(by) => format!("superseded by {by}"),
        Progress::Gone => "the service is gone".to_string(),
    };
    println!(
        "{name} (cluster {cluster}) runs {}: rollout {summary}",
        short_revision(&o.task_definition_arn)
    );
    for d in &o.deployments {
        let status = match d.status {
            DeploymentStatus::Primary => "PRIMARY",
            DeploymentStatus::Active => "ACTIVE",
            DeploymentStatus::Inactive => "INACTIVE",
        };
        let since = d
            .created_at
            .map(|t| {
                format!(
                    " since {} ({} ago)",
                    timestamp(t),
                    ago(now.saturating_sub(t))
                )
            })
            .unwrap_or_default();
        println!(
            "  {status:<8} {:<24} {:<11} {}/{} running, {} pending, {} failed{since}",
            short_revision(&d.task_definition_arn),
            rollout_state(&d.rollout),
            d.tasks.running,
            d.tasks.desired,
            d.tasks.pending,
            d.failed_tasks,
        );
        if let Some(image) = images.get(&d.task_definition_arn) {
            println!("           image {image}");
        }
        if !d.reason.is_empty() {
            println!("           {}", d.reason);
        }
    }
    if let Some(h) = held {
        println!(
            "held: spec {} ({}, {}) since {}; `ecs-operator retry {name}` deploys it again",
            h.spec_hash,
            short_revision(&h.revision),
            h.reason,
            timestamp(h.since)
        );
    }
}

/// RFC 3339, UTC.
fn timestamp(unix: u64) -> String {
    DateTime::from_secs(unix as i64)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| unix.to_string())
}

/// `1h 2m`, `3m 12s`, `40s`.
fn ago(seconds: u64) -> String {
    match seconds {
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}
