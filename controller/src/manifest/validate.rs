//! Semantic checks on a deserialised manifest: everything the type system cannot say.
//!
//! Each check names the field path; the loader turns paths into file positions. Checks never
//! stop at the first problem: a person fixing a manifest wants the whole list at once.

use std::collections::BTreeSet;

use super::model::*;
use crate::duration::PromDuration;
use crate::settings::Settings;

/// A problem at a field path.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

/// Longest service name: derived names (`{name}-tg`, Cloud Map, rule groups) must fit AWS limits.
pub const MAX_NAME_LEN: usize = 32;

/// Names of the built-in alerts; user alerts may not reuse them.
pub const BUILTIN_ALERT_NAMES: &[&str] = &[
    "TargetDown",
    "NoTargets",
    "TasksBelowDesired",
    "HighErrorRatio",
    "HighLatencyP99",
    "CpuNearLimit",
    "MemoryNearLimit",
    "TasksStopping",
    "DeploymentFailed",
    "ErrorBudgetBurnFast",
    "ErrorBudgetBurnSlow",
    "LatencyBudgetBurnFast",
    "LatencyBudgetBurnSlow",
];

struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn check(&mut self, ok: bool, path: &str, message: impl FnOnce() -> String) {
        if !ok {
            self.fail(path, message());
        }
    }
}

/// Checks one manifest. `settings`, when given, adds the platform checks (allowed clusters,
/// roles and networks).
pub fn validate(m: &MonitoredService, settings: Option<&Settings>) -> Vec<FieldError> {
    let mut c = Checker { errors: Vec::new() };
    c.check(m.api_version == API_VERSION, "apiVersion", || {
        format!("must be {API_VERSION:?}, found {:?}", m.api_version)
    });
    c.check(m.kind == KIND, "kind", || {
        format!("must be {KIND:?}, found {:?}", m.kind)
    });
    check_metadata(&mut c, &m.metadata);
    let spec = &m.spec;
    check_container(&mut c, &spec.container, settings);
    check_placement(&mut c, &spec.placement, settings);
    check_deployment(&mut c, &spec.deployment);
    check_traffic(&mut c, &spec.traffic);
    let has_lb_arn = spec
        .traffic
        .load_balancer
        .as_ref()
        .is_some_and(|lb| lb.load_balancer_arn.is_some());
    check_scaling(&mut c, &spec.scaling, has_lb_arn);
    let scrape = check_metrics(&mut c, &spec.metrics, settings);
    check_alerts(&mut c, &spec.alerts, scrape);
    check_health_alerts(&mut c, &spec.health_alerts);
    if let Some(slo) = &spec.slo {
        check_slo(&mut c, slo);
    }
    check_dashboard(&mut c, &spec.dashboard);
    check_notify(&mut c, &spec.notify);
    check_lifecycle(&mut c, &spec.lifecycle, &m.metadata.name);
    c.errors
}

/// RFC 1123 label, lower case, starting with a letter.
pub fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Prometheus label name.
pub fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with("__")
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Prometheus metric name (colons are for recording rules only).
pub fn is_metric_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn has_control_chars(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

fn check_metadata(c: &mut Checker, md: &Metadata) {
    c.check(is_dns_label(&md.name, MAX_NAME_LEN), "metadata.name", || {
        format!(
            "{:?} must be a DNS label: 1-{MAX_NAME_LEN} lower-case letters, digits or '-', starting with a letter",
            md.name
        )
    });
    for (key, value) in &md.labels {
        let path = format!("metadata.labels.{key}");
        c.check(is_label_name(key) && key.len() <= 63, &path, || {
            format!("{key:?} must be a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
        });
        c.check(
            !matches!(
                key.as_str(),
                "service" | "team" | "severity" | "job" | "instance"
            ),
            &path,
            || format!("{key:?} is reserved: the operator sets it itself"),
        );
        c.check(
            value.len() <= 256 && !has_control_chars(value),
            &path,
            || "value must be at most 256 characters without control characters".into(),
        );
    }
    for (key, value) in &md.annotations {
        let path = format!("metadata.annotations.{key}");
        c.check(!key.is_empty() && key.len() <= 253, &path, || {
            "key must be 1-253 characters".into()
        });
        c.check(value.len() <= 4096, &path, || {
            "value must be at most 4096 characters".into()
        });
    }
    if let Some(adopt) = md.annotations.get(ADOPT_ANNOTATION) {
        c.check(
            adopt == "true" || adopt == "false",
            &format!("metadata.annotations.{ADOPT_ANNOTATION}"),
            || format!("must be \"true\" or \"false\", found {adopt:?}"),
        );
    }
}

/// Annotation that lets the operator adopt a same-named service it did not create.
pub const ADOPT_ANNOTATION: &str = "ecs-operator.io/adopt";

/// Valid Fargate task sizes: CPU units -> allowed memory in MiB.
pub fn fargate_memory_options(cpu: u32) -> Option<Vec<u32>> {
    let range = |from: u32, to: u32, step: u32| (from..=to).step_by(step as usize).collect();
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => range(1024, 4096, 1024),
        1024 => range(2048, 8192, 1024),
        2048 => range(4096, 16384, 1024),
        4096 => range(8192, 30720, 1024),
        8192 => range(16384, 61440, 4096),
        16384 => range(32768, 122880, 8192),
        _ => return None,
    })
}

fn is_secret_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || !parts[1].starts_with("aws") {
        return false;
    }
    let account_ok = parts[4].len() == 12 && parts[4].chars().all(|c| c.is_ascii_digit());
    let region_ok = !parts[3].is_empty();
    let resource_ok = match parts[2] {
        "secretsmanager" => parts[5].starts_with("secret:") && parts[5].len() > 7,
        "ssm" => parts[5].starts_with("parameter/") && parts[5].len() > 10,
        _ => false,
    };
    account_ok && region_ok && resource_ok
}

fn is_arn_of(s: &str, service: &str, resource_prefix: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == service
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5].starts_with(resource_prefix)
        && parts[5].len() > resource_prefix.len()
}

fn looks_like_secret_name(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    [
        "PASSWORD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "PRIVATE_KEY",
        "ACCESS_KEY",
    ]
    .iter()
    .any(|word| upper == *word || upper.ends_with(&format!("_{word}")))
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_container(c: &mut Checker, k: &Container, settings: Option<&Settings>) {
    c.check(
        !k.image.is_empty()
            && k.image.len() <= 255
            && !k
                .image
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control()),
        "spec.container.image",
        || {
            format!(
                "{:?} must be an image reference without spaces, at most 255 characters",
                k.image
            )
        },
    );
    match fargate_memory_options(k.cpu) {
        None => c.fail(
            "spec.container.cpu",
            format!(
                "{} is not a Fargate CPU size: use 256, 512, 1024, 2048, 4096, 8192 or 16384",
                k.cpu
            ),
        ),
        Some(options) => c.check(options.contains(&k.memory), "spec.container.memory", || {
            format!(
                "{} MiB is not valid with cpu {} on Fargate: use one of {}",
                k.memory,
                k.cpu,
                options
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }),
    }
    c.check(k.port >= 1, "spec.container.port", || {
        "must be between 1 and 65535".into()
    });
    for (key, value) in &k.env {
        let path = format!("spec.container.env.{key}");
        c.check(is_env_name(key), &path, || {
            format!("{key:?} is not a valid environment variable name")
        });
        c.check(!looks_like_secret_name(key), &path, || {
            format!("{key:?} looks like a secret: put its Secrets Manager or SSM ARN under spec.container.secrets instead of a literal value")
        });
        c.check(value.len() <= 32 * 1024, &path, || {
            "value is longer than 32 KiB".into()
        });
        c.check(!k.secrets.contains_key(key), &path, || {
            format!("{key:?} is also defined in spec.container.secrets")
        });
    }
    for (key, arn) in &k.secrets {
        let path = format!("spec.container.secrets.{key}");
        c.check(is_env_name(key), &path, || {
            format!("{key:?} is not a valid environment variable name")
        });
        c.check(is_secret_arn(arn), &path, || {
            "must be the ARN of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or an SSM parameter (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME), never a literal value".into()
        });
    }
    let hc = &k.health_check;
    c.check(
        hc.path.starts_with('/') && !hc.path.contains(char::is_whitespace),
        "spec.container.healthCheck.path",
        || {
            format!(
                "{:?} must be an absolute HTTP path starting with '/'",
                hc.path
            )
        },
    );
    let secs = |d: PromDuration| d.as_millis() as f64 / 1000.0;
    c.check(
        (5.0..=300.0).contains(&secs(hc.interval)),
        "spec.container.healthCheck.interval",
        || format!("{} must be between 5s and 5m (ECS limit)", hc.interval),
    );
    c.check(
        (2.0..=60.0).contains(&secs(hc.timeout)),
        "spec.container.healthCheck.timeout",
        || format!("{} must be between 2s and 1m (ECS limit)", hc.timeout),
    );
    c.check(
        hc.timeout < hc.interval,
        "spec.container.healthCheck.timeout",
        || {
            format!(
                "{} must be shorter than the interval ({})",
                hc.timeout, hc.interval
            )
        },
    );
    c.check(
        (1..=10).contains(&hc.retries),
        "spec.container.healthCheck.retries",
        || format!("{} must be between 1 and 10 (ECS limit)", hc.retries),
    );
    c.check(
        secs(hc.grace_period) <= 3600.0,
        "spec.container.healthCheck.gracePeriod",
        || {
            format!(
                "{} is longer than 1h: a task this slow to start hides real failures",
                hc.grace_period
            )
        },
    );
    if !hc.command.is_empty() {
        c.check(
            matches!(hc.command[0].as_str(), "CMD" | "CMD-SHELL") && hc.command.len() >= 2,
            "spec.container.healthCheck.command",
            || "must start with \"CMD\" or \"CMD-SHELL\" followed by the command".into(),
        );
    }
    if let Some(prefix) = &k.logging.stream_prefix {
        c.check(
            !prefix.is_empty() && prefix.len() <= 128 && !prefix.contains([':', '*']),
            "spec.container.logging.streamPrefix",
            || "must be 1-128 characters without ':' or '*'".into(),
        );
    }
    if let Some(group) = &k.logging.log_group {
        c.check(
            !group.is_empty()
                && group.len() <= 512
                && group
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_-/.#".contains(ch)),
            "spec.container.logging.logGroup",
            || format!("{group:?} is not a valid CloudWatch log group name"),
        );
    }
    if let Some(role) = &k.task_role_arn {
        c.check(
            is_arn_of(role, "iam", "role/"),
            "spec.container.taskRoleArn",
            || format!("{role:?} is not an IAM role ARN"),
        );
        if let Some(s) = settings {
            c.check(s.permitted_task_roles().any(|r| r == role), "spec.container.taskRoleArn", || {
                format!("{role:?} is not one of the task roles the operator's settings allow (allowedTaskRoleArns)")
            });
        }
    }
}

fn check_placement(c: &mut Checker, p: &Placement, settings: Option<&Settings>) {
    if let (Some(cluster), Some(s)) = (&p.cluster, settings) {
        c.check(s.permitted_clusters().any(|x| x == cluster), "spec.placement.cluster", || {
            format!("{cluster:?} is not a cluster this operator manages (settings: cluster, allowedClusters)")
        });
    }
    if let Some(cluster) = &p.cluster {
        c.check(
            !cluster.is_empty()
                && cluster.len() <= 255
                && cluster
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'),
            "spec.placement.cluster",
            || format!("{cluster:?} is not a valid cluster name"),
        );
    }
    if let (Some(network), Some(s)) = (&p.network, settings) {
        c.check(
            s.networks.contains_key(network),
            "spec.placement.network",
            || {
                let known: Vec<&str> = s.networks.keys().map(String::as_str).collect();
                format!(
                    "{network:?} is not a network in the operator's settings (known: {})",
                    known.join(", ")
                )
            },
        );
    }
    for (i, subnet) in p.subnets.iter().enumerate() {
        c.check(
            subnet.starts_with("subnet-") && subnet.len() > 7,
            &format!("spec.placement.subnets[{i}]"),
            || format!("{subnet:?} is not a subnet id (subnet-...)"),
        );
    }
    for (i, sg) in p.security_groups.iter().enumerate() {
        c.check(
            sg.starts_with("sg-") && sg.len() > 3,
            &format!("spec.placement.securityGroups[{i}]"),
            || format!("{sg:?} is not a security group id (sg-...)"),
        );
    }
    c.check(p.subnets.len() <= 16, "spec.placement.subnets", || {
        "at most 16 subnets (ECS limit)".into()
    });
    c.check(
        p.security_groups.len() <= 5,
        "spec.placement.securityGroups",
        || "at most 5 security groups (ECS limit)".into(),
    );
    c.check(
        p.network.is_none() || p.subnets.is_empty(),
        "spec.placement.subnets",
        || "give either network or subnets, not both".into(),
    );
}

fn check_deployment(c: &mut Checker, d: &Deployment) {
    c.check(
        d.min_healthy_percent <= 100,
        "spec.deployment.minHealthyPercent",
        || format!("{} must be between 0 and 100", d.min_healthy_percent),
    );
    c.check(
        (100..=200).contains(&d.max_percent),
        "spec.deployment.maxPercent",
        || format!("{} must be between 100 and 200", d.max_percent),
    );
    c.check(
        d.max_percent > d.min_healthy_percent,
        "spec.deployment.maxPercent",
        || {
            format!(
                "{} leaves no room to deploy: it must be above minHealthyPercent ({})",
                d.max_percent, d.min_healthy_percent
            )
        },
    );
    c.check(
        d.circuit_breaker.enabled || !d.circuit_breaker.rollback,
        "spec.deployment.circuitBreaker.rollback",
        || "rollback needs the circuit breaker enabled".into(),
    );
}

fn check_traffic(c: &mut Checker, t: &Traffic) {
    if let Some(lb) = &t.load_balancer {
        c.check(
            is_arn_of(&lb.target_group_arn, "elasticloadbalancing", "targetgroup/"),
            "spec.traffic.loadBalancer.targetGroupArn",
            || format!("{:?} is not a target group ARN", lb.target_group_arn),
        );
        if let Some(arn) = &lb.load_balancer_arn {
            c.check(
                is_arn_of(arn, "elasticloadbalancing", "loadbalancer/app/"),
                "spec.traffic.loadBalancer.loadBalancerArn",
                || format!("{arn:?} is not an application load balancer ARN"),
            );
        }
        if let Some(path) = &lb.path {
            c.check(
                path.starts_with('/'),
                "spec.traffic.loadBalancer.path",
                || format!("{path:?} must start with '/'"),
            );
        }
        if let Some(host) = &lb.host {
            c.check(
                !host.is_empty()
                    && host.len() <= 253
                    && host
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ".-*".contains(ch)),
                "spec.traffic.loadBalancer.host",
                || format!("{host:?} is not a host name"),
            );
        }
    }
    if let Some(name) = &t.discovery.name {
        c.check(
            is_dns_label(name, 63),
            "spec.traffic.discovery.name",
            || format!("{name:?} must be a DNS label"),
        );
    }
    c.check(
        t.discovery.dns_ttl.as_millis() % 1000 == 0
            && t.discovery.dns_ttl.as_millis() <= 86_400_000,
        "spec.traffic.discovery.dnsTtl",
        || format!("{} must be whole seconds, at most 1d", t.discovery.dns_ttl),
    );
}

fn check_scaling(c: &mut Checker, s: &Scaling, has_load_balancer: bool) {
    c.check(s.max_tasks >= s.min_tasks, "spec.scaling.maxTasks", || {
        format!(
            "{} is below spec.scaling.minTasks ({})",
            s.max_tasks, s.min_tasks
        )
    });
    c.check(s.max_tasks <= 1000, "spec.scaling.maxTasks", || {
        format!(
            "{} is more than 1000 tasks; ask the platform team",
            s.max_tasks
        )
    });
    for (field, value) in [
        ("targetCpuPercent", s.target_cpu_percent),
        ("targetMemoryPercent", s.target_memory_percent),
    ] {
        if let Some(v) = value {
            c.check(
                v > 0.0 && v <= 100.0,
                &format!("spec.scaling.{field}"),
                || format!("{v} must be a percentage above 0 and at most 100"),
            );
        }
    }
    if let Some(rpt) = s.requests_per_target {
        c.check(
            rpt > 0.0 && rpt.is_finite(),
            "spec.scaling.requestsPerTarget",
            || format!("{rpt} must be positive"),
        );
        c.check(has_load_balancer, "spec.scaling.requestsPerTarget", || {
            "needs spec.traffic.loadBalancer with loadBalancerArn (the metric comes from the ALB)"
                .into()
        });
    }
    if s.autoscaling() {
        c.check(
            s.target_cpu_percent.is_some() || s.target_memory_percent.is_some() || s.requests_per_target.is_some(),
            "spec.scaling",
            || format!(
                "maxTasks ({}) above minTasks ({}) needs a target: targetCpuPercent, targetMemoryPercent or requestsPerTarget",
                s.max_tasks, s.min_tasks
            ),
        );
    }
    for (field, d) in [
        ("scaleInCooldown", s.scale_in_cooldown),
        ("scaleOutCooldown", s.scale_out_cooldown),
    ] {
        c.check(
            d.as_millis() <= 3_600_000,
            &format!("spec.scaling.{field}"),
            || format!("{d} must be at most 1h"),
        );
    }
}

/// Returns the effective scrape interval for later checks.
fn check_metrics(c: &mut Checker, m: &Metrics, settings: Option<&Settings>) -> PromDuration {
    c.check(
        m.path.starts_with('/') && !m.path.contains(char::is_whitespace),
        "spec.metrics.path",
        || format!("{:?} must be an absolute HTTP path", m.path),
    );
    if m.port == Some(0) {
        c.fail("spec.metrics.port", "must be between 1 and 65535");
    }
    if let Some(interval) = m.interval {
        c.check(
            (1_000..=300_000).contains(&interval.as_millis()),
            "spec.metrics.interval",
            || format!("{interval} must be between 1s and 5m"),
        );
    }
    m.interval.unwrap_or_else(|| {
        settings
            .and_then(|s| PromDuration::parse(&s.monitoring.default_scrape_interval).ok())
            .unwrap_or(PromDuration::from_secs(15))
    })
}

/// Prometheus template actions we allow in summaries: values and labels, optionally humanised.
fn template_is_safe(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("has an unclosed '{{'")?;
        let action = after[..end]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        let mut parts = action.split('|').map(str::trim);
        let head = parts.next().unwrap_or("");
        let head_ok = head == "$value"
            || head == ".Value"
            || ["$labels.", ".Labels.", "$externalLabels."]
                .iter()
                .any(|p| head.strip_prefix(p).is_some_and(is_label_name_or_builtin));
        let pipes_ok = parts.all(|p| {
            matches!(
                p,
                "humanize"
                    | "humanize1024"
                    | "humanizePercentage"
                    | "humanizeDuration"
                    | "printf \"%.0f\""
                    | "printf \"%.1f\""
                    | "printf \"%.2f\""
            )
        });
        if !head_ok || !pipes_ok {
            return Err(format!(
                "template action {{{{ {action} }}}} is not allowed: use {{{{ $value }}}} or {{{{ $labels.NAME }}}}, optionally piped to humanize, humanizePercentage, humanizeDuration or printf \"%.2f\""
            ));
        }
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err("has a '}}' without an opening '{{'".into());
    }
    Ok(())
}

fn is_label_name_or_builtin(s: &str) -> bool {
    is_label_name(s) || s == "__name__"
}

fn check_alerts(c: &mut Checker, alerts: &[Alert], scrape: PromDuration) {
    // Each alert renders to a few kilobytes of rules: without a cap, one 1 MiB manifest held
    // ~9,000 alerts and took ~200 MB to render.
    c.check(alerts.len() <= 100, "spec.alerts", || {
        "at most 100 alerts per service".into()
    });
    let mut seen = BTreeSet::new();
    for (i, a) in alerts.iter().enumerate().take(100) {
        let p = |field: &str| format!("spec.alerts[{i}].{field}");
        let name_ok = a.name.len() <= 64
            && a.name.starts_with(|ch: char| ch.is_ascii_uppercase())
            && a.name.chars().all(|ch| ch.is_ascii_alphanumeric());
        c.check(name_ok, &p("name"), || {
            format!(
                "{:?} must be UpperCamelCase letters and digits, at most 64 characters",
                a.name
            )
        });
        c.check(seen.insert(a.name.clone()), &p("name"), || {
            format!("{:?} is used by another alert", a.name)
        });
        c.check(
            !BUILTIN_ALERT_NAMES.contains(&a.name.as_str()),
            &p("name"),
            || format!("{:?} is the name of a built-in alert", a.name),
        );
        let comparisons = [a.above, a.at_least, a.below, a.at_most];
        let given = comparisons.iter().filter(|v| v.is_some()).count();
        match (&a.expr, &a.metric) {
            (Some(_), Some(_)) => c.fail(
                p("expr"),
                "give either expr (raw PromQL) or metric, not both",
            ),
            (None, None) => c.fail(
                p("metric"),
                "give a metric to watch (or expr with raw PromQL)",
            ),
            (Some(expr), None) => {
                if let Err(e) = promql_parser::parser::parse(expr) {
                    c.fail(p("expr"), format!("is not valid PromQL: {}", e.trim()));
                }
                c.check(given == 0 && a.measure.is_none() && a.window.is_none() && a.per.is_none() && a.labels.is_empty(), &p("expr"), || {
                    "raw PromQL carries its own condition: drop measure, window, per, labels and above/atLeast/below/atMost".into()
                });
            }
            (None, Some(metric)) => {
                c.check(is_metric_name(metric), &p("metric"), || {
                    format!("{metric:?} is not a Prometheus metric name")
                });
                for key in a.labels.keys() {
                    c.check(
                        is_label_name(key),
                        &format!("spec.alerts[{i}].labels.{key}"),
                        || format!("{key:?} is not a Prometheus label name"),
                    );
                }
                c.check(given == 1, &p("above"), || {
                    format!("give exactly one of above, atLeast, below, atMost (found {given})")
                });
                for v in comparisons.into_iter().flatten() {
                    c.check(v.is_finite(), &p("above"), || {
                        "threshold must be a finite number".into()
                    });
                }
                match a.measure {
                    None => c.fail(p("measure"), "give measure: pace, count or value"),
                    Some(Measure::Pace) | Some(Measure::Count) => match a.window {
                        None => c.fail(p("window"), "pace and count need a window (e.g. 5m or 1h)"),
                        Some(w) => c.check(w.as_millis() >= 4 * scrape.as_millis(), &p("window"), || {
                            format!(
                                "{w} is shorter than 4 scrape intervals ({}): the rate would be computed from too few samples",
                                PromDuration::from_millis(4 * scrape.as_millis())
                            )
                        }),
                    },
                    Some(Measure::Value) => c.check(a.window.is_none(), &p("window"), || "value alerts take no window".into()),
                }
                if let Some(per) = a.per {
                    c.check(a.measure == Some(Measure::Pace), &p("per"), || {
                        "per only applies to measure: pace".into()
                    });
                    c.check(per.as_millis() >= 1000, &p("per"), || {
                        "must be at least 1s".into()
                    });
                }
            }
        }
        if let Some(f) = a.for_ {
            c.check(f.as_millis() <= 24 * 3_600_000, &p("for"), || {
                format!("{f} must be at most 24h")
            });
        }
        for (field, text) in [("summary", &a.summary), ("description", &a.description)] {
            if let Some(text) = text {
                c.check(text.len() <= 1024, &p(field), || {
                    "must be at most 1024 characters".into()
                });
                if let Err(e) = template_is_safe(text) {
                    c.fail(p(field), e);
                }
            }
        }
        if let Some(url) = &a.runbook_url {
            c.check(is_http_url(url), &p("runbookUrl"), || {
                format!("{url:?} must be an http(s) URL")
            });
        }
    }
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > 8
        && s.len() <= 2048
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '{' || c == '}')
}

fn check_health_alerts(c: &mut Checker, h: &HealthAlerts) {
    c.check(
        h.error_ratio_above > 0.0 && h.error_ratio_above < 1.0,
        "spec.healthAlerts.errorRatioAbove",
        || {
            format!(
                "{} must be a ratio between 0 and 1 (0.05 = 5%)",
                h.error_ratio_above
            )
        },
    );
    c.check(
        h.latency_p99_above.as_millis() > 0,
        "spec.healthAlerts.latencyP99Above",
        || "must be positive".into(),
    );
    for (field, v) in [
        ("cpuPercentAbove", h.cpu_percent_above),
        ("memoryPercentAbove", h.memory_percent_above),
    ] {
        c.check(
            v > 0.0 && v <= 100.0,
            &format!("spec.healthAlerts.{field}"),
            || format!("{v} must be a percentage above 0 and at most 100"),
        );
    }
    c.check(
        is_metric_name(&h.requests_metric),
        "spec.healthAlerts.requestsMetric",
        || format!("{:?} is not a Prometheus metric name", h.requests_metric),
    );
    c.check(
        is_metric_name(&h.latency_metric),
        "spec.healthAlerts.latencyMetric",
        || format!("{:?} is not a Prometheus metric name", h.latency_metric),
    );
}

fn check_slo(c: &mut Checker, s: &Slo) {
    c.check(
        s.availability >= 50.0 && s.availability < 100.0,
        "spec.slo.availability",
        || {
            format!(
                "{} must be a percentage from 50 up to (not including) 100, e.g. 99.9",
                s.availability
            )
        },
    );
    let day = 24 * 3_600_000;
    c.check(
        (day..=90 * day).contains(&s.window.as_millis()),
        "spec.slo.window",
        || format!("{} must be between 1d and 90d", s.window),
    );
    if let Some(l) = &s.latency {
        c.check(
            l.threshold.as_millis() > 0,
            "spec.slo.latency.threshold",
            || "must be positive".into(),
        );
        c.check(
            l.objective >= 50.0 && l.objective < 100.0,
            "spec.slo.latency.objective",
            || {
                format!(
                    "{} must be a percentage from 50 up to (not including) 100",
                    l.objective
                )
            },
        );
    }
}

fn check_dashboard(c: &mut Checker, d: &Dashboard) {
    c.check(d.panels.len() <= 50, "spec.dashboard.panels", || {
        "at most 50 extra panels".into()
    });
    // Beyond the cap only the count is reported: parsing thousands of queries is wasted work.
    for (i, panel) in d.panels.iter().enumerate().take(50) {
        c.check(
            !panel.title.trim().is_empty() && panel.title.len() <= 200,
            &format!("spec.dashboard.panels[{i}].title"),
            || "must be 1-200 characters".into(),
        );
        if let Err(e) = promql_parser::parser::parse(&panel.expr) {
            c.fail(
                format!("spec.dashboard.panels[{i}].expr"),
                format!("is not valid PromQL: {}", e.trim()),
            );
        }
        c.check(
            !panel.unit.is_empty() && panel.unit.len() <= 64 && !has_control_chars(&panel.unit),
            &format!("spec.dashboard.panels[{i}].unit"),
            || "must be a Grafana unit id such as short, percent, s, bytes".into(),
        );
    }
}

fn check_notify(c: &mut Checker, n: &Notify) {
    c.check(is_dns_label(&n.team, 63), "spec.notify.team", || {
        format!(
            "{:?} must be a DNS label (lower-case letters, digits, '-')",
            n.team
        )
    });
    for (i, r) in n.receivers.iter().enumerate() {
        let base = format!("spec.notify.receivers[{i}]");
        let kinds = [
            r.webhook.is_some(),
            r.slack.is_some(),
            r.email.is_some(),
            r.sns.is_some(),
        ];
        let count = kinds.iter().filter(|k| **k).count();
        c.check(count == 1, &base, || {
            format!("each receiver is exactly one of webhook, slack, email, sns (found {count})")
        });
        if let Some(w) = &r.webhook {
            c.check(is_http_url(&w.url), &format!("{base}.webhook.url"), || {
                format!("{:?} must be an http(s) URL", w.url)
            });
        }
        if let Some(s) = &r.slack {
            c.check(
                (s.channel.starts_with('#') || s.channel.starts_with('@'))
                    && s.channel.len() > 1
                    && !has_control_chars(&s.channel),
                &format!("{base}.slack.channel"),
                || format!("{:?} must start with '#' or '@'", s.channel),
            );
            c.check(
                s.api_url_file.starts_with('/') && !s.api_url_file.contains("..") && !s.api_url_file.contains("://"),
                &format!("{base}.slack.apiUrlFile"),
                || "must be an absolute file path (the webhook URL is a secret and never goes in a manifest)".into(),
            );
        }
        if let Some(e) = &r.email {
            let ok =
                e.to.split_once('@')
                    .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
                    && !e.to.contains(char::is_whitespace);
            c.check(ok, &format!("{base}.email.to"), || {
                format!("{:?} is not an email address", e.to)
            });
        }
        if let Some(s) = &r.sns {
            let parts: Vec<&str> = s.topic_arn.split(':').collect();
            let ok = parts.len() == 6
                && parts[0] == "arn"
                && parts[2] == "sns"
                && parts[4].len() == 12
                && !parts[5].is_empty();
            c.check(ok, &format!("{base}.sns.topicArn"), || {
                format!("{:?} is not an SNS topic ARN", s.topic_arn)
            });
        }
    }
}

fn check_lifecycle(c: &mut Checker, l: &Lifecycle, own_name: &str) {
    for (i, dep) in l.depends_on.iter().enumerate() {
        let path = format!("spec.lifecycle.dependsOn[{i}]");
        c.check(is_dns_label(dep, MAX_NAME_LEN), &path, || {
            format!("{dep:?} is not a service name")
        });
        c.check(dep != own_name, &path, || {
            "a service cannot depend on itself".into()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fargate_sizes_follow_the_aws_table() {
        assert_eq!(fargate_memory_options(256), Some(vec![512, 1024, 2048]));
        assert!(fargate_memory_options(4096).unwrap().contains(&30720));
        assert!(!fargate_memory_options(8192).unwrap().contains(&17408));
        assert!(fargate_memory_options(300).is_none());
    }

    #[test]
    fn secret_arns_are_recognised() {
        assert!(is_secret_arn(
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-pass-AbCd"
        ));
        assert!(is_secret_arn(
            "arn:aws:ssm:eu-central-1:123456789012:parameter/pizza/db"
        ));
        assert!(!is_secret_arn("hunter2"));
        assert!(!is_secret_arn("arn:aws:s3:::bucket/key"));
    }

    #[test]
    fn only_value_and_label_templates_are_allowed() {
        assert!(
            template_is_safe("pace {{ $value | humanize }}/h on {{ $labels.instance }}").is_ok()
        );
        assert!(template_is_safe("{{ range $x := query \"up\" }}{{ end }}").is_err());
        assert!(template_is_safe("{{ $value").is_err());
        assert!(template_is_safe("oops }}").is_err());
    }
}
