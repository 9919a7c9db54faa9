//! The `ecs-operator` command line: parsing and dispatch. The commands live in [`cli`].

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cli::controller::RunArgs;
use cli::offline::{RenderArgs, TaskPolicyArgs, ValidateArgs};
use cli::reconcile::ReconcileArgs;
use cli::rollout::{RetryArgs, RolloutCommand, ServiceArgs};
use cli::run_task::RunTaskArgs;

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

#[derive(Subcommand)]
enum Command {
    /// Deploy a rolled-back spec once more (every replica honours the request).
    Retry(RetryArgs),
    /// Roll a service back to its previous revision and hold the spec it ran.
    Rollback(ServiceArgs),
    /// Follow a service's rollout.
    Rollout {
        #[command(subcommand)]
        command: RolloutCommand,
    },
    /// Run a one-off task (`-- CMD...`) with the service's current revision and network;
    /// `--wait` follows it and exits with its exit code.
    RunTask(RunTaskArgs),
    /// Check manifests (files or directories); print every problem with file:line:column.
    Validate(ValidateArgs),
    /// Print the JSON Schema of MonitoredService (or of the settings file).
    Schema {
        /// The settings file's schema instead of the manifest's.
        #[arg(long)]
        settings: bool,
    },
    /// Print the complete desired state the operator would create for the manifests.
    Render(RenderArgs),
    /// Print the IAM policy each service's task role needs for EFS mounts and ECS Exec.
    TaskPolicy(TaskPolicyArgs),
    /// Show what apply would change. Exit code: 0 in sync, 2 changes pending, 1 error.
    Plan(ReconcileArgs),
    /// Make AWS match the manifests once, and print what was done.
    Apply(ReconcileArgs),
    /// Run the controller: reconcile continuously, serve health, metrics, discovery and status.
    Run(Box<RunArgs>),
    /// Exit 0 when the local controller answers /healthz (for container health checks).
    Healthcheck {
        #[arg(long, env = "ECS_OPERATOR_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
    },
}

fn main() -> ExitCode {
    one_malloc_arena();
    let cli = Cli::parse();
    cli::init_tracing();
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

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plan(args) => cli::reconcile::plan_or_apply(args, false),
        Command::Apply(args) => cli::reconcile::plan_or_apply(args, true),
        Command::Retry(args) => cli::rollout::retry(args),
        Command::Rollback(args) => cli::rollout::rollback(args),
        Command::Rollout { command } => cli::rollout::rollout(command),
        Command::RunTask(args) => cli::run_task::run_task_command(args),
        Command::Run(args) => cli::controller::run_controller(*args),
        Command::Healthcheck { listen } => cli::controller::healthcheck(&listen),
        Command::Validate(args) => cli::offline::validate(args),
        Command::Schema { settings } => cli::offline::schema(settings),
        Command::Render(args) => cli::offline::render(args),
        Command::TaskPolicy(args) => cli::offline::task_policy(args),
    }
}

/// Keeps glibc's allocator to one arena. By default every thread that allocates under
/// contention gets an arena of its own (up to 8 per core), each holding freed memory apart;
/// the operator's threads mostly wait on the network, and one arena measured 2.3 MiB less peak
/// RSS at 1,000 services (BENCHMARKS.md) for no throughput lost. `MALLOC_ARENA_MAX` in the
/// environment still wins over this.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn one_malloc_arena() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a malloc parameter; it runs first in main, before any
        // other thread exists, and M_ARENA_MAX takes any positive value.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}
