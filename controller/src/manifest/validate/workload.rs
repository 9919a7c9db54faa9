//! Checks of how the service runs: container, placement, deployment, traffic, scaling.

use std::collections::BTreeMap;

use super::{is_dns_label, Checker};
use crate::duration::PromDuration;
use crate::manifest::model::*;
use crate::settings::Settings;

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

pub(super) fn is_secret_arn(s: &str) -> bool {
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

pub(super) fn is_arn_of(s: &str, service: &str, resource_prefix: &str) -> bool {
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

pub(super) fn looks_like_secret_name(key: &str) -> bool {
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

pub(super) fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn check_container(c: &mut Checker, k: &Container, settings: Option<&Settings>) {
    if let Some(gib) = k.ephemeral_storage_gib {
        // EphemeralStorage `sizeInGiB`: 21-200 (ECS API reference; 20 GiB is the default).
        c.check(
            (21..=200).contains(&gib),
            "spec.container.ephemeralStorageGiB",
            || format!("{gib} GiB: Fargate task storage is 21 to 200 GiB (leave it out for the default 20)"),
        );
    }
    // "ECS Exec ... the SSM agent requires that the container file system is able to be
    // written to" (ECS Developer Guide, ECS Exec considerations).
    c.check(
        !(k.exec && k.read_only_root_filesystem),
        "spec.container.exec",
        || "ECS Exec needs a writable root filesystem (its SSM agent writes there): set readOnlyRootFilesystem: false, or exec: false".into(),
    );
    check_image(c, "spec.container.image", &k.image);
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
    check_env(c, "spec.container", &k.env, &k.secrets, settings);
    check_health_check(c, "spec.container.healthCheck", &k.health_check);
    check_logging(c, "spec.container.logging", &k.logging);
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

pub(super) fn check_placement(c: &mut Checker, p: &Placement, settings: Option<&Settings>) {
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
            format_args!("spec.placement.subnets[{i}]"),
            || format!("{subnet:?} is not a subnet id (subnet-...)"),
        );
    }
    for (i, sg) in p.security_groups.iter().enumerate() {
        c.check(
            sg.starts_with("sg-") && sg.len() > 3,
            format_args!("spec.placement.securityGroups[{i}]"),
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
    if let crate::manifest::Spot::Mix(m) = p.spot {
        // CapacityProviderStrategyItem: base 0-100000, weight 0-1000 (ECS API reference).
        c.check(m.base <= 100_000, "spec.placement.spot.base", || {
            format!("{} tasks is above ECS's base limit of 100000", m.base)
        });
        c.check(
            (1..=1000).contains(&m.weight),
            "spec.placement.spot.weight",
            || {
                format!(
                    "{} is not a Spot weight of 1 to 1000 (use spot: false for none)",
                    m.weight
                )
            },
        );
    }
    // "Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity
    // provider." (Amazon ECS Developer Guide, Fargate capacity providers)
    c.check(
        !(p.spot.any() && p.architecture == Some(crate::manifest::CpuArchitecture::Arm64)),
        "spec.placement.architecture",
        || "arm64 tasks cannot run on Fargate Spot: set spot: false or architecture: x86_64".into(),
    );
}

pub(super) fn check_traffic(c: &mut Checker, t: &Traffic) {
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

pub(super) fn check_scaling(c: &mut Checker, s: &Scaling, has_load_balancer: bool) {
    super::queue::check_queue_scaling(c, s);
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
                format_args!("spec.scaling.{field}"),
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
            "needs spec.traffic.ingress, or spec.traffic.loadBalancer with loadBalancerArn (the metric comes from the ALB)"
                .into()
        });
    }
    if s.autoscaling() {
        c.check(
            s.target_cpu_percent.is_some() || s.target_memory_percent.is_some() || s.requests_per_target.is_some() || s.queue.is_some(),
            "spec.scaling",
            || format!(
                "maxTasks ({}) above minTasks ({}) needs a target: targetCpuPercent, targetMemoryPercent, requestsPerTarget or queue",
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
            format_args!("spec.scaling.{field}"),
            || format!("{d} must be at most 1h"),
        );
    }
}

/// The image reference of a container.
pub(super) fn check_image(c: &mut Checker, path: &str, image: &str) {
    c.check(
        !image.is_empty()
            && image.len() <= 255
            && !image
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control()),
        path,
        || format!("{image:?} must be an image reference without spaces, at most 255 characters"),
    );
}

/// Environment variables and secrets of a container at `prefix` (`spec.container`,
/// `spec.sidecars[0]`).
pub(super) fn check_env(
    c: &mut Checker,
    prefix: &str,
    env: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, String>,
    settings: Option<&Settings>,
) {
    for (key, value) in env {
        let path = format!("{prefix}.env.{key}");
        c.check(is_env_name(key), &path, || {
            format!("{key:?} is not a valid environment variable name")
        });
        c.check(!looks_like_secret_name(key), &path, || {
            format!("{key:?} looks like a secret: put its Secrets Manager or SSM ARN under {prefix}.secrets instead of a literal value")
        });
        c.check(value.len() <= 32 * 1024, &path, || {
            "value is longer than 32 KiB".into()
        });
        c.check(!secrets.contains_key(key), &path, || {
            format!("{key:?} is also defined in {prefix}.secrets")
        });
    }
    for (key, arn) in secrets {
        let path = format!("{prefix}.secrets.{key}");
        c.check(is_env_name(key), &path, || {
            format!("{key:?} is not a valid environment variable name")
        });
        c.check(is_secret_arn(arn), &path, || {
            "must be the ARN of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or an SSM parameter (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME), never a literal value".into()
        });
        if let Some(settings) = settings.filter(|_| is_secret_arn(arn)) {
            c.check(settings.permits_secret(arn), &path, || {
                format!("{arn:?} is not one of the secrets the operator's settings allow (allowedSecretArns: {}); the task execution role could not read it", 
                    if settings.allowed_secret_arns.is_empty() { "none".to_string() } else { settings.allowed_secret_arns.join(", ") })
            });
        }
    }
}

/// An ECS container health check at `path`.
pub(super) fn check_health_check(c: &mut Checker, path: &str, hc: &HealthCheck) {
    c.check(
        hc.path.starts_with('/') && !hc.path.contains(char::is_whitespace),
        format_args!("{path}.path"),
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
        format_args!("{path}.interval"),
        || format!("{} must be between 5s and 5m (ECS limit)", hc.interval),
    );
    c.check(
        (2.0..=60.0).contains(&secs(hc.timeout)),
        format_args!("{path}.timeout"),
        || format!("{} must be between 2s and 1m (ECS limit)", hc.timeout),
    );
    c.check(
        hc.timeout < hc.interval,
        format_args!("{path}.timeout"),
        || {
            format!(
                "{} must be shorter than the interval ({})",
                hc.timeout, hc.interval
            )
        },
    );
    c.check(
        (1..=10).contains(&hc.retries),
        format_args!("{path}.retries"),
        || format!("{} must be between 1 and 10 (ECS limit)", hc.retries),
    );
    c.check(
        secs(hc.grace_period) <= 3600.0,
        format_args!("{path}.gracePeriod"),
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
            format_args!("{path}.command"),
            || "must start with \"CMD\" or \"CMD-SHELL\" followed by the command".into(),
        );
    }
}

/// Where a container's logs go, at `path`.
pub(super) fn check_logging(c: &mut Checker, path: &str, logging: &Logging) {
    if let Some(prefix) = &logging.stream_prefix {
        c.check(
            !prefix.is_empty() && prefix.len() <= 128 && !prefix.contains([':', '*']),
            format_args!("{path}.streamPrefix"),
            || "must be 1-128 characters without ':' or '*'".into(),
        );
    }
    if let Some(group) = &logging.log_group {
        c.check(
            !group.is_empty()
                && group.len() <= 512
                && group
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_-/.#".contains(ch)),
            format_args!("{path}.logGroup"),
            || format!("{group:?} is not a valid CloudWatch log group name"),
        );
    }
    c.check(
        logging.options.is_empty() || logging.driver == LogDriver::Firelens,
        format_args!("{path}.options"),
        || "options configure the firelens driver only (the awslogs options come from logGroup, streamPrefix and mode)".into(),
    );
}
