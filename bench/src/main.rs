//! `ecs-operator-bench`: benchmarks of ecs-operator against moto_server. Prints a table and
//! writes BENCHMARKS.md. Run it through `scripts/bench`, which installs moto, starts its own
//! moto_server, builds, and passes `--reset-moto`.

mod converge;
mod demo;
mod discovery;
mod events;
mod findings;
mod floor;
mod manifests;
mod operator;
mod pages;
mod report;
mod results;
mod rss;
mod stats;
mod throughput;
mod world;

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use ecs_operator::render::render_service;
use ecs_operator::settings::Settings;
use ecs_operator::source::{Source, SourceLocation};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "ecs-operator-bench",
    about = "Benchmarks ecs-operator against moto_server; prints figures and writes BENCHMARKS.md"
)]
pub struct Args {
    /// moto_server endpoint (scripts/moto prints it).
    #[arg(long, env = "MOTO_ENDPOINT")]
    endpoint: String,
    /// Numbers of MonitoredServices to reconcile.
    #[arg(long, value_delimiter = ',', default_value = "10,100,500,1000")]
    sizes: Vec<usize>,
    /// Manifests for the in-process render + plan throughput.
    #[arg(long, default_value_t = 10_000)]
    render_n: usize,
    /// Services applied at once (the operator's default) and the floor's concurrency.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Converge-from-empty pairs (operator, then floor, each from an empty world) per size;
    /// the ratio reported is the median of the pairs'.
    #[arg(long, default_value_t = 3)]
    converge_samples: usize,
    /// Idle passes timed per size (the median is reported).
    #[arg(long, default_value_t = 3)]
    idle_passes: usize,
    /// Reset moto before each measured world (only for a moto this run owns).
    #[arg(long)]
    reset_moto: bool,
    /// The ecs-operator binary whose peak RSS is measured.
    #[arg(long)]
    operator_bin: Option<PathBuf>,
    /// Where to write the report.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// The command recorded in the report (default: this process's arguments).
    #[arg(long)]
    command: Option<String>,
    /// A latency file written by the pizza demo (default: searched for).
    #[arg(long)]
    demo_latency: Option<PathBuf>,
    /// Measure only the render + plan throughput and write it to this JSON file (for a run of
    /// the other build profile to show beside its own).
    #[arg(long)]
    throughput_only: Option<PathBuf>,
    /// Throughput figures of the other build profile (written by `--throughput-only`).
    #[arg(long)]
    also_throughput: Option<PathBuf>,
    /// Scratch directory (settings files and logs of the measured `run` processes).
    #[arg(long, default_value = ".work/bench")]
    work: PathBuf,
}

/// Everything measured for one N.
pub struct SizeResult {
    pub n: usize,
    pub scaled: usize,
    pub first: operator::Pass,
    /// The last idle pass: between scaling sweeps, as a long-running controller's.
    pub idle: operator::Pass,
    pub idle_secs: Vec<f64>,
    /// An idle pass that sweeps every scalable target and policy (every `--scaling-sweep`).
    pub idle_sweep: operator::Pass,
    /// Both idle passes again on AWS's page sizes (`testkit::aws_pages`).
    pub pages: Result<pages::RealPages, String>,
    pub changed: operator::Pass,
    pub cold: operator::Pass,
    /// A fresh process that read the warm-start cache first (its GetObject counted).
    pub warm: operator::Pass,
    pub floor: floor::Floor,
    /// Every converge pair, the measured world's (`first`, `floor`) first.
    pub converge: Vec<converge::ConvergeSample>,
    /// Peak RSS against moto's answers: every listing in one page (1,000 ECS and Cloud Map
    /// services in one response at N = 1000), which AWS never sends.
    pub rss: Result<rss::Rss, String>,
    /// Peak RSS with moto paged as AWS pages (`testkit::aws_pages`): what a real account sends.
    pub rss_pages: Result<rss::Rss, String>,
    /// S3 change -> applied through the events queue, by the real `ecs-operator run`.
    pub events: Result<events::EventLatency, String>,
    /// Service-discovery reads a minute with nothing changing.
    pub sd: Result<discovery::SdCalls, String>,
}

/// A reconciler of its own (fresh clients, so its own call counter and caches) with the
/// bench's concurrency: what a new `ecs-operator run` process starts with.
pub(crate) async fn new_reconciler(args: &Args, settings: &Settings) -> Reconciler {
    let options = ReconcileOptions {
        concurrency: args.concurrency,
        ..ReconcileOptions::default()
    };
    Reconciler::new(
        world::clients(&args.endpoint).await,
        settings.clone(),
        options,
    )
}

impl SizeResult {
    /// Converge from empty relative to the floor: the median of the pairs' ratios.
    pub fn converge_ratio(&self) -> Option<f64> {
        converge::median_ratio(&self.converge)
    }
}

pub(crate) fn log(message: impl std::fmt::Display) {
    eprintln!("[bench] {message}");
}

async fn measure_size(args: &Args, n: usize, index: usize) -> Result<SizeResult> {
    let tag = if args.reset_moto {
        String::new()
    } else {
        format!("p{}-", std::process::id())
    };
    let prefix = format!("b{n}-{tag}");
    let octet = (16 + 2 * index) as u8;
    if args.reset_moto {
        world::reset_moto(&args.endpoint).await?;
    }
    let setup = world::clients(&args.endpoint).await;
    let id = format!("bench-{prefix}op").replace("--", "-");
    let w = world::World::create(&args.endpoint, &setup, &id, octet).await?;
    let docs = manifests::generate(&prefix, n);
    w.upload(&setup, &docs).await?;
    log(format!(
        "N={n}: {n} manifests in s3://{}/{}",
        w.bucket, w.prefix
    ));

    let reconciler = new_reconciler(args, &w.settings).await;
    let location = SourceLocation::parse(&w.settings.manifest_source)?;
    let mut source = Source::new(location.clone());
    let first = operator::pass(&reconciler, &mut source).await?;
    check(&first, "first apply")?;
    log(format!("N={n}: converged in {:.2} s", first.secs));

    // The pass after the first apply reads back what it wrote; the idle passes follow.
    let read_back = operator::pass(&reconciler, &mut source).await?;
    check(&read_back, "read-back pass")?;
    let mut idle = None;
    let mut idle_secs = Vec::new();
    for _ in 0..args.idle_passes.max(1) {
        let p = operator::pass(&reconciler, &mut source).await?;
        check(&p, "idle pass")?;
        idle_secs.push(p.secs);
        idle = Some(p);
    }
    let idle = idle.unwrap_or_default();
    reconciler.observer.scaling.forget();
    let idle_sweep = operator::pass(&reconciler, &mut source).await?;
    check(&idle_sweep, "idle pass with a scaling sweep")?;
    let running: std::collections::BTreeSet<String> =
        (idle.observed_task_definitions.iter()).cloned().collect();
    let pages = pages::measure(
        &args.endpoint,
        &w.settings,
        args.concurrency,
        pages::Caches {
            task_definitions: reconciler.observer.export(&running),
            manifests: source.export(),
        },
        location.clone(),
    )
    .await
    .map_err(|e| format!("{e:#}"));
    if let Ok(p) = &pages {
        log(format!(
            "N={n}: on AWS page sizes an idle pass makes {} calls, {} at a scaling sweep",
            stats::Split::of(&p.between_sweeps.calls).total(),
            stats::Split::of(&p.at_sweep.calls).total()
        ));
    }
    log(format!(
        "N={n}: idle pass {:.3} s, {} calls",
        stats::median(&idle_secs),
        stats::Split::of(&idle.calls).total()
    ));

    let (name, text) = manifests::manifest(&prefix, 0, 1);
    w.upload(&setup, &[(name, text)]).await?;
    let changed = operator::pass(&reconciler, &mut source).await?;
    check(&changed, "pass after a change")?;

    // A fresh process over the same converged world: empty source and task definition caches.
    let fresh = new_reconciler(args, &w.settings).await;
    let cold = operator::pass(&fresh, &mut Source::new(location.clone())).await?;
    check(&cold, "fresh-process pass")?;

    // The same with the warm-start cache the controller's leader keeps in the state bucket:
    // written from the first process's caches, read (one GetObject, counted) by a new one.
    let state = ecs_operator::domain::S3Location {
        bucket: w.bucket.clone(),
        prefix: "state/".into(),
    };
    let running: std::collections::BTreeSet<String> =
        (cold.observed_task_definitions.iter()).cloned().collect();
    let cache = ecs_operator::status::warm::WarmCache {
        version: ecs_operator::status::warm::VERSION,
        manifests: source.export(),
        task_definitions: reconciler.observer.export(&running),
        statuses: Default::default(),
    };
    ecs_operator::status::warm::WarmStore::new(Some(state.clone()))
        .save(&reconciler.aws, &cache)
        .await
        .context("writing the warm-start cache")?;
    let warm_reconciler = new_reconciler(args, &w.settings).await;
    let mut warm_source = Source::new(location.clone());
    let warm = operator::warm_pass(&warm_reconciler, &mut warm_source, state).await?;
    check(&warm, "warm-start pass")?;
    log(format!(
        "N={n}: fresh process {} calls, with the warm-start cache {} calls",
        stats::Split::of(&cold.calls).total(),
        stats::Split::of(&warm.calls).total()
    ));

    let sd = discovery::measure(&reconciler, &mut Source::new(location))
        .await
        .map_err(|e| format!("{e:#}"));
    if let Ok(sd) = &sd {
        log(format!(
            "N={n}: service discovery reads {:.1} calls a minute with events, {:.0} without",
            sd.event_driven_per_minute, sd.polling_per_minute
        ));
    }

    let rss = match &args.operator_bin {
        Some(bin) => {
            rss::measure(bin, &args.endpoint, &w.settings, &args.work).map_err(|e| format!("{e:#}"))
        }
        None => Err("no --operator-bin given".into()),
    };
    let rss_pages = match &args.operator_bin {
        Some(bin) => rss::measure_on_aws_pages(bin, &args.endpoint, &w.settings, &args.work)
            .map_err(|e| format!("{e:#}")),
        None => Err("no --operator-bin given".into()),
    };
    for (r, answers) in [
        (&rss, "moto's one-page listings"),
        (&rss_pages, "AWS page sizes"),
    ] {
        if let Ok(r) = r {
            log(format!(
                "N={n}: ecs-operator run peak RSS {} KiB, of it anonymous {} KiB ({:.1} s, {answers})",
                r.peak_kib, r.peak_anon_kib, r.secs
            ));
        }
    }

    let events = match &args.operator_bin {
        Some(bin) => events::measure(bin, &args.endpoint, &setup, &w, &prefix, &args.work)
            .await
            .map_err(|e| format!("{e:#}")),
        None => Err("no --operator-bin given".into()),
    };
    if let Ok(e) = &events {
        log(format!(
            "N={n}: S3 change -> applied through events in {:.2} s (median of {})",
            stats::median(&e.secs),
            e.secs.len()
        ));
    }

    // The floor, in a world of its own (after a reset, from the same empty start).
    let floor_prefix = if args.reset_moto {
        prefix.clone()
    } else {
        format!("f{n}-{tag}")
    };
    let floor = converge::floor_run(args, n, &floor_prefix, octet + 1).await?;
    log(format!("N={n}: floor {:.2} s", floor.secs));
    let mut pairs = vec![converge::ConvergeSample {
        operator_secs: first.secs,
        floor_secs: floor.secs,
    }];
    pairs.extend(converge::more_samples(args, n, &prefix, octet).await?);

    Ok(SizeResult {
        n,
        scaled: manifests::scaled_count(n),
        first,
        idle,
        idle_secs,
        idle_sweep,
        pages,
        changed,
        cold,
        warm,
        floor,
        converge: pairs,
        rss,
        rss_pages,
        events,
        sd,
    })
}

pub(crate) fn check(pass: &operator::Pass, what: &str) -> Result<()> {
    if !pass.errors.is_empty() {
        bail!(
            "{what}: {} services failed, e.g. {:?}",
            pass.errors.len(),
            &pass.errors[..pass.errors.len().min(3)]
        );
    }
    Ok(())
}

pub(crate) fn render_all(
    docs: &[(String, String)],
    settings: &Settings,
) -> Result<Vec<ecs_operator::render::DesiredService>> {
    let mut set = ecs_operator::manifest::ManifestSet::default();
    for (name, text) in docs {
        set.add_source(name, text.as_bytes(), Some(settings));
    }
    set.finish();
    if !set.rejected.is_empty() {
        bail!("generated manifests were rejected");
    }
    Ok(set
        .manifests
        .iter()
        .map(|m| render_service(&m.manifest, settings))
        .collect())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let started = std::time::Instant::now();
    let load_before = report::loadavg();

    log(format!(
        "render + plan throughput at N={} (in process)",
        args.render_n
    ));
    let mut settings = Settings::local_defaults();
    settings.operator_id = "op-bench".into();
    settings.service_discovery_namespace_id = Some("ns-bench".into());
    let docs = manifests::generate("t-", args.render_n);
    let throughput = throughput::measure(&docs, &settings)?;
    drop(docs);
    if let Some(out) = &args.throughput_only {
        std::fs::write(out, serde_json::to_string_pretty(&throughput)? + "\n")?;
        log(format!(
            "{} profile: {:.0} manifests per second; wrote {}",
            throughput.profile,
            throughput.rate(throughput.total_secs()),
            out.display()
        ));
        return Ok(());
    }
    let mut throughputs = vec![throughput];
    if let Some(path) = &args.also_throughput {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        throughputs.push(serde_json::from_str(&text).context("--also-throughput")?);
    }

    let mut sizes = Vec::new();
    for (index, n) in args.sizes.iter().copied().enumerate() {
        sizes.push(measure_size(&args, n, index).await?);
    }
    if args.reset_moto {
        world::reset_moto(&args.endpoint).await?;
    }

    let demo = demo::find_each_timing(args.demo_latency.as_deref());
    let context = report::Context::gather(&args, started.elapsed().as_secs_f64(), load_before);
    let (tables, document) = report::render(&context, &sizes, &throughputs, &demo);
    println!("{tables}");
    std::fs::write(&args.out, document)?;
    let results = results::write(&args.work, &sizes, &throughputs)?;
    log(format!("wrote {}", results.display()));
    log(format!(
        "wrote {} in {:.0} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
