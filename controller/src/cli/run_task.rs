//! `ecs-operator run-task NAME -- CMD...`: a one-off task with the revision the service runs,
//! its network and capacity, and CMD as the app container's command (its CMD; the entry point
//! stays). Prints the task's ARN and log stream; with `--wait`, follows it to the end and
//! exits with its exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ecs_operator::actuate::tasks::started;
use ecs_operator::aws::sdk::{run_task, OneOff};
use ecs_operator::domain::tags;
use ecs_operator::observe::runs::{self, TaskRun};
use ecs_operator::render::aws::jobs::log_stream;
use ecs_operator::render::render_service;
use ecs_operator::settings::Settings;
use ecs_operator::source::{Source, SourceLocation};

use super::{parse_duration, user_clients};

/// Flags of `run-task`.
#[derive(clap::Args)]
pub struct RunTaskArgs {
    /// The service (manifest name) whose task definition and network the task uses.
    pub name: String,
    /// The command: the app container's CMD for this task, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
    /// Settings file (YAML or JSON).
    #[arg(long, env = "ECS_OPERATOR_SETTINGS")]
    pub settings: PathBuf,
    /// Manifest source (default: the settings' manifestSource).
    #[arg(long, env = "ECS_OPERATOR_SOURCE")]
    pub source: Option<String>,
    /// Follow the task until it stops; the exit code is the task's.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this long (the task keeps running; exit 1).
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub wait_timeout: Duration,
    /// Talking to an emulator on loopback (path-style S3).
    #[arg(long, env = "ECS_OPERATOR_EMULATOR")]
    pub emulator: bool,
}

/// How often a waited task is read.
const POLL: Duration = Duration::from_secs(5);

#[tokio::main]
pub async fn run_task_command(args: RunTaskArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(&args.settings)?;
    let aws = user_clients(&settings, args.emulator).await;
    let source = args.source.as_deref().unwrap_or(&settings.manifest_source);
    let fetched = Source::new(SourceLocation::parse(source)?)
        .fetch(Some(&aws), &settings)
        .await?;
    let Some(m) = fetched.set.manifests.iter().find(|m| m.name() == args.name) else {
        anyhow::bail!("no valid manifest named {} in {source}", args.name);
    };
    let d = render_service(&m.manifest, &settings);
    // The revision the service runs now, from ECS; only a service of this operator.
    let out = aws
        .ecs
        .describe_services()
        .cluster(&d.cluster)
        .services(&d.name)
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .map_err(aws.error("ecs:DescribeServices"))?;
    let service = (out.services().iter())
        .find(|s| s.status() == Some("ACTIVE"))
        .ok_or_else(|| {
            anyhow::anyhow!("service {} does not exist in cluster {}", d.name, d.cluster)
        })?;
    let owner = (service.tags().iter())
        .find(|t| t.key() == Some(tags::OWNER))
        .and_then(|t| t.value());
    if owner != Some(settings.operator_id.as_str()) {
        anyhow::bail!(
            "service {} in cluster {} is not managed by this operator (owner tag {owner:?})",
            d.name,
            d.cluster
        );
    }
    let revision = service.task_definition().unwrap_or_default().to_string();
    let one_off = OneOff {
        started_by: "ecs-operator-run-task".into(),
        group: format!("run-task:{}", d.name),
    };
    let out = run_task(&aws.ecs, &d, &revision, &args.command, &one_off)?
        .send()
        .await
        .map_err(aws.error("ecs:RunTask"))?;
    let task_arn = started(&out)?;
    println!("task {task_arn}");
    println!("revision {revision}");
    println!("logs {}", log_stream(&d, &task_arn));
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let deadline = Instant::now() + args.wait_timeout;
    loop {
        let found = runs::describe(&aws, &d.cluster, std::slice::from_ref(&task_arn)).await?;
        match found.first() {
            Some(task) if task.stopped => return Ok(report(task)),
            Some(_) => {}
            None => anyhow::bail!("ECS no longer knows task {task_arn}"),
        }
        if Instant::now() >= deadline {
            eprintln!(
                "task {task_arn} still runs after {:?}; it is not stopped",
                args.wait_timeout
            );
            return Ok(ExitCode::from(1));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Prints how the task stopped; its exit code (1 when the container never exited, e.g. the
/// image could not be pulled).
fn report(task: &TaskRun) -> ExitCode {
    let reason = match task.exit.why() {
        why if why.is_empty() => "no reason given".to_string(),
        why => why,
    };
    match task.exit.exit_code {
        Some(code) => {
            println!("exit code {code} ({reason})");
            ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
        }
        None => {
            println!("stopped without an exit code ({reason})");
            ExitCode::from(1)
        }
    }
}
