//! `run` (the controller) and `healthcheck` (its container health check).

use std::process::ExitCode;

use ecs_operator::aws::{AwsClients, ClientOptions};
use ecs_operator::reconcile::ReconcileOptions;
use ecs_operator::settings::Settings;
use ecs_operator::source::SourceLocation;

use super::parse_duration;
use super::reconcile::ReconcileArgs;

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
    /// Address of the HTTP endpoint.
    #[arg(long, env = "ECS_OPERATOR_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: std::net::SocketAddr,
    /// Full resync interval (jittered by +-10%).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// How often the source is checked for changed manifests.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub poll_interval: std::time::Duration,
    /// The resync interval while a service rolls out: the SLO guard judges a rollout once
    /// per pass (never longer than --interval).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub rollout_interval: std::time::Duration,
    /// How often service discovery targets are refreshed from Cloud Map (default: the
    /// settings' monitoring.discoveryRefresh, 10s unless set there).
    #[arg(long, value_parser = parse_duration)]
    pub sd_refresh: Option<std::time::Duration>,
    /// How often every scalable target and scaling policy is read, to find changes made
    /// behind the operator's back (a changed manifest's scaling is read at once); 0 reads
    /// them every pass.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub scaling_sweep: std::time::Duration,
    /// Leader lease time to live.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub lease_ttl: std::time::Duration,
    /// Act without electing a leader (a single replica).
    #[arg(long)]
    pub no_leader_election: bool,
    /// Identity in the leader lease (default: hostname and process id).
    #[arg(long, env = "ECS_OPERATOR_HOLDER")]
    pub holder: Option<String>,
    /// Require `Authorization: Bearer <token>` on /status.
    #[arg(long, env = "ECS_OPERATOR_STATUS_TOKEN")]
    pub status_token: Option<String>,
    /// Stop after this many reconcile passes.
    #[arg(long)]
    pub max_passes: Option<u64>,
    /// SQS queue of S3 manifest notifications and ECS events: each wakes the controller at
    /// once (the bootstrap creates it and sets this variable); polling stays the safety net.
    #[arg(long, env = "ECS_OPERATOR_EVENTS_QUEUE_URL")]
    pub events_queue_url: Option<String>,
}

#[tokio::main]
pub async fn run_controller(args: RunArgs) -> anyhow::Result<ExitCode> {
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
            scaling_sweep: args.scaling_sweep,
        },
        sd_refresh: args
            .sd_refresh
            .unwrap_or(settings.monitoring.discovery_refresh.std()),
        settings,
        source,
        listen: args.listen,
        interval: args.interval,
        poll_interval: args.poll_interval,
        rollout_interval: args.rollout_interval,
        lease_ttl: args.lease_ttl,
        holder,
        leader_election: !args.no_leader_election,
        status_token: args.status_token,
        max_passes: args.max_passes,
        events_queue_url: args.events_queue_url.filter(|u| !u.is_empty()),
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

/// `healthcheck`: exit 0 when the local controller answers /healthz.
pub fn healthcheck(listen: &str) -> anyhow::Result<ExitCode> {
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
