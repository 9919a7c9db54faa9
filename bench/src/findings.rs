//! The Findings section of BENCHMARKS.md: remarks on the figures, with the reason for any
//! that is worse than expected and the fix.

use crate::report::{op_count, secs};
use crate::stats::{self, PageSizes, Split};
use crate::throughput::Throughput;
use crate::SizeResult;

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
            s.converge_ratio().map(|r| {
                format!(
                    "{r:.2}× at N = {} (median of {} pairs)",
                    s.n,
                    s.converge.len()
                )
            })
        })
        .collect();
    if let Some(r) = largest.converge_ratio() {
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
            let without_source = largest.first.secs - largest.first.fetch_secs;
            note.push_str(&format!(
                " Above 1.25×: the floor only writes, while the operator also reads its {n} \
                 manifests ({} of S3 reads through the same moto that serves the writes); \
                 without the source the pass took {} ({:.2}× the floor). New services' families \
                 are listed once (ListTaskDefinitionFamilies) instead of described one by one.",
                secs(largest.first.fetch_secs),
                secs(without_source),
                stats::ratio(without_source, largest.floor.secs).unwrap_or(0.0),
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
        .filter_map(|s| s.rss_pages.as_ref().ok().map(|r| (s.n, r.peak_kib)))
        .collect();
    let largest = sizes.iter().rev().find(|s| s.rss_pages.is_ok());
    if let (Some(small), Some(large)) = (rss.first(), rss.last()) {
        if let Some(kib) = stats::kib_per_manifest(*small, *large) {
            let mut note = format!(
                "Peak RSS of `ecs-operator run` on AWS page sizes grows by about {kib:.0} KiB per \
                 manifest between N = {} and N = {} ({:.1} → {:.1} MiB), about {:.0} MiB more at \
                 10,000 services.",
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
                     {:.1} KiB (the plan and the results share the desired and observed services \
                     and the task definitions (`Arc`); the source's parsed documents are the \
                     controller's last valid manifests, shared too).",
                    t.n,
                    per(m[0]),
                    per(m[1]),
                    per(m[2]),
                    per(m[3]),
                ));
            }
            if let Some(s) = largest {
                let (paged, one_page) = (s.rss_pages.as_ref().ok(), s.rss.as_ref().ok());
                if let (Some(p), Some(o)) = (paged, one_page) {
                    note.push_str(&format!(
                        " At N = {}: {:.1} MiB, of it {:.1} MiB anonymous (peak RssAnon: heap, \
                         stacks, relocated data); the rest is file-backed: the executable's text \
                         and read-only data, shared and reclaimable. Against moto's own answers \
                         (every listing in one page, 1,000 ECS and Cloud Map services in one \
                         response, which AWS never sends) the peak is {:.1} MiB ({:.1} \
                         anonymous).",
                        s.n,
                        p.peak_kib as f64 / 1024.0,
                        p.peak_anon_kib as f64 / 1024.0,
                        o.peak_kib as f64 / 1024.0,
                        o.peak_anon_kib as f64 / 1024.0,
                    ));
                }
            }
            note.push_str(
                " What keeps it there: one malloc arena (glibc made one per busy thread); the \
                 release link places the functions a run executes together (`controller/build.rs`, \
                 `controller/link-order.txt`; the header says how much of the list the binary \
                 still matches) and packs its relocations, so about 10 of the 29 MiB of code are \
                 resident (19 with a stale list); a pass frees its rendered list once planned; the \
                 `/status` copy is the controller's own map, shared; the warm-start cache is \
                 written after the pass's plan is dropped, from the shared manifest texts and task \
                 definitions, and remembered by its digest instead of its body; a manifest's lists \
                 are trimmed once checked and its load-balancer and ingress sections boxed. Next: \
                 the status records (about 1.2 KiB each in their map), the parsed manifests and \
                 the observed services are most of the heap, and every small string map (labels, \
                 env, log options) costs a 544-byte B-tree leaf; a sorted-vector map for those \
                 would save about 2 MiB at N = 1,000.",
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
         the bytes (shared with the controller's last valid manifests, not held twice). Render \
         writes the spec hash's JSON straight into SHA-256 (it built a `serde_json::Value` copy \
         of every service first, most of render's time). What remains of parsing is mostly \
         `serde_yaml`'s loader, which collects a document's events before deserialising them \
         (about two thirds of parse + validate in a profile). A reader that deserialises from \
         the parser's events as they come was tried and measured slower: serde-saphyr 2.2 \
         (granit-parser) took 77 µs per manifest against serde_yaml's 39 on the same machine \
         and input.",
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
