//! The CPU cost of a pass, in process and without I/O: parse + validate (ManifestSet::add_source),
//! render (render_service) and plan (reconcile::plan::plan) against an Observed in which every
//! service already exists exactly as rendered, so the planner compares every field.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use anyhow::{bail, Result};
use ecs_operator::manifest::ManifestSet;
use ecs_operator::observe::{Observed, ObservedDiscovery, ObservedScaling, ObservedService};
use ecs_operator::plan::{self, discovery_description, Outcome, PlanOptions};
use ecs_operator::render::{render_services, DesiredService};
use ecs_operator::settings::Settings;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Throughput {
    /// The build profile that measured it: `release` or `dev`.
    pub profile: String,
    pub n: usize,
    pub parse_secs: f64,
    pub render_secs: f64,
    pub plan_secs: f64,
    /// Resident memory each retained structure added, KiB: (parsed set, desired states,
    /// observed world, plan).
    pub rss_kib: Option<[i64; 4]>,
}

/// The profile this binary was built with.
pub fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    }
}

/// This process's resident set, KiB.
fn vm_rss_kib() -> Option<i64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

impl Throughput {
    pub fn total_secs(&self) -> f64 {
        self.parse_secs + self.render_secs + self.plan_secs
    }

    /// Manifests per second for a phase's seconds.
    pub fn rate(&self, secs: f64) -> f64 {
        if secs > 0.0 {
            self.n as f64 / secs
        } else {
            f64::INFINITY
        }
    }
}

/// What AWS would report for a service that matches its desired state exactly.
pub fn observed_from<D: std::borrow::Borrow<DesiredService>>(
    desired: &[D],
    settings: &Settings,
) -> Observed {
    let mut observed = Observed::default();
    let description = discovery_description(
        &settings.operator_id,
        settings
            .service_discovery_namespace_id
            .as_deref()
            .unwrap_or("-"),
    );
    for d in desired {
        let d: &DesiredService = d.borrow();
        let s = &d.service;
        let mut registry_arns = Vec::new();
        if let Some(want) = &d.discovery {
            let id = format!("srv-{}", d.name);
            let arn = format!("arn:aws:servicediscovery:us-east-1:123456789012:service/{id}");
            registry_arns.push(arn.clone());
            observed.discovery.insert(
                want.name.clone(),
                ObservedDiscovery {
                    id,
                    arn,
                    name: want.name.clone(),
                    description: description.clone(),
                    dns_ttl_seconds: Some(want.dns_ttl_seconds),
                    instance_count: s.desired_count,
                    tags: None,
                },
            );
        }
        let mut service = ObservedService::as_created(d);
        service.registry_arns = registry_arns;
        observed
            .services
            .insert(service.key(), std::sync::Arc::new(service));
        if let Some(scaling) = &d.scaling {
            observed.scaling.insert(
                scaling.resource_id.clone(),
                ObservedScaling::as_registered(scaling),
            );
        }
    }
    observed
}

/// Rounds measured; each phase reports its fastest round, so a busy machine (another build,
/// moto still settling) shows as less noise rather than as a slower operator.
const ROUNDS: usize = 3;

/// Parses, renders and plans `docs` [`ROUNDS`] times; fails unless every service comes out in
/// sync. Each phase's time is its fastest round; the memory figures are the first round's.
pub fn measure(docs: &[(String, String)], settings: &Settings) -> Result<Throughput> {
    let mut best = one_round(docs, settings)?;
    for _ in 1..ROUNDS {
        let round = one_round(docs, settings)?;
        best.parse_secs = best.parse_secs.min(round.parse_secs);
        best.render_secs = best.render_secs.min(round.render_secs);
        best.plan_secs = best.plan_secs.min(round.plan_secs);
    }
    Ok(best)
}

/// One parse + render + plan of every document, timed per phase.
fn one_round(docs: &[(String, String)], settings: &Settings) -> Result<Throughput> {
    let rss0 = vm_rss_kib();
    let started = Instant::now();
    let mut set = ManifestSet::default();
    for (name, text) in docs {
        set.add_source(&format!("{name}.yaml"), text.as_bytes(), Some(settings));
    }
    set.finish();
    let parse_secs = started.elapsed().as_secs_f64();
    let rss1 = vm_rss_kib();
    if !set.rejected.is_empty() {
        bail!("{} generated manifests were rejected", set.rejected.len());
    }

    let started = Instant::now();
    // Shared, as the controller renders them: the plan holds the same.
    let desired = render_services(&set, settings);
    let render_secs = started.elapsed().as_secs_f64();
    let rss2 = vm_rss_kib();

    let observed = observed_from(&desired, settings);
    let rss3 = vm_rss_kib();
    let known = set.all_names();
    let adopt = BTreeSet::new();
    let options = PlanOptions {
        operator_id: &settings.operator_id,
        known_names: &known,
        adopt: &adopt,
        source_complete: true,
        allow_empty: false,
        max_prune: settings.max_prune,
        discovery_description: discovery_description(
            &settings.operator_id,
            settings
                .service_discovery_namespace_id
                .as_deref()
                .unwrap_or("-"),
        ),
    };
    let started = Instant::now();
    let plan = plan::plan(&desired, &observed, &options);
    let plan_secs = started.elapsed().as_secs_f64();
    let rss4 = vm_rss_kib();
    let rss_kib = match (rss0, rss1, rss2, rss3, rss4) {
        (Some(a), Some(b), Some(c), Some(d), Some(e)) => Some([b - a, c - b, d - c, e - d]),
        _ => None,
    };

    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for s in &plan.services {
        let key = match &s.outcome {
            Outcome::InSync => "in sync".to_string(),
            other => format!("{other:?}: {:?}", s.changes.first()),
        };
        *outcomes.entry(key).or_default() += 1;
    }
    if outcomes.get("in sync") != Some(&docs.len()) {
        bail!("plan against a matching world is not all in sync: {outcomes:?}");
    }
    Ok(Throughput {
        profile: profile().into(),
        n: docs.len(),
        parse_secs,
        render_secs,
        plan_secs,
        rss_kib,
    })
}
