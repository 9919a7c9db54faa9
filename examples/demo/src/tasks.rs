//! The ECS stand-in's task moves during a rollout (see `releases`): start a revision's tasks,
//! move the steady load, stop tasks the way ECS drains them, and mark a deployment done.

use std::time::Duration;

use serde_json::json;

use crate::ecs_standin::{Deployment, Rollout};
use crate::stack::{task_id, Replica, Stack, SERVICE};
use crate::util::{free_port, wait_for};

/// ECS starts `n` tasks of `task_definition` (with its environment) and registers them.
pub async fn start_tasks(
    stack: &mut Stack<'_>,
    task_definition: &str,
    n: usize,
) -> anyhow::Result<Vec<Replica>> {
    let described = stack
        .aws
        .ecs(
            "DescribeTaskDefinition",
            json!({"taskDefinition": task_definition}),
        )
        .await?;
    let env: Vec<(String, String)> = described["taskDefinition"]["containerDefinitions"][0]
        ["environment"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect();
    let revision = task_definition.rsplit(':').next().unwrap_or("new");
    stack.fleets.with(SERVICE, |f| {
        f.deploy(Deployment::new(
            task_definition,
            n as i32,
            0,
            Rollout::InProgress,
        ))
    });
    let mut started = Vec::new();
    for i in 0..n {
        let index = stack.replicas.len();
        stack.replicas.push(Replica {
            name: format!("pizza-r{revision}-{}", i + 1),
            port: free_port()?,
            task: task_id(index),
            az: ["us-east-1a", "us-east-1b"][i % 2].to_string(),
            pid: 0,
            env: env.clone(),
        });
        stack.start_replica(index).await?;
        stack.register(index).await?;
        let r = stack.replicas[index].clone();
        stack
            .fleets
            .with(SERVICE, |f| f.task_started(&r.task, task_definition));
        started.push(r);
    }
    Ok(started)
}

/// The steady load (10,000 orders an hour) now goes to `replicas`.
pub async fn move_steady_load(stack: &mut Stack<'_>, replicas: &[Replica]) -> anyhow::Result<()> {
    if let Some(pid) = stack.steady_pid.take() {
        stack.sup.stop(pid, Duration::from_secs(5)).await;
    }
    let targets = replicas
        .iter()
        .map(Replica::url)
        .collect::<Vec<_>>()
        .join(",");
    let pid = stack.loadgen(
        &format!("loadgen-steady-{}", replicas.len()),
        &targets,
        &["steady", "--per-hour", "10000", "--duration", "1h"],
    )?;
    stack.steady_pid = Some(pid);
    Ok(())
}

/// Orders created and failed by `replicas`, from their own counters.
pub async fn orders_of(stack: &Stack<'_>, replicas: &[Replica]) -> (u64, u64) {
    let (mut created, mut failed) = (0, 0);
    for r in replicas {
        let Ok(answer) = stack.http.get(format!("{}/metrics", r.url())).send().await else {
            continue;
        };
        let text = answer.text().await.unwrap_or_default();
        created += counter(&text, "orders_created_total");
        failed += counter(&text, "orders_failed_total");
    }
    (created, failed)
}

/// The sum of a counter's samples in a Prometheus text exposition.
fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// ECS stops tasks: deregistered from Cloud Map first, stopped once Prometheus has dropped
/// them (a stopped but listed target would fire TargetDown). Returns their orders.
pub async fn retire(stack: &mut Stack<'_>, replicas: &[Replica]) -> anyhow::Result<(u64, u64)> {
    for r in replicas {
        crate::aws::deregister_instance(&stack.aws, &stack.discovery_service_id, &r.task).await?;
        stack.fleets.with(SERVICE, |f| f.task_stopped(&r.task));
    }
    wait_for(
        "Prometheus to drop the stopping tasks",
        Duration::from_secs(120),
        Duration::from_millis(200),
        async || {
            let targets = stack.prometheus.targets().await.ok()?;
            (!targets.iter().any(|t| {
                t["labels"]["job"] == SERVICE
                    && replicas
                        .iter()
                        .any(|r| t["labels"]["task"] == r.task.as_str())
            }))
            .then_some(())
        },
    )
    .await?;
    let orders = orders_of(stack, replicas).await;
    for r in replicas {
        let pid = stack
            .replicas
            .iter()
            .find(|x| x.task == r.task)
            .map_or(r.pid, |x| x.pid);
        stack.sup.stop(pid, Duration::from_secs(10)).await;
    }
    stack
        .replicas
        .retain(|x| !replicas.iter().any(|r| r.task == x.task));
    println!(
        "  [{}] deregistered {}, dropped by Prometheus, stopped",
        stack.clock.now_stamp(),
        replicas
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(orders)
}

/// Only the deployment of `task_definition` is left, COMPLETED.
pub fn complete(stack: &Stack<'_>, task_definition: &str) {
    stack.fleets.with(SERVICE, |f| {
        f.deployments
            .retain(|d| d.task_definition == task_definition);
        f.deployments.truncate(1);
        if let Some(d) = f.deployments.first_mut() {
            d.primary = true;
            d.rollout = Rollout::Completed;
            d.running = d.desired;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_every_labelled_sample_of_the_named_metric_only() {
        let text = "# HELP orders_failed_total x\norders_failed_total{reason=\"a\"} 3\norders_failed_total{reason=\"b\"} 4\norders_failed_total_created 1.7e9\norders_created_total 10\n";
        assert_eq!(counter(text, "orders_failed_total"), 7);
        assert_eq!(counter(text, "orders_created_total"), 10);
    }
}
