//! `plan` and `apply`: one pass of the reconciler, printed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use ecs_operator::aws::{AwsClients, CallCounter, ClientOptions};
use ecs_operator::duration::PromDuration;
use ecs_operator::plan::predeploy::gate as gate_pre_deploy;
use ecs_operator::plan::schedules::ScheduleAction;
use ecs_operator::plan::{Outcome, Plan};
use ecs_operator::reconcile::rollout::{self, Progress, WaitTarget};
use ecs_operator::reconcile::ServiceResult;
use ecs_operator::reconcile::{jobs, predeploy, rollback};
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use ecs_operator::settings::Settings;
use ecs_operator::source::{Source, SourceLocation};
use ecs_operator::status::rollout::short_revision;
use ecs_operator::status::warm::WarmStore;
use ecs_operator::status::{unix_now, StatusStore};

use super::{parse_duration, print_diagnostics, state_location};

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum PlanFormat {
    Text,
    Json,
}

/// Flags shared by `plan` and `apply`.
#[derive(clap::Args)]
pub struct ReconcileArgs {
    /// Settings file (YAML or JSON); see manifests/schema/settings.schema.json.
    #[arg(long, env = "ECS_OPERATOR_SETTINGS")]
    pub settings: PathBuf,
    /// Manifest source: a directory or s3://bucket/prefix (default: the settings' manifestSource).
    #[arg(long, env = "ECS_OPERATOR_SOURCE")]
    pub source: Option<String>,
    /// Prune even when the source holds no manifests at all.
    #[arg(long)]
    pub allow_empty: bool,
    /// At most this many services are deleted per pass (default: the settings' maxPrune).
    #[arg(long)]
    pub max_prune: Option<usize>,
    /// Services applied concurrently.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Talking to an emulator on loopback (path-style S3, no Cloud Map data- host prefix).
    #[arg(long, env = "ECS_OPERATOR_EMULATOR")]
    pub emulator: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub output: PlanFormat,
    /// `apply`: then wait until every changed service's rollout completes or fails, showing
    /// progress; exit 1 when one fails, is rolled back or times out.
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub wait_timeout: std::time::Duration,
    /// How often `--wait` looks (one DescribeServices per 10 services).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub wait_interval: std::time::Duration,
}

async fn reconciler(args: &ReconcileArgs) -> anyhow::Result<(Reconciler, Source)> {
    let settings = Settings::load(&args.settings)?;
    let location =
        SourceLocation::parse(args.source.as_deref().unwrap_or(&settings.manifest_source))?;
    let aws = AwsClients::from_env(ClientOptions {
        region: settings.region.clone(),
        emulator: args.emulator,
        account_arn: Some(settings.execution_role_arn.clone()),
        ..ClientOptions::default()
    })
    .await;
    let options = ReconcileOptions {
        allow_empty: args.allow_empty,
        max_prune: args.max_prune.unwrap_or(settings.max_prune),
        concurrency: args.concurrency,
        ..ReconcileOptions::default()
    };
    Ok((
        Reconciler::new(aws, settings, options),
        Source::new(location),
    ))
}

fn print_plan(plan: &Plan) {
    let (mut create, mut update, mut delete, mut in_sync, mut other) = (0, 0, 0, 0, 0);
    for s in &plan.services {
        let label = match &s.outcome {
            Outcome::Create => {
                create += 1;
                "create".to_string()
            }
            Outcome::Update => {
                update += 1;
                "update".to_string()
            }
            Outcome::Delete => {
                delete += 1;
                "delete".to_string()
            }
            Outcome::InSync => {
                in_sync += 1;
                continue;
            }
            Outcome::Conflict(why) => {
                other += 1;
                format!("conflict: {why}")
            }
            Outcome::Suspended => {
                other += 1;
                "suspended".to_string()
            }
            Outcome::Waiting(why) => {
                other += 1;
                format!("waiting: {why}")
            }
            Outcome::Kept(why) => {
                other += 1;
                format!("kept: {why}")
            }
            Outcome::Held(why) => {
                other += 1;
                format!("held: {why}")
            }
        };
        println!("{} (cluster {}): {label}", s.name, s.cluster);
        for c in &s.changes {
            println!("  ~ {}: {} -> {}", c.field, c.from, c.to);
        }
        for step in &s.steps {
            println!(
                "  + {}",
                serde_json::to_value(step)
                    .ok()
                    .and_then(|v| v["step"].as_str().map(str::to_string))
                    .unwrap_or_default()
            );
        }
    }
    for sp in &plan.schedules {
        let label = match &sp.action {
            ScheduleAction::InSync => continue,
            ScheduleAction::Create => "create",
            ScheduleAction::Update => "update",
            ScheduleAction::Delete => "delete",
            ScheduleAction::Conflict(why) => why.as_str(),
        };
        println!("schedule {}: {label}", sp.name);
        for c in &sp.changes {
            println!("  ~ {}: {} -> {}", c.field, c.from, c.to);
        }
    }
    for note in &plan.notes {
        println!("note: {note}");
    }
    println!("Plan: {create} to create, {update} to update, {delete} to delete, {in_sync} in sync, {other} other.");
}

#[tokio::main]
pub async fn plan_or_apply(args: ReconcileArgs, apply: bool) -> anyhow::Result<ExitCode> {
    let (reconciler, mut source) = reconciler(&args).await?;
    // What the controller's leader left in the state bucket: only the manifests and task
    // definitions that changed since are read again (a one-shot command is a fresh process).
    let mut warm = WarmStore::new(state_location(&reconciler.settings)?);
    if let Some(cache) = warm.load(&reconciler.aws).await {
        source.import(cache.manifests, &reconciler.settings);
        reconciler.observer.import(cache.task_definitions);
    }
    let fetched = source
        .fetch(Some(&reconciler.aws), &reconciler.settings)
        .await?;
    print_diagnostics(&fetched.set);
    let before = reconciler.aws.calls.snapshot();
    let (mut plan, _observed) = reconciler.plan(&fetched.set, true).await?;
    // The status records (and the holds of rolled-back specs) the controller keeps.
    let mut statuses = StatusStore::new(state_location(&reconciler.settings)?);
    statuses.load(&reconciler.aws).await;
    let rolled_back = rollback::rolled_back(&statuses, &reconciler.aws, &plan, unix_now()).await;
    rollback::hold_rolled_back(&mut plan, &rolled_back);
    rollback::release_holds(&mut plan, &rolled_back);
    let known = predeploy::observe(&reconciler, &plan, &statuses.statuses, unix_now()).await;
    let mut runs = gate_pre_deploy(&mut plan, &known.runs, &known.unknown, unix_now());
    let invalid = !fetched.set.rejected.is_empty();
    if !apply {
        let jobs = jobs::reconcile(
            &reconciler,
            &fetched.set,
            &plan,
            &[],
            true,
            false,
            unix_now(),
        )
        .await;
        plan.schedules = jobs.plans;
        if args.output == PlanFormat::Json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            print_plan(&plan);
        }
        return Ok(if invalid {
            ExitCode::from(1)
        } else if plan.has_changes() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        });
    }
    let mut results = reconciler.apply(&plan).await;
    runs.extend(predeploy::started(&results, unix_now()));
    let jobs = jobs::reconcile(
        &reconciler,
        &fetched.set,
        &plan,
        &results,
        true,
        true,
        unix_now(),
    )
    .await;
    jobs::report_errors(&mut results, &jobs.errors);
    plan.schedules = jobs.plans;
    let calls = CallCounter::since(&before, &reconciler.aws.calls.snapshot());
    // The same status records a controller pass leaves, so a later `run` or `plan` knows.
    let status_errors = statuses
        .record_apply(
            &reconciler.aws,
            &fetched.set,
            &results,
            &rolled_back,
            (&plan, &runs),
            unix_now(),
        )
        .await;
    for e in &status_errors {
        eprintln!("warning: {e}");
    }
    let totals = CallCounter::totals(&calls, None);
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    if args.output == PlanFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "results": results,
                "notes": plan.notes,
                "calls": {"reads": totals.reads, "writes": totals.writes, "throttled": totals.throttled},
            }))?
        );
    } else {
        print_plan(&plan);
        for r in results.iter().filter(|r| r.error.is_some()) {
            println!(
                "FAILED {}: {}",
                r.name,
                r.error.as_deref().unwrap_or_default()
            );
        }
        println!(
            "Applied: {} service(s) changed, {failed} failed. AWS calls: {} reads, {} writes ({} throttled).",
            results.iter().filter(|r| r.steps_done > 0).count(),
            totals.reads,
            totals.writes,
            totals.throttled
        );
    }
    let mut rollouts_failed = false;
    if args.wait {
        rollouts_failed = !wait_for_rollouts(&reconciler.aws, &results, &args).await?;
    }
    Ok(if failed > 0 || invalid || rollouts_failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `apply --wait`: follows the rollout of every service the apply changed, one line per
/// service whenever its progress changes. True when every one completed.
async fn wait_for_rollouts(
    aws: &AwsClients,
    results: &[ServiceResult],
    args: &ReconcileArgs,
) -> anyhow::Result<bool> {
    let targets: Vec<WaitTarget> = results
        .iter()
        .filter(|r| r.error.is_none() && r.steps_done > 0)
        .filter(|r| matches!(r.outcome, Outcome::Create | Outcome::Update))
        .filter_map(|r| {
            Some(WaitTarget {
                name: r.name.clone(),
                cluster: r.cluster.clone(),
                revision: r.task_definition_arn.clone()?,
            })
        })
        .collect();
    if targets.is_empty() {
        return Ok(true);
    }
    eprintln!(
        "waiting for {} rollout(s), at most {}",
        targets.len(),
        PromDuration::from_millis(args.wait_timeout.as_millis() as u64)
    );
    let mut shown: BTreeMap<String, Progress> = BTreeMap::new();
    let started = std::time::Instant::now();
    let last = rollout::wait(
        aws,
        &targets,
        args.wait_interval,
        args.wait_timeout,
        |round| {
            for (t, p) in round {
                if shown.get(&t.name) != Some(p) {
                    eprintln!(
                        "[{:>4}s] {} {}: {}",
                        started.elapsed().as_secs(),
                        t.name,
                        short_revision(&t.revision),
                        describe(p)
                    );
                    shown.insert(t.name.clone(), p.clone());
                }
            }
        },
    )
    .await?;
    let mut ok = true;
    for (t, p) in &last {
        if !p.is_success() {
            ok = false;
            let why = if p.is_done() {
                describe(p)
            } else {
                format!("timed out: {}", describe(p))
            };
            println!(
                "ROLLOUT FAILED {} {}: {why}",
                t.name,
                short_revision(&t.revision)
            );
        }
    }
    if ok {
        println!("Rollouts: {} completed.", last.len());
    }
    Ok(ok)
}

fn describe(p: &Progress) -> String {
    match p {
        Progress::Pending(what) => format!("rolling out ({what})"),
        Progress::Completed => "completed".into(),
        Progress::Failed(why) => format!("failed: {why}"),
        Progress::RolledBack(why) => format!("rolled back: {why}"),
        Progress::Superseded(by) => format!("superseded: the service now runs {by}"),
        Progress::Gone => "the service is gone".into(),
    }
}
