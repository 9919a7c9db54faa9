//! The fuzzer: proptest over plans of structure-aware mutations of valid seed manifests (see
//! `mutations.rs`), each input held to the same bounds and oracle as the corpus.
//!
//! Deterministic by default: a fixed seed and [`DEFAULT_CASES`] inputs, so CI runs the same
//! inputs every time. `RELIABILITY_FUZZ_CASES=100000` runs longer (the first inputs are the same
//! ones), `RELIABILITY_FUZZ_SEED=<u64>` explores elsewhere. A failing input is shrunk, its seed
//! is appended to [`REGRESSIONS`] (check that file in: every later run replays it first), and
//! its files are saved under `.work/reliability/`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libtest_mimic::Failed;
use proptest::strategy::Strategy;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner,
};
use serde_yaml::Value;

use crate::mutations::{apply_text, apply_tree, input_plans, DocumentPlan};
use crate::pipeline::handle;
use crate::seeds::{fuzz_settings, seeds, vocabulary};
use testkit::{figures_dir, record_figures};

/// The seed of the default run.
pub const DEFAULT_SEED: u64 = 0x0ec5_0be7_a70f_0001;
/// Inputs in the default run: about 15 s of a debug build on these 2-core machines.
pub const DEFAULT_CASES: u32 = 2_000;
/// Seeds of inputs that failed once, replayed before anything else (relative to `controller/`).
pub const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/reliability_input.proptest-regressions"
);

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("{name}={text:?} is not a number")),
        Err(_) => Ok(default),
    }
}

/// One fuzz input: the files given to the loader (and the plans they came from, for shrinking).
#[derive(Clone)]
pub struct FuzzInput {
    pub plans: Vec<DocumentPlan>,
    pub files: Vec<(String, String)>,
    /// How many of the files are unmutated companions (a seed a mutated `dependsOn` may name).
    pub companions: usize,
}

impl fmt::Debug for FuzzInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, text) in &self.files {
            let shown: String = text.chars().take(3000).collect();
            writeln!(f, "--- {name} ({} bytes)\n{shown}", text.len())?;
            if shown.len() < text.len() {
                writeln!(f, "[... cut]")?;
            }
        }
        writeln!(f, "--- plans: {:?}", self.plans)
    }
}

/// The input a list of plans makes.
fn build(plans: Vec<DocumentPlan>, seeds: &[Value], companion: &str) -> FuzzInput {
    let limit = ecs_operator::manifest::load::MAX_FILE_BYTES;
    let mut files = Vec::new();
    for (f, plan) in plans.iter().enumerate() {
        let mut doc = seeds[plan.seed.index(seeds.len())].clone();
        for mutation in &plan.tree {
            apply_tree(&mut doc, mutation);
        }
        let mut text = serde_yaml::to_string(&doc).unwrap_or_default();
        // Repeated growth compounds; past the operator's file limit an input only tests the
        // size check, so it is cut back to just over the limit.
        if text.len() > 2 * limit {
            let mut cut = limit + 1;
            while !text.is_char_boundary(cut) {
                cut += 1;
            }
            text.truncate(cut);
        }
        if let Some(mutation) = &plan.text {
            apply_text(&mut text, mutation);
        }
        files.push((format!("f{f}.yaml"), text));
    }
    let companions = usize::from(files.iter().any(|(_, t)| t.contains("dependsOn")));
    if companions > 0 {
        files.push(("hello.yaml".into(), companion.to_string()));
    }
    FuzzInput {
        plans,
        files,
        companions,
    }
}

/// What the run saw.
#[derive(Default)]
struct Stats {
    inputs: u64,
    accepted: u64,
    rejected: u64,
    exprs: usize,
    max_time: Duration,
    max_peak: usize,
    /// Diagnostic messages with quoted values and numbers removed: a rough measure of how many
    /// different checks the mutations reached.
    shapes: BTreeSet<String>,
    slowest: Vec<(String, String)>,
    /// Rendered rule and Alertmanager files of accepted inputs, for promtool and amtool.
    sample: BTreeMap<String, String>,
}

fn shape(diagnostic: &str) -> String {
    let message = diagnostic
        .split(": ")
        .skip(2)
        .collect::<Vec<_>>()
        .join(": ");
    let mut shape = String::new();
    let mut quoted = false;
    for c in message.chars() {
        match c {
            '"' | '`' => quoted = !quoted,
            _ if quoted || c.is_ascii_digit() => {}
            _ => shape.push(c),
        }
    }
    shape
}

/// Every seed is a valid manifest before it is mutated (or the fuzzer mutates garbage).
pub fn every_seed_is_valid() -> Result<(), Failed> {
    let seeds = seeds();
    let texts: Vec<String> = seeds
        .iter()
        .map(|s| serde_yaml::to_string(s).unwrap())
        .collect();
    let files: Vec<(&str, &[u8])> = texts.iter().map(|t| ("seed.yaml", t.as_bytes())).collect();
    let h = handle(&files, &fuzz_settings())?;
    if h.accepted != seeds.len() {
        return Err(format!(
            "{} of {} seeds accepted: {:?}",
            h.accepted,
            seeds.len(),
            h.diagnostics
        )
        .into());
    }
    Ok(())
}

/// The property: no mutated input panics, exceeds its time or memory bound, or is accepted and
/// renders unsafe output. Records the run's figures as `fuzz`.
pub fn mutated_manifests_are_handled_safely() -> Result<(), Failed> {
    let cases: u32 = env_number("RELIABILITY_FUZZ_CASES", DEFAULT_CASES)?;
    let seed: u64 = env_number("RELIABILITY_FUZZ_SEED", DEFAULT_SEED)?;
    let settings = fuzz_settings();
    let seeds = Arc::new(seeds());
    let vocab = vocabulary(&seeds);
    // A seed that depends on another service gets that one (unmutated) as a companion file.
    let companion: Arc<str> = seeds
        .iter()
        .map(|s| serde_yaml::to_string(s).unwrap())
        .find(|t| t.contains("name: hello"))
        .ok_or("no seed named hello (the minimal example)")?
        .into();
    let strategy = {
        let seeds = Arc::clone(&seeds);
        input_plans(&vocab).prop_map(move |plans| build(plans, &seeds, &companion))
    };
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        // Shrinking reruns the pipeline; two minutes is plenty for inputs of milliseconds.
        max_shrink_time: 120_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let stats = RefCell::new(Stats::default());
    let started = Instant::now();
    let result = runner.run(&strategy, |input: FuzzInput| {
        let refs: Vec<(&str, &[u8])> = input
            .files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_bytes()))
            .collect();
        let h = handle(&refs, &settings).map_err(TestCaseError::fail)?;
        let mut s = stats.borrow_mut();
        s.inputs += 1;
        let iteration = s.inputs;
        if h.took > s.max_time {
            s.slowest = input.files.clone();
        }
        s.max_time = s.max_time.max(h.took);
        s.max_peak = s.max_peak.max(h.peak_bytes);
        s.exprs += h.exprs_checked;
        if h.accepted > input.companions {
            s.accepted += 1;
            if cfg!(feature = "full-tier") && s.sample.len() < 400 {
                for (path, content) in h.files {
                    if path.starts_with("prometheus/rules/") || path.starts_with("alertmanager/") {
                        s.sample.insert(format!("i{iteration}/{path}"), content);
                    }
                }
            }
        } else {
            s.rejected += 1;
        }
        for d in &h.diagnostics {
            s.shapes.insert(shape(d));
        }
        Ok(())
    });
    let seconds = started.elapsed().as_secs_f64();
    let stats = stats.into_inner();
    let dir = figures_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, input)) => {
            for (name, text) in &input.files {
                std::fs::write(dir.join(format!("fuzz-failure-{seed}-{name}")), text)
                    .map_err(|e| e.to_string())?;
            }
            return Err(format!(
                "{reason}\n(RELIABILITY_FUZZ_SEED={seed}; the failing input's seed is now in {REGRESSIONS}, \
                 its files under {})\nminimal failing input:\n{input:?}",
                dir.display()
            )
            .into());
        }
        Err(TestError::Abort(reason)) => return Err(format!("proptest gave up: {reason}").into()),
    }
    // The slowest input is kept for inspection.
    for (name, text) in &stats.slowest {
        std::fs::write(dir.join(format!("fuzz-slowest-{name}")), text)
            .map_err(|e| e.to_string())?;
    }
    if stats.inputs <= 100 {
        return Err(format!(
            "the fuzzer ran only {} inputs (RELIABILITY_FUZZ_CASES={cases}); more than 100 are needed",
            stats.inputs
        )
        .into());
    }
    if stats.accepted == 0 || stats.rejected == 0 {
        return Err(format!(
            "mutations must both pass and fail validation: {} accepted, {} rejected",
            stats.accepted, stats.rejected
        )
        .into());
    }
    #[allow(unused_mut)]
    let mut figures = serde_json::json!({
        "engine": "proptest",
        "seed": seed,
        "cases": cases,
        "seconds": seconds,
        "inputs": stats.inputs,
        "accepted_and_checked": stats.accepted,
        "rejected": stats.rejected,
        "distinct_diagnostics": stats.shapes.len(),
        "promql_expressions_parsed": stats.exprs,
        "max_milliseconds": stats.max_time.as_secs_f64() * 1000.0,
        "max_peak_heap_mib": stats.max_peak as f64 / (1024.0 * 1024.0),
        "failures": 0,
        "lost": 0,
    });
    #[cfg(feature = "full-tier")]
    {
        figures["rendered_files_checked_by_promtool_and_amtool"] =
            crate::tools::check_with_promtool_and_amtool(&stats.sample)?.into();
    }
    eprintln!(
        "fuzz: {} inputs in {seconds:.1} s (RELIABILITY_FUZZ_SEED={seed}): {} accepted, {} rejected, {} distinct diagnostics, {} PromQL expressions checked, max {:?}, max {} KiB",
        stats.inputs,
        stats.accepted,
        stats.rejected,
        stats.shapes.len(),
        stats.exprs,
        stats.max_time,
        stats.max_peak / 1024
    );
    record_figures(
        "fuzz",
        "structure-aware mutation fuzzing of the example manifests with proptest (YAML tree and text mutations), a fixed seed and number of cases",
        figures,
    );
    Ok(())
}
