//! Hostile input. Every input must be handled without a panic, within 2 s and a bounded amount
//! of memory (measured per input by a counting allocator), and whatever is accepted must render
//! into files that are safe: paths inside the config directory, PromQL that parses with the
//! label values intact, templates that expand to the literal text, roles and clusters within
//! the settings (and, in the full tier, configuration promtool and amtool accept).
//!
//! Two sources of inputs, each input its own test (a `libtest-mimic` harness, `harness = false`):
//! - `hostile::<case>`: a corpus of manifests built to hurt (deep nesting, huge documents, alias
//!   bombs, broken encodings, duplicate keys, wrong types, names that collide after
//!   normalisation, PromQL and template injection). The cases and what each must do are in
//!   `tests/hostile/expectations.toml`; their inputs are the files beside it, or functions in
//!   `reliability_input/generators.rs` for the huge ones.
//! - `fuzz::...`: proptest mutating the parsed YAML tree of valid seeds and the text around it,
//!   with a fixed seed (see `reliability_input/fuzz.rs` for the knobs and the regression file).
//!
//! Tiers: the default build runs every pure check. Built with `--features full-tier` it also
//! runs promtool and amtool on what is accepted, and fails, naming the tool and
//! `scripts/install-test-deps`, when one is missing.
//!
//! One case: `cargo test -p ecs-operator --test reliability_input -- 'hostile::billion-laughs-in-mappings '`.

#[path = "reliability_input/corpus.rs"]
mod corpus;
#[path = "reliability_input/fuzz.rs"]
mod fuzz;
#[path = "reliability_input/generators.rs"]
mod generators;
#[path = "reliability_input/measure.rs"]
mod measure;
#[path = "reliability_input/mutations.rs"]
mod mutations;
#[path = "reliability_input/oracle.rs"]
mod oracle;
#[path = "reliability_input/pipeline.rs"]
mod pipeline;
#[path = "reliability_input/seeds.rs"]
mod seeds;
#[cfg(feature = "full-tier")]
#[path = "reliability_input/tools.rs"]
mod tools;

use std::sync::{Arc, Mutex};

use libtest_mimic::{Arguments, Trial};

#[global_allocator]
static ALLOCATOR: measure::Counting = measure::Counting;

fn main() {
    let args = Arguments::from_args();
    let rows = Arc::new(Mutex::new(Vec::new()));
    // The fuzzer first: it is the longest, and runs beside the corpus.
    let mut trials = vec![
        Trial::test(
            "fuzz::mutated manifests cause no panic, no unbounded work and no unsafe output",
            fuzz::mutated_manifests_are_handled_safely,
        ),
        Trial::test(
            "fuzz::every seed manifest is valid before it is mutated",
            fuzz::every_seed_is_valid,
        ),
    ];
    #[cfg(feature = "full-tier")]
    trials.push(Trial::test(
        "tools::promtool and amtool are installed for the full tier",
        tools::tools_are_installed,
    ));
    let corpus = corpus::trials(&rows);
    // Every trial but the index check is a case.
    let cases = corpus.len() - 1;
    let ran_every_case = args.filter.is_none() && args.skip.is_empty() && !args.list;
    trials.extend(corpus);
    let conclusion = libtest_mimic::run(&args, trials);
    if ran_every_case && !conclusion.has_failed() {
        record_corpus_figures(&rows.lock().unwrap(), cases);
    }
    conclusion.exit();
}

/// The corpus figures for RELIABILITY.md (`scripts/reliability-report`), recorded only when
/// every case ran and passed.
fn record_corpus_figures(rows: &[serde_json::Value], cases: usize) {
    if rows.len() != cases {
        return;
    }
    let mut rows = rows.to_vec();
    let order = corpus::read_index().unwrap_or_default();
    rows.sort_by_key(|r| order.get_index_of(r["input"].as_str().unwrap_or("")));
    let max = |key: &str| {
        rows.iter()
            .filter_map(|r| r[key].as_f64())
            .fold(0.0, f64::max)
    };
    #[allow(unused_mut)]
    let mut figures = serde_json::json!({
        "inputs": rows.len(),
        "rejected": rows.iter().filter(|r| r["outcome"] == "rejected").count(),
        "accepted_and_rendered_safely": rows.iter().filter(|r| r["outcome"] == "accepted").count(),
        "panics": 0,
        "max_milliseconds": max("milliseconds"),
        "max_peak_heap_mib": max("peak_heap_kib") / 1024.0,
        "limits": {
            "milliseconds": pipeline::TIME_LIMIT.as_millis() as u64,
            "peak_heap_mib": pipeline::MEMORY_LIMIT >> 20,
        },
        "lost": 0,
    });
    #[cfg(feature = "full-tier")]
    {
        figures["rendered_files_checked_by_promtool_and_amtool"] = rows
            .iter()
            .filter_map(|r| r["files_checked_by_promtool_and_amtool"].as_u64())
            .sum::<u64>()
            .into();
    }
    figures["rows"] = rows.into();
    testkit::record_figures(
        "hostile_input",
        "a corpus of hostile manifests through parse, validate and render, one test per case, each timed and its peak heap measured",
        figures,
    );
}
