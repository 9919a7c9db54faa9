//! How long a new task waits for its first scrape, measured: one more pizza-service replica is
//! registered in Cloud Map (as ECS registers a task that started) and the demo watches the
//! operator's `/sd/prometheus`, Prometheus's `/api/v1/targets` and the target's `lastScrape`
//! (Prometheus's own timestamp of the scrape) every 100 ms. The replica is then deregistered,
//! and stopped only once Prometheus has dropped it, so its absence fires nothing.
//!
//! The operator runs with the production defaults of `monitoring.discoveryRefresh` and
//! `monitoring.prometheusSdRefresh`; the bound printed beside the figure is the chain in the
//! module docs of `ecs-operator`'s `render::monitoring`.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::stack::{task_id, Replica, Stack, SERVICE};
use crate::util::{free_port, round3, wait_for};

/// Production defaults the demo leaves in place (the operator's settings name neither).
pub const DISCOVERY_REFRESH_S: f64 = 10.0;
pub const PROMETHEUS_SD_REFRESH_S: f64 = 5.0;
/// Prometheus hands new targets to its scrape manager at most every 5 s, and that manager
/// applies them at most every 5 s.
pub const PROMETHEUS_THROTTLES_S: f64 = 10.0;
/// Before the settings existed: `--sd-refresh` 15 s and a fixed `refresh_interval` of 30 s.
pub const OLD_DISCOVERY_REFRESH_S: f64 = 15.0;
pub const OLD_PROMETHEUS_SD_REFRESH_S: f64 = 30.0;

/// What one registration took, in seconds after the RegisterInstance call.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub task: String,
    pub listed_by_operator_after_s: f64,
    pub prometheus_target_after_s: f64,
    pub first_scrape_after_s: f64,
    /// Deregistration until Prometheus no longer lists the target.
    pub dropped_after_deregistration_s: f64,
    pub scrape_interval_s: f64,
    pub discovery_refresh_s: f64,
    pub prometheus_sd_refresh_s: f64,
    /// D + P + Prometheus's throttles + one scrape interval.
    pub bound_s: f64,
    /// The same with the old 15 s and 30 s refreshes.
    pub old_bound_s: f64,
}

impl Measured {
    pub fn line(&self) -> String {
        format!(
            "a new task is scraped {:.1} s after it registers in Cloud Map (listed by the operator after {:.1} s, a Prometheus target after {:.1} s); bound {:.0} s = discoveryRefresh {:.0} + prometheusSdRefresh {:.0} + Prometheus's throttles {:.0} + scrape interval {:.0} (was {:.0} s with the old 15 s + 30 s)",
            self.first_scrape_after_s,
            self.listed_by_operator_after_s,
            self.prometheus_target_after_s,
            self.bound_s,
            self.discovery_refresh_s,
            self.prometheus_sd_refresh_s,
            PROMETHEUS_THROTTLES_S,
            self.scrape_interval_s,
            self.old_bound_s
        )
    }
}

/// Prometheus's target for `task` in job pizza-service, if it lists one.
pub async fn target(stack: &Stack<'_>, task: &str) -> Option<Value> {
    let targets = stack.prometheus.targets().await.ok()?;
    targets
        .into_iter()
        .find(|t| t["labels"]["job"] == SERVICE && t["labels"]["task"] == task)
}

/// Registers one more replica, measures, and removes it again.
pub async fn measure(stack: &mut Stack<'_>) -> anyhow::Result<Measured> {
    // The figure is only meaningful for the defaults it is compared with.
    let config = stack.work.join("monitoring/prometheus/prometheus.yml");
    let text = std::fs::read_to_string(&config)?;
    let expected = format!("refresh_interval: {PROMETHEUS_SD_REFRESH_S}s");
    if !text.contains(&expected) {
        anyhow::bail!(
            "{} does not have {expected}: the operator is not the one this demo was built with",
            config.display()
        );
    }
    let i = stack.replicas.len();
    stack.replicas.push(Replica {
        name: format!("pizza-{}", i + 1),
        port: free_port()?,
        task: task_id(i),
        az: "us-east-1a".into(),
        pid: 0,
        env: Vec::new(),
    });
    stack.start_replica(i).await?;
    let r = stack.replicas[i].clone();
    let sd = format!("{}/sd/prometheus?service={SERVICE}", stack.operator_url);
    let address = format!("127.0.0.1:{}", r.port);
    let clock = stack.clock;
    let registered = Instant::now();
    stack.register(i).await?;
    // ECS counts the task it started: the operator's next pass sees the service's tasks
    // change and service discovery reads its Cloud Map instances again.
    stack.fleets.with(SERVICE, |f| {
        if let Some(td) = f.primary_task_definition() {
            f.task_started(&r.task, &td);
        }
    });
    println!(
        "  [{}] registered {} (task {}) in Cloud Map",
        clock.now_stamp(),
        r.name,
        r.task
    );
    let since = |at: Instant| round3(at.saturating_duration_since(registered).as_secs_f64());
    let (mut listed, mut targeted) = (None, None);
    let first_scrape = wait_for(
        "Prometheus's first scrape of the new replica",
        Duration::from_secs(120),
        Duration::from_millis(100),
        async || {
            if listed.is_none() {
                let groups: Vec<Value> =
                    stack.http.get(&sd).send().await.ok()?.json().await.ok()?;
                if groups.iter().any(|g| {
                    g["targets"]
                        .as_array()
                        .is_some_and(|t| t.contains(&address.as_str().into()))
                }) {
                    listed = Some(Instant::now());
                }
            }
            let t = target(stack, &r.task).await?;
            targeted.get_or_insert_with(Instant::now);
            // Zero time until the first scrape; then the time that scrape began.
            let last = t["lastScrape"].as_str()?;
            clock.instant_of(last).filter(|at| *at > registered)
        },
    )
    .await?;
    let scrape_interval_s = stack.pizza_scrape_s;
    let bound = |d: f64, p: f64| d + p + PROMETHEUS_THROTTLES_S + scrape_interval_s;
    let mut measured = Measured {
        task: r.task.clone(),
        listed_by_operator_after_s: since(listed.unwrap_or(first_scrape)),
        prometheus_target_after_s: since(targeted.unwrap_or(first_scrape)),
        first_scrape_after_s: since(first_scrape),
        dropped_after_deregistration_s: 0.0,
        scrape_interval_s,
        discovery_refresh_s: DISCOVERY_REFRESH_S,
        prometheus_sd_refresh_s: PROMETHEUS_SD_REFRESH_S,
        bound_s: bound(DISCOVERY_REFRESH_S, PROMETHEUS_SD_REFRESH_S),
        old_bound_s: bound(OLD_DISCOVERY_REFRESH_S, OLD_PROMETHEUS_SD_REFRESH_S),
    };

    // Out again: deregistered first, stopped once Prometheus has dropped it (a stopped but
    // listed target would fire TargetDown).
    crate::aws::deregister_instance(&stack.aws, &stack.discovery_service_id, &r.task).await?;
    stack.fleets.with(SERVICE, |f| f.task_stopped(&r.task));
    let deregistered = Instant::now();
    wait_for(
        "Prometheus to drop the deregistered replica",
        Duration::from_secs(120),
        Duration::from_millis(100),
        async || target(stack, &r.task).await.is_none().then_some(()),
    )
    .await?;
    measured.dropped_after_deregistration_s = round3(deregistered.elapsed().as_secs_f64());
    stack.sup.stop(r.pid, Duration::from_secs(10)).await;
    stack.replicas.pop();
    println!(
        "  [{}] deregistered {} and Prometheus dropped it after {:.1} s; stopped it",
        clock.now_stamp(),
        r.name,
        measured.dropped_after_deregistration_s
    );
    Ok(measured)
}
