//! The printed table and BENCHMARKS.md.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::Command;

use crate::demo::{self, Demo};
use crate::stats::{self, PageSizes, Split};
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
        }
    }
}

fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

fn per(total: u64, n: usize) -> String {
    let p = stats::per_service(total, n);
    if p >= 10.0 {
        format!("{p:.1}")
    } else {
        format!("{p:.2}")
    }
}

fn rw(s: Split) -> String {
    format!("{} / {}", s.reads, s.writes)
}

fn ops_cell(calls: &BTreeMap<String, u64>, op: &str) -> String {
    calls
        .get(op)
        .map(|n| n.to_string())
        .unwrap_or_else(|| "·".into())
}

fn op_count(calls: &BTreeMap<String, u64>, op: &str) -> u64 {
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
        "| N | converge from empty (operator) | of which source / observe + plan / apply | floor: same writes, direct SDK, concurrency {} | ratio operator / floor | idle pass (median of {}) | of which source / observe + plan / apply | pass after one manifest changed | fresh process, nothing changed | peak RSS of `ecs-operator run` (VmHWM) |",
        ctx.concurrency, ctx.idle_passes
    );
    let _ = writeln!(tables, "|---:|---|---|---|---|---|---|---|---|---|");
    for s in sizes {
        let ratio = stats::ratio(s.first.secs, s.floor.secs)
            .map(|r| format!("**{r:.2}×**"))
            .unwrap_or_else(|| "n/a".into());
        let rss = match &s.rss {
            Ok(r) => format!("{:.1} MiB", r.peak_kib as f64 / 1024.0),
            Err(e) => format!("not measured: {e}"),
        };
        let _ = writeln!(
            tables,
            "| {} | {} | {} / {} / {} | {} | {} | {} | {} / {} / {} | {} | {} | {} |",
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
            rss,
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
    for note in findings(sizes, t) {
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
         every field is compared and every service comes out in sync (checked), in each build \
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

/// Remarks on the figures, with the reason for any that is worse than expected and an
/// issue-sized fix.
pub fn findings(sizes: &[SizeResult], t: &Throughput) -> Vec<String> {
    let mut out = Vec::new();
    let Some(largest) = sizes.iter().max_by_key(|s| s.n) else {
        return out;
    };
    let n = largest.n;
    let (n64, s64) = (n as u64, largest.scaled as u64);

    // Idle passes must not write or download.
    for s in sizes {
        let idle = Split::of(&s.idle.calls);
        if idle.writes > 0 || s.idle.downloaded > 0 || s.changed.changed_services != 1 {
            out.push(format!(
                "**Unexpected at N = {}:** the idle pass made {} writes and downloaded {} objects \
                 (expected 0 and 0), and the pass after one change changed {} services (expected \
                 1). See the calls by operation.",
                s.n, idle.writes, s.idle.downloaded, s.changed.changed_services
            ));
        }
    }

    // Idle pass: the prediction from page sizes, the dominant call, real AWS.
    let predicted: Vec<String> = sizes
        .iter()
        .map(|s| {
            let (n, scaled) = (s.n as u64, s.scaled as u64);
            let idle = Split::of(&s.idle.calls).reads;
            let sweep = Split::of(&s.idle_sweep.calls).reads;
            let (idle_p, sweep_p) = (
                stats::idle_reads(n, scaled, PageSizes::MOTO, false),
                stats::idle_reads(n, scaled, PageSizes::MOTO, true),
            );
            let mark = |m: u64, p: u64| if m == p { "" } else { " (differs)" };
            format!(
                "N = {}: {idle} measured, {idle_p} predicted{}; at a sweep {sweep} measured, \
                 {sweep_p} predicted{}",
                s.n,
                mark(idle, idle_p),
                mark(sweep, sweep_p)
            )
        })
        .collect();
    out.push(format!(
        "Idle reads against the batching arithmetic with moto's page sizes: {}.",
        predicted.join("; ")
    ));
    let idle = Split::of(&largest.idle.calls);
    let idle_per = stats::per_service(idle.total(), n);
    let (dominant, dominant_calls) = stats::dominant(&largest.idle.calls).unwrap_or_default();
    let real = match &largest.pages {
        Ok(p) => {
            let idle = Split::of(&p.between_sweeps.calls).total();
            let sweep = Split::of(&p.at_sweep.calls).total();
            let ops = stats::by_operation(&p.at_sweep.calls);
            format!(
                "On AWS's page sizes (measured through `testkit::aws_pages`) the idle pass makes \
                 {idle} calls ({:.3} per service; predicted {}) and a sweeping one {sweep} ({:.3}; \
                 {} of them DescribeScalingPolicies, 10 a page, and these list every ECS policy of \
                 the region, not only the operator's). At the defaults (a pass a minute, a sweep \
                 every 5) that averages {:.3} calls per service per pass. Reading policies every \
                 pass, as before, would cost the sweep's figure on every pass.",
                stats::per_service(idle, n),
                stats::idle_reads(n64, s64, PageSizes::AWS_LIST_100, false),
                stats::per_service(sweep, n),
                op_count(&ops, "Application Auto Scaling:DescribeScalingPolicies"),
                (4.0 * idle as f64 + sweep as f64) / 5.0 / n.max(1) as f64,
            )
        }
        Err(why) => format!("The pass on AWS's page sizes was not measured: {why}."),
    };
    out.push(format!(
        "Idle pass at N = {n}: {} calls, {idle_per:.2} per service, none of them writes, with \
         exactly one ListObjectsV2 and no GetObject for the source. The dominant call is \
         {dominant} ({dominant_calls}): DescribeServices takes at most 10 names, so ⌈N/10⌉ is the \
         least any reader pays that checks each service's live state (a Terraform-style refresh \
         pays N for it alone). {real}",
        idle.total(),
    ));

    // Fresh process.
    let cold_ops = stats::by_operation(&largest.cold.calls);
    let cold = Split::of(&largest.cold.calls);
    let warm_ops = stats::by_operation(&largest.warm.calls);
    let warm = Split::of(&largest.warm.calls);
    out.push(format!(
        "A fresh process's first pass over an unchanged world costs {} calls at N = {n} ({:.2} per \
         service; ecspresso-style reads 2 and Terraform-style 4 per service on every run): {} \
         GetObject (every manifest downloaded once) and {} DescribeTaskDefinition (each live \
         revision described once, then cached for the life of the process). With the warm-start \
         cache the controller's leader keeps in the state bucket (`state/cache/warm.json`: \
         manifest texts by ETag and the task definitions the services run; \
         `status/warm.rs`) a new process reads it once and then makes {} calls ({:.2} per \
         service): {} GetObject (the cache and any manifest whose ETag changed) and {} \
         DescribeTaskDefinition.",
        cold.total(),
        stats::per_service(cold.total(), n),
        op_count(&cold_ops, "S3:GetObject"),
        op_count(&cold_ops, "ECS:DescribeTaskDefinition"),
        warm.total(),
        stats::per_service(warm.total(), n),
        op_count(&warm_ops, "S3:GetObject"),
        op_count(&warm_ops, "ECS:DescribeTaskDefinition"),
    ));

    // Ratio to the floor.
    let ratios: Vec<String> = sizes
        .iter()
        .filter_map(|s| {
            stats::ratio(s.first.secs, s.floor.secs).map(|r| format!("{r:.2}× at N = {}", s.n))
        })
        .collect();
    if let Some(r) = stats::ratio(largest.first.secs, largest.floor.secs) {
        let first_ops = stats::by_operation(&largest.first.calls);
        let floor_ops = stats::by_operation(&largest.floor.calls);
        let extra: Vec<String> = first_ops
            .iter()
            .filter(|(op, k)| **k > op_count(&floor_ops, op))
            .map(|(op, k)| format!("{op} {}", k - op_count(&floor_ops, op)))
            .collect();
        let first = Split::of(&largest.first.calls);
        let floor = Split::of(&largest.floor.calls);
        let apply_ratio = stats::ratio(largest.first.apply_secs, largest.floor.secs).unwrap_or(0.0);
        let mut note = format!(
            "Converging from empty, relative to the floor: {}{}. At N = {n} the pass spent {} in the source \
             (list, {n} downloads 8 at a time, parse), {} observing and planning, and {} \
             applying ({apply_ratio:.2}× the floor on its own). It made {} calls to the floor's {} \
             ({:.2}× as many); the extra ones are {}.",
            ratios.join(", "),
            if sizes.iter().any(|s| s.floor.secs < 1.0) {
                " (where the floor takes under a second the ratio is mostly noise)"
            } else {
                ""
            },
            secs(largest.first.fetch_secs),
            secs(largest.first.plan_secs),
            secs(largest.first.apply_secs),
            first.total(),
            floor.total(),
            first.total() as f64 / floor.total().max(1) as f64,
            extra.join(", ")
        );
        if r > 1.25 {
            note.push_str(&format!(
                " That is more than expected for a tool whose writes are the floor's. Reasons: for \
                 each created service the applier reads twice more than the floor: DescribeTaskDefinition of the \
                 family's latest revision before registering (so a crash between register and \
                 create does not leak revisions) and ListTaskDefinitions after it (to deregister \
                 revisions beyond `keepTaskDefinitionRevisions`). Fixes (issue-sized): skip the \
                 revision listing when \
                 the new revision's number (the ARN suffix) is not above the number kept — always \
                 true on a first registration, so {n} reads fewer here; replace the per-service \
                 describe-by-family with one paginated ListTaskDefinitionFamilies per pass and \
                 describe only families that already exist."
            ));
        }
        out.push(note);
    }

    // Idle pass wall time.
    let idle_median = stats::median(&largest.idle_secs);
    let describe_batches = (n64).div_ceil(10);
    out.push(format!(
        "An idle pass at N = {n} takes {} (median): {} in the source (one listing of {n} keys, then \
         merging the documents kept parsed per ETag and the cross-file checks), {} observing and planning, {} applying nothing. The \
         observe time is mostly the {describe_batches} DescribeServices batches, 4 in flight at a \
         time (`observe/ecs.rs`; on AWS that divides their wall time by about 4, less on moto, \
         which shares these 2 cores).",
        secs(idle_median),
        secs(largest.idle.fetch_secs),
        secs(largest.idle.plan_secs),
        secs(largest.idle.apply_secs),
    ));

    // Memory.
    let rss: Vec<(usize, u64)> = sizes
        .iter()
        .filter_map(|s| s.rss.as_ref().ok().map(|r| (s.n, r.peak_kib)))
        .collect();
    if let (Some(small), Some(large)) = (rss.first(), rss.last()) {
        if let Some(kib) = stats::kib_per_manifest(*small, *large) {
            let mut note = format!(
                "Peak RSS of `ecs-operator run` grows by about {kib:.0} KiB per manifest between \
                 N = {} and N = {} ({:.1} → {:.1} MiB), about {:.0} MiB more at 10,000 services.",
                small.0,
                large.0,
                small.1 as f64 / 1024.0,
                large.1 as f64 / 1024.0,
                kib * 10_000.0 / 1024.0,
            );
            if let Some(m) = t.rss_kib {
                let per = |k: i64| k as f64 / t.n.max(1) as f64;
                note.push_str(&format!(
                    " Measured in process at N = {}: a parsed and validated manifest keeps {:.1} KiB, \
                     its desired state {:.1} KiB, the observed copy {:.1} KiB and its plan entry \
                     {:.1} KiB (the plan clones desired and observed into every `ServicePlan`, and \
                     apply clones them again into every `ServiceResult`).",
                    t.n,
                    per(m[0]),
                    per(m[1]),
                    per(m[2]),
                    per(m[3]),
                ));
                let retained = per(m.iter().sum::<i64>());
                if kib > retained {
                    note.push_str(&format!(
                        " Together {retained:.0} of the {kib:.0} KiB; the rest is the results' \
                         second clones, the source's parsed documents and the copy of them the \
                         controller keeps as its last good set, the position index of every \
                         parsed document, and the status records. (Not the allocator's arenas: \
                         `MALLOC_ARENA_MAX=1` left the figure unchanged; `heaptrack` on \
                         `ecs-operator run` gives the same breakdown by call site.)"
                    ));
                }
            }
            note.push_str(
                " Fix (issue-sized): keep the plan's and results' `desired` / `observed` as \
                 `Arc`s instead of clones, share the source's parsed documents (kept per ETag) \
                 with the controller's last good set and last valid manifests, and index YAML \
                 positions only when a diagnostic needs one.",
            );
            out.push(note);
        }
    }

    // CPU cost of a pass.
    let share = |s: f64| 100.0 * s / t.total_secs().max(1e-9);
    out.push(format!(
        "CPU cost of a pass: {:.0} manifests per second end to end at N = {} in the {} profile \
         (parse + validate {:.0}%, render {:.0}%, plan {:.0}%), so a {}-service pass spends \
         {:.1} s of CPU before any I/O. Parsing dominates a pass that parses; since the S3 source \
         keeps each object's parsed and checked documents per ETag (`Source::fetch`), an idle \
         pass parses nothing (its source time above is the listing, merging the kept documents \
         and the cross-file checks). The cost is memory: the parsed documents are kept instead of \
         the bytes. Next: share them with the controller's last valid manifests instead of \
         holding both.",
        t.rate(t.total_secs()),
        t.n,
        t.profile,
        share(t.parse_secs),
        share(t.render_secs),
        share(t.plan_secs),
        t.n,
        t.total_secs(),
    ));

    // Service discovery refresh: not part of a pass; measured per size.
    for size in sizes {
        match &size.sd {
            Ok(sd) => out.push(format!(
                "Service discovery, N = {n} ({services} scraped services, nothing changing; `bench/src/discovery.rs`: the controller's \
                 own `Refresher` on a simulated 10 s refresh clock, every read it asks for made against moto and counted): \
                 {ev:.1} Cloud Map / ECS calls a minute with the events queue (reads only on an event, a changed pass \
                 observation, a rollout, or the jittered 15-minute `discoveryFullRefresh` sweep; {sim:.0} simulated minutes \
                 after the start-up read of {startup} calls), {poll:.0} a minute without it (every service every refresh).",
                n = size.n,
                services = sd.services,
                ev = sd.event_driven_per_minute,
                sim = sd.simulated_minutes,
                startup = sd.startup_calls,
                poll = sd.polling_per_minute,
            )),
            Err(e) => out.push(format!("Service discovery, N = {}: not measured ({e}).", size.n)),
        }
    }
    out
}
