//! The controller's pass: every step, in order, each a function with a typed input and output.
//!
//! | step | function | pure |
//! | --- | --- | --- |
//! | render | [`Reconciler::render`] | yes |
//! | observe | [`Reconciler::observe`], then the stopped tasks of the planned services | no (reads) |
//! | plan | [`Reconciler::plan_for`], then [`rollback::hold_rolled_back`] for specs rolled back (and [`rollback::release_holds`] for holds that ended), the pre-deploy gate ([`predeploy`]: reads the runs, then pure) and [`hold`] for services backing off | yes |
//! | actuate | [`Reconciler::apply`] (AWS), the jobs' schedules ([`jobs`]), then every [`MonitoringSink`] | no (writes, leader only) |
//! | status | [`status::derive`] | yes |
//!
//! What a pass hands to the next one lives in [`Memory`]; the runtime owns it and decides when
//! passes run (the controller module).
//!
//! A pass may be *scoped* ([`PassInput::only`]): when a few manifests changed and nothing else
//! made a full pass due, only their services are observed (described by name), planned and
//! applied; nothing is pruned, and what the pass learned is merged into [`Memory`] rather than
//! replacing it. The next full pass (every `--interval`) looks at everything again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::guard;
use super::rollback::{self, RetryRequest};
use super::{jobs, predeploy};
use super::{ReconcileError, Reconciler, ServiceResult};
use crate::actuate::{MonitoringSink, SinkReport};
use crate::manifest::{LoadedManifest, ManifestSet, MonitoredService};
use crate::observe::instances::{task_fingerprint, Lookup, TaskRevisions};
use crate::observe::tasks::StoppedTask;
use crate::observe::Observed;
use crate::plan::{Outcome, Plan};
use crate::render::aws::ScrapeTarget;
use crate::render::{self, DesiredService};
use crate::status::{self, ServiceStatus, StopReasons};

/// What one pass leaves for the next.
#[derive(Debug, Default)]
pub struct Memory {
    /// The last valid manifest of every service the source still names: a manifest that
    /// turns invalid keeps its monitoring until it is fixed or removed.
    pub last_valid: BTreeMap<String, Arc<LoadedManifest>>,
    pub stops: StopReasons,
    /// Every service's status after the last pass; shared, not copied, with whoever shows it
    /// (the controller's `/status`). A pass builds the next map beside it and swaps it in.
    pub statuses: Arc<BTreeMap<String, ServiceStatus>>,
    /// Which revisions each service's tasks ran at the last pass (for service discovery).
    pub revisions: BTreeMap<String, TaskRevisions>,
    /// What ECS reported about each service's tasks at the last pass (service discovery
    /// refreshes a service when it changes).
    pub fingerprints: BTreeMap<String, String>,
}

impl Memory {
    /// Whether a service's rollout was in progress at the last pass.
    pub fn rolling_out(&self) -> bool {
        self.statuses.values().any(|s| {
            s.rollout
                .as_ref()
                .is_some_and(|r| r.phase == crate::status::RolloutPhase::InProgress)
        })
    }

    /// Prometheus scrape targets of every monitored service.
    pub fn scrape_targets(&self, settings: &crate::Settings) -> Vec<ScrapeTarget> {
        self.last_valid
            .values()
            .filter_map(|m| render::render_service(&m.manifest, settings).scrape)
            .collect()
    }

    /// What service discovery looks up: the scrape targets and their services' revisions.
    pub fn discovery_lookup(&self, settings: &crate::Settings) -> Lookup {
        Lookup {
            targets: self.scrape_targets(settings),
            revisions: self.revisions.clone(),
            fingerprints: self.fingerprints.clone(),
        }
    }

    /// Keeps the set's valid manifests; forgets services the source no longer names, unless
    /// the source is empty and emptying was not allowed (the plan's guard).
    fn remember(&mut self, set: &ManifestSet, allow_empty: bool) {
        for m in &set.manifests {
            self.last_valid.insert(m.name().to_string(), m.clone());
        }
        let names = set.all_names();
        if !names.is_empty() || allow_empty {
            self.last_valid.retain(|name, _| names.contains(name));
        }
    }
}

/// What the runtime decides for a pass.
pub struct PassInput<'a> {
    pub set: &'a ManifestSet,
    /// False when the source failed this time (the set is the last good one).
    pub source_ok: bool,
    /// Only the leader writes.
    pub leader: bool,
    /// Services backing off after an error: planned, not applied.
    pub held: &'a dyn Fn(&str) -> bool,
    /// Unix seconds, for status transition times.
    pub now: u64,
    /// `ecs-operator retry` requests of held services ([`rollback`]), by name.
    pub retries: &'a BTreeMap<String, RetryRequest>,
    /// Only these services ([`changed_services`]); `None`: every service, and prunes.
    pub only: Option<&'a BTreeSet<String>>,
}

/// A scoped pass takes at most this many services (one DescribeServices call).
pub const MAX_SCOPED: usize = 10;

/// The services whose manifests changed from `old` to `new`, when a scoped pass can reconcile
/// them: at most [`MAX_SCOPED`], none removed (a prune needs the full picture), and the same
/// rejected documents (a newly broken manifest's status comes from a full pass). `None`: a
/// full pass is needed, or nothing changed.
pub fn changed_services(old: &ManifestSet, new: &ManifestSet) -> Option<BTreeSet<String>> {
    let diagnostics =
        |set: &ManifestSet| -> Vec<String> { set.diagnostics().map(ToString::to_string).collect() };
    if diagnostics(old) != diagnostics(new) {
        return None;
    }
    let before: BTreeMap<&str, &MonitoredService> = (old.manifests.iter())
        .map(|m| (m.name(), &m.manifest))
        .collect();
    let now: BTreeSet<&str> = new.manifests.iter().map(|m| m.name()).collect();
    if before.keys().any(|name| !now.contains(name)) {
        return None;
    }
    let changed: BTreeSet<String> = (new.manifests.iter())
        .filter(|m| before.get(m.name()) != Some(&&m.manifest))
        .map(|m| m.name().to_string())
        .collect();
    (1..=MAX_SCOPED).contains(&changed.len()).then_some(changed)
}

/// Everything a pass learned and did, for metrics and logs.
#[derive(Debug)]
pub struct PassReport {
    pub observed: Observed,
    pub plan: Plan,
    /// Services that drifted ([`drifted`]); a held service is not drift.
    pub drifted: Vec<String>,
    pub stopped: Vec<StoppedTask>,
    /// Empty when this replica is not the leader.
    pub results: Vec<ServiceResult>,
    pub sinks: Vec<(&'static str, SinkReport)>,
    /// A scoped pass: its observation and plan cover only some services.
    pub scoped: bool,
}

/// Services whose desired state is unchanged (same spec hash) but that no longer match it:
/// someone changed them behind the operator's back.
pub fn drifted(plan: &Plan) -> Vec<String> {
    use crate::domain::tags;
    plan.services
        .iter()
        .filter_map(|sp| {
            let (o, d) = (sp.observed.as_ref()?, sp.desired.as_ref()?);
            (sp.outcome == Outcome::Update && o.tags.get(tags::SPEC_HASH) == Some(&d.spec_hash))
                .then(|| sp.name.clone())
        })
        .collect()
}

/// Marks planned work of held services as waiting, so they are not applied this pass.
pub fn hold(plan: &mut Plan, held: &dyn Fn(&str) -> bool) {
    for sp in &mut plan.services {
        if !sp.steps.is_empty() && held(&sp.name) {
            sp.steps.clear();
            sp.outcome = Outcome::Waiting("backing off after an error".into());
        }
    }
}

/// Runs one pass. An error means nothing could be observed; per-service failures are in the
/// report's results.
pub async fn run(
    ctx: &Reconciler,
    input: PassInput<'_>,
    memory: &mut Memory,
    sinks: &mut [Box<dyn MonitoringSink>],
) -> Result<PassReport, ReconcileError> {
    let mut desired: Vec<Arc<DesiredService>> = ctx.render(input.set);
    let only = input.only.map(|names| {
        desired.retain(|d| names.contains(&d.name));
        desired.iter().map(|d| d.key()).collect()
    });
    let observed = ctx.observe_only(&desired, only.as_ref()).await?;
    // A scoped observation is not the whole world: nothing may be pruned on its basis.
    let complete = input.source_ok && only.is_none();
    let mut plan = ctx.plan_for(input.set, &desired, &observed, complete);
    // The plan shares the desired services; nothing else needs the list.
    drop(desired);
    let stopped = ctx
        .observer
        .stopped_tasks(
            &ctx.aws,
            plan.services.iter().filter_map(|sp| sp.observed.as_deref()),
        )
        .await;
    memory.stops.record(&stopped);
    let mut report = PassReport {
        observed,
        drifted: drifted(&plan),
        plan: Plan::default(),
        stopped,
        results: Vec::new(),
        sinks: Vec::new(),
        scoped: only.is_some(),
    };
    // The SLO guard judges rollouts under way and rolls back the worse ones (leader only).
    let guarded = if input.leader {
        guard::check(ctx, &plan, input.set, input.now).await
    } else {
        BTreeMap::new()
    };
    let mut rolled_back = rollback::holds(&plan, &memory.statuses, input.retries, input.now);
    for (name, report) in &guarded {
        if let Some(hold) = &report.rolled_back {
            rolled_back.insert(name.clone(), hold.clone());
        }
    }
    rollback::hold_rolled_back(&mut plan, &rolled_back);
    rollback::release_holds(&mut plan, &rolled_back);
    // A deployment with a pre-deploy task waits for it (and is held when it failed).
    let known = predeploy::observe(ctx, &plan, &memory.statuses, input.now).await;
    let mut runs = crate::plan::predeploy::gate(&mut plan, &known.runs, &known.unknown, input.now);
    // A held service runs another revision than its manifest on purpose: not drift.
    report
        .drifted
        .retain(|name| !rolled_back.contains_key(name));
    if input.leader {
        hold(&mut plan, input.held);
        report.results = ctx.apply(&plan).await;
        runs.extend(predeploy::started(&report.results, input.now));
    }
    // The jobs' schedules run the revisions the services run now.
    let prune_schedules = complete && !input.set.has_unnamed_rejects();
    let generation = ctx.generation.unwrap_or(input.now);
    let jobs = jobs::reconcile(
        ctx,
        input.set,
        &plan,
        &report.results,
        prune_schedules,
        input.leader,
        generation,
    )
    .await;
    jobs::report_errors(&mut report.results, &jobs.errors);
    report.plan = plan;
    report.plan.schedules = jobs.plans;
    memory.remember(input.set, ctx.options.allow_empty);
    let revisions = (report.plan.services.iter())
        .filter(|sp| sp.desired.is_some())
        .filter_map(|sp| Some((sp.name.clone(), TaskRevisions::of(sp.observed.as_ref()?))));
    let fingerprints = (report.plan.services.iter())
        .filter(|sp| sp.desired.is_some())
        .filter_map(|sp| Some((sp.name.clone(), task_fingerprint(sp.observed.as_ref()?))));
    let mut statuses = status::derive(
        &memory.statuses,
        input.set,
        &report.results,
        &memory.stops,
        &rolled_back,
        &guarded
            .iter()
            .map(|(name, g)| (name.clone(), g.explanation.clone()))
            .collect(),
        input.now,
    );
    predeploy::record(
        &mut statuses,
        &runs,
        &report.plan,
        &memory.statuses,
        input.now,
    );
    jobs::record(&mut statuses, &report.plan, &jobs.runs, input.now);
    if report.scoped {
        memory.revisions.extend(revisions);
        memory.fingerprints.extend(fingerprints);
        Arc::make_mut(&mut memory.statuses).extend(statuses);
    } else {
        memory.revisions = revisions.collect();
        memory.fingerprints = fingerprints.collect();
        memory.statuses = Arc::new(statuses);
    }
    if input.leader && !sinks.is_empty() {
        let manifests: Vec<&MonitoredService> =
            memory.last_valid.values().map(|m| &m.manifest).collect();
        let output = render::monitoring::render(&manifests, &ctx.settings);
        let prune = input.source_ok && !input.set.has_unnamed_rejects();
        for sink in sinks.iter_mut() {
            let sink_report = sink.sync(&output, prune).await;
            report.sinks.push((sink.name(), sink_report));
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(docs: &[(&str, &str)]) -> ManifestSet {
        let mut set = ManifestSet::default();
        for (name, image) in docs {
            let text = format!(
                "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: {name}\nspec:\n  container:\n    image: {image}\n  notify:\n    team: t\n"
            );
            set.add_source(&format!("{name}.yaml"), text.as_bytes(), None);
        }
        set.finish();
        assert!(set.rejected.is_empty());
        set
    }

    fn names(list: &[&str]) -> Option<BTreeSet<String>> {
        Some(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn a_changed_or_added_manifest_scopes_the_pass_to_its_service() {
        let old = set(&[("a", "nginx:1"), ("b", "nginx:1")]);
        assert_eq!(
            changed_services(&old, &set(&[("a", "nginx:2"), ("b", "nginx:1")])),
            names(&["a"])
        );
        assert_eq!(
            changed_services(
                &old,
                &set(&[("a", "nginx:1"), ("b", "nginx:1"), ("c", "x:1")])
            ),
            names(&["c"])
        );
    }

    #[test]
    fn a_removal_nothing_changed_or_too_many_changes_need_a_full_pass() {
        let old = set(&[("a", "nginx:1"), ("b", "nginx:1")]);
        assert_eq!(changed_services(&old, &set(&[("a", "nginx:1")])), None);
        assert_eq!(changed_services(&old, &old.clone()), None);
        let many: Vec<(String, &str)> =
            (0..=MAX_SCOPED).map(|i| (format!("s{i}"), "x:1")).collect();
        let refs: Vec<(&str, &str)> = many.iter().map(|(n, i)| (n.as_str(), *i)).collect();
        assert_eq!(changed_services(&old, &set(&refs)), None);
    }

    #[test]
    fn a_manifest_that_turns_invalid_needs_a_full_pass() {
        let old = set(&[("a", "nginx:1")]);
        let mut broken = set(&[("a", "nginx:1")]);
        broken.add_source("b.yaml", b"kind: MonitoredService\nspec: [", None);
        broken.finish();
        assert_eq!(changed_services(&old, &broken), None);
    }
}
