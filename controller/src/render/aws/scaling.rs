//! Application Auto Scaling: the scalable target and its target tracking policies, on
//! predefined metrics (CPU, memory, ALB requests) or, for a queue worker, on the SQS backlog
//! per running task computed with CloudWatch metric math.
//!
//! The queue policy follows "Create a target tracking scaling policy for Application Auto
//! Scaling using metric math" (Application Auto Scaling User Guide, example "Amazon SQS queue
//! backlog per task"): `ApproximateNumberOfMessagesVisible` (AWS/SQS, Sum) over
//! `RunningTaskCount` (ECS/ContainerInsights, Average). That example divides plainly; at zero
//! tasks a division by zero gives CloudWatch no data point, and target tracking does not act
//! without one. The ECS Developer Guide says that "when actual capacity is 0 and the metric
//! indicates that there is workload demand", Service Auto Scaling scales out by the minimum
//! amount; so at zero tasks the expression is the whole backlog, which is demand whenever a
//! message waits, and a missing task count counts as zero.

use serde::{Deserialize, Serialize};

use super::ingress;
use crate::domain::ScalingResourceId;
use crate::manifest::{QueueScaling, Spec};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingTarget {
    pub resource_id: ScalingResourceId,
    pub min_capacity: i32,
    pub max_capacity: i32,
    pub policies: Vec<TargetTrackingPolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetTrackingPolicy {
    pub name: String,
    /// `ECSServiceAverageCPUUtilization`, `ECSServiceAverageMemoryUtilization`,
    /// `ALBRequestCountPerTarget`, or [`CUSTOMIZED_METRIC`].
    pub metric: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_label: Option<String>,
    pub target_value: f64,
    pub scale_in_cooldown: i32,
    pub scale_out_cooldown: i32,
    /// The metric math of a customized metric (absent for a predefined one, so services
    /// without a queue keep their spec hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customized: Option<CustomizedMetric>,
}

/// What [`TargetTrackingPolicy::metric`] says of a policy on a customized metric.
pub const CUSTOMIZED_METRIC: &str = "CustomizedMetric";

/// `CustomizedMetricSpecification.Metrics`: the queries, the last one the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomizedMetric {
    pub metrics: Vec<MetricQuery>,
}

/// One `TargetTrackingMetricDataQuery`: a metric or an expression over the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricQuery {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricStat>,
    /// Only the final expression returns data (absent in AWS's answer means true).
    pub return_data: bool,
}

/// `TargetTrackingMetricStat`: a CloudWatch metric and its statistic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricStat {
    pub namespace: String,
    pub metric_name: String,
    /// Name and value, sorted by name.
    pub dimensions: Vec<(String, String)>,
    pub stat: String,
}

impl TargetTrackingPolicy {
    /// The fields a plan shows, by name.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("metric", self.metric.clone()),
            ("targetValue", self.target_value.to_string()),
            ("scaleInCooldown", self.scale_in_cooldown.to_string()),
            ("scaleOutCooldown", self.scale_out_cooldown.to_string()),
        ];
        if let Some(label) = &self.resource_label {
            fields.push(("resourceLabel", label.clone()));
        }
        for q in self.customized.iter().flat_map(|c| &c.metrics) {
            let text = match (&q.expression, &q.metric) {
                (Some(e), _) => e.clone(),
                (None, Some(m)) => {
                    let dims: Vec<String> = m
                        .dimensions
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    format!(
                        "{}/{} {} {{{}}}",
                        m.namespace,
                        m.metric_name,
                        m.stat,
                        dims.join(",")
                    )
                }
                (None, None) => String::new(),
            };
            let returned = if q.return_data { " (result)" } else { "" };
            fields.push(("metrics", format!("{}: {text}{returned}", q.id)));
        }
        fields
    }
}

/// The query ids of the queue policy's metric math.
const VISIBLE: &str = "visible";
const TASKS: &str = "tasks";

/// The backlog per task: the backlog itself while no task runs (see the module doc).
pub fn backlog_expression() -> String {
    format!("IF(FILL({TASKS}, 0) > 0, {VISIBLE} / FILL({TASKS}, 0), {VISIBLE})")
}

/// The metric math of a queue worker's backlog per running task.
pub fn backlog_per_task(q: &QueueScaling, cluster: &str, service: &str) -> CustomizedMetric {
    let metric = |namespace: &str, name: &str, dims: Vec<(&str, &str)>, stat: &str| MetricStat {
        namespace: namespace.into(),
        metric_name: name.into(),
        dimensions: dims
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        stat: stat.into(),
    };
    CustomizedMetric {
        metrics: vec![
            MetricQuery {
                id: VISIBLE.into(),
                label: Some("Messages waiting in the queue".into()),
                expression: None,
                metric: Some(metric(
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    vec![("QueueName", q.queue_name())],
                    "Sum",
                )),
                return_data: false,
            },
            MetricQuery {
                id: TASKS.into(),
                label: Some("Running tasks of the service".into()),
                expression: None,
                metric: Some(metric(
                    "ECS/ContainerInsights",
                    "RunningTaskCount",
                    vec![("ClusterName", cluster), ("ServiceName", service)],
                    "Average",
                )),
                return_data: false,
            },
            MetricQuery {
                id: "backlog".into(),
                label: Some("Backlog per task".into()),
                expression: Some(backlog_expression()),
                metric: None,
                return_data: true,
            },
        ],
    }
}

/// The scalable target and policies of `spec.scaling`, when an autoscaler owns the count.
/// `owned_group`: the placeholder of the target group `traffic.ingress` creates.
pub(super) fn render(
    spec: &Spec,
    cluster: &str,
    name: &str,
    owned_group: Option<&String>,
) -> Option<ScalingTarget> {
    let scaling = &spec.scaling;
    if !scaling.autoscaling() {
        return None;
    }
    let cooldowns = (
        super::secs(scaling.scale_in_cooldown),
        super::secs(scaling.scale_out_cooldown),
    );
    let policy =
        |suffix: &str, metric: &str, target: f64, label: Option<String>| TargetTrackingPolicy {
            name: format!("{name}-{suffix}"),
            metric: metric.into(),
            resource_label: label,
            target_value: target,
            scale_in_cooldown: cooldowns.0,
            scale_out_cooldown: cooldowns.1,
            customized: None,
        };
    let mut policies = Vec::new();
    if let Some(t) = scaling.target_cpu_percent {
        policies.push(policy("cpu", "ECSServiceAverageCPUUtilization", t, None));
    }
    if let Some(t) = scaling.target_memory_percent {
        let metric = "ECSServiceAverageMemoryUtilization";
        policies.push(policy("memory", metric, t, None));
    }
    if let Some(t) = scaling.requests_per_target {
        // The owned target group's label is known once its ARN is (`with_target_group`).
        let label = owned_group.cloned().or_else(|| {
            let lb = spec.traffic.load_balancer.as_ref()?;
            let lb_arn = lb.load_balancer_arn.as_ref()?;
            Some(ingress::alb_resource_label(lb_arn, &lb.target_group_arn))
        });
        policies.push(policy("requests", "ALBRequestCountPerTarget", t, label));
    }
    if let Some(q) = &scaling.queue {
        let mut p = policy("queue", CUSTOMIZED_METRIC, q.backlog_per_task, None);
        p.customized = Some(backlog_per_task(q, cluster, name));
        policies.push(p);
    }
    Some(ScalingTarget {
        resource_id: ScalingResourceId::new(cluster, name),
        min_capacity: scaling.min_tasks as i32,
        max_capacity: scaling.max_tasks as i32,
        policies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue_worker(extra: &str) -> crate::manifest::MonitoredService {
        let text = format!("apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: worker\nspec:\n  container:\n    image: worker:1\n  scaling:\n    minTasks: 0\n    maxTasks: 4\n{extra}  notify:\n    team: jobs\n");
        crate::yaml::from_str(&text).unwrap()
    }

    #[test]
    fn a_queue_worker_gets_one_policy_on_its_backlog_per_running_task() {
        let m = queue_worker("    queue: {queueArn: 'arn:aws:sqs:eu-west-1:111122223333:orders', backlogPerTask: 25}\n");
        let target = render(&m.spec, "main", "worker", None).unwrap();
        assert_eq!((target.min_capacity, target.max_capacity), (0, 4));
        let [p] = &target.policies[..] else {
            panic!("{:?}", target.policies)
        };
        assert_eq!((p.name.as_str(), p.target_value), ("worker-queue", 25.0));
        let metrics = &p.customized.as_ref().unwrap().metrics;
        let queue = metrics[0].metric.as_ref().unwrap();
        assert_eq!(
            queue.dimensions,
            vec![("QueueName".into(), "orders".into())]
        );
        let tasks = metrics[1].metric.as_ref().unwrap();
        assert_eq!(
            tasks.dimensions,
            vec![
                ("ClusterName".into(), "main".into()),
                ("ServiceName".into(), "worker".into())
            ]
        );
        // Only the final expression returns data, and it divides by the tasks it refers to.
        let returned: Vec<&str> = (metrics.iter().filter(|q| q.return_data))
            .map(|q| q.id.as_str())
            .collect();
        assert_eq!(returned, vec!["backlog"]);
        let expression = metrics[2].expression.as_deref().unwrap();
        assert!(
            expression.contains("visible / FILL(tasks, 0)"),
            "{expression}"
        );
    }

    #[test]
    fn a_predefined_policy_serialises_as_before_the_queue_existed() {
        let m = queue_worker("    targetCpuPercent: 60\n").clone();
        let mut m = m;
        m.spec.scaling.min_tasks = 1;
        let target = render(&m.spec, "main", "worker", None).unwrap();
        let json = serde_json::to_value(&target.policies[0]).unwrap();
        assert!(json.get("customized").is_none(), "{json}");
    }
}
