//! Live checks of Prometheus (targets and rules), the latency report and the URL summary.

use std::time::Duration;

use anyhow::bail;
use serde_json::{json, Value};

use crate::releases::ReleaseOutcome;
use crate::scenarios::Outcome;
use crate::stack::{Stack, SERVICE, TEAM};
use crate::util::{round3, wait_for};

const TARGET_LABELS: [&str; 5] = ["service", "team", "cluster", "task", "availability_zone"];

/// Every replica is a target of the pizza-service job, up, with the discovery labels.
pub async fn check_targets(stack: &Stack<'_>, replicas: usize) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(60 + 3 * stack.pizza_scrape_s as u64);
    let targets = wait_for(
        "Prometheus to scrape every replica",
        timeout,
        Duration::from_millis(250),
        async || {
            let all = stack.prometheus.targets().await.ok()?;
            let pizza: Vec<Value> = all
                .iter()
                .filter(|t| t["labels"]["job"] == SERVICE)
                .cloned()
                .collect();
            let operator_up = all
                .iter()
                .any(|t| t["labels"]["job"] == "ecs-operator" && t["health"] == "up");
            (operator_up && pizza.len() == replicas && pizza.iter().all(|t| t["health"] == "up"))
                .then_some(pizza)
        },
    )
    .await?;
    println!(
        "  Prometheus /api/v1/targets: job {SERVICE} has {} targets, all up (and job ecs-operator is up):",
        targets.len()
    );
    for t in &targets {
        let labels = &t["labels"];
        let missing: Vec<&str> = TARGET_LABELS
            .iter()
            .filter(|k| labels[**k].as_str().is_none_or(str::is_empty))
            .copied()
            .collect();
        if !missing.is_empty() {
            bail!("target {} lacks labels {missing:?}", labels["instance"]);
        }
        if labels["service"] != SERVICE || labels["team"] != TEAM {
            bail!(
                "target {} has wrong service/team labels: {labels}",
                labels["instance"]
            );
        }
        println!(
            "    {} {}: {} (scrape interval {}, last scrape {:.3} s)",
            labels["instance"].as_str().unwrap_or("?"),
            t["health"].as_str().unwrap_or("?"),
            TARGET_LABELS
                .iter()
                .map(|k| format!("{k}={}", labels[*k].as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(" "),
            t["scrapeInterval"].as_str().unwrap_or("?"),
            t["lastScrapeDuration"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}

/// The pizza rule groups are loaded from the operator's rule file (`rule_files` resolves
/// relative to prometheus.yml), with the alerts the scenarios need.
pub async fn check_rules(stack: &Stack<'_>) -> anyhow::Result<()> {
    let groups = stack.prometheus.rule_groups().await?;
    let expected_file = stack
        .work
        .join("monitoring/prometheus/rules/pizza-service.rules.yml")
        .display()
        .to_string();
    let pizza: Vec<&Value> = groups
        .iter()
        .filter(|g| {
            g["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("{SERVICE}.")))
        })
        .collect();
    println!(
        "  Prometheus /api/v1/rules: {} pizza-service groups from {expected_file} (rule_files: rules/*.rules.yml, relative to prometheus.yml):",
        pizza.len()
    );
    let mut names = Vec::new();
    for g in &pizza {
        if g["file"] != expected_file.as_str() {
            bail!(
                "group {} was loaded from {}, not {expected_file}",
                g["name"],
                g["file"]
            );
        }
        let rules: Vec<String> = g["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["type"] == "alerting")
            .map(|r| {
                let name = r["name"].as_str().unwrap_or("?").to_string();
                names.push(name.clone());
                match r["duration"].as_f64() {
                    Some(d) if d > 0.0 => format!("{name} (for {d} s)"),
                    _ => name,
                }
            })
            .collect();
        let recording = g["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["type"] == "recording")
            .count();
        println!(
            "    {} (every {} s): {}{}",
            g["name"].as_str().unwrap_or("?"),
            g["interval"],
            rules.join(", "),
            if recording > 0 {
                format!(" + {recording} recording rules")
            } else {
                String::new()
            }
        );
    }
    for needed in [
        "OrdersPaceAnomaly",
        "OrdersCountAnomaly",
        "FailedOrdersIncident",
        "TargetDown",
        "CpuNearLimit",
    ] {
        if !names.iter().any(|n| n == needed) {
            bail!("Prometheus has not loaded the pizza rule {needed}");
        }
    }
    Ok(())
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1} s")).unwrap_or_else(|| "-".into())
}

/// `examples/demo/run` with this run's flags, without the machine's paths (`--bin-dir`, which
/// `run` adds, and `--work-dir`).
fn command_line() -> String {
    let mut words = vec!["examples/demo/run".to_string()];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--bin-dir" || a == "--work-dir" {
            args.next();
        } else if !a.starts_with("--bin-dir=") && !a.starts_with("--work-dir=") {
            words.push(a);
        }
    }
    words.join(" ")
}

/// What a run of the demo found, for the report.
pub struct Results<'r> {
    pub steady: Duration,
    pub false_positives: &'r [String],
    pub outcomes: &'r [Outcome],
    pub releases: &'r [ReleaseOutcome],
    pub discovery: &'r crate::discovery::Measured,
    pub passed: bool,
    pub runtime: Duration,
}

/// `<work>/latency.json` and the markdown table for BENCHMARKS.md.
pub fn write(stack: &Stack<'_>, results: &Results<'_>) -> anyhow::Result<()> {
    let Results {
        steady,
        false_positives,
        outcomes,
        releases,
        discovery,
        passed,
        runtime,
    } = *results;
    let doc = json!({
        "generated_by": "pizza-demo (examples/demo)",
        "command": command_line(),
        "timing": stack.timing,
        "pizza_scrape_interval_s": stack.pizza_scrape_s,
        "floor": "scrape interval + evaluation interval + group_wait (+ the alert's for): what the pipeline adds at most once the condition holds",
        "replicas": stack.replicas.len(),
        "steady": {
            "duration_s": steady.as_secs_f64(),
            "false_positives": false_positives,
        },
        "scenarios": outcomes,
        "releases": releases,
        "discovery": discovery,
        "passed": passed,
        "total_runtime_s": round3(runtime.as_secs_f64()),
        "alert_polls": {"every_ms": 100, "polls": stack.tracker.polls().0, "failed": stack.tracker.polls().1},
    });
    let path = stack.work.join("latency.json");
    std::fs::write(&path, serde_json::to_string_pretty(&doc)?)?;

    let mut md = String::new();
    md.push_str(&format!(
        "| scenario | alert (severity) | condition | condition true | firing in Prometheus | delivered to team {TEAM} | floor: scrape + eval + group_wait (+ for) |\n"
    ));
    md.push_str("| --- | --- | --- | ---: | ---: | ---: | --- |\n");
    for o in outcomes {
        md.push_str(&format!(
            "| {} | {} ({}) | {} | {} | {} | {} | {} |\n",
            o.scenario,
            o.alert,
            o.severity,
            o.condition,
            opt(o.condition_true_after_s),
            opt(o.firing_after_s),
            opt(o.delivered_after_s),
            o.floor
        ));
    }
    md.push_str(&format!(
        "\nTimes are seconds from the start of each scenario's load; \"condition true\" is Prometheus's `activeAt` (the evaluation that first saw it), so delivered minus condition true is `for` + group_wait + the notification. pizza-service scraped every {} s (its manifest's `metrics.interval`); {}. {} replicas, {} of steady load first without a false positive{}.\n",
        stack.pizza_scrape_s,
        stack.timing.describe(),
        stack.replicas.len(),
        crate::util::secs(steady),
        if false_positives.is_empty() { "" } else { " (FAILED: see latency.json)" }
    ));
    md.push_str(&format!("\nDiscovery: {}.\n", discovery.line()));
    if !releases.is_empty() {
        md.push_str(&release_table(stack, releases));
    }
    std::fs::write(stack.work.join("latency.md"), &md)?;
    println!(
        "\nDetection latency ({} and {}; paste into BENCHMARKS.md):\n",
        path.display(),
        stack.work.join("latency.md").display()
    );
    print!("{md}");
    Ok(())
}

/// The releases' table: the timeline of each rollout and the guard's decision.
fn release_table(stack: &Stack<'_>, releases: &[ReleaseOutcome]) -> String {
    let mut md = String::from(
        "\n| release | image | deployed | new revision serving | first guard verdict | signal crossed | rolled back | team notified | completed | decision after serving (goal) | failed orders / orders on the new revision |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n",
    );
    for r in releases {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |\n",
            r.scenario,
            r.image.rsplit('/').next().unwrap_or(&r.image),
            opt(r.applied_after_s),
            opt(r.serving_after_s),
            opt(r.first_verdict_after_s),
            opt(r.signal_crossed_after_s),
            opt(r.rolled_back_after_s),
            opt(r.notified_after_s),
            opt(r.completed_after_s),
            match r.decision_after_serving_s {
                Some(d) => format!("{d:.1} s ({}: {:.0} s)", r.decision_goal, r.decision_goal_s),
                None => "no rollback".to_string(),
            },
            r.failed_orders,
            r.orders_on_new_revision
        ));
    }
    md.push_str(&format!(
        "\nRelease times are seconds from the upload of the release's manifest. The demo's ECS stand-in starts the new tasks when the service names the new task definition and keeps the old ones serving for {} s beside them; the guard judges each operator pass ({} s) with `minRequests: {}`.\n",
        crate::releases::DRAIN.as_secs(),
        stack.timing.rollout_pass_s,
        crate::releases::GUARD_MIN_REQUESTS
    ));
    md
}

pub fn urls(stack: &Stack<'_>) {
    println!("\nWhere to look:");
    println!("  Prometheus      {}/alerts", stack.prometheus.url);
    println!("  Alertmanager    {}/#/alerts", stack.alertmanager_url);
    println!("  operator        {}/status", stack.operator_url);
    println!("  operator        {}/metrics", stack.operator_url);
    println!(
        "  discovery       {}/sd/prometheus?service={SERVICE}",
        stack.operator_url
    );
    println!("  alert inbox     {}/alerts/{TEAM}", stack.inbox.url);
    for r in &stack.replicas {
        println!("  {}         {}/metrics", r.name, r.url());
    }
    println!("  work dir        {}", stack.work.display());
}
