//! The printed table and BENCHMARKS.md.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::Command;

use crate::demo::{self, Demo};
use crate::stats::{self, Split};
use crate::throughput::Throughput;
use crate::{Args, SizeResult};

/// Where and how the figures were taken.
pub struct Context {
    pub command: String,
    pub date: String,
    pub cores: String,
    pub memory: String,
    pub cpu: String,
    pub profile: String,
    pub moto: String,
    pub concurrency: usize,
    pub idle_passes: usize,
    pub bench_secs: f64,
    /// /proc/loadavg before and after the measurements (other work on the machine).
    pub load: (String, String),
    /// How much of `controller/link-order.txt` the measured operator binary still has.
    pub link_order: String,
}

/// The functions of `controller/link-order.txt` the binary defines, against all it lists: the
/// release link places them first (`controller/build.rs`); names a rebuild changed (another
/// Cargo.lock, another toolchain) are placed anywhere, and their pages stay resident apart.
fn link_order_match(operator_bin: Option<&std::path::Path>) -> String {
    let listed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../controller/link-order.txt"),
    )
    .unwrap_or_default();
    let listed: Vec<&str> = listed.lines().filter(|l| !l.is_empty()).collect();
    let defined = operator_bin
        .and_then(|bin| run("nm", &["--defined-only", &bin.display().to_string()]))
        .unwrap_or_default();
    let defined: std::collections::HashSet<&str> = defined
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    if listed.is_empty() || defined.is_empty() {
        return "not checked (no list or no `nm`)".into();
    }
    let found = listed
        .iter()
        .filter(|name| defined.contains(**name))
        .count();
    format!(
        "{found} of the {} functions in `controller/link-order.txt` are in the measured binary \
         ({:.0} %; regenerate the list with `scripts/link-order` when this falls)",
        listed.len(),
        found as f64 * 100.0 / listed.len() as f64
    )
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn proc_field(file: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(file)
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_once(':')
        .map(|(_, v)| v.trim().to_string())
}

impl Context {
    pub fn gather(args: &Args, bench_secs: f64, load_before: String) -> Context {
        let memory = proc_field("/proc/meminfo", "MemTotal")
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown".into());
        let profile = if cfg!(debug_assertions) {
            "dev (workspace crates opt-level 0 with debug assertions, dependencies opt-level 1)"
        } else {
            "release"
        };
        Context {
            command: args
                .command
                .clone()
                .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" ")),
            date: run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown".into()),
            cores: run("nproc", &[]).unwrap_or_else(|| "unknown".into()),
            memory,
            cpu: proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into()),
            profile: profile.into(),
            moto: run("python3", &["-c", "import moto; print(moto.__version__)"])
                .map(|v| format!("moto_server {v} on 127.0.0.1"))
                .unwrap_or_else(|| "unknown".into()),
            concurrency: args.concurrency,
            idle_passes: args.idle_passes,
            bench_secs,
            load: (load_before, loadavg()),
            link_order: link_order_match(args.operator_bin.as_deref()),
        }
    }
}

pub(crate) fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

pub(crate) fn per(total: u64, n: usize) -> String {
    let p = stats::per_service(total, n);
    if p >= 10.0 {
        format!("{p:.1}")
    } else {
        format!("{p:.2}")
    }
}

pub(crate) fn rw(s: Split) -> String {
    format!("{} / {}", s.reads, s.writes)
}

pub(crate) fn ops_cell(calls: &BTreeMap<String, u64>, op: &str) -> String {
    calls
        .get(op)
        .map(|n| n.to_string())
        .unwrap_or_else(|| "·".into())
}

pub(crate) fn op_count(calls: &BTreeMap<String, u64>, op: &str) -> u64 {
    calls.get(op).copied().unwrap_or(0)
}

/// The tables (printed and written) and the whole document.
pub fn render(
    ctx: &Context,
    sizes: &[SizeResult],
    throughputs: &[Throughput],
    demo: &[Demo],
) -> (String, String) {
    let t = &throughputs[0];
    let mut tables = String::new();
    let _ = writeln!(
        tables,
        "## AWS API calls (moto, every attempt counted by the operator's CallCounter)\n"
    );
    let _ = writeln!(
        tables,
        "| N | first apply: reads / writes | per service | idle pass: reads / writes | idle calls per service | idle S3: List / Get | one manifest changed: reads / writes | fresh process, nothing changed: calls (per service) |"
    );
    let _ = writeln!(tables, "|---:|---|---|---|---|---|---|---|");
    for s in sizes {
        let first = Split::of(&s.first.calls);
        let idle = Split::of(&s.idle.calls);
        let changed = Split::of(&s.changed.calls);
        let cold = Split::of(&s.cold.calls);
        let idle_ops = stats::by_operation(&s.idle.calls);
        let _ = writeln!(
            tables,
            "| {} | {} | {} / {} | {} | **{}** | {} / {} | {} | {} ({}) |",
            s.n,
            rw(first),
            per(first.reads, s.n),
            per(first.writes, s.n),
            rw(idle),
            per(idle.total(), s.n),
            op_count(&idle_ops, "S3:ListObjectsV2"),
            op_count(&idle_ops, "S3:GetObject"),
            rw(changed),
            cold.total(),
            per(cold.total(), s.n),
        );
    }

    let _ = writeln!(
        tables,
        "\n## Beside the peers: read calls of one pass over all N services with nothing changed (per service in brackets)\n"
    );
    let _ = writeln!(
        tables,
        "| N | ours, idle pass (measured) | ours, idle pass at a scaling sweep (measured) | ours on AWS page sizes: idle / at a sweep (measured) | ours, fresh process (measured) | Terraform-style refresh (derived) | ecspresso-style, one service per call (derived) | ours, first apply r / w (measured) | Terraform-style apply r / w (derived) |"
    );
    let _ = writeln!(tables, "|---:|---|---|---|---|---|---|---|---|");
    for s in sizes {
        let (n, scaled) = (s.n as u64, s.scaled as u64);
        let idle = Split::of(&s.idle.calls);
        let sweep = Split::of(&s.idle_sweep.calls);
        let cold = Split::of(&s.cold.calls);
        let real = match &s.pages {
            Ok(p) => {
                let (idle, sweep) = (
                    Split::of(&p.between_sweeps.calls).total(),
                    Split::of(&p.at_sweep.calls).total(),
                );
                format!(
                    "**{idle} ({})** / {sweep} ({})",
                    per(idle, s.n),
                    per(sweep, s.n)
                )
            }
            Err(why) => format!("not measured: {why}"),
        };
        let tf = stats::terraform_refresh_reads(n, scaled);
        let ecspresso = stats::ecspresso_reads(n);
        let first = Split::of(&s.first.calls);
        let tf_apply = stats::terraform_first_apply(n, scaled);
        let _ = writeln!(
            tables,
            "| {} | {} ({}) | {} ({}) | {} | {} ({}) | {} ({}) | {} ({}) | {} | {} |",
            s.n,
            idle.total(),
            per(idle.total(), s.n),
            sweep.total(),
            per(sweep.total(), s.n),
            real,
            cold.total(),
            per(cold.total(), s.n),
            tf,
            per(tf, s.n),
            ecspresso,
            per(ecspresso, s.n),
            rw(first),
            rw(tf_apply),
        );
    }
    let _ = writeln!(
        tables,
        "\nAn idle pass between scaling sweeps reads no scalable target or policy (the observer \
         remembers them; a manifest that changes them has them read in its own pass); every \
         `--scaling-sweep` (5 minutes; passes come every `--interval`, 60 s) one pass reads \
         them all. *On AWS page sizes* is measured, not derived: the same world read through \
         `testkit::aws_pages`, which pages moto's answers as the API references say (ECS \
         ListServices 10 unless asked for up to 100, DescribeScalingPolicies 10, Cloud Map \
         ListServices 100) and refuses any request over a limit (none was).\n\n\
         How the peer columns are derived (N services, S = N/2 autoscaled, one policy each):\n\
         - *Terraform-style refresh*: one read per resource per run (`terraform plan` refreshes every \
         resource in state): DescribeServices, DescribeTaskDefinition and Cloud Map GetService per \
         service, plus DescribeScalableTargets and DescribeScalingPolicies per autoscaled service = \
         3N + 2S (4 per service here; 5 if every service were autoscaled).\n\
         - *Terraform-style apply*: the same creates as ours (3N + 2S writes), and the AWS provider \
         ends each Create with its Read (3N + 2S reads); waiters (e.g. for the ECS service to be \
         ACTIVE) would add more, so this is a lower bound.\n\
         - *ecspresso-style*: one service per invocation, DescribeServices + DescribeTaskDefinition \
         per service = 2N (Cloud Map and scaling not read)."
    );

    let _ = writeln!(
        tables,
        "\n## Wall time and memory (moto on the same 2 cores as the operator; times are noisy, ratios less so)\n"
    );
    let _ = writeln!(
        tables,
        "| N | converge from empty (operator; first pair) | of which source / observe + plan / apply | floor: same writes, direct SDK, concurrency {} (first pair) | ratio operator / floor (median of the pairs' ratios; each pair from empty worlds) | idle pass (median of {}) | of which source / observe + plan / apply | pass after one manifest changed | fresh process, nothing changed | peak RSS of `ecs-operator run` (VmHWM) / anonymous (peak RssAnon), on AWS page sizes | the same against moto's one-page listings |",
        ctx.concurrency, ctx.idle_passes
    );
    let _ = writeln!(tables, "|---:|---|---|---|---|---|---|---|---|---|---|");
    for s in sizes {
        let ratio = s
            .converge_ratio()
            .map(|r| format!("**{r:.2}×** {}", pairs(&s.converge)))
            .unwrap_or_else(|| "n/a".into());
        let rss = |measured: &Result<crate::rss::Rss, String>| match measured {
            Ok(r) => format!(
                "{:.1} / {:.1} MiB",
                r.peak_kib as f64 / 1024.0,
                r.peak_anon_kib as f64 / 1024.0
            ),
            Err(e) => format!("not measured: {e}"),
        };
        let _ = writeln!(
            tables,
            "| {} | {} | {} / {} / {} | {} | {} | {} | {} / {} / {} | {} | {} | **{}** | {} |",
            s.n,
            secs(s.first.secs),
            secs(s.first.fetch_secs),
            secs(s.first.plan_secs),
            secs(s.first.apply_secs),
            secs(s.floor.secs),
            ratio,
            secs(stats::median(&s.idle_secs)),
            secs(s.idle.fetch_secs),
            secs(s.idle.plan_secs),
            secs(s.idle.apply_secs),
            secs(s.changed.secs),
            secs(s.cold.secs),
            rss(&s.rss_pages),
            rss(&s.rss),
        );
    }

    let _ = writeln!(
        tables,
        "\n## Events: S3 change -> applied (the real `ecs-operator run`, poll interval 5 min)\n\n\
         moto delivers the bucket's S3 notifications to the SQS queue the operator long-polls; \
         the bench uploads a changed manifest and times until ECS runs the new task definition \
         (DescribeServices every 20 ms).\n\n\
         | N | median | each change |\n|---:|---|---|"
    );
    for s in sizes {
        let _ = match &s.events {
            Ok(e) => writeln!(
                tables,
                "| {} | **{}** | {} |",
                s.n,
                secs(stats::median(&e.secs)),
                e.secs
                    .iter()
                    .map(|x| secs(*x))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(why) => writeln!(tables, "| {} | not measured: {why} | |", s.n),
        };
    }

    let _ = writeln!(
        tables,
        "\n## Render + plan throughput (in process, no I/O, N = {}, every service already in sync)\n",
        t.n
    );
    let _ = writeln!(
        tables,
        "| build profile | phase | time | manifests per second | µs per manifest | resident memory it keeps, KiB per manifest |\n|---|---|---|---|---|---|"
    );
    for t in throughputs {
        throughput_rows(&mut tables, t);
    }
    // --- the document ---
    let mut doc = String::new();
    let _ = writeln!(doc, "# Benchmarks\n");
    let _ = writeln!(
        doc,
        "Figures printed by `{}` (the `ecs-operator-bench` binary, crate `bench/`). \
         Regenerate them with that command; this file is overwritten.\n",
        ctx.command
    );
    let _ = writeln!(doc, "| | |\n|---|---|");
    let _ = writeln!(doc, "| command | `{}` |", ctx.command);
    let _ = writeln!(doc, "| date | {} |", ctx.date);
    let _ = writeln!(
        doc,
        "| machine | {} cores (nproc), {} memory (MemTotal), {} |",
        ctx.cores, ctx.memory, ctx.cpu
    );
    let _ = writeln!(doc, "| build profile | {} |", ctx.profile);
    let _ = writeln!(doc, "| link order | {} |", ctx.link_order);
    let _ = writeln!(doc, "| AWS | {} |", ctx.moto);
    let _ = writeln!(
        doc,
        "| runtime | {:.0} s for the measurements (excluding install and build) |",
        ctx.bench_secs
    );
    let _ = writeln!(
        doc,
        "| load average (1 5 15 min) | {} before, {} after: other work on these {} cores slows both the operator and moto |",
        ctx.load.0, ctx.load.1, ctx.cores
    );
    let _ = writeln!(
        doc,
        "\nManifests are generated: an ECR image, 0.25 or 0.5 vCPU, a health check, environment, one \
         alert, Cloud Map discovery on, and autoscaling with a CPU target for every second service. \
         Each N runs in a freshly reset moto with its own VPC, cluster, namespace and bucket; the \
         operator reads its manifests from S3 through `ecs_operator::source::Source` (ListObjectsV2 \
         with an ETag cache). A *pass* is what `ecs-operator run` does per pass: fetch the source, \
         render, observe, plan, apply. Counts are exact; times vary from run to run on these \
         machines, so compare ratios and counts first.\n"
    );
    doc.push_str(&tables);

    let _ = writeln!(doc, "\n## Calls by operation\n");
    let _ = writeln!(
        doc,
        "Columns: the first apply from empty, the floor's direct writes, one idle pass, the pass after \
         one manifest changed, and an idle pass by a fresh process (empty caches). `·` is zero.\n"
    );
    for s in sizes {
        let cols = [
            stats::by_operation(&s.first.calls),
            stats::by_operation(&s.floor.calls),
            stats::by_operation(&s.idle.calls),
            stats::by_operation(&s.changed.calls),
            stats::by_operation(&s.cold.calls),
        ];
        let ops: BTreeSet<&String> = cols.iter().flat_map(|c| c.keys()).collect();
        let _ = writeln!(doc, "**N = {}**\n", s.n);
        let _ = writeln!(
            doc,
            "| operation | first apply | floor | idle | changed | fresh process |\n|---|---:|---:|---:|---:|---:|"
        );
        for op in ops {
            let _ = writeln!(
                doc,
                "| {op} | {} | {} | {} | {} | {} |",
                ops_cell(&cols[0], op),
                ops_cell(&cols[1], op),
                ops_cell(&cols[2], op),
                ops_cell(&cols[3], op),
                ops_cell(&cols[4], op),
            );
        }
        let mismatch = stats::mismatches(
            &stats::writes_by_operation(&s.first.calls),
            &stats::writes_by_operation(&s.floor.calls),
        );
        if mismatch.is_empty() {
            let _ = writeln!(
                doc,
                "\nThe floor issued exactly the operator's writes (same operations, same counts).\n"
            );
        } else {
            let _ = writeln!(
                doc,
                "\nThe floor's writes differ from the operator's: {}.\n",
                mismatch.join("; ")
            );
        }
    }

    let _ = writeln!(
        doc,
        "## Detection latency (pizza demo)\n\nPer scenario, the time from the fault to the alert \
         reaching the webhook, against its physical floor (scrape interval + evaluation interval + \
         group_wait).\n"
    );
    for d in demo {
        if demo.len() > 1 {
            let _ = writeln!(
                doc,
                "### {} timing\n",
                match demo::timing_of(d).as_str() {
                    "production" => "Production",
                    _ => "Demo",
                }
            );
        }
        doc.push_str(&demo::markdown(d));
        doc.push('\n');
    }

    let _ = writeln!(doc, "\n## Findings\n");
    for note in crate::findings::findings(sizes, t) {
        let _ = writeln!(doc, "- {note}");
    }

    let _ = writeln!(
        doc,
        "\n## How each figure is taken\n\n\
         - **Calls**: the `CallCounter` of the operator's own `AwsClients` (an SDK interceptor that \
         sees every attempt, retries included), diffed around each pass; reads are Describe*, List*, \
         Get*, Discover*, Head*, everything else is a write. Setup (buckets, uploads) uses other clients \
         and is not counted.\n\
         - **Converge from empty**: one pass (`Source::fetch`, `Reconciler::plan`, `Reconciler::apply`, \
         concurrency {c}) from an empty world to everything created; the next pass makes zero writes \
         (checked: the idle pass).\n\
         - **Floor**: in a freshly reset moto, the same writes (RegisterTaskDefinition, Cloud Map \
         CreateService, ECS CreateService, and for autoscaled services RegisterScalableTarget and \
         PutScalingPolicy) with payloads from the same rendered desired state, issued directly with \
         the SDK, {c} services at a time, nothing else. The ratio is the operator's own overhead: source \
         download, observe, plan, and its reads before and after writing.\n\
         - **Idle pass**: the same process, nothing changed: one ListObjectsV2, no GetObject, the \
         observe reads, no writes.\n\
         - **One manifest changed**: one object rewritten in S3 with a new image tag, then one pass.\n\
         - **Fresh process**: a new `Reconciler` and `Source` over the converged world (what a \
         restarted controller's first pass costs: every object downloaded, every task definition \
         described once).\n\
         - **Peak RSS**: the real binary, `ecs-operator run --emulator --no-leader-election \
         --max-passes 2 --interval 1s` with the N manifests in S3 (both passes find everything in sync), \
         VmHWM polled from `/proc/<pid>/status` every 10 ms until it exits.\n\
         - **Render + plan**: generated manifests through `ManifestSet::add_source`, `render_service`, and \
         `reconcile::plan::plan` against an `Observed` built from the rendered desired state, so \
         every field is compared and every service comes out in sync (checked); each phase's time is the fastest of three \
         rounds (memory: the first round's), in each build \
         profile measured (`scripts/bench` runs the release binary for everything and the dev \
         one for this table only).",
        c = ctx.concurrency
    );
    (tables, doc)
}

/// The rows of one build profile's throughput.
fn throughput_rows(tables: &mut String, t: &Throughput) {
    let kib = |i: usize| {
        t.rss_kib
            .map(|m| format!("{:.1}", m[i] as f64 / t.n.max(1) as f64))
            .unwrap_or_else(|| "n/a".into())
    };
    let all_kib = t
        .rss_kib
        .map(|m| format!("{:.1}", m.iter().sum::<i64>() as f64 / t.n.max(1) as f64))
        .unwrap_or_else(|| "n/a".into());
    for (phase, s, mem) in [
        (
            "parse + validate (ManifestSet::add_source)",
            t.parse_secs,
            kib(0),
        ),
        ("render (render_service)", t.render_secs, kib(1)),
        (
            "plan (reconcile::plan::plan, every field compared)",
            t.plan_secs,
            format!(
                "{} (+ {} for the Observed it compares with)",
                kib(3),
                kib(2)
            ),
        ),
        ("**whole CPU cost of a pass**", t.total_secs(), all_kib),
    ] {
        let _ = writeln!(
            tables,
            "| {} | {phase} | {} | {:.0} | {:.0} | {mem} |",
            t.profile,
            secs(s),
            t.rate(s),
            s * 1e6 / t.n.max(1) as f64
        );
    }
}

/// The converge pairs as `(1.02×, 0.97×, 1.10×)`: the samples behind the median.
fn pairs(samples: &[crate::converge::ConvergeSample]) -> String {
    let ratios: Vec<String> = (samples.iter())
        .map(|p| p.ratio().map_or("n/a".into(), |r| format!("{r:.2}×")))
        .collect();
    format!("(pairs: {})", ratios.join(", "))
}
