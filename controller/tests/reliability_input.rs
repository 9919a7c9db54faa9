//! Hostile input: a corpus of manifests built to hurt (deep nesting, huge documents, alias
//! bombs, broken encodings, duplicate keys, wrong types, names that collide after
//! normalisation, PromQL and template injection) and a time-bounded, structure-aware mutation
//! fuzzer. Every input must be handled without a panic, within 2 s and a bounded amount of
//! memory (measured per input by a counting allocator), and whatever is accepted must render
//! into files that are safe: paths inside the config directory, PromQL that parses with the
//! label values intact, templates that expand to the literal text, roles and clusters within
//! the settings, and configuration promtool and amtool accept.
//!
//! The fuzzer is coverage-free (no cargo-fuzz: that needs a nightly toolchain, and these
//! machines have stable only): it mutates the parsed YAML tree of valid seeds and the text
//! around it with a seeded RNG for `RELIABILITY_FUZZ_SECONDS` (default 20) seconds, and prints
//! the seed so a failure can be replayed with `RELIABILITY_FUZZ_SEED`.

#[path = "support/reliability.rs"]
mod reliability;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use ecs_operator::manifest::{ManifestSet, MonitoredService};
use ecs_operator::settings::Settings;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_yaml::Value;

// ---------------------------------------------------------------------------------------------
// Memory: a global allocator that tracks, per thread, the bytes currently allocated and their
// peak. Parsing and validating run on the calling thread, so the peak growth while handling one
// input is that input's cost, whatever other tests do meanwhile.

struct Counting;

thread_local! {
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = CURRENT.try_with(|current| {
        let now = current.get() + delta;
        current.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now);
            }
        });
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning its result, the peak growth of this thread's heap and the time taken.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    let base = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    let peak = PEAK.with(Cell::get);
    (out, (peak - base).max(0) as usize, took)
}

// ---------------------------------------------------------------------------------------------
// The pipeline under test and the oracle for what it accepts.

const TIME_LIMIT: Duration = Duration::from_secs(2);
/// Peak heap growth allowed for one input (inputs are at most 1 MiB).
const MEMORY_LIMIT: usize = 64 * 1024 * 1024;
const ALLOWED_ROLE: &str = "arn:aws:iam::123456789012:role/app";

fn settings() -> Settings {
    let mut s = Settings::local_defaults();
    s.operator_id = "fuzz-operator".into();
    s.allowed_clusters = vec!["extra".into()];
    s.allowed_task_role_arns = vec![ALLOWED_ROLE.into()];
    s.service_discovery_namespace_id = Some("ns-fuzz".into());
    s.monitoring.alertmanager_url = Some("http://alertmanager:9093".into());
    s.monitoring.grafana_url = Some("https://grafana.example.com".into());
    s
}

fn load(files: &[(&str, &[u8])], settings: &Settings) -> ManifestSet {
    let mut set = ManifestSet::default();
    for (name, bytes) in files {
        set.add_source(name, bytes, Some(settings));
    }
    set.finish();
    set
}

/// What one input did.
#[derive(Debug, Default)]
struct Handled {
    accepted: usize,
    rejected: usize,
    diagnostics: Vec<String>,
    exprs_checked: usize,
    files: BTreeMap<String, String>,
    peak_bytes: usize,
    took: Duration,
}

/// Loads, validates and (when accepted) renders one input, measuring the time and memory the
/// operator's own work takes, then checks the result with the oracle. Returns an error naming
/// what went wrong.
fn handle(files: &[(&str, &[u8])], settings: &Settings) -> Result<Handled, String> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        measured(|| {
            let set = load(files, settings);
            let rendered = (!set.manifests.is_empty()).then(|| {
                let aws: Vec<_> = set
                    .manifests
                    .iter()
                    .map(|m| ecs_operator::render::render_service(&m.manifest, settings))
                    .collect();
                let manifests: Vec<&MonitoredService> =
                    set.manifests.iter().map(|m| &m.manifest).collect();
                (
                    aws,
                    ecs_operator::render::monitoring::render(&manifests, settings),
                )
            });
            (set, rendered)
        })
    }));
    let ((set, rendered), peak, took) = result.map_err(|panic| {
        format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )
    })?;
    if took > TIME_LIMIT {
        return Err(format!("took {took:?} (limit {TIME_LIMIT:?})"));
    }
    if peak > MEMORY_LIMIT {
        return Err(format!(
            "peak heap growth {} MiB (limit {} MiB)",
            peak >> 20,
            MEMORY_LIMIT >> 20
        ));
    }
    let mut h = Handled {
        accepted: set.manifests.len(),
        rejected: set.rejected.len(),
        diagnostics: set.diagnostics().map(|d| d.to_string()).collect(),
        peak_bytes: peak,
        took,
        ..Handled::default()
    };
    let lines: usize = files
        .iter()
        .map(|(_, b)| b.iter().filter(|c| **c == b'\n').count())
        .max()
        .unwrap_or(0);
    for d in set.diagnostics() {
        if d.message.trim().is_empty() {
            return Err(format!("a diagnostic without a message: {d}"));
        }
        if d.line > lines + 2 {
            return Err(format!("a diagnostic beyond the last line: {d}"));
        }
    }
    if rendered.is_some() {
        let (exprs, out) = catch_unwind(AssertUnwindSafe(|| check_accepted(&set, settings)))
            .map_err(|_| "the oracle panicked".to_string())??;
        h.exprs_checked = exprs;
        h.files = out;
    }
    Ok(h)
}

/// Go's unquoting of a double-quoted literal's body (promql-parser keeps escapes as written).
fn go_unescape(raw: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let next = chars.next().ok_or("a trailing backslash")?;
        match next {
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            'u' | 'U' => {
                let n = if next == 'u' { 4 } else { 8 };
                let hex: String = chars.by_ref().take(n).collect();
                let code = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                out.push(char::from_u32(code).ok_or("an invalid code point")?);
            }
            other => return Err(format!("an unknown escape \\{other}")),
        }
    }
    Ok(out)
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Every `{{ ... }}` action of a Go template text, in order (quotes inside actions respected).
fn template_actions(text: &str) -> Result<Vec<String>, String> {
    let mut actions = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let inner = &rest[start + 2..];
        let mut in_quote = false;
        let mut end = None;
        let bytes = inner.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if in_quote => i += 1,
                b'"' => in_quote = !in_quote,
                b'}' if !in_quote && bytes.get(i + 1) == Some(&b'}') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let end = end.ok_or_else(|| format!("unclosed template action in {text:?}"))?;
        actions.push(inner[..end].trim().to_string());
        rest = &inner[end + 2..];
    }
    Ok(actions)
}

/// The text a Go template renders when its only actions are the `{{ "{{" }}` escape; an error
/// when it holds any other action.
fn literal_expansion(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let inner = &rest[start + 2..];
        let end = inner
            .find("}}")
            .ok_or_else(|| format!("unclosed action in {text:?}"))?;
        if inner[..end].trim() != "\"{{\"" {
            return Err(format!(
                "live template action {{{{{}}}}} in {text:?}",
                &inner[..end]
            ));
        }
        out.push_str("{{");
        rest = &inner[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn action_allowed(action: &str) -> bool {
    let action = action.trim_matches('-').trim();
    if action == "\"{{\"" {
        return true;
    }
    let mut parts = action.split('|').map(str::trim);
    let head = parts.next().unwrap_or("");
    let head_ok = head == "$value"
        || head == ".Value"
        || ["$labels.", ".Labels.", "$externalLabels."]
            .iter()
            .any(|p| {
                head.strip_prefix(p).is_some_and(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            });
    head_ok
        && parts
            .all(|p| p.starts_with("humanize") || (p.starts_with("printf \"%") && p.ends_with('"')))
}

fn selectors(expr: &promql_parser::parser::Expr, out: &mut Vec<promql_parser::label::Matcher>) {
    use promql_parser::parser::Expr;
    match expr {
        Expr::VectorSelector(vs) => {
            out.extend(vs.matchers.matchers.iter().cloned());
            out.extend(vs.matchers.or_matchers.iter().flatten().cloned());
        }
        Expr::MatrixSelector(ms) => {
            out.extend(ms.vs.matchers.matchers.iter().cloned());
            out.extend(ms.vs.matchers.or_matchers.iter().flatten().cloned());
        }
        Expr::Aggregate(a) => {
            selectors(&a.expr, out);
            if let Some(p) = &a.param {
                selectors(p, out);
            }
        }
        Expr::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out);
        }
        Expr::Paren(p) => selectors(&p.expr, out),
        Expr::Unary(u) => selectors(&u.expr, out),
        Expr::Subquery(s) => selectors(&s.expr, out),
        Expr::Call(c) => {
            for a in &c.args.args {
                selectors(a, out);
            }
        }
        _ => {}
    }
}

/// The oracle for accepted manifests. Returns the number of PromQL expressions checked and the
/// rendered files.
fn check_accepted(
    set: &ManifestSet,
    settings: &Settings,
) -> Result<(usize, BTreeMap<String, String>), String> {
    let permitted_clusters: BTreeSet<&str> = settings.permitted_clusters().collect();
    let permitted_roles: BTreeSet<&str> = settings.permitted_task_roles().collect();
    for m in &set.manifests {
        let name = m.name();
        if !is_dns_label(name) || name.len() > 32 {
            return Err(format!(
                "accepted a service name that is no DNS label: {name:?}"
            ));
        }
        let d = ecs_operator::render::render_service(&m.manifest, settings);
        if !permitted_clusters.contains(d.cluster.as_str()) {
            return Err(format!("{name}: rendered into cluster {:?}", d.cluster));
        }
        if let Some(role) = &d.task_definition.task_role_arn {
            if !permitted_roles.contains(role.as_str()) {
                return Err(format!("{name}: task role {role:?} passed"));
            }
        }
        if d.task_definition.execution_role_arn != settings.execution_role_arn {
            return Err(format!("{name}: execution role changed"));
        }
        if d.tags.get(ecs_operator::domain::tags::OWNER) != Some(&settings.operator_id) {
            return Err(format!("{name}: owner tag {:?}", d.tags));
        }
        if let Some(disc) = &d.discovery {
            if !is_dns_label(&disc.name) {
                return Err(format!("{name}: Cloud Map name {:?}", disc.name));
            }
        }
        for (_, value) in &d.task_definition.container.secrets {
            if !value.starts_with("arn:") {
                return Err(format!("{name}: a secret that is not an ARN"));
            }
        }
    }
    let manifests: Vec<&MonitoredService> = set.manifests.iter().map(|m| &m.manifest).collect();
    let out = ecs_operator::render::monitoring::render(&manifests, settings);
    let mut exprs = 0;
    for (path, content) in &out.files {
        let p = std::path::Path::new(path);
        let safe = p.components().next().is_some()
            && p.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            && ["prometheus/", "alertmanager/", "grafana/"]
                .iter()
                .any(|prefix| path.starts_with(prefix));
        if !safe {
            return Err(format!("unsafe output path {path:?}"));
        }
        if path.ends_with(".json") {
            serde_json::from_str::<serde_json::Value>(content)
                .map_err(|e| format!("{path}: invalid JSON: {e}"))?;
            continue;
        }
        let doc: Value =
            serde_yaml::from_str(content).map_err(|e| format!("{path}: invalid YAML: {e}"))?;
        if !path.starts_with("prometheus/rules/") {
            continue;
        }
        let service = path
            .trim_start_matches("prometheus/rules/")
            .trim_end_matches(".rules.yml");
        let manifest = manifests
            .iter()
            .find(|m| m.metadata.name == service)
            .ok_or_else(|| format!("{path}: no manifest {service}"))?;
        for group in doc["groups"].as_sequence().into_iter().flatten() {
            for rule in group["rules"].as_sequence().into_iter().flatten() {
                let expr = rule["expr"]
                    .as_str()
                    .ok_or_else(|| format!("{path}: a rule without expr"))?;
                let parsed = promql_parser::parser::parse(expr)
                    .map_err(|e| format!("{path}: PromQL {expr:?} does not parse: {e}"))?;
                exprs += 1;
                let Some(alert) = rule["alert"].as_str() else {
                    continue;
                };
                // The manifest's own alert: each label is one matcher, value intact.
                if let Some(a) = manifest.spec.alerts.iter().find(|a| a.name == alert) {
                    if a.expr.is_none() {
                        let mut matchers = Vec::new();
                        selectors(&parsed, &mut matchers);
                        for (k, v) in &a.labels {
                            if !matchers
                                .iter()
                                .any(|m| &m.name == k && go_unescape(&m.value).as_ref() == Ok(v))
                            {
                                return Err(format!(
                                    "{path}: alert {alert}: label {k}={v:?} is not a literal matcher of {expr}"
                                ));
                            }
                        }
                    }
                }
                // Labels from metadata render literally; annotations only hold allowed actions.
                for (k, v) in &manifest.metadata.labels {
                    let rendered = rule["labels"][k.as_str()]
                        .as_str()
                        .ok_or_else(|| format!("{path}: alert {alert} lost label {k}"))?;
                    let expanded = literal_expansion(rendered)?;
                    if &expanded != v {
                        return Err(format!(
                            "{path}: alert {alert}: label {k} expands to {expanded:?}, not {v:?}"
                        ));
                    }
                }
                for field in ["labels", "annotations"] {
                    if let Some(map) = rule[field].as_mapping() {
                        for (k, v) in map {
                            let text = v.as_str().unwrap_or_default();
                            for action in template_actions(text)? {
                                if !action_allowed(&action) {
                                    return Err(format!(
                                        "{path}: alert {alert}: {field}.{} holds the template action {{{{{action}}}}}",
                                        k.as_str().unwrap_or_default()
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok((exprs, out.files))
}

// ---------------------------------------------------------------------------------------------
// The corpus.

const BASE: &str = "\
apiVersion: ecs-operator.io/v1alpha1
kind: MonitoredService
metadata:
  name: shop
spec:
  container:
    image: shop:1.0.0
    port: 8080
  notify:
    team: shop
";

fn base_with(spec_extra: &str) -> String {
    format!("{BASE}{spec_extra}")
}

fn renamed(name: &str) -> String {
    BASE.replace("  name: shop\n", &format!("  name: {name}\n"))
}

#[derive(Debug, Clone)]
enum Expect {
    /// Rejected, with a diagnostic containing this text.
    Rejected(&'static str),
    /// Accepted (and then checked by the oracle).
    Accepted,
    /// Either, as long as nothing breaks.
    Either,
}

struct Case {
    name: String,
    files: Vec<(String, Vec<u8>)>,
    expect: Expect,
}

fn case(name: &str, text: impl Into<Vec<u8>>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        files: vec![(format!("{name}.yaml"), text.into())],
        expect,
    }
}

fn alert(name: &str, extra: &str) -> String {
    format!(
        "  alerts:\n    - name: {name}\n      metric: orders_total\n      measure: pace\n      window: 5m\n      per: 1h\n      above: 10\n{extra}"
    )
}

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    use Expect::*;

    // Nesting.
    let depth = 20_000;
    let mut block = String::new();
    for i in 0..1_000 {
        block.push_str(&" ".repeat(i));
        block.push_str("a:\n");
    }
    cases.push(case("deep-block-nesting", block, Rejected("nested deeper")));
    cases.push(case(
        "deep-compact-sequences",
        format!("{}x\n", "- ".repeat(500_000)),
        Rejected("nested deeper"),
    ));
    cases.push(case(
        "deep-flow-mappings",
        format!("{}{}", "{a: ".repeat(depth), "}".repeat(depth)),
        Rejected(""),
    ));
    cases.push(case(
        "deep-nesting-inside-a-field",
        base_with(&format!(
            "  lifecycle:\n    dependsOn: {}x{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        )),
        Rejected(""),
    ));

    // Size.
    cases.push(case(
        "one-mebibyte-scalar",
        base_with(&format!(
            "  dashboard:\n    panels:\n      - title: \"{}\"\n        expr: up\n",
            "x".repeat(1024 * 1024 - BASE.len() - 80)
        )),
        Either,
    ));
    cases.push(case(
        "a-huge-image-name",
        BASE.replace("shop:1.0.0", &"a".repeat(900_000)),
        Rejected("spec.container.image"),
    ));
    let many_env: String = (0..20_000).map(|i| format!("      V{i}: x\n")).collect();
    cases.push(case(
        "twenty-thousand-env-vars",
        BASE.replace(
            "    port: 8080\n",
            &format!("    port: 8080\n    env:\n{many_env}"),
        ),
        Either,
    ));
    let alerts_of = |n: usize| -> String {
        (0..n)
            .map(|i| {
                format!("    - name: Orders{i}\n      metric: orders_total\n      measure: pace\n      window: 5m\n      per: 1h\n      above: {i}\n      labels:\n        reason: \"{}\"\n", "r".repeat(200))
            })
            .collect()
    };
    cases.push(case(
        "a-hundred-alerts-the-most-allowed",
        base_with(&format!("  alerts:\n{}", alerts_of(100))),
        Accepted,
    ));
    cases.push(case(
        "twenty-five-hundred-alerts",
        base_with(&format!("  alerts:\n{}", alerts_of(2_500))),
        Rejected("at most 100 alerts"),
    ));
    let many_panels: String = (0..20_000)
        .map(|i| format!("      - title: p{i}\n        expr: up\n"))
        .collect();
    cases.push(case(
        "twenty-thousand-panels",
        base_with(&format!("  dashboard:\n    panels:\n{many_panels}")),
        Rejected("at most 50 extra panels"),
    ));
    let documents: String = (0..201)
        .map(|i| format!("{}---\n", renamed(&format!("s{i}"))))
        .collect();
    cases.push(case(
        "two-hundred-and-one-documents",
        documents,
        Rejected("at most 200"),
    ));
    cases.push(case(
        "a-hundred-thousand-empty-documents",
        "---\n".repeat(100_000),
        Either,
    ));
    cases.push(case(
        "a-one-mebibyte-line-of-colons",
        ":".repeat(1024 * 1024 - 1),
        Rejected(""),
    ));

    // Anchors and aliases.
    let mut laughs = String::from("a0: &a0 {x: 1, y: 2, z: 3, w: 4, v: 5, u: 6, t: 7, s: 8}\n");
    for i in 1..16 {
        let prev = format!("*a{}", i - 1);
        laughs.push_str(&format!(
            "a{i}: &a{i} {{k1: {prev}, k2: {prev}, k3: {prev}, k4: {prev}, k5: {prev}, k6: {prev}, k7: {prev}, k8: {prev}}}\n"
        ));
    }
    cases.push(case(
        "billion-laughs-in-mappings",
        laughs,
        Rejected("aliases expand"),
    ));
    let mut merges = String::from("m0: &m0 {a: 1, b: 2}\n");
    for i in 1..20 {
        merges.push_str(&format!(
            "m{i}: &m{i}\n  <<: [*m{}, *m{}]\n  k{i}: [*m{}, *m{}, *m{}]\n",
            i - 1,
            i - 1,
            i - 1,
            i - 1,
            i - 1
        ));
    }
    cases.push(case("merge-key-bomb", merges, Rejected("aliases expand")));
    let blob = "x".repeat(4096);
    let refs: String = (0..40_000)
        .map(|i| format!("      V{i}: *blob\n"))
        .collect();
    cases.push(case(
        "forty-thousand-aliases-of-a-4k-string",
        BASE.replace(
            "    port: 8080\n",
            &format!("    port: 8080\n    command: [&blob \"{blob}\"]\n    env:\n{refs}"),
        ),
        Rejected("aliases expand"),
    ));
    cases.push(case(
        "an-alias-before-its-anchor",
        base_with("  lifecycle:\n    dependsOn: [*later]\n  x: &later y\n"),
        Rejected(""),
    ));
    cases.push(case(
        "an-anchor-that-names-itself",
        "a: &a [*a]\n",
        Rejected(""),
    ));
    cases.push(case(
        "aliases-inside-a-valid-manifest",
        BASE.replace(
            "    image: shop:1.0.0\n",
            "    image: &img shop:1.0.0\n    command: [*img, *img]\n",
        ),
        Either,
    ));

    // Encodings.
    let mut utf16 = vec![0xff, 0xfe];
    for unit in BASE.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    cases.push(case("utf-16-with-bom", utf16, Rejected("not UTF-8")));
    cases.push(case(
        "latin-1-byte",
        BASE.replace("team: shop", "team: sh\u{e9}p")
            .replace('\u{e9}', "\u{1}")
            .into_bytes()
            .into_iter()
            .map(|b| if b == 1 { 0xe9 } else { b })
            .collect::<Vec<u8>>(),
        Rejected("not UTF-8"),
    ));
    for (name, bytes) in [
        ("overlong-slash", &[0xc0u8, 0xaf][..]),
        ("lone-surrogate", &[0xed, 0xa0, 0x80][..]),
        ("truncated-sequence", &[0xe2, 0x82][..]),
    ] {
        let mut text = BASE.as_bytes().to_vec();
        text.splice(30..30, bytes.iter().copied());
        cases.push(case(name, text, Rejected("not UTF-8")));
    }
    cases.push(case("utf-8-bom", format!("\u{feff}{BASE}"), Either));
    cases.push(case(
        "nul-byte",
        BASE.replace("shop:1.0.0", "shop:1.0.0\u{0}"),
        Rejected(""),
    ));
    cases.push(case(
        "bidi-override-in-a-name",
        renamed("\"sh\u{202e}op\""),
        Rejected("metadata.name"),
    ));

    // Duplicate keys.
    cases.push(case(
        "duplicate-metadata",
        BASE.replace("spec:\n", "metadata:\n  name: other\nspec:\n"),
        Rejected("duplicate"),
    ));
    cases.push(case(
        "duplicate-key-by-quoting",
        BASE.replace("  name: shop\n", "  name: shop\n  \"name\": evil\n"),
        Rejected("duplicate"),
    ));
    cases.push(case(
        "duplicate-label",
        BASE.replace(
            "  name: shop\n",
            "  name: shop\n  labels:\n    tier: a\n    tier: b\n",
        ),
        Rejected("duplicate"),
    ));

    // Wrong types and extreme values.
    for (name, from, to, field) in [
        (
            "metadata-as-a-list",
            "metadata:\n  name: shop\n",
            "metadata: [shop]\n",
            "metadata",
        ),
        (
            "name-as-a-number",
            "  name: shop\n",
            "  name: 123\n",
            "metadata.name",
        ),
        (
            "name-as-null",
            "  name: shop\n",
            "  name: ~\n",
            "metadata.name",
        ),
        (
            "image-as-a-map",
            "    image: shop:1.0.0\n",
            "    image: {a: b}\n",
            "spec.container.image",
        ),
        (
            "negative-port",
            "    port: 8080\n",
            "    port: -1\n",
            "spec.container.port",
        ),
        (
            "port-in-scientific-notation",
            "    port: 8080\n",
            "    port: 1e10\n",
            "spec.container.port",
        ),
        (
            "a-twenty-digit-port",
            "    port: 8080\n",
            "    port: 99999999999999999999\n",
            "spec.container.port",
        ),
        (
            "cpu-as-a-float",
            "    port: 8080\n",
            "    port: 8080\n    cpu: 256.5\n",
            "spec.container.cpu",
        ),
    ] {
        cases.push(case(name, BASE.replace(from, to), Rejected(field)));
    }
    for (name, value) in [
        ("threshold-nan", ".nan"),
        ("threshold-infinite", ".inf"),
        ("threshold-minus-infinite", "-.inf"),
        ("threshold-beyond-f64", "1e999"),
        ("threshold-negative-zero", "-0.0"),
    ] {
        cases.push(case(
            name,
            base_with(&alert("Orders", "").replace("above: 10", &format!("above: {value}"))),
            Either,
        ));
    }
    cases.push(case(
        "name-as-a-boolean",
        BASE.replace("  name: shop\n", "  name: true\n"),
        Either,
    ));
    cases.push(case(
        "scaling-with-fractional-tasks",
        base_with("  scaling:\n    minTasks: 1.5\n    maxTasks: 3\n"),
        Rejected("spec.scaling.minTasks"),
    ));

    // Names that collide after normalisation: only exact DNS labels are names at all.
    for (name, text) in [
        ("upper-case-name", renamed("Shop")),
        ("trailing-space-name", renamed("\"shop \"")),
        (
            "full-width-name",
            renamed("\u{ff53}\u{ff48}\u{ff4f}\u{ff50}"),
        ),
        ("cyrillic-lookalike-name", renamed("\u{0455}hop")),
        ("zero-width-space-name", renamed("\"shop\u{200b}\"")),
        ("trailing-hyphen-name", renamed("shop-")),
        (
            "thirty-three-character-name",
            renamed(&format!("s{}", "h".repeat(32))),
        ),
    ] {
        cases.push(case(name, text, Rejected("metadata.name")));
    }
    cases.push(Case {
        name: "same-name-twice-in-one-file".into(),
        files: vec![(
            "twice.yaml".into(),
            format!("{BASE}---\n{BASE}").into_bytes(),
        )],
        expect: Rejected("unique"),
    });
    cases.push(Case {
        name: "a-discovery-name-that-is-another-service".into(),
        files: vec![
            ("a.yaml".into(), renamed("cart").into_bytes()),
            (
                "b.yaml".into(),
                base_with("  traffic:\n    discovery:\n      name: cart\n").into_bytes(),
            ),
        ],
        expect: Rejected("spec.traffic.discovery.name"),
    });
    cases.push(case(
        "team-with-a-path",
        BASE.replace("team: shop", "team: ../../etc"),
        Rejected("spec.notify.team"),
    ));

    // PromQL injection through labels: accepted, and the oracle proves the values stay literal.
    for (name, value) in [
        ("label-closing-the-selector", r#"x"}"#),
        ("label-with-an-or-vector", r#"x"} or vector(1) or up{a=""#),
        ("label-with-backslashes", r#"a\"}\\"#),
        ("label-with-a-regex-looking-value", r#".*"}|.*"#),
        ("label-with-unicode-quotes", "\u{201c}x\u{201d}}"),
    ] {
        let quoted = serde_json::to_string(value).unwrap();
        cases.push(case(
            name,
            BASE.replace(
                "  name: shop\n",
                &format!("  name: shop\n  labels:\n    note: {quoted}\n"),
            ) + &alert(
                "Orders",
                &format!("      labels:\n        reason: {quoted}\n"),
            ),
            Accepted,
        ));
    }
    cases.push(case(
        "metric-name-with-a-selector-in-it",
        base_with(
            &alert("Orders", "").replace("metric: orders_total", "metric: 'up) or vector(1'"),
        ),
        Rejected("metric"),
    ));
    cases.push(case(
        "label-name-with-a-brace",
        base_with(&alert("Orders", "      labels:\n        \"a}\": x\n")),
        Rejected("labels"),
    ));
    cases.push(case(
        "label-value-with-a-newline",
        BASE.replace(
            "  name: shop\n",
            "  name: shop\n  labels:\n    note: \"a\\n}\"\n",
        ) + &alert("Orders", ""),
        Accepted,
    ));
    cases.push(case(
        "alert-label-value-with-control-characters",
        base_with(&alert(
            "Orders",
            "      labels:\n        reason: \"a\\n\\t\\u0001}\"\n",
        )),
        Either,
    ));

    // Template syntax: only value and label actions in summaries; anything in labels is text.
    for (name, summary) in [
        ("summary-with-a-query", "{{ query \"up\" }}"),
        ("summary-with-define", "{{ define \"x\" }}boom{{ end }}"),
        ("summary-with-template", "{{ template \"x\" . }}"),
        ("summary-with-a-comment", "{{/* hidden */}}"),
        ("summary-with-range", "{{- range $i := .Alerts }}{{ end -}}"),
        ("summary-with-a-lone-close", "done }}"),
        ("description-with-call", "{{ call .Fn }}"),
    ] {
        let field = if name.starts_with("description") {
            "description"
        } else {
            "summary"
        };
        let quoted = serde_json::to_string(summary).unwrap();
        cases.push(case(
            name,
            base_with(&alert("Orders", &format!("      {field}: {quoted}\n"))),
            Rejected(if field == "summary" {
                "summary"
            } else {
                "description"
            }),
        ));
    }
    cases.push(case(
        "template-actions-in-label-values",
        BASE.replace(
            "  name: shop\n",
            "  name: shop\n  labels:\n    note: '{{ query \"up\" }} {{ define \"x\" }}'\n",
        ) + &alert("Orders", ""),
        Accepted,
    ));
    cases.push(case(
        "allowed-template-actions",
        base_with(&alert(
            "Orders",
            "      summary: \"{{ $value | humanize }} orders on {{ $labels.instance }}\"\n",
        )),
        Accepted,
    ));

    // Fields that are not the manifest's to set.
    cases.push(case(
        "an-execution-role",
        BASE.replace(
            "    port: 8080\n",
            "    port: 8080\n    executionRoleArn: arn:aws:iam::123456789012:role/admin\n",
        ),
        Rejected("executionRoleArn"),
    ));
    cases.push(case(
        "a-task-role-outside-the-allow-list",
        BASE.replace(
            "    port: 8080\n",
            "    port: 8080\n    taskRoleArn: arn:aws:iam::123456789012:role/admin\n",
        ),
        Rejected("taskRoleArn"),
    ));
    cases.push(case(
        "a-cluster-outside-the-allow-list",
        base_with("  placement:\n    cluster: production-payments\n"),
        Rejected("spec.placement.cluster"),
    ));
    cases.push(case(
        "an-env-name-with-an-equals-sign",
        BASE.replace(
            "    port: 8080\n",
            "    port: 8080\n    env:\n      \"A=B\": c\n",
        ),
        Rejected("env"),
    ));
    cases
}

fn preview(diagnostics: &[String]) -> String {
    diagnostics
        .iter()
        .take(5)
        .map(|d| d.chars().take(300).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_hostile_manifest_is_handled_within_two_seconds_and_bounded_memory_and_what_is_accepted_renders_safely(
) {
    let settings = settings();
    let corpus = corpus();
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    let mut accepted_files: BTreeMap<String, String> = BTreeMap::new();
    let (mut max_time, mut max_peak) = (Duration::ZERO, 0usize);
    for c in &corpus {
        let files: Vec<(&str, &[u8])> = c
            .files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        let bytes: usize = c.files.iter().map(|(_, b)| b.len()).sum();
        match handle(&files, &settings) {
            Err(e) => failures.push(format!("{}: {e}", c.name)),
            Ok(h) => {
                max_time = max_time.max(h.took);
                max_peak = max_peak.max(h.peak_bytes);
                let verdict = match &c.expect {
                    Expect::Rejected(text) => {
                        if h.rejected == 0 || (c.files.len() == 1 && h.accepted > 0) {
                            Err(format!("accepted ({} manifests)", h.accepted))
                        } else if !h.diagnostics.iter().any(|d| d.contains(text)) {
                            Err(format!(
                                "no diagnostic mentions {text:?}:\n{}",
                                preview(&h.diagnostics)
                            ))
                        } else {
                            Ok("rejected")
                        }
                    }
                    Expect::Accepted if h.accepted == 0 => {
                        Err(format!("rejected:\n{}", preview(&h.diagnostics)))
                    }
                    Expect::Accepted => Ok("accepted"),
                    Expect::Either if h.accepted > 0 => Ok("accepted"),
                    Expect::Either => Ok("rejected"),
                };
                match verdict {
                    Err(e) => failures.push(format!("{}: {e}", c.name)),
                    Ok(v) => {
                        if v == "accepted" {
                            for (path, content) in &h.files {
                                accepted_files
                                    .entry(format!("{}/{path}", c.name))
                                    .or_insert_with(|| content.clone());
                            }
                        }
                        rows.push(serde_json::json!({
                            "input": c.name,
                            "bytes": bytes,
                            "outcome": v,
                            "milliseconds": h.took.as_secs_f64() * 1000.0,
                            "peak_heap_kib": h.peak_bytes / 1024,
                            "first_diagnostic": h.diagnostics.first().map(|d| d.chars().take(160).collect::<String>()),
                        }));
                    }
                }
            }
        }
    }
    for row in &rows {
        eprintln!(
            "{:<48} {:>9} B {:>9} {:>8.1} ms {:>8} KiB  {}",
            row["input"].as_str().unwrap(),
            row["bytes"],
            row["outcome"].as_str().unwrap(),
            row["milliseconds"].as_f64().unwrap(),
            row["peak_heap_kib"],
            row["first_diagnostic"].as_str().unwrap_or("")
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // What was accepted also passes Prometheus's and Alertmanager's own checks.
    let checked = check_with_promtool_and_amtool(&accepted_files);
    record_figures(
        "hostile_input",
        "a corpus of hostile manifests through parse, validate and render, each timed and its peak heap measured",
        serde_json::json!({
            "inputs": corpus.len(),
            "rejected": rows.iter().filter(|r| r["outcome"] == "rejected").count(),
            "accepted_and_rendered_safely": rows.iter().filter(|r| r["outcome"] == "accepted").count(),
            "panics": 0,
            "max_milliseconds": max_time.as_secs_f64() * 1000.0,
            "max_peak_heap_mib": max_peak as f64 / (1024.0 * 1024.0),
            "limits": {"milliseconds": TIME_LIMIT.as_millis() as u64, "peak_heap_mib": MEMORY_LIMIT >> 20},
            "rendered_files_checked_by_promtool_and_amtool": checked,
            "lost": 0,
            "rows": rows,
        }),
    );
}

/// Writes the accepted cases' rendered files and runs `promtool check rules` and `amtool
/// check-config` on them; returns the number of files checked.
fn check_with_promtool_and_amtool(files: &BTreeMap<String, String>) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let mut rules = Vec::new();
    let mut alertmanagers = Vec::new();
    for (path, content) in files {
        let target = dir.path().join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, content).unwrap();
        if path.contains("/prometheus/rules/") {
            rules.push(target);
        } else if path.ends_with("alertmanager/alertmanager.yml") {
            alertmanagers.push(target);
        }
    }
    assert!(
        !rules.is_empty(),
        "some hostile cases are accepted and rendered"
    );
    let run = |tool: &str, args: &[&std::path::Path], first: &[&str]| {
        let out = std::process::Command::new(tool)
            .args(first)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{tool} runs (scripts/install-monitoring-tools): {e}"));
        assert!(
            out.status.success(),
            "{tool} rejects rendered output:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let rule_refs: Vec<&std::path::Path> = rules.iter().map(|p| p.as_path()).collect();
    run("promtool", &rule_refs, &["check", "rules"]);
    for am in &alertmanagers {
        run("amtool", &[am.as_path()], &["check-config"]);
    }
    rules.len() + alertmanagers.len()
}

use reliability::record_figures;

// ---------------------------------------------------------------------------------------------
// The fuzzer: structure-aware mutations of valid seeds, coverage-free, bounded in time.

fn fuzz_settings() -> Settings {
    let mut s = settings();
    // What the every-field example refers to, so that seed is valid before mutation.
    s.allowed_clusters.push("shop".into());
    s.allowed_task_role_arns
        .push("arn:aws:iam::123456789012:role/checkout-task".into());
    s.networks.insert(
        "private".into(),
        ecs_operator::settings::NetworkSettings {
            subnets: vec!["subnet-private".into()],
            security_groups: vec!["sg-private".into()],
            assign_public_ip: false,
        },
    );
    s
}

fn seeds() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples");
    let mut seeds = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc).unwrap();
            if !v.is_null() {
                seeds.push(v);
            }
        }
    }
    seeds.push(serde_yaml::from_str(BASE).unwrap());
    seeds
}

fn hostile_strings() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "x",
        "A",
        "0",
        "-1",
        "1e309",
        "NaN",
        ".inf",
        "null",
        "~",
        "true",
        "yes",
        "0x10",
        "1_000",
        "\"}",
        "x\"} or vector(1) or up{a=\"",
        "{{ query \"up\" }}",
        "{{ $value }}",
        "}}",
        "{{",
        "../../etc/passwd",
        "/abs/path",
        "a/b",
        "..",
        "a\\b",
        "arn:aws:iam::123456789012:role/admin",
        ALLOWED_ROLE,
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf",
        "extra",
        "default",
        "production",
        "shop",
        "hello",
        "pizza-service",
        "checkout",
        "\u{202e}rtl",
        "nul\u{0}",
        "tab\there",
        "line\nbreak",
        "ünïcødé",
        "😀",
        "5m",
        "0s",
        "-5m",
        "1h30m",
        "999999999d",
        "100%",
        "$(id)",
        "`id`",
        "<script>",
        "%s%n",
        "'",
        "*",
        "&a",
        "!tag",
        "#c",
        "[",
        "]",
        "{",
        ":",
        "- x",
        "? x",
        "| x",
        "> x",
        "@x",
        "=x",
        "Orders",
        "HighLatency",
        "SLO",
        "slack",
        "webhook",
        "http://127.0.0.1:9093",
        "https://hooks.slack.com/services/x",
        "/etc/alertmanager/slack",
        "orders_total",
        "up",
        "sum(rate(x[5m]))",
        "rate(",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(300));
    v.push("y".repeat(5000));
    v
}

struct Fuzzer {
    rng: StdRng,
    strings: Vec<String>,
    keys: Vec<String>,
}

fn collect_keys(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                if let Some(k) = k.as_str() {
                    out.insert(k.to_string());
                }
                collect_keys(v, out);
            }
        }
        Value::Sequence(s) => s.iter().for_each(|v| collect_keys(v, out)),
        _ => {}
    }
}

impl Fuzzer {
    fn scalar(&mut self) -> Value {
        match self.rng.random_range(0..8) {
            0 => Value::Number(self.rng.random_range(-5i64..70_000).into()),
            1 => Value::Number(
                [i64::MAX, i64::MIN, u32::MAX as i64 + 1, 0, -0][self.rng.random_range(0..5)]
                    .into(),
            ),
            2 => Value::Number(serde_yaml::Number::from(
                [0.5, -1.5, 1e300, f64::MIN_POSITIVE, 99.999, 100.0, -0.0]
                    [self.rng.random_range(0..7)],
            )),
            3 => Value::Bool(self.rng.random_bool(0.5)),
            4 => Value::Null,
            _ => Value::String(self.strings[self.rng.random_range(0..self.strings.len())].clone()),
        }
    }

    fn value(&mut self, depth: usize) -> Value {
        if depth > 3 || self.rng.random_bool(0.6) {
            return self.scalar();
        }
        if self.rng.random_bool(0.5) {
            Value::Sequence(
                (0..self.rng.random_range(0..4))
                    .map(|_| self.value(depth + 1))
                    .collect(),
            )
        } else {
            let mut m = serde_yaml::Mapping::new();
            for _ in 0..self.rng.random_range(0..4) {
                let k = self.keys[self.rng.random_range(0..self.keys.len())].clone();
                let v = self.value(depth + 1);
                m.insert(Value::String(k), v);
            }
            Value::Mapping(m)
        }
    }

    /// A random node of `v` (by a random walk from the root).
    fn pick<'a>(&mut self, v: &'a mut Value) -> &'a mut Value {
        let stop = self.rng.random_bool(0.25);
        let children = match &*v {
            Value::Mapping(m) => m.len(),
            Value::Sequence(s) => s.len(),
            _ => 0,
        };
        if stop || children == 0 {
            return v;
        }
        let i = self.rng.random_range(0..children);
        match v {
            Value::Mapping(m) => {
                let key = m.keys().nth(i).cloned().unwrap();
                let child = m.get_mut(&key).unwrap();
                self.pick(child)
            }
            Value::Sequence(s) => {
                let child = &mut s[i];
                self.pick(child)
            }
            _ => unreachable!(),
        }
    }

    fn mutate_tree(&mut self, doc: &mut Value) {
        let node = self.pick(doc);
        match self.rng.random_range(0..9) {
            0 | 1 => *node = self.scalar(),
            2 => {
                if let Value::Mapping(m) = node {
                    if !m.is_empty() {
                        let i = self.rng.random_range(0..m.len());
                        let key = m.keys().nth(i).cloned().unwrap();
                        m.remove(&key);
                    }
                }
            }
            3 => {
                if let Value::Mapping(m) = node {
                    let k = self.keys[self.rng.random_range(0..self.keys.len())].clone();
                    let v = self.value(0);
                    m.insert(Value::String(k), v);
                } else {
                    *node = self.value(0);
                }
            }
            4 => {
                let inner = node.clone();
                *node = Value::Sequence(vec![inner]);
            }
            5 => {
                let levels = self.rng.random_range(1..100);
                let mut inner = node.clone();
                for _ in 0..levels {
                    inner = if self.rng.random_bool(0.5) {
                        Value::Sequence(vec![inner])
                    } else {
                        let mut m = serde_yaml::Mapping::new();
                        m.insert(Value::String("a".into()), inner);
                        Value::Mapping(m)
                    };
                }
                *node = inner;
            }
            6 => {
                if let Value::Sequence(s) = node {
                    if let Some(first) = s.first().cloned() {
                        let n = self.rng.random_range(1..100);
                        s.extend(std::iter::repeat_n(first, n));
                    }
                }
            }
            7 => {
                if let Value::String(text) = node {
                    let extra = &self.strings[self.rng.random_range(0..self.strings.len())];
                    let at = self.rng.random_range(0..=text.len());
                    if text.is_char_boundary(at) {
                        text.insert_str(at, extra);
                    }
                }
            }
            _ => {
                if let Value::String(text) = node {
                    *text = text.to_uppercase();
                }
            }
        }
    }

    fn mutate_text(&mut self, text: &mut String) {
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            return;
        }
        let i = self.rng.random_range(0..lines.len());
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        match self.rng.random_range(0..5) {
            0 => out.insert(i, out[i].clone()),
            1 => {
                if let Some((k, v)) = out[i].split_once(": ") {
                    out[i] = format!("{k}: &anchor {v}");
                    let j = self.rng.random_range(i..out.len());
                    if let Some((k2, _)) = out[j].clone().split_once(": ") {
                        out[j] = format!("{k2}: *anchor");
                    }
                }
            }
            2 => out[i] = format!("\t{}", out[i]),
            3 => {
                let cut = self.rng.random_range(0..=out[i].len());
                if out[i].is_char_boundary(cut) {
                    out[i].truncate(cut);
                }
            }
            _ => out.push(format!("---\n{}", out.join("\n"))),
        }
        *text = out.join("\n") + "\n";
    }
}

#[test]
fn a_time_bounded_structure_aware_fuzzer_finds_no_panic_no_unbounded_input_and_no_unsafe_output() {
    let seconds: u64 = std::env::var("RELIABILITY_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("RELIABILITY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("fuzzing for {seconds} s with RELIABILITY_FUZZ_SEED={seed}");
    let settings = fuzz_settings();
    let seeds = seeds();
    let seed_texts: Vec<String> = seeds
        .iter()
        .map(|s| serde_yaml::to_string(s).unwrap())
        .collect();
    let seed_files: Vec<(&str, &[u8])> = seed_texts
        .iter()
        .map(|t| ("seed.yaml", t.as_bytes()))
        .collect();
    let h = handle(&seed_files, &settings).unwrap();
    assert_eq!(
        h.accepted,
        seeds.len(),
        "every seed is valid: {:?}",
        h.diagnostics
    );
    // A seed that depends on another service gets that one (unmutated) as a companion file.
    let companion = seed_texts
        .iter()
        .find(|t| t.contains("name: hello"))
        .expect("the minimal example")
        .clone();
    let mut keys = BTreeSet::new();
    seeds.iter().for_each(|s| collect_keys(s, &mut keys));
    let mut fuzzer = Fuzzer {
        rng: StdRng::seed_from_u64(seed),
        strings: hostile_strings(),
        keys: keys.into_iter().collect(),
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut iterations, mut accepted, mut rejected, mut exprs) = (0u64, 0u64, 0u64, 0usize);
    let (mut max_time, mut max_peak) = (Duration::ZERO, 0usize);
    let mut shapes: BTreeSet<String> = BTreeSet::new();
    let mut sample: BTreeMap<String, String> = BTreeMap::new();
    let mut slowest: Vec<(String, String)> = Vec::new();
    while Instant::now() < deadline {
        iterations += 1;
        let documents = if fuzzer.rng.random_bool(0.15) { 2 } else { 1 };
        let mut files = Vec::new();
        for f in 0..documents {
            let mut doc = seeds[fuzzer.rng.random_range(0..seeds.len())].clone();
            for _ in 0..fuzzer.rng.random_range(1..6) {
                fuzzer.mutate_tree(&mut doc);
            }
            let mut text = serde_yaml::to_string(&doc).unwrap_or_default();
            // Repeated growth compounds; past the operator's file limit an input only tests
            // the size check, so it is cut back to just over the limit.
            if text.len() > 2 * ecs_operator::manifest::load::MAX_FILE_BYTES {
                let mut cut = ecs_operator::manifest::load::MAX_FILE_BYTES + 1;
                while !text.is_char_boundary(cut) {
                    cut += 1;
                }
                text.truncate(cut);
            }
            if fuzzer.rng.random_bool(0.2) {
                fuzzer.mutate_text(&mut text);
            }
            files.push((format!("f{f}.yaml"), text));
        }
        let companions = usize::from(files.iter().any(|(_, t)| t.contains("dependsOn")));
        if companions > 0 {
            files.push(("hello.yaml".into(), companion.clone()));
        }
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_bytes()))
            .collect();
        match handle(&refs, &settings) {
            Err(e) => {
                let dir = reliability::figures_dir();
                std::fs::create_dir_all(&dir).unwrap();
                for (name, text) in &files {
                    std::fs::write(
                        dir.join(format!("fuzz-failure-{seed}-{iterations}-{name}")),
                        text,
                    )
                    .unwrap();
                }
                panic!(
                    "iteration {iterations} (RELIABILITY_FUZZ_SEED={seed}): {e}\ninputs saved under {}",
                    dir.display()
                );
            }
            Ok(h) => {
                if h.took > max_time {
                    slowest = files.clone();
                }
                max_time = max_time.max(h.took);
                max_peak = max_peak.max(h.peak_bytes);
                exprs += h.exprs_checked;
                if h.accepted > companions {
                    accepted += 1;
                    if sample.len() < 400 {
                        for (path, content) in h.files {
                            if path.starts_with("prometheus/rules/")
                                || path.starts_with("alertmanager/")
                            {
                                sample.insert(format!("i{iterations}/{path}"), content);
                            }
                        }
                    }
                } else {
                    rejected += 1;
                }
                for d in &h.diagnostics {
                    // The message with its quoted values and numbers removed: a rough measure of
                    // how many different checks the mutations reached.
                    let message = d.split(": ").skip(2).collect::<Vec<_>>().join(": ");
                    let mut shape = String::new();
                    let mut quoted = false;
                    for c in message.chars() {
                        match c {
                            '"' | '`' => quoted = !quoted,
                            _ if quoted || c.is_ascii_digit() => {}
                            _ => shape.push(c),
                        }
                    }
                    shapes.insert(shape);
                }
            }
        }
    }
    // The slowest input is kept for inspection.
    let dir = reliability::figures_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in &slowest {
        std::fs::write(dir.join(format!("fuzz-slowest-{name}")), text).unwrap();
    }
    let checked = if sample.is_empty() {
        0
    } else {
        check_with_promtool_and_amtool(&sample)
    };
    eprintln!(
        "{iterations} inputs: {accepted} accepted, {rejected} rejected, {} distinct diagnostics, {exprs} PromQL expressions checked, max {max_time:?}, max {} KiB",
        shapes.len(),
        max_peak / 1024
    );
    assert!(iterations > 100, "the fuzzer ran: {iterations}");
    assert!(
        accepted > 0 && rejected > 0,
        "mutations both pass and fail validation"
    );
    record_figures(
        "fuzz",
        "coverage-free, structure-aware mutation fuzzing of the example manifests (YAML tree and text mutations), time-bounded",
        serde_json::json!({
            "seconds": seconds,
            "seed": seed,
            "inputs": iterations,
            "accepted_and_checked": accepted,
            "rejected": rejected,
            "distinct_diagnostics": shapes.len(),
            "promql_expressions_parsed": exprs,
            "rendered_files_checked_by_promtool_and_amtool": checked,
            "max_milliseconds": max_time.as_secs_f64() * 1000.0,
            "max_peak_heap_mib": max_peak as f64 / (1024.0 * 1024.0),
            "failures": 0,
            "lost": 0,
        }),
    );
}
