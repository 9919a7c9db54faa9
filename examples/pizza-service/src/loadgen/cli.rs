//! Command line of the `loadgen` binary.
//!
//! Without a subcommand it sends orders at `--rate` (or `--per-hour`) for `--duration` and/or
//! `--max-requests`. The subcommands are the demo's scenarios. `--targets`, `--concurrency` and
//! `--timeout` may be given before or after the subcommand.

use std::time::Duration;

use anyhow::bail;
use clap::{Parser, Subcommand};
use serde_json::Value;

use super::duration::parse_duration;
use super::runner::{self, DEFAULT_CONCURRENCY};
use super::scenarios::{self, Ctx, NORMAL_ORDERS_PER_HOUR};
use super::schedule::{per_hour, Schedule, MAX_RATE};
use super::stop::StopSignal;

/// Load generator for pizza-service.
#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    version,
    about = "Sends pizza orders on an open-loop schedule and runs the demo's fault scenarios."
)]
pub struct Cli {
    /// Comma-separated base URLs of the replicas; orders go round-robin.
    #[arg(
        long,
        env = "LOADGEN_TARGETS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub targets: Vec<String>,

    /// Most requests in flight at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, global = true, value_parser = parse_concurrency)]
    pub concurrency: usize,

    /// Timeout of each request (e.g. 10s, 500ms).
    #[arg(long, default_value = "10s", global = true, value_parser = parse_duration)]
    pub timeout: Duration,

    /// Requests per second over all targets (0.1 to 100000).
    #[arg(long, value_parser = parse_rate, conflicts_with = "per_hour")]
    pub rate: Option<f64>,

    /// Requests per hour over all targets, instead of --rate.
    #[arg(long, value_parser = parse_per_hour)]
    pub per_hour: Option<f64>,

    /// How long to send (e.g. 30s, 5m, 1h).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Stop after this many requests.
    #[arg(long)]
    pub max_requests: Option<u64>,

    #[command(subcommand)]
    pub scenario: Option<Scenario>,
}

/// The demo's scenarios.
#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// The normal load: 10,000 orders an hour spread over the targets.
    Steady {
        /// How long to keep it up.
        #[arg(long, default_value = "10m", value_parser = parse_duration)]
        duration: Duration,
        /// Orders per hour over all targets.
        #[arg(long, default_value_t = NORMAL_ORDERS_PER_HOUR, value_parser = parse_per_hour)]
        per_hour: f64,
    },
    /// More orders than usual: a faster pace (--factor) or a burst of --orders at --rate.
    Surge {
        /// Pace as a multiple of 10,000 orders an hour (default 3).
        #[arg(long, conflicts_with = "orders")]
        factor: Option<f64>,
        /// How long a --factor surge lasts.
        #[arg(long, default_value = "5m", value_parser = parse_duration, conflicts_with = "orders")]
        duration: Duration,
        /// Send exactly this many orders instead (e.g. 20500 to cross an hourly count of 20,000).
        #[arg(long)]
        orders: Option<u64>,
        /// Requests per second of an --orders burst (default 1000).
        #[arg(long, value_parser = parse_rate, requires = "orders")]
        rate: Option<f64>,
    },
    /// Makes every order fail on the targets, sends --count orders, restores the failure ratio.
    Failures {
        /// Orders to send (all of them fail).
        #[arg(long, default_value_t = 500)]
        count: u64,
        /// Requests per second.
        #[arg(long, default_value_t = 50.0, value_parser = parse_rate)]
        rate: f64,
    },
    /// Starts busy-loop threads on the targets for a while, then stops them.
    CpuSpike {
        /// Busy-loop threads per replica (at most 8).
        #[arg(long, default_value_t = 2)]
        threads: u32,
        /// How long to keep them running.
        #[arg(long, default_value = "2m", value_parser = parse_duration)]
        duration: Duration,
    },
    /// Grows memory on the targets for a while (up to each replica's cap), then frees it.
    MemorySpike {
        /// MiB per second per replica.
        #[arg(long, default_value_t = 20)]
        mb_per_s: u64,
        /// How long to keep growing.
        #[arg(long, default_value = "1m", value_parser = parse_duration)]
        duration: Duration,
    },
    /// Crashes one replica through POST /admin/crash.
    Outage {
        /// The replica to crash (default: the first of --targets).
        #[arg(long)]
        target: Option<String>,
    },
}

/// Runs what the command line asks for and returns the JSON line to print.
pub async fn execute(cli: Cli, stop: StopSignal) -> anyhow::Result<String> {
    Ok(run_cli(cli, stop).await?.to_line())
}

/// What a plain run or scenario reports, before it is printed.
enum Outcome {
    /// A plain run: printed with its fields in declaration order.
    Summary(runner::Summary),
    /// A scenario's report.
    Report(Value),
}

impl Outcome {
    fn to_line(&self) -> String {
        match self {
            Outcome::Summary(s) => {
                serde_json::to_string(s).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
            }
            Outcome::Report(v) => v.to_string(),
        }
    }
}

async fn run_cli(cli: Cli, stop: StopSignal) -> anyhow::Result<Outcome> {
    let targets = runner::normalise_targets(&cli.targets).map_err(anyhow::Error::msg)?;
    let client = runner::http_client(cli.concurrency, cli.timeout)?;
    let plain_args_given = cli.rate.is_some()
        || cli.per_hour.is_some()
        || cli.duration.is_some()
        || cli.max_requests.is_some();
    let ctx = Ctx {
        client,
        targets,
        concurrency: cli.concurrency,
        timeout: cli.timeout,
        stop,
    };

    let Some(scenario) = cli.scenario else {
        let rate = match (cli.rate, cli.per_hour) {
            (Some(r), _) => r,
            (None, Some(h)) => per_hour(h),
            (None, None) => bail!("give --rate or --per-hour (or a scenario subcommand)"),
        };
        let schedule =
            Schedule::new(rate, cli.duration, cli.max_requests).map_err(anyhow::Error::msg)?;
        return Ok(Outcome::Summary(scenarios::load(&ctx, schedule).await));
    };
    if plain_args_given {
        bail!("--rate, --per-hour, --duration and --max-requests before a subcommand apply only to a plain run; give the scenario's own flags after its name");
    }
    let report = match scenario {
        Scenario::Steady { duration, per_hour } => {
            scenarios::steady(&ctx, per_hour, duration).await
        }
        Scenario::Surge {
            orders: Some(orders),
            rate,
            ..
        } => scenarios::surge_count(&ctx, orders, rate.unwrap_or(1000.0)).await,
        Scenario::Surge {
            orders: None,
            factor,
            duration,
            ..
        } => scenarios::surge_pace(&ctx, factor.unwrap_or(3.0), duration).await,
        Scenario::Failures { count, rate } => scenarios::failures(&ctx, count, rate).await,
        Scenario::CpuSpike { threads, duration } => {
            scenarios::cpu_spike(&ctx, threads, duration).await
        }
        Scenario::MemorySpike { mb_per_s, duration } => {
            scenarios::memory_spike(&ctx, mb_per_s, duration).await
        }
        Scenario::Outage { target } => {
            let target = match target {
                Some(t) => runner::normalise_targets(&[t])
                    .map_err(anyhow::Error::msg)?
                    .remove(0),
                None => ctx.targets[0].clone(),
            };
            scenarios::outage(&ctx, &target).await
        }
    }?;
    Ok(Outcome::Report(report))
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("not a number: {e}"))?;
    if v.is_finite() && v > 0.0 && v <= MAX_RATE {
        Ok(v)
    } else {
        Err(format!(
            "rate must be above 0 and at most {MAX_RATE} per second"
        ))
    }
}

fn parse_per_hour(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("not a number: {e}"))?;
    parse_rate(&(v / 3600.0).to_string())
        .map(|_| v)
        .map_err(|_| format!("{v} per hour is out of range"))
}

fn parse_concurrency(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err("concurrency must be between 1 and 10000".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_command_lines_parse() {
        let cli = Cli::try_parse_from([
            "loadgen",
            "--targets",
            "http://127.0.0.1:8081,http://127.0.0.1:8082",
            "--rate",
            "5",
            "--duration",
            "30s",
        ])
        .expect("parses");
        assert_eq!(cli.targets.len(), 2);
        assert_eq!(cli.rate, Some(5.0));
        assert_eq!(cli.duration, Some(Duration::from_secs(30)));

        let cli = Cli::try_parse_from(["loadgen", "--per-hour", "10000", "--duration", "5m"])
            .expect("parses");
        assert_eq!(cli.per_hour, Some(10_000.0));

        let cli = Cli::try_parse_from([
            "loadgen",
            "surge",
            "--orders",
            "20500",
            "--rate",
            "1000",
            "--targets",
            "http://a:1",
        ])
        .expect("parses");
        assert!(
            matches!(cli.scenario, Some(Scenario::Surge { orders: Some(20_500), rate: Some(r), .. }) if r == 1000.0)
        );
        assert_eq!(cli.targets, vec!["http://a:1".to_owned()]);

        let cli = Cli::try_parse_from(["loadgen", "surge", "--factor", "3"]).expect("parses");
        assert!(
            matches!(cli.scenario, Some(Scenario::Surge { factor: Some(f), orders: None, .. }) if f == 3.0)
        );

        for args in [
            vec!["loadgen", "failures", "--count", "500", "--rate", "100"],
            vec!["loadgen", "cpu-spike", "--threads", "2", "--duration", "1m"],
            vec![
                "loadgen",
                "memory-spike",
                "--mb-per-s",
                "50",
                "--duration",
                "30s",
            ],
            vec!["loadgen", "outage", "--target", "http://127.0.0.1:8082"],
            vec!["loadgen", "steady", "--duration", "1h"],
        ] {
            assert!(Cli::try_parse_from(&args).is_ok(), "{args:?}");
        }
    }

    #[test]
    fn contradictory_command_lines_are_rejected() {
        assert!(Cli::try_parse_from(["loadgen", "--rate", "5", "--per-hour", "100"]).is_err());
        assert!(Cli::try_parse_from(["loadgen", "--rate", "0"]).is_err());
        assert!(
            Cli::try_parse_from(["loadgen", "surge", "--factor", "3", "--orders", "10"]).is_err()
        );
        assert!(Cli::try_parse_from(["loadgen", "surge", "--rate", "10"]).is_err());
        assert!(Cli::try_parse_from(["loadgen", "--concurrency", "0"]).is_err());
    }
}
