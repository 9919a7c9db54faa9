//! Live checks of Prometheus (targets and rules), the latency report and the URL summary.

use std::time::Duration;

use anyhow::bail;
use serde_json::{json, Value};

use crate::scenarios::Outcome;
use crate::stack::{Stack, BUILTIN_FOR, EVALUATION_INTERVAL_S, GROUP_WAIT_S, SERVICE, TEAM};
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

/// `<work>/latency.json` and the markdown table for BENCHMARKS.md.
pub fn write(
    stack: &Stack<'_>,
    steady: Duration,
    false_positives: &[String],
    outcomes: &[Outcome],
    discovery: &crate::discovery::Measured,
    passed: bool,
    runtime: Duration,
) -> anyhow::Result<()> {
    let builtin: serde_json::Map<String, Value> = BUILTIN_FOR
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let doc = json!({
        "generated_by": "pizza-demo (examples/demo)",
        "timing": {
            "pizza_scrape_interval_s": stack.pizza_scrape_s,
            "evaluation_interval_s": EVALUATION_INTERVAL_S,
            "group_wait_s": GROUP_WAIT_S,
            "warning_group_wait_s": GROUP_WAIT_S,
            "builtin_alert_for": builtin,
            "production_defaults": {
                "scrape_interval_s": 15, "evaluation_interval_s": 15,
                "group_wait_critical_s": 10, "group_wait_warning_s": 30,
                "TargetDown_for_s": 60, "CpuNearLimit_for_s": 120
            },
            "floor": "scrape interval + evaluation interval + group_wait (+ the alert's for): what the pipeline adds at most once the condition holds"
        },
        "replicas": stack.replicas.len(),
        "steady": {
            "duration_s": steady.as_secs_f64(),
            "false_positives": false_positives,
        },
        "scenarios": outcomes,
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
        "\nTimes are seconds from the start of each scenario's load; \"condition true\" is Prometheus's `activeAt` (the evaluation that first saw it), so delivered minus condition true is `for` + group_wait + the notification. Demo settings: pizza-service scraped every {} s (its manifest's `metrics.interval`), evaluation every {EVALUATION_INTERVAL_S} s, `groupWait` and `warningGroupWait` {GROUP_WAIT_S} s, `builtinAlertFor` {}. Production defaults: scrape and evaluation 15 s, group_wait 10 s (critical) / 30 s (warning), TargetDown `for` 1m, CpuNearLimit `for` 2m. {} replicas, {} of steady load first without a false positive{}.\n",
        stack.pizza_scrape_s,
        BUILTIN_FOR
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        stack.replicas.len(),
        crate::util::secs(steady),
        if false_positives.is_empty() { "" } else { " (FAILED: see latency.json)" }
    ));
    md.push_str(&format!("\nDiscovery: {}.\n", discovery.line()));
    std::fs::write(stack.work.join("latency.md"), &md)?;
    println!(
        "\nDetection latency ({} and {}; paste into BENCHMARKS.md):\n",
        path.display(),
        stack.work.join("latency.md").display()
    );
    print!("{md}");
    Ok(())
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
