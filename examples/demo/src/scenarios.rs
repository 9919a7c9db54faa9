//! The steady period and the scenarios: each one makes pizza-service misbehave in one way,
//! waits until the right alert reaches the pizza team's inbox, checks the notification and
//! resets what it changed.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::inbox::Notification;
use crate::stack::{Stack, SERVICE, TEAM};
use crate::util::{round3, secs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Name {
    Surge,
    Count,
    Outage,
    CpuSpike,
    Failures,
}

/// What a scenario does and which alert must answer it.
pub struct Spec {
    pub name: &'static str,
    /// `pace alert`, `count alert`, ...
    pub kind: &'static str,
    pub alert: &'static str,
    pub severity: &'static str,
    /// The runbook the manifest names; `None`: built-in alerts link the dashboard.
    pub runbook: Option<&'static str>,
    pub what: &'static str,
    /// What must happen before the alert's expression is true.
    pub condition: &'static str,
}

pub fn spec(name: Name) -> Spec {
    let anomaly = Some("https://runbooks.example.com/pizza-service/orders-anomaly");
    match name {
        Name::Surge => Spec {
            name: "surge",
            kind: "pace alert",
            alert: "OrdersPaceAnomaly",
            severity: "warning",
            runbook: anomaly,
            what: "60x the normal pace (600,000 orders/h, 167/s) over every replica until the alert arrives",
            condition: "pace over 5m above 20,000/h: 1,667 orders in the window (10 s at 167/s)",
        },
        Name::Count => Spec {
            name: "count",
            kind: "count alert",
            alert: "OrdersCountAnomaly",
            severity: "warning",
            runbook: anomaly,
            what: "a burst of 20,500 orders at 1000/s: the hour now holds more than 20,000 orders",
            condition: "more than 20,000 orders in the hour (surge included)",
        },
        Name::Outage => Spec {
            name: "outage",
            kind: "outage alert",
            alert: "TargetDown",
            severity: "warning",
            runbook: None,
            what: "POST /admin/crash to the first replica (it exits with 137); Cloud Map still lists it, as for a hung task",
            condition: "a failed scrape of the crashed replica",
        },
        Name::CpuSpike => Spec {
            name: "cpu-spike",
            kind: "CPU alert",
            alert: "CpuNearLimit",
            severity: "warning",
            runbook: None,
            what: "8 busy-loop threads in the last replica (a 0.5 vCPU task) until its 2m CPU average passes 90 %",
            condition: "2m CPU average above 90 % of 0.5 vCPU",
        },
        Name::Failures => Spec {
            name: "failures",
            kind: "incident alert",
            alert: "FailedOrdersIncident",
            severity: "critical",
            runbook: Some("https://runbooks.example.com/pizza-service/failed-orders"),
            what: "failure ratio 1.0 on every replica and 500 orders at 50/s, then the ratio is restored",
            condition: "500 failed orders in the hour (10 s at 50/s)",
        },
    }
}

/// Everything measured for one scenario (seconds since the scenario began).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub alert: String,
    pub severity: String,
    pub load: String,
    pub condition: String,
    pub ok: bool,
    pub problems: Vec<String>,
    /// Prometheus's `activeAt`: the evaluation that first saw the condition.
    pub condition_true_after_s: Option<f64>,
    /// Pending and firing in Prometheus, from `activeAt` (and `for`).
    pub pending_after_s: Option<f64>,
    pub firing_after_s: Option<f64>,
    /// The same, as first seen by the 100 ms poll of /api/v1/alerts.
    pub pending_seen_by_poll_after_s: Option<f64>,
    pub firing_seen_by_poll_after_s: Option<f64>,
    pub delivered_after_s: Option<f64>,
    pub reset_after_s: Option<f64>,
    pub resolved_after_s: Option<f64>,
    /// Scrape interval + evaluation interval + group_wait (+ the alert's `for`).
    pub floor_s: f64,
    pub floor: String,
    pub for_s: f64,
    pub receiver: Option<String>,
    pub path: Option<String>,
    pub loadgen: Option<Value>,
    /// Other pizza alerts delivered while the scenario ran (true alerts, not false positives).
    pub also_delivered: Vec<String>,
}

fn after(t0: Instant, t: Option<Instant>) -> Option<f64> {
    t.map(|t| round3(t.saturating_duration_since(t0).as_secs_f64()))
}

/// The first firing notification carrying `alert`, at or after `t0`.
fn delivery(stack: &Stack, alert: &str, t0: Instant) -> Option<Notification> {
    stack
        .inbox
        .since(t0)
        .into_iter()
        .find(|n| n.alert(alert, "firing").is_some())
}

/// Checks a delivered notification: route, receiver, labels and annotations.
fn check_notification(
    n: &Notification,
    spec: &Spec,
    task: Option<&str>,
    dashboard: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let want_path = format!("/alerts/{TEAM}");
    if n.path != want_path {
        problems.push(format!("arrived at {} instead of {want_path}", n.path));
    }
    if !n.receiver().starts_with(&format!("{TEAM}-webhook-")) {
        problems.push(format!(
            "receiver {:?} is not the pizza team's webhook receiver",
            n.receiver()
        ));
    }
    let Some(a) = n.alert(spec.alert, "firing") else {
        problems.push(format!("no firing {} in the notification", spec.alert));
        return problems;
    };
    let labels = &a["labels"];
    for (key, want) in [
        ("alertname", spec.alert),
        ("service", SERVICE),
        ("team", TEAM),
        ("severity", spec.severity),
    ] {
        if labels[key] != want {
            problems.push(format!(
                "label {key} is {} instead of {want:?}",
                labels[key]
            ));
        }
    }
    if let Some(task) = task {
        if labels["task"] != task {
            problems.push(format!(
                "label task is {} instead of {task:?} (the replica the scenario hit)",
                labels["task"]
            ));
        }
    }
    let ann = &a["annotations"];
    match ann["summary"].as_str() {
        Some(s) if !s.trim().is_empty() && !s.contains("{{") => {}
        other => problems.push(format!("annotation summary is {other:?}")),
    }
    let runbook = spec.runbook.unwrap_or(dashboard);
    if ann["runbook_url"] != runbook {
        problems.push(format!(
            "annotation runbook_url is {} instead of {runbook:?}",
            ann["runbook_url"]
        ));
    }
    if ann["dashboard"] != dashboard {
        problems.push(format!(
            "annotation dashboard is {} instead of {dashboard:?}",
            ann["dashboard"]
        ));
    }
    problems
}

/// The `for` of `alert` as Prometheus loaded it, in seconds.
pub async fn loaded_for(stack: &Stack<'_>, alert: &str) -> f64 {
    let groups = stack.prometheus.rule_groups().await.unwrap_or_default();
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .find(|r| r["name"] == alert && r["labels"]["service"] == SERVICE)
        .and_then(|r| r["duration"].as_f64())
        .unwrap_or(0.0)
}

/// Runs one scenario to the end: load, delivery, checks, reset, and for the outage the
/// replacement of the crashed replica and the alert's resolution.
pub async fn run(stack: &mut Stack<'_>, name: Name, timeout: Duration) -> Outcome {
    let spec = spec(name);
    let for_s = loaded_for(stack, spec.alert).await;
    let scrape = stack.pizza_scrape_s;
    let evaluation = stack.timing.evaluation_s;
    let group_wait = stack.timing.group_wait_s(spec.severity);
    let floor_s = scrape + evaluation + group_wait + for_s;
    let floor = if for_s > 0.0 {
        format!("{scrape} + {evaluation} + {group_wait} + {for_s} = {floor_s} s")
    } else {
        format!("{scrape} + {evaluation} + {group_wait} = {floor_s} s")
    };
    let dashboard = "/d/ecs-pizza-service";
    println!(
        "\n[{}] == {}: {}",
        stack.clock.now_stamp(),
        spec.name,
        spec.what
    );
    let mut problems = Vec::new();
    let all = stack.targets_csv();
    let first = stack.replicas[0].clone();
    let last = stack.replicas[stack.replicas.len() - 1].clone();
    let label = format!("loadgen-{}", spec.name);
    let (args, targets, task): (Vec<&str>, String, Option<String>) = match name {
        Name::Surge => (
            vec!["surge", "--factor", "60", "--duration", "2m"],
            all.clone(),
            None,
        ),
        Name::Count => (
            vec!["surge", "--orders", "20500", "--rate", "1000"],
            all.clone(),
            None,
        ),
        Name::Outage => (vec!["outage"], first.url(), Some(first.task.clone())),
        Name::CpuSpike => (
            vec![
                "cpu-spike",
                "--threads",
                "8",
                "--duration",
                stack.timing.cpu_spike_duration,
            ],
            last.url(),
            Some(last.task.clone()),
        ),
        Name::Failures => (
            vec!["failures", "--count", "500", "--rate", "50"],
            all.clone(),
            None,
        ),
    };
    if let Some(episode) = stack
        .tracker
        .of(spec.alert, SERVICE, Instant::now())
        .into_iter()
        .find(|e| e.ended_at.is_none())
    {
        problems.push(format!(
            "{} was already {} before the scenario began",
            spec.alert,
            if episode.firing_at.is_some() {
                "firing"
            } else {
                "pending"
            }
        ));
    }
    let t0 = Instant::now();
    let pid = match stack.loadgen(&label, &targets, &args) {
        Ok(pid) => Some(pid),
        Err(e) => {
            problems.push(format!("loadgen did not start: {e:#}"));
            None
        }
    };
    println!(
        "  [{}] {}: loadgen {}",
        stack.clock.stamp(t0),
        spec.name,
        args.join(" ")
    );

    // Wait for the notification (and, for the outage, see the replica go).
    let mut crashed_reported = false;
    let delivered = loop {
        if let Some(n) = delivery(stack, spec.alert, t0) {
            break Some(n);
        }
        if name == Name::Outage && !crashed_reported {
            if let Some(status) = stack.sup.try_wait(first.pid) {
                crashed_reported = true;
                println!(
                    "  [{}] {}: {} exited ({status}); Cloud Map still lists task {}",
                    stack.clock.now_stamp(),
                    spec.name,
                    first.name,
                    first.task
                );
            }
        }
        if t0.elapsed() >= timeout {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // The 100 ms poll may see the alert firing a moment after the webhook call arrived.
    if delivered.is_some() {
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until
            && !stack
                .tracker
                .of(spec.alert, SERVICE, t0)
                .iter()
                .any(|e| e.firing_at.is_some())
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let episodes = stack.tracker.of(spec.alert, SERVICE, t0);
    let episode = episodes.iter().min_by_key(|e| e.first_seen);
    let seen_pending = episode.and_then(|e| e.pending_at);
    let seen_firing = episode.and_then(|e| e.firing_at);
    // Prometheus's own timestamps: `activeAt` is the evaluation that found the condition
    // true; with a `for` it fires at the evaluation `for` later. The poll only bounds them.
    let active = episode.and_then(|e| e.active_at);
    let pending = if for_s > 0.0 {
        active.or(seen_pending)
    } else {
        None
    };
    let firing = if seen_firing.is_some() || delivered.is_some() {
        match (
            active.map(|a| a + Duration::from_secs_f64(for_s)),
            seen_firing,
        ) {
            (Some(a), Some(s)) => Some(a.min(s)),
            (a, s) => a.or(s),
        }
    } else {
        None
    };
    let (mut receiver, mut path) = (None, None);
    let delivered_at = match &delivered {
        Some(n) => {
            let p = check_notification(n, &spec, task.as_deref(), dashboard);
            if p.is_empty() {
                println!(
                    "  [{}] {}: notification checked: path {}, receiver {}, labels alertname/service/team/severity{} and annotations summary/runbook_url/dashboard as expected",
                    stack.clock.stamp(n.at),
                    spec.name,
                    n.path,
                    n.receiver(),
                    if task.is_some() { "/task" } else { "" }
                );
            }
            problems.extend(p);
            receiver = Some(n.receiver().to_string());
            path = Some(n.path.clone());
            Some(n.at)
        }
        None => {
            problems.push(format!(
                "{} was not delivered within {}",
                spec.alert,
                secs(timeout)
            ));
            None
        }
    };

    // Reset what the scenario changed.
    let mut reset_at = None;
    let mut resolved_at = None;
    match name {
        Name::Surge | Name::CpuSpike => {
            if let Some(pid) = pid {
                stack.sup.stop(pid, Duration::from_secs(15)).await;
            }
            reset_at = Some(Instant::now());
        }
        Name::Count | Name::Failures => {
            if let Some(pid) = pid {
                if stack.sup.wait(pid, Duration::from_secs(90)).await.is_none() {
                    problems.push("loadgen did not finish within 90 s".into());
                    stack.sup.stop(pid, Duration::from_secs(10)).await;
                }
            }
            reset_at = Some(Instant::now());
        }
        Name::Outage => {
            if let Some(pid) = pid {
                stack.sup.wait(pid, Duration::from_secs(20)).await;
            }
            // The crashed replica must be gone before it is replaced.
            if stack
                .sup
                .wait(first.pid, Duration::from_secs(10))
                .await
                .is_none()
            {
                stack.sup.stop(first.pid, Duration::from_secs(5)).await;
            }
            println!(
                "  [{}] {}: replacing {} on the same address, as ECS replaces a stopped task",
                stack.clock.now_stamp(),
                spec.name,
                first.name
            );
            match stack.start_replica(0).await {
                Ok(()) => {
                    reset_at = Some(Instant::now());
                    let wait_until = Instant::now() + timeout;
                    while Instant::now() < wait_until {
                        if !stack.tracker.is_active(spec.alert, SERVICE) {
                            resolved_at = stack
                                .tracker
                                .of(spec.alert, SERVICE, t0)
                                .iter()
                                .filter_map(|e| e.ended_at)
                                .max();
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    if resolved_at.is_none() {
                        problems.push(format!(
                            "{} did not resolve within {} of the replacement",
                            spec.alert,
                            secs(timeout)
                        ));
                    }
                }
                Err(e) => problems.push(format!("the replica could not be restarted: {e:#}")),
            }
        }
    }
    let loadgen = stack.loadgen_summary(&label);
    if let Some(summary) = &loadgen {
        println!(
            "  [{}] {}: reset; loadgen reported {}",
            stack.clock.now_stamp(),
            spec.name,
            summary
        );
    }

    let also_delivered: Vec<String> = stack
        .inbox
        .since(t0)
        .iter()
        .flat_map(|n| {
            n.alerts()
                .filter(|a| a["status"] == "firing" && a["labels"]["alertname"] != spec.alert)
                .map(|a| {
                    format!(
                        "{} ({})",
                        a["labels"]["alertname"].as_str().unwrap_or("?"),
                        a["labels"]["severity"].as_str().unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();

    let outcome = Outcome {
        scenario: spec.name.to_string(),
        alert: spec.alert.to_string(),
        severity: spec.severity.to_string(),
        load: spec.what.to_string(),
        condition: spec.condition.to_string(),
        ok: problems.is_empty(),
        problems,
        condition_true_after_s: after(t0, active),
        pending_after_s: after(t0, pending),
        firing_after_s: after(t0, firing),
        pending_seen_by_poll_after_s: after(t0, seen_pending),
        firing_seen_by_poll_after_s: after(t0, seen_firing),
        delivered_after_s: after(t0, delivered_at),
        reset_after_s: after(t0, reset_at),
        resolved_after_s: after(t0, resolved_at),
        floor_s,
        floor,
        for_s,
        receiver,
        path,
        loadgen,
        also_delivered,
    };
    print_timeline(&outcome, &spec);
    outcome
}

fn fmt_s(x: f64) -> String {
    format!("{x:.1} s")
}

/// The scenario's timeline line(s).
fn print_timeline(o: &Outcome, spec: &Spec) {
    let prometheus = match (o.pending_after_s, o.firing_after_s) {
        (Some(p), Some(f)) => format!(
            "pending in Prometheus after {}, firing after {}",
            fmt_s(p),
            fmt_s(f)
        ),
        (None, Some(f)) => format!("firing in Prometheus after {}", fmt_s(f)),
        (Some(p), None) => format!("pending in Prometheus after {}, never firing", fmt_s(p)),
        (None, None) => "never pending or firing in Prometheus".to_string(),
    };
    match o.delivered_after_s {
        Some(d) => println!(
            "{}: {} {} delivered to team {TEAM} after {} ({prometheus})",
            o.scenario,
            spec.kind,
            o.alert,
            fmt_s(d)
        ),
        None => println!(
            "{}: {} {} NOT delivered to team {TEAM} ({prometheus})",
            o.scenario, spec.kind, o.alert
        ),
    }
    match (o.resolved_after_s, o.reset_after_s) {
        (Some(r), Some(reset)) => println!(
            "{}: {} resolved in Prometheus after {} ({} after the reset)",
            o.scenario,
            o.alert,
            fmt_s(r),
            fmt_s(r - reset)
        ),
        (None, Some(reset)) => println!(
            "{}: scenario reset after {}; {} stays firing while its window still holds the event ({})",
            o.scenario,
            fmt_s(reset),
            o.alert,
            window_note(&o.alert)
        ),
        _ => {}
    }
    if !o.also_delivered.is_empty() {
        println!(
            "{}: also delivered meanwhile: {}",
            o.scenario,
            o.also_delivered.join(", ")
        );
    }
    for p in &o.problems {
        println!("{}: FAILED: {p}", o.scenario);
    }
}

fn window_note(alert: &str) -> &'static str {
    match alert {
        "OrdersPaceAnomaly" => "pace over 5m",
        "OrdersCountAnomaly" | "FailedOrdersIncident" => "count over 1h",
        "CpuNearLimit" => "CPU rate over 2m",
        _ => "its window",
    }
}

/// The steady period: normal load and nothing may fire or reach the inbox.
pub async fn steady(stack: &Stack<'_>, duration: Duration) -> (bool, Vec<String>, Option<u32>) {
    println!(
        "\n[{}] == steady: 10,000 orders/h over {} replicas for {} (the load keeps running under every scenario)",
        stack.clock.now_stamp(),
        stack.replicas.len(),
        secs(duration)
    );
    // Before any load, the alerts of start-up (NoTargets until the first scrape) must be over.
    if crate::util::wait_for(
        "no pizza-service alert to be pending or firing",
        Duration::from_secs(30),
        Duration::from_millis(100),
        async || {
            (!stack
                .tracker
                .episodes()
                .iter()
                .any(|e| e.service == SERVICE && e.ended_at.is_none()))
            .then_some(())
        },
    )
    .await
    .is_err()
    {
        return (
            false,
            vec!["a pizza-service alert was still active before the steady period".into()],
            None,
        );
    }
    let from = Instant::now();
    let pid = match stack.loadgen(
        "loadgen-steady",
        &stack.targets_csv(),
        &["steady", "--per-hour", "10000", "--duration", "1h"],
    ) {
        Ok(pid) => Some(pid),
        Err(e) => {
            return (false, vec![format!("loadgen did not start: {e:#}")], None);
        }
    };
    tokio::time::sleep(duration).await;
    let to = Instant::now();
    let mut false_positives = Vec::new();
    for e in stack.tracker.active_between(SERVICE, from, to) {
        false_positives.push(format!(
            "{} was {} in Prometheus during the steady period",
            e.alertname,
            if e.firing_at.is_some() {
                "firing"
            } else {
                "pending"
            }
        ));
    }
    for n in stack.inbox.all() {
        let names: Vec<&str> = n
            .alerts()
            .filter_map(|a| a["labels"]["alertname"].as_str())
            .collect();
        false_positives.push(format!(
            "the inbox got a notification ({}) at {} before any scenario",
            names.join(", "),
            stack.clock.stamp(n.at)
        ));
    }
    if let Some(pid) = pid {
        if let Some(status) = stack.sup.try_wait(pid) {
            false_positives.push(format!("the steady loadgen exited early ({status})"));
        }
    }
    let ok = false_positives.is_empty();
    if ok {
        println!(
            "steady: {} of normal load: no pizza alert pending or firing in Prometheus, nothing in the inbox (no false positive)",
            secs(to - from)
        );
    } else {
        for f in &false_positives {
            println!("steady: FALSE POSITIVE: {f}");
        }
    }
    (ok, false_positives, pid)
}
