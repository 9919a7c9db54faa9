//! `spec.traffic.ingress`, against the limits of ELBv2 (CreateRule, CreateTargetGroup,
//! ModifyTargetGroupAttributes; see RELIABILITY.md "Real AWS behaviours").

use super::{Checker, Spec};
use crate::manifest::{EffectiveHealthCheck, Ingress};
use crate::settings::Settings;

const AT: &str = "spec.traffic.ingress";
/// Condition values per listener rule, hosts and paths together (ALB quota).
pub const MAX_CONDITION_VALUES: usize = 5;
/// Longest host or path pattern (RuleCondition HostHeaderConfig / PathPatternConfig).
pub const MAX_PATTERN_LEN: usize = 128;

pub(super) fn check_ingress(c: &mut Checker, spec: &Spec, settings: Option<&Settings>) {
    let Some(ingress) = &spec.traffic.ingress else {
        return;
    };
    c.check(spec.traffic.load_balancer.is_none(), AT, || {
        "traffic.ingress and traffic.loadBalancer (targetGroupArn) both attach a target group: use one (ingress creates and owns its target group; loadBalancer attaches an existing one)".into()
    });
    if let Some(s) = settings {
        c.check(s.ingress.is_some(), AT, || {
            "needs the platform's HTTPS listener: the operator's settings have no ingress.listenerArn (the bootstrap prints it in operator_settings_yaml)".into()
        });
    }
    check_conditions(c, ingress);
    if let Some(p) = ingress.priority {
        c.check(
            (1..=50_000).contains(&p),
            format_args!("{AT}.priority"),
            || format!("{p} is outside the listener rule priorities 1-50000"),
        );
    }
    check_health(c, spec, ingress);
    let delay = ingress.deregistration_delay.as_secs_ceil();
    c.check(
        delay <= 3600,
        format_args!("{AT}.deregistrationDelay"),
        || format!("{} is above ELBv2's 3600s", ingress.deregistration_delay),
    );
    if let Some(d) = ingress.stickiness {
        let secs = d.as_secs_ceil();
        c.check(
            (1..=604_800).contains(&secs),
            format_args!("{AT}.stickiness"),
            || format!("{d} is outside the load balancer cookie's 1s-7d"),
        );
    }
    if let Some(idle) = ingress.idle_timeout {
        let path = format!("{AT}.idleTimeout");
        let secs = idle.as_secs_ceil();
        c.check((1..=4000).contains(&secs), &path, || {
            format!("{idle} is outside the load balancer's 1s-4000s")
        });
        if let Some(platform) = settings.and_then(|s| s.ingress.as_ref()) {
            c.check(secs <= platform.idle_timeout.as_secs_ceil(), &path, || {
                format!(
                    "{idle} is longer than the shared load balancer's idle timeout ({}, settings ingress.idleTimeout); it is the load balancer's attribute, which the operator does not change: ask the platform team",
                    platform.idle_timeout
                )
            });
        }
    }
}

fn check_conditions(c: &mut Checker, ingress: &Ingress) {
    let values = ingress.hosts.len() + ingress.paths.len();
    c.check(values <= MAX_CONDITION_VALUES, AT, || {
        format!("{values} hosts and paths: a listener rule holds at most {MAX_CONDITION_VALUES} condition values")
    });
    for (i, host) in ingress.hosts.iter().enumerate() {
        c.check(is_host_pattern(host), format_args!("{AT}.hosts[{i}]"), || {
            format!("{host:?} is not a host pattern: 1-{MAX_PATTERN_LEN} characters of letters, digits, - _ . and the wildcards * ?, with at least one '.'")
        });
    }
    for (i, path) in ingress.paths.iter().enumerate() {
        c.check(is_path_pattern(path), format_args!("{AT}.paths[{i}]"), || {
            format!("{path:?} is not a path pattern: 1-{MAX_PATTERN_LEN} characters starting with '/', of letters, digits, _ - . $ / ~ \" ' @ : + & and the wildcards * ?")
        });
    }
}

fn is_host_pattern(host: &str) -> bool {
    (1..=MAX_PATTERN_LEN).contains(&host.len())
        && host.contains('.')
        && host
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.*?".contains(ch))
}

fn is_path_pattern(path: &str) -> bool {
    (1..=MAX_PATTERN_LEN).contains(&path.len())
        && path.starts_with('/')
        && path
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_-.$/~\"'@:+&*?".contains(ch))
}

/// The target group's health check, as rendered, against CreateTargetGroup's ranges. A value
/// taken from `container.healthCheck` is reported there, naming the ingress field that would
/// override it.
fn check_health(c: &mut Checker, spec: &Spec, ingress: &Ingress) {
    let own = &ingress.health_check;
    let hc: EffectiveHealthCheck = ingress.effective_health_check(&spec.container);
    let at = |field: &str, set: bool| {
        if set {
            format!("{AT}.healthCheck.{field}")
        } else {
            let base = match field {
                "unhealthyThreshold" => "retries",
                other => other,
            };
            format!("spec.container.healthCheck.{base}")
        }
    };
    let taken = |set: bool, field: &str| {
        if set {
            String::new()
        } else {
            format!(" (the load balancer's health check takes it from here; set {AT}.healthCheck.{field} to use another)")
        }
    };
    let path_ok = hc.path.starts_with('/') && (1..=1024).contains(&hc.path.len());
    c.check(path_ok, at("path", own.path.is_some()), || {
        format!(
            "{:?} must start with '/' and hold at most 1024 characters{}",
            hc.path,
            taken(own.path.is_some(), "path")
        )
    });
    let ranges = [
        (
            "interval",
            own.interval.is_some(),
            hc.interval_seconds,
            5,
            300,
            "s",
        ),
        (
            "timeout",
            own.timeout.is_some(),
            hc.timeout_seconds,
            2,
            120,
            "s",
        ),
        (
            "healthyThreshold",
            own.healthy_threshold.is_some(),
            hc.healthy_threshold,
            2,
            10,
            "",
        ),
        (
            "unhealthyThreshold",
            own.unhealthy_threshold.is_some(),
            hc.unhealthy_threshold,
            2,
            10,
            "",
        ),
    ];
    for (field, set, value, min, max, unit) in ranges {
        c.check((min..=max).contains(&value), at(field, set), || {
            format!(
                "{value}{unit} is outside the target group health check's {min}{unit}-{max}{unit}{}",
                taken(set, field)
            )
        });
    }
    c.check(
        hc.timeout_seconds < hc.interval_seconds,
        at("timeout", own.timeout.is_some()),
        || {
            format!(
                "{}s must be shorter than the health check interval ({}s){}",
                hc.timeout_seconds,
                hc.interval_seconds,
                taken(own.timeout.is_some(), "timeout")
            )
        },
    );
    if let Some(codes) = &own.success_codes {
        c.check(
            is_success_codes(codes),
            format_args!("{AT}.healthCheck.successCodes"),
            || format!("{codes:?} must be HTTP codes from 200 to 499: 200, 200,204 or 200-299"),
        );
    }
}

/// `200`, `200,204`, `200-299`: ALB matchers accept codes 200-499.
fn is_success_codes(codes: &str) -> bool {
    let code = |s: &str| s.len() == 3 && s.parse::<u16>().is_ok_and(|n| (200..=499).contains(&n));
    codes.split(',').all(|part| match part.split_once('-') {
        Some((a, b)) => code(a) && code(b) && a < b,
        None => code(part),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_success_codes_follow_the_alb_rules() {
        assert!(is_host_pattern("pizza.example.com"));
        assert!(is_host_pattern("*.example.com"));
        assert!(!is_host_pattern("localhost"));
        assert!(!is_host_pattern(&format!("{}.com", "a".repeat(130))));
        assert!(is_path_pattern("/*"));
        assert!(is_path_pattern("/api/v1/*"));
        assert!(!is_path_pattern("api"));
        assert!(!is_path_pattern("/a b"));
        assert!(is_success_codes("200"));
        assert!(is_success_codes("200,204"));
        assert!(is_success_codes("200-299"));
        assert!(!is_success_codes("500"));
        assert!(!is_success_codes("299-200"));
        assert!(!is_success_codes("2xx"));
    }
}
