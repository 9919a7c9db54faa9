//! The release scenarios: a new pizza-service version is shipped through the manifest, as a
//! team would, and rolled out by the demo's ECS stand-in the way a rolling ECS deployment
//! does it.
//!
//! - `good-release`: the next version is healthy; the rollout completes, nothing is rolled
//!   back and no alert reaches the team.
//! - `bad-release`: the next version fails 20 % of its orders (its manifest sets
//!   `PIZZA_FAILURE_RATIO: "0.2"`: the release's bug). The operator's SLO guard compares the
//!   two revisions in Prometheus, rolls back and holds the spec, and `RolloutRolledBack`
//!   reaches the team. The scenario then restores the previous manifest (which releases the
//!   hold) and waits until the alert resolves.
//!
//! The stand-in (ECS's part): when moto's service names a new task definition, it starts as
//! many replicas of it as the service runs, with the task definition's environment, registers
//! them in Cloud Map, reports a PRIMARY deployment IN_PROGRESS beside the ACTIVE old one, and
//! spreads the steady load over old and new tasks (a load balancer would). Old tasks keep
//! serving for [`DRAIN`] (ECS keeps a rolling deployment IN_PROGRESS while old tasks drain;
//! the target group's deregistration delay is 300 s by default), then are deregistered,
//! dropped by Prometheus and stopped, and the deployment is COMPLETED. When the service goes
//! back to the previous task definition (a rollback), the new tasks go instead.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::Serialize;
use serde_json::Value;

use crate::ecs_standin::{Deployment, Rollout};
use crate::stack::{Replica, Stack, SERVICE, TEAM};
use crate::tasks::{complete, move_steady_load, orders_of, retire, start_tasks};
use crate::util::{round3, secs, wait_for};

/// How long old tasks keep serving beside new ones before a rollout completes.
pub const DRAIN: Duration = Duration::from_secs(60);
/// The bad release's bug: the share of orders it fails.
pub const FAILURE_RATIO: &str = "0.2";
/// The guard's minimum sample in the demo (the default is 100 requests): at 10,000 orders an
/// hour over four tasks, the new revision serves about 1.4 orders a second.
pub const GUARD_MIN_REQUESTS: u64 = 20;
const ROLLED_BACK_ALERT: &str = "RolloutRolledBack";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Good,
    Bad,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Good => "good-release",
            Kind::Bad => "bad-release",
        }
    }
}

/// Everything measured for one release (seconds since the manifest was uploaded).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReleaseOutcome {
    pub scenario: String,
    pub image: String,
    pub ok: bool,
    pub problems: Vec<String>,
    /// The operator registered the new revision and updated the service.
    pub applied_after_s: Option<f64>,
    /// The new tasks are registered in Cloud Map and take their share of the orders.
    pub serving_after_s: Option<f64>,
    /// The guard's first verdict on the new revision (`/status`).
    pub first_verdict_after_s: Option<f64>,
    /// The guard found the new revision worse (bad-release).
    pub signal_crossed_after_s: Option<f64>,
    /// The service names the previous task definition again.
    pub rolled_back_after_s: Option<f64>,
    /// `RolloutRolledBack` in the team's inbox.
    pub notified_after_s: Option<f64>,
    /// `/status` shows the rollout Completed (good-release).
    pub completed_after_s: Option<f64>,
    /// After the hold was released by restoring the manifest, the alert resolved.
    pub resolved_after_s: Option<f64>,
    /// Rollback decided, from the moment the new revision served (and failed) orders.
    pub decision_after_serving_s: Option<f64>,
    /// 2 x (scrape interval + guard evaluation interval): the goal.
    pub decision_goal_s: f64,
    pub decision_goal: String,
    /// Orders the new revision took and failed, read from its tasks before they stopped.
    pub orders_on_new_revision: u64,
    pub failed_orders: u64,
    /// The guard's last words in `/status`.
    pub guard: String,
    /// Alerts of pizza-service delivered during a good release (must be none).
    pub alerts: Vec<String>,
}

/// The next minor version of the pizza image tag in `manifest`: `1.0.0` -> `1.1.0`.
fn next_image(manifest: &str) -> anyhow::Result<(String, String)> {
    let line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("image:") && l.contains("pizza-service:"))
        .context("the pizza manifest has no pizza-service image line")?;
    let (repo, tag) = line.rsplit_once(':').context("image without a tag")?;
    let mut parts = tag.trim().split('.');
    let (Some(major), Some(minor)) = (parts.next(), parts.next()) else {
        bail!("image tag {tag:?} is not major.minor.patch");
    };
    let minor: u32 = minor.parse().context("image tag's minor version")?;
    let next = format!("{major}.{}.0", minor + 1);
    Ok((line.to_string(), format!("{repo}:{next}")))
}

/// The release's manifest: the next image, for the bad release its bug, and the demo's guard
/// sample size. Returns the text, the image and the changed lines (printed).
pub fn release_manifest(
    current: &str,
    kind: Kind,
) -> anyhow::Result<(String, String, Vec<String>)> {
    let (old_line, new_line) = next_image(current)?;
    let image = new_line
        .trim()
        .trim_start_matches("image:")
        .trim()
        .to_string();
    let mut text = current.replacen(&old_line, &new_line, 1);
    let mut changes = vec![format!("{} -> {}", old_line.trim(), new_line.trim())];
    if kind == Kind::Bad {
        let env = "    env:\n";
        if !text.contains(env) {
            bail!("the pizza manifest has no spec.container.env");
        }
        let bug = format!("      PIZZA_FAILURE_RATIO: \"{FAILURE_RATIO}\"\n");
        text = text.replacen(env, &format!("{env}{bug}"), 1);
        changes.push(format!("env + {} (the release's bug)", bug.trim()));
    }
    if !text.contains("\n  deployment:\n") {
        let guard = format!("  deployment:\n    guard:\n      minRequests: {GUARD_MIN_REQUESTS}\n");
        let at = text
            .find("\n  notify:\n")
            .context("the pizza manifest has no spec.notify")?;
        text.insert_str(at + 1, &guard);
        changes.push(format!(
            "+ deployment.guard.minRequests: {GUARD_MIN_REQUESTS} (default 100; demo traffic is 2.8 orders/s)"
        ));
    }
    Ok((text, image, changes))
}

/// Runs one release scenario.
pub async fn run(stack: &mut Stack<'_>, kind: Kind, timeout: Duration) -> ReleaseOutcome {
    let scrape = stack.pizza_scrape_s;
    let pass = stack.timing.rollout_pass_s;
    let mut o = ReleaseOutcome {
        scenario: kind.name().to_string(),
        decision_goal_s: 2.0 * (scrape + pass),
        decision_goal: format!("2 x ({scrape} s scrape + {pass} s guard pass)"),
        ..ReleaseOutcome::default()
    };
    println!(
        "\n[{}] == {}: {}",
        stack.clock.now_stamp(),
        o.scenario,
        match kind {
            Kind::Good => "the next pizza-service version, healthy: the rollout must complete with no rollback and no alert",
            Kind::Bad => "the next pizza-service version fails 20 % of its orders: the SLO guard must roll it back and tell the team",
        }
    );
    if let Err(e) = drive(stack, kind, timeout, &mut o).await {
        o.problems.push(format!("{e:#}"));
    }
    o.ok = o.problems.is_empty();
    print_timeline(&o);
    o
}

async fn drive(
    stack: &mut Stack<'_>,
    kind: Kind,
    timeout: Duration,
    o: &mut ReleaseOutcome,
) -> anyhow::Result<()> {
    let clock = stack.clock;
    let before = stack.pizza_manifest.clone();
    let old_td = stack.task_definition().await?;
    let (text, image, changes) = release_manifest(&before, kind)?;
    o.image = image.clone();
    let t0 = Instant::now();
    let since = |at: Instant| Some(round3(at.saturating_duration_since(t0).as_secs_f64()));
    upload(stack, &text).await?;
    println!(
        "  [{}] uploaded the release's manifest to S3 ({})",
        clock.stamp(t0),
        changes.join("; ")
    );

    // The operator registers the revision and updates the service.
    let new_td = wait_for(
        "the operator to update the service to a new task definition",
        Duration::from_secs(60),
        Duration::from_millis(100),
        async || {
            stack
                .task_definition()
                .await
                .ok()
                .filter(|td| *td != old_td)
        },
    )
    .await?;
    o.applied_after_s = since(Instant::now());
    println!(
        "  [{}] the operator registered {} and updated the service (it ran {})",
        clock.now_stamp(),
        short(&new_td),
        short(&old_td)
    );

    // ECS starts the new tasks.
    let old: Vec<Replica> = stack.replicas.clone();
    let new = start_tasks(stack, &new_td, old.len()).await?;
    let everyone = stack.replicas.clone();
    move_steady_load(stack, &everyone).await?;
    let serving = Instant::now();
    o.serving_after_s = since(serving);
    println!(
        "  [{}] {} new tasks of {} run and take their share of the orders: {}",
        clock.now_stamp(),
        new.len(),
        short(&new_td),
        new.iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Watch the guard until a rollback, or until the old tasks have drained.
    let mut last_guard = String::new();
    let rolled_back = loop {
        if let Some(guard) = guard_text(stack).await {
            if guard != last_guard {
                println!("  [{}] /status guard: {guard}", clock.now_stamp());
                if o.first_verdict_after_s.is_none() && guard.contains(" on ") {
                    o.first_verdict_after_s = since(Instant::now());
                }
                if o.signal_crossed_after_s.is_none() && guard.contains("above the limit") {
                    o.signal_crossed_after_s = since(Instant::now());
                }
                last_guard = guard;
            }
        }
        if stack.task_definition().await.is_ok_and(|td| td == old_td) {
            break true;
        }
        if serving.elapsed() >= DRAIN || t0.elapsed() >= timeout {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    o.guard = last_guard;

    if rolled_back {
        let at = Instant::now();
        o.rolled_back_after_s = since(at);
        o.decision_after_serving_s = Some(round3((at - serving).as_secs_f64()));
        println!(
            "  [{}] the operator rolled the service back to {}",
            clock.now_stamp(),
            short(&old_td)
        );
        stack.fleets.with(SERVICE, |f| {
            f.deployments.retain(|d| d.task_definition != old_td);
            let n = old.len() as i32;
            f.deploy(Deployment::new(&old_td, n, n, Rollout::InProgress));
        });
        move_steady_load(stack, &old).await?;
        let (created, failed) = retire(stack, &new).await?;
        o.orders_on_new_revision = created + failed;
        o.failed_orders = failed;
        complete(stack, &old_td);
        if kind == Kind::Good {
            o.problems
                .push(format!("the healthy release was rolled back: {}", o.guard));
        }
        let notified = wait_for(
            "RolloutRolledBack in the team's inbox",
            timeout
                .saturating_sub(t0.elapsed())
                .max(Duration::from_secs(30)),
            Duration::from_millis(50),
            async || {
                stack.inbox.since(t0).into_iter().find_map(|n| {
                    let a = n.alert(ROLLED_BACK_ALERT, "firing")?.clone();
                    Some((n, a))
                })
            },
        )
        .await;
        match notified {
            Ok((n, alert)) => {
                o.notified_after_s = since(n.at);
                check_notification(&n, &alert, &new_td, &image, o);
                println!(
                    "  [{}] team {TEAM} notified: {} ({})",
                    clock.stamp(n.at),
                    alert["annotations"]["summary"].as_str().unwrap_or("?"),
                    n.path
                );
            }
            Err(e) => o.problems.push(format!("{e:#}")),
        }
        // Restoring the previous manifest releases the hold; the alert resolves.
        upload(stack, &before).await?;
        let resolved = wait_for(
            "RolloutRolledBack to resolve after the manifest was restored",
            Duration::from_secs(90),
            Duration::from_millis(200),
            async || {
                let held = held(stack).await?;
                (!held && !stack.tracker.is_active(ROLLED_BACK_ALERT, SERVICE)).then_some(())
            },
        )
        .await;
        match resolved {
            Ok(()) => {
                o.resolved_after_s = since(Instant::now());
                println!(
                    "  [{}] restored the previous manifest: the hold is released and {ROLLED_BACK_ALERT} resolved",
                    clock.now_stamp()
                );
            }
            Err(e) => o.problems.push(format!("{e:#}")),
        }
    } else {
        if kind == Kind::Bad {
            o.problems.push(format!(
                "not rolled back within {} of serving: {}",
                secs(DRAIN),
                o.guard
            ));
        }
        let (created, failed) = orders_of(stack, &new).await;
        o.orders_on_new_revision = created + failed;
        o.failed_orders = failed;
        move_steady_load(stack, &new).await?;
        retire(stack, &old).await?;
        complete(stack, &new_td);
        stack.pizza_manifest = text;
        let completed = wait_for(
            "/status to show the rollout Completed",
            Duration::from_secs(60),
            Duration::from_millis(200),
            async || {
                let s = service_status(stack).await?;
                (s["rollout"]["phase"] == "Completed" && s["rollout"]["revision"] == new_td)
                    .then_some(())
            },
        )
        .await;
        match completed {
            Ok(()) => {
                o.completed_after_s = since(Instant::now());
                println!(
                    "  [{}] the old tasks drained and stopped; /status: rollout of {} Completed",
                    clock.now_stamp(),
                    short(&new_td)
                );
            }
            Err(e) => o.problems.push(format!("{e:#}")),
        }
        if kind == Kind::Good {
            // Alerts that began during the release (a slow-burn alert of an earlier bad
            // release may still be pending: it is that release's).
            for e in stack.tracker.active_between(SERVICE, t0, Instant::now()) {
                if e.first_seen >= t0 {
                    o.alerts.push(format!("{} (Prometheus)", e.alertname));
                }
            }
            for n in stack.inbox.since(t0) {
                for a in n.alerts().filter(|a| a["status"] == "firing") {
                    o.alerts.push(format!(
                        "{} (delivered)",
                        a["labels"]["alertname"].as_str().unwrap_or("?")
                    ));
                }
            }
            if !o.alerts.is_empty() {
                o.problems.push(format!(
                    "alerts during a healthy release: {}",
                    o.alerts.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// `family:revision` of a task definition ARN.
fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

async fn upload(stack: &Stack<'_>, text: &str) -> anyhow::Result<()> {
    stack
        .aws
        .s3_put(
            &format!("{}/manifests/pizza-service.yaml", stack.platform.bucket),
            text.as_bytes().to_vec(),
        )
        .await
}

async fn service_status(stack: &Stack<'_>) -> Option<Value> {
    let status: Value = stack
        .http
        .get(format!("{}/status", stack.operator_url))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    status["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == SERVICE)
        .cloned()
}

async fn guard_text(stack: &Stack<'_>) -> Option<String> {
    let s = service_status(stack).await?;
    s["rollout"]["guard"].as_str().map(str::to_string)
}

async fn held(stack: &Stack<'_>) -> Option<bool> {
    let s = service_status(stack).await?;
    Some(!s["held"].is_null())
}

/// The rollback notice names the failed revision and image and reaches the pizza team.
fn check_notification(
    n: &crate::inbox::Notification,
    alert: &Value,
    new_td: &str,
    image: &str,
    o: &mut ReleaseOutcome,
) {
    let labels = &alert["labels"];
    let expect = [
        ("service", SERVICE.to_string()),
        ("team", TEAM.to_string()),
        ("revision", short(new_td).to_string()),
        ("image", image.to_string()),
    ];
    for (k, v) in expect {
        if labels[k] != v.as_str() {
            o.problems.push(format!(
                "{ROLLED_BACK_ALERT} label {k} is {} not {v}",
                labels[k]
            ));
        }
    }
    if n.path != format!("/alerts/{TEAM}") {
        o.problems
            .push(format!("{ROLLED_BACK_ALERT} arrived at {}", n.path));
    }
}

fn fmt(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.1} s"))
}

fn print_timeline(o: &ReleaseOutcome) {
    println!(
        "{}: {}: deployed after {}, new revision serving after {}, first guard verdict after {}, signal crossed after {}, rolled back after {}, team notified after {}, completed after {}",
        o.scenario,
        o.image,
        fmt(o.applied_after_s),
        fmt(o.serving_after_s),
        fmt(o.first_verdict_after_s),
        fmt(o.signal_crossed_after_s),
        fmt(o.rolled_back_after_s),
        fmt(o.notified_after_s),
        fmt(o.completed_after_s),
    );
    if let Some(d) = o.decision_after_serving_s {
        println!(
            "{}: rollback decided {d:.1} s after the new revision began serving (goal {}: {:.0} s); {} failed orders of {} on the new revision",
            o.scenario, o.decision_goal, o.decision_goal_s, o.failed_orders, o.orders_on_new_revision
        );
    } else {
        println!(
            "{}: no rollback; the new revision took {} orders, {} failed",
            o.scenario, o.orders_on_new_revision, o.failed_orders
        );
    }
    for p in &o.problems {
        println!("{}: FAILED: {p}", o.scenario);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original() -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../manifests/examples/pizza-service.yaml"),
        )
        .unwrap()
    }

    #[test]
    fn a_bad_release_changes_the_image_adds_its_bug_and_the_demo_guard_sample() {
        let (text, image, changes) = release_manifest(&original(), Kind::Bad).unwrap();
        assert!(image.ends_with("pizza-service:1.1.0"), "{image}");
        assert!(text.contains("pizza-service:1.1.0\n"));
        assert!(text.contains("    env:\n      PIZZA_FAILURE_RATIO: \"0.2\"\n"));
        assert!(text.contains("  deployment:\n    guard:\n      minRequests: 20\n  notify:\n"));
        assert_eq!(changes.len(), 3, "{changes:?}");
        let original = original();
        let removed: Vec<&str> = original
            .lines()
            .filter(|l| !text.lines().any(|t| t == *l))
            .collect();
        assert_eq!(
            removed.len(),
            1,
            "only the image line is replaced: {removed:?}"
        );
    }

    #[test]
    fn a_good_release_after_a_good_release_ships_the_next_version_without_a_second_guard_block() {
        let (first, _, _) = release_manifest(&original(), Kind::Good).unwrap();
        let (second, image, changes) = release_manifest(&first, Kind::Good).unwrap();
        assert!(image.ends_with(":1.2.0"));
        assert_eq!(second.matches("  deployment:").count(), 1);
        assert_eq!(changes.len(), 1);
        assert!(!second.contains("PIZZA_FAILURE_RATIO"));
    }
}
