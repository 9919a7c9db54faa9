//! `.work/bench/results.json`: the figures issue 16 sets goals for, as numbers, for scripts
//! and CI to compare. A key whose figure this run did not measure as defined is `null` with
//! the reason under `"unmeasured"`: never a derived or invented number.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{json, Map, Value};

use crate::stats::{self, Split};
use crate::throughput::Throughput;
use crate::SizeResult;

/// Writes the file into `work`; returns its path.
pub fn write(work: &Path, sizes: &[SizeResult], throughputs: &[Throughput]) -> Result<PathBuf> {
    let of = |profile: &str| {
        (throughputs.iter())
            .find(|t| t.profile == profile)
            .map(|t| t.rate(t.total_secs()))
    };
    let measured_by = throughputs.first().map_or("dev", |t| t.profile.as_str());
    let at = |n: usize| sizes.iter().find(|s| s.n == n);
    let mut figures = Map::new();
    let mut unmeasured = Map::new();
    let mut put = |key: &str, value: Option<f64>, why: &str| {
        figures.insert(key.into(), value.map_or(Value::Null, |v| json!(v)));
        if value.is_none() {
            unmeasured.insert(key.into(), json!(why));
        }
    };
    let real = |pick: fn(&crate::pages::RealPages) -> &crate::operator::Pass| {
        at(500).and_then(|s| {
            let p = s.pages.as_ref().ok()?;
            Some(stats::per_service(Split::of(&pick(p).calls).total(), s.n))
        })
    };
    let why = "N = 500 not in --sizes, or the pass through testkit::aws_pages failed";
    put(
        "idle_calls_per_service_real_pages_500",
        real(|p| &p.between_sweeps),
        why,
    );
    put(
        "idle_calls_per_service_real_pages_500_at_sweep",
        real(|p| &p.at_sweep),
        why,
    );
    // A pass a minute (--interval) and a scaling sweep every 5 (--scaling-sweep).
    put(
        "idle_calls_per_service_real_pages_500_average",
        real(|p| &p.between_sweeps)
            .zip(real(|p| &p.at_sweep))
            .map(|(idle, sweep)| (4.0 * idle + sweep) / 5.0),
        why,
    );
    put(
        "restart_calls_per_service_500",
        at(500).map(|s| stats::per_service(Split::of(&s.warm.calls).total(), s.n)),
        "N = 500 not in --sizes",
    );
    for n in [500, 1000] {
        put(
            &format!("converge_ratio_{n}"),
            at(n).and_then(SizeResult::converge_ratio),
            "N not in --sizes",
        );
    }
    put(
        "sd_calls_per_minute_500",
        at(500).and_then(|s| s.sd.as_ref().ok().map(|sd| sd.event_driven_per_minute)),
        "N = 500 not in --sizes, or the discovery measurement failed",
    );
    // On AWS page sizes (what a real account sends), and against moto's one-page listings.
    let largest = at(1000);
    for (key, rss) in [
        ("", largest.and_then(|s| s.rss_pages.as_ref().ok())),
        ("_moto_one_page", largest.and_then(|s| s.rss.as_ref().ok())),
    ] {
        put(
            &format!("rss_mib_1000{key}"),
            rss.map(|r| r.peak_kib as f64 / 1024.0),
            "N = 1000 not in --sizes, or no --operator-bin",
        );
        put(
            &format!("rss_anon_mib_1000{key}"),
            rss.map(|r| r.peak_anon_kib as f64 / 1024.0),
            "N = 1000 not in --sizes, or no --operator-bin",
        );
    }
    put(
        "pass_manifests_per_second_release",
        of("release"),
        "no release build measured (scripts/bench builds one unless BENCH_PROFILE=dev)",
    );
    put(
        "s3_change_to_applied_seconds",
        at(500)
            .or(sizes.last())
            .and_then(|s| s.events.as_ref().ok())
            .map(|e| stats::median(&e.secs)),
        "no --operator-bin given",
    );
    if let Some(s) = at(500) {
        figures.insert(
            "restart_calls_per_service_500_without_cache".into(),
            json!(stats::per_service(Split::of(&s.cold.calls).total(), s.n)),
        );
    }
    if let Some(dev) = of("dev") {
        figures.insert("pass_manifests_per_second_dev".into(), json!(dev));
    }
    let mut document = figures;
    // The profile of the bench and of the operator binary it ran (RSS, events).
    document.insert("profile".into(), json!(measured_by));
    document.insert("unmeasured".into(), Value::Object(unmeasured));
    std::fs::create_dir_all(work)?;
    let path = work.join("results.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&Value::Object(document))? + "\n",
    )?;
    Ok(path)
}
