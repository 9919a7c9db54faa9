//! `pizza-demo`: the pizza-service use case end to end on one machine.
//!
//! moto_server plays AWS, the real `ecs-operator run` reconciles the example manifests from S3,
//! pizza-service replicas play the ECS tasks (registered in Cloud Map like ECS registers
//! tasks), and the Debian builds of Prometheus and Alertmanager run on the files the operator
//! writes. Scenarios then make the service misbehave and the demo measures how long each
//! alert takes to reach the pizza team's inbox. Every server listens on 127.0.0.1 and every
//! process the demo starts is stopped by PID when it ends, however it ends.

mod aws;
mod clock;
mod discovery;
mod ecs_standin;
mod inbox;
mod procs;
mod prom;
mod releases;
mod report;
mod scenarios;
mod stack;
mod tasks;
mod timing;
mod util;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use clock::Clock;
use procs::Supervisor;
use scenarios::Name;
use stack::{Options, Stack, SERVICE};

/// The pizza-service demo: moto, ecs-operator, Prometheus, Alertmanager and real replicas on
/// 127.0.0.1; scenarios and their alert latencies.
#[derive(Debug, Parser)]
#[command(name = "pizza-demo", version)]
struct Args {
    /// Run the scenarios once and exit: 0 only if every alert was delivered correctly and
    /// nothing fired under normal load. Without it the stack stays up until Ctrl-C.
    #[arg(long)]
    once: bool,
    /// pizza-service replicas (ECS tasks).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=6))]
    replicas: u8,
    /// Length of the normal-load period that must not fire anything.
    #[arg(long, default_value = "30s", value_parser = util::parse_duration)]
    steady: Duration,
    /// Scenarios, in order (`--scenario NAME` for one). FailedOrdersIncident is critical and
    /// inhibits the service's warnings for its hour, so `failures` goes last.
    #[arg(
        long,
        alias = "scenario",
        value_enum,
        value_delimiter = ',',
        default_value = "good-release,bad-release,surge,count,outage,cpu-spike,failures"
    )]
    scenarios: Vec<Scenario>,
    /// How long a scenario may wait for its notification (default 150 s; 420 s with
    /// --production-timing).
    #[arg(long, value_parser = util::parse_duration)]
    scenario_timeout: Option<Duration>,
    /// Run with the operator's production defaults (scrape and evaluation 15 s, group_wait
    /// 10 s, the built-in alerts' shipped `for`, a pass every 60 s and every 15 s while a
    /// service rolls out) instead of the demo's shortened timing.
    #[arg(long)]
    production_timing: bool,
    /// Work directory (logs, settings, monitoring files, TSDB, latency.json).
    /// Default: .work/demo-<pid> under the current directory.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where ecs-operator, pizza-service and loadgen are (default: next to this binary).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The repository (for manifests/examples).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))]
    repo: PathBuf,
    /// Also replace the pizza manifest's metrics.interval (15s) in the uploaded copy, e.g.
    /// `1s`. Off by default: the manifest is uploaded as it is, except for its webhook URL.
    #[arg(long)]
    pizza_scrape_interval: Option<String>,
}

/// A scenario of the demo: a release (rolled out by the ECS stand-in) or a misbehaviour
/// that an alert must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    GoodRelease,
    BadRelease,
    Surge,
    Count,
    Outage,
    CpuSpike,
    Failures,
}

enum Kind {
    Release(releases::Kind),
    Alert(Name),
}

impl Scenario {
    fn kind(self) -> Kind {
        match self {
            Scenario::GoodRelease => Kind::Release(releases::Kind::Good),
            Scenario::BadRelease => Kind::Release(releases::Kind::Bad),
            Scenario::Surge => Kind::Alert(Name::Surge),
            Scenario::Count => Kind::Alert(Name::Count),
            Scenario::Outage => Kind::Alert(Name::Outage),
            Scenario::CpuSpike => Kind::Alert(Name::CpuSpike),
            Scenario::Failures => Kind::Alert(Name::Failures),
        }
    }

    /// The severity of the alert it expects (RolloutRolledBack is a warning).
    fn severity(self) -> &'static str {
        match self.kind() {
            Kind::Release(releases::Kind::Bad) => "warning",
            Kind::Release(releases::Kind::Good) => "none",
            Kind::Alert(name) => scenarios::spec(name).severity,
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async_main(args))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "Ctrl-C";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = term.recv() => "SIGTERM",
    }
}

async fn async_main(args: Args) -> ExitCode {
    let clock = Clock::new();
    let work = args
        .work_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(".work").join(format!("demo-{}", std::process::id())));
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("error: cannot create {}: {e}", work.display());
        return ExitCode::from(1);
    }
    let work = work.canonicalize().unwrap_or(work);
    let sup = match Supervisor::new(&work.join("logs")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    println!("pizza-demo: the pizza-service use case end to end on 127.0.0.1");
    println!("  work dir {} (logs in logs/)", work.display());

    let (code, finished) = tokio::select! {
        result = demo(&args, clock, &work, &sup) => match result {
            Ok(true) => (ExitCode::SUCCESS, true),
            Ok(false) => (ExitCode::from(1), true),
            Err(e) => {
                println!("\nerror: {e:#}");
                println!("  (logs of every process are in {})", work.join("logs").display());
                (ExitCode::from(1), false)
            }
        },
        why = interrupted() => {
            println!("\n[{}] {why}: stopping", clock.now_stamp());
            (ExitCode::from(130), false)
        }
    };
    if finished && !args.once {
        let why = interrupted().await;
        println!("\n[{}] {why}: stopping", clock.now_stamp());
    }

    println!(
        "\n[{}] Stopping every process the demo started",
        clock.now_stamp()
    );
    for line in sup.stop_all() {
        println!("  {line}");
    }
    let started = sup.started();
    let left: Vec<String> = started
        .iter()
        .filter(|p| procs::alive(p.pid))
        .map(|p| format!("{} (pid {})", p.name, p.pid))
        .collect();
    let _ = std::fs::write(
        work.join("pids.json"),
        serde_json::to_string_pretty(&started).unwrap_or_default(),
    );
    if left.is_empty() {
        println!(
            "  all {} processes the demo started are gone (pids: {})",
            started.len(),
            started
                .iter()
                .map(|p| p.pid.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        code
    } else {
        println!("  still running: {}", left.join(", "));
        ExitCode::from(1)
    }
}

/// The demo proper. `Ok(true)`: every scenario's alert was delivered correctly and nothing
/// fired under normal load.
async fn demo(
    args: &Args,
    clock: Clock,
    work: &std::path::Path,
    sup: &Supervisor,
) -> anyhow::Result<bool> {
    if let Some(i) = args.scenarios.iter().position(|s| *s == Scenario::Failures) {
        if args.scenarios[i + 1..]
            .iter()
            .any(|s| s.severity() == "warning")
        {
            println!(
                "  note: FailedOrdersIncident (critical) inhibits pizza-service's warnings while it fires (an hour); warning scenarios after `failures` cannot be delivered"
            );
        }
    }
    let timing = if args.production_timing {
        timing::Timing::PRODUCTION
    } else {
        timing::Timing::DEMO
    };
    let scenario_timeout = args
        .scenario_timeout
        .unwrap_or(Duration::from_secs(timing.scenario_timeout_s));
    let options = Options {
        timing,
        replicas: usize::from(args.replicas),
        bin_dir: args.bin_dir.clone(),
        repo: args.repo.clone(),
        pizza_scrape_interval: args.pizza_scrape_interval.clone(),
    };
    let mut stack = Stack::start(sup, clock, work, &options).await?;

    println!("\n[{}] Live checks", clock.now_stamp());
    report::check_targets(&stack, usize::from(args.replicas)).await?;
    report::check_rules(&stack).await?;

    println!(
        "\n[{}] Discovery: one more replica, from Cloud Map to its first scrape",
        clock.now_stamp()
    );
    let discovery = discovery::measure(&mut stack).await?;
    println!("  {}", discovery.line());

    let (steady_ok, false_positives, steady_pid) = scenarios::steady(&stack, args.steady).await;
    stack.steady_pid = steady_pid;
    let mut outcomes = Vec::new();
    let mut releases = Vec::new();
    for scenario in &args.scenarios {
        match scenario.kind() {
            Kind::Release(kind) => {
                releases.push(releases::run(&mut stack, kind, scenario_timeout).await)
            }
            Kind::Alert(name) => {
                outcomes.push(scenarios::run(&mut stack, name, scenario_timeout).await)
            }
        }
    }
    let passed = steady_ok && outcomes.iter().all(|o| o.ok) && releases.iter().all(|r| r.ok);
    report::write(
        &stack,
        &report::Results {
            steady: args.steady,
            false_positives: &false_positives,
            outcomes: &outcomes,
            releases: &releases,
            discovery: &discovery,
            passed,
            runtime: clock.start.elapsed(),
        },
    )?;
    report::urls(&stack);
    println!(
        "\n{}: {} of {} scenarios delivered correctly, {} in {:.0} s",
        if passed { "PASSED" } else { "FAILED" },
        outcomes.iter().filter(|o| o.ok).count() + releases.iter().filter(|r| r.ok).count(),
        outcomes.len() + releases.len(),
        if steady_ok {
            "no false positive".to_string()
        } else {
            format!("{} false positive(s)", false_positives.len())
        },
        clock.start.elapsed().as_secs_f64()
    );
    if !args.once {
        println!(
            "\nEverything keeps running (the steady load too): try `{} --targets {} surge --factor 5 --duration 1m` and watch {}/alerts?search={SERVICE}. Ctrl-C stops it all.",
            stack.programs.loadgen.display(),
            stack.targets_csv(),
            stack.prometheus.url
        );
    }
    Ok(passed)
}
