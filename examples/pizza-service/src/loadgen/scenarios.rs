//! The named scenarios of the demo. Each is bounded, reports what it did as one JSON value, and
//! puts back every fault knob it changed, also when interrupted (Ctrl-C / SIGTERM).

use std::time::Duration;

use anyhow::{bail, Context as _};
use serde_json::{json, Value};

use super::admin::Admin;
use super::runner::{self, RunConfig, Summary};
use super::schedule::{per_hour, Schedule};
use super::stop::StopSignal;
use crate::faults::{FaultStatus, KnobsPatch};

/// The normal load of the demo: orders per hour over all replicas together.
pub const NORMAL_ORDERS_PER_HOUR: f64 = 10_000.0;

/// What every scenario needs: where to send, how, and when to stop early.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub client: reqwest::Client,
    /// Normalised base URLs (see [`runner::normalise_targets`]).
    pub targets: Vec<String>,
    pub concurrency: usize,
    pub timeout: Duration,
    pub stop: StopSignal,
}

impl Ctx {
    fn admin(&self) -> Admin {
        Admin::new(self.client.clone())
    }
}

/// Sends orders on `schedule` and returns the run summary.
pub async fn load(ctx: &Ctx, schedule: Schedule) -> Summary {
    let config = RunConfig {
        targets: ctx.targets.clone(),
        schedule,
        concurrency: ctx.concurrency,
        timeout: ctx.timeout,
    };
    tracing::info!(
        targets = ?ctx.targets,
        rate_per_s = schedule.rate(),
        requests = schedule.count(),
        "sending orders"
    );
    runner::run(&ctx.client, &config, ctx.stop.clone()).await
}

/// A summary as JSON, tagged with the scenario name.
pub fn tagged(scenario: &str, summary: &Summary) -> Value {
    let mut value = json!({ "scenario": scenario });
    if let (Some(obj), Ok(Value::Object(fields))) =
        (value.as_object_mut(), serde_json::to_value(summary))
    {
        obj.extend(fields);
    }
    value
}

/// `steady`: the normal hourly pace for `duration`.
pub async fn steady(ctx: &Ctx, orders_per_hour: f64, duration: Duration) -> anyhow::Result<Value> {
    let schedule = Schedule::new(per_hour(orders_per_hour), Some(duration), None)
        .map_err(anyhow::Error::msg)?;
    Ok(tagged("steady", &load(ctx, schedule).await))
}

/// `surge --factor F`: `F` times the normal pace for `duration`.
pub async fn surge_pace(ctx: &Ctx, factor: f64, duration: Duration) -> anyhow::Result<Value> {
    if !(factor.is_finite() && factor > 0.0) {
        bail!("factor must be a positive number");
    }
    let rate = per_hour(NORMAL_ORDERS_PER_HOUR * factor);
    let schedule = Schedule::new(rate, Some(duration), None).map_err(anyhow::Error::msg)?;
    let mut value = tagged("surge", &load(ctx, schedule).await);
    value["factor"] = json!(factor);
    Ok(value)
}

/// `surge --orders N --rate R`: `N` orders at `R` per second (e.g. enough to cross an hourly count).
pub async fn surge_count(ctx: &Ctx, orders: u64, rate: f64) -> anyhow::Result<Value> {
    let schedule = Schedule::new(rate, None, Some(orders)).map_err(anyhow::Error::msg)?;
    Ok(tagged("surge", &load(ctx, schedule).await))
}

/// `failures --count N --rate R`: makes every order fail on all targets, sends `N` orders, then
/// restores each target's previous failure ratio.
pub async fn failures(ctx: &Ctx, count: u64, rate: f64) -> anyhow::Result<Value> {
    let schedule = Schedule::new(rate, None, Some(count)).map_err(anyhow::Error::msg)?;
    let admin = ctx.admin();
    let previous = snapshot(&admin, &ctx.targets).await?;
    let restore: Vec<(String, KnobsPatch)> = previous
        .iter()
        .map(|(t, s)| {
            (
                t.clone(),
                KnobsPatch {
                    failure_ratio: Some(s.knobs.failure_ratio),
                    ..Default::default()
                },
            )
        })
        .collect();
    let on = KnobsPatch {
        failure_ratio: Some(1.0),
        ..Default::default()
    };
    if let Err(e) = set_all(&admin, &ctx.targets, &on).await {
        restore_all(&admin, &restore).await;
        return Err(e);
    }
    tracing::info!(targets = ?ctx.targets, "failure_ratio set to 1.0");
    let summary = load(ctx, schedule).await;
    let restored = restore_all(&admin, &restore).await;
    let mut value = tagged("failures", &summary);
    value["restored"] = json!(restored);
    Ok(value)
}

/// `cpu-spike --threads T --duration D`: busy-loop threads on all targets for a while.
pub async fn cpu_spike(ctx: &Ctx, threads: u32, duration: Duration) -> anyhow::Result<Value> {
    let on = KnobsPatch {
        cpu_burn_threads: Some(threads),
        ..Default::default()
    };
    let mut value = hold_knob(ctx, &on, duration, |s| KnobsPatch {
        cpu_burn_threads: Some(s.knobs.cpu_burn_threads),
        ..Default::default()
    })
    .await?;
    value["scenario"] = json!("cpu-spike");
    value["threads"] = json!(threads);
    Ok(value)
}

/// `memory-spike --mb-per-s M --duration D`: memory growth on all targets for a while (up to each
/// replica's cap), then growth back to what it was (normally 0, which frees the memory).
pub async fn memory_spike(ctx: &Ctx, mb_per_s: u64, duration: Duration) -> anyhow::Result<Value> {
    let on = KnobsPatch {
        memory_grow_mb_per_s: Some(mb_per_s),
        ..Default::default()
    };
    let mut value = hold_knob(ctx, &on, duration, |s| KnobsPatch {
        memory_grow_mb_per_s: Some(s.knobs.memory_grow_mb_per_s),
        ..Default::default()
    })
    .await?;
    value["scenario"] = json!("memory-spike");
    value["mb_per_s"] = json!(mb_per_s);
    Ok(value)
}

/// `outage --target URL`: asks one replica to crash.
pub async fn outage(ctx: &Ctx, target: &str) -> anyhow::Result<Value> {
    ctx.admin().crash(target).await?;
    tracing::info!(target, "crash requested");
    Ok(json!({ "scenario": "outage", "target": target, "crash_requested": true }))
}

/// Sets `on` on every target, waits `duration` (or until stopped), then applies what `restore`
/// derives from each target's state before the change.
async fn hold_knob(
    ctx: &Ctx,
    on: &KnobsPatch,
    duration: Duration,
    restore: impl Fn(&FaultStatus) -> KnobsPatch,
) -> anyhow::Result<Value> {
    let admin = ctx.admin();
    let previous = snapshot(&admin, &ctx.targets).await?;
    let restore: Vec<(String, KnobsPatch)> = previous
        .iter()
        .map(|(t, s)| (t.clone(), restore(s)))
        .collect();
    if let Err(e) = set_all(&admin, &ctx.targets, on).await {
        restore_all(&admin, &restore).await;
        return Err(e);
    }
    tracing::info!(targets = ?ctx.targets, knobs = %patch_json(on), ?duration, "fault set, holding");
    let started = tokio::time::Instant::now();
    let mut stop = ctx.stop.clone();
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = stop.stopped() => {}
    }
    let held = started.elapsed().as_secs_f64();
    let restored = restore_all(&admin, &restore).await;
    Ok(json!({
        "targets": ctx.targets,
        "held_s": (held * 1000.0).round() / 1000.0,
        "interrupted": ctx.stop.is_stopped(),
        "restored": restored,
    }))
}

fn patch_json(patch: &KnobsPatch) -> String {
    serde_json::to_string(patch).unwrap_or_default()
}

async fn snapshot(admin: &Admin, targets: &[String]) -> anyhow::Result<Vec<(String, FaultStatus)>> {
    let mut out = Vec::with_capacity(targets.len());
    for target in targets {
        let status = admin
            .faults(target)
            .await
            .context("reading the fault knobs before changing them")?;
        out.push((target.clone(), status));
    }
    Ok(out)
}

async fn set_all(admin: &Admin, targets: &[String], patch: &KnobsPatch) -> anyhow::Result<()> {
    for target in targets {
        admin.set_faults(target, patch).await?;
    }
    Ok(())
}

/// Applies each target's restore patch; returns whether all of them succeeded. A failure is logged
/// and does not stop the other targets from being restored.
async fn restore_all(admin: &Admin, restore: &[(String, KnobsPatch)]) -> bool {
    let mut all = true;
    for (target, patch) in restore {
        match admin.set_faults(target, patch).await {
            Ok(_) => {
                tracing::info!(target = %target, knobs = %patch_json(patch), "fault knobs restored")
            }
            Err(e) => {
                all = false;
                tracing::error!(target = %target, error = %format!("{e:#}"), "could not restore the fault knobs");
            }
        }
    }
    all
}
