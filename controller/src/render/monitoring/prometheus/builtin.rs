//! The built-in alerts every service gets, with their defaults and detection latency.

use super::rules::{text, Rule};
use super::ServiceCtx;
use crate::domain::BuiltinAlert;
use crate::duration::PromDuration;
use crate::manifest::Severity;
use crate::render::monitoring::promql::{count_over, number};

// ---------------------------------------------------------------------------------------------
// Defaults of the built-in alerts, with their detection latency for the default timing
// (scrape s = 15 s, evaluation e = 15 s, critical group_wait 10 s, warning group_wait 30 s).
// Worst case = s + (share of the window) + e + for + group_wait.
// ---------------------------------------------------------------------------------------------

/// `TargetDown` (warning): `up == 0` for one task. The first failed scrape is seen after at most
/// s + the 10 s scrape timeout; then e + `for` + group_wait: 25 + 15 + 60 + 30 = 2 m 10 s worst.
/// One minute is four failed scrapes in a row: a single slow scrape never fires it.
pub const TARGET_DOWN_FOR: PromDuration = PromDuration::from_secs(60);

/// `NoTargets` (critical): no task of the service answers a scrape (or none is discovered). A
/// new task reaches Prometheus within 25 s at the default discovery refreshes (see the module
/// docs of `render::monitoring`), so a rolling deployment that replaces every task does not
/// fire it: 25 + 15 + 60 + 10 = 1 m 50 s worst.
pub const NO_TARGETS_FOR: PromDuration = PromDuration::from_secs(60);

/// `HighErrorRatio` (critical): the 5xx share over the rate window (2 m at s = 15 s) crosses
/// the threshold after threshold / error share of the window: a 100 % error burst crosses 5 %
/// after 6 s. 15 + 6 + 15 + 60 + 10 = 1 m 46 s worst.
pub const HIGH_ERROR_RATIO_FOR: PromDuration = PromDuration::from_secs(60);

/// Requests per second below which the error ratio and p99 are not judged (1 error out of 2
/// requests is 50 % but no incident). 0.5/s is 60 requests in a 2 m window; quieter services
/// are covered by the SLO burn-rate alerts, whose windows are long enough.
pub const MIN_REQUEST_RATE: f64 = 0.5;

/// `HighLatencyP99` (warning): a p99 from a 2 m window is noisy, so it must hold 5 m:
/// 15 + (up to 120) + 15 + 300 + 30 = 8 m worst, 6 m typical.
pub const HIGH_LATENCY_FOR: PromDuration = PromDuration::from_secs(300);

/// `CpuNearLimit` / `MemoryNearLimit` (warning): a spike must last 2 m.
/// CPU: 15 + (share of the 2 m window) + 15 + 120 + 30 = 3 m worst for a jump to 100 %.
/// Memory is a gauge (no window): 15 + 15 + 120 + 30 = 3 m worst.
pub const RESOURCE_FOR: PromDuration = PromDuration::from_secs(120);

/// `TasksBelowDesired` (warning): a Fargate task takes 1-2 minutes to start, so scale-outs and
/// deployments keep running below desired for a while; 5 m means stuck, not slow.
/// operator poll + 15 + 15 + 300 + 30 s.
pub const TASKS_BELOW_DESIRED_FOR: PromDuration = PromDuration::from_secs(300);

/// `TasksBelowDesired` is not judged while a rollout younger than this is in progress: a
/// rolling deployment below 100 % minimum healthy runs short on purpose. A rollout older than
/// this is stuck, and the alert comes back.
pub const ROLLOUT_GRACE: PromDuration = PromDuration::from_secs(1800);

/// `TasksStopping` (warning): at least this many tasks stopped for an unplanned reason within
/// [`TASKS_STOPPING_WINDOW`] (a crash loop). Counted exactly (see [`count_over`]), no `for`:
/// fires at the evaluation after the third stop is scraped from the operator.
pub const TASKS_STOPPING_COUNT: u32 = 3;
pub const TASKS_STOPPING_WINDOW: PromDuration = PromDuration::from_secs(900);
/// `reason` values of `ecs_operator_service_stopped_tasks_total` that are planned stops
/// (deployments, scale-in, a person stopping a task) and never count as crashing. They are
/// ECS stop codes.
pub const PLANNED_STOP_REASONS: &str = "ServiceSchedulerInitiated|UserInitiated";

/// `ErrorBudgetBurnFast` / `LatencyBudgetBurnFast` (critical) `for`, and the slow variants'
/// (warning). The burn-rate windows already filter blips (Google SRE workbook, chapter 5).
pub const BURN_FAST_FOR: PromDuration = PromDuration::from_secs(120);
pub const BURN_SLOW_FOR: PromDuration = PromDuration::from_secs(900);

/// Multi-window, multi-burn-rate pairs (long window, short window, burn rate), Google SRE
/// workbook: page at 2 % of a 30-day budget in 1 h or 5 % in 6 h; ticket at 10 % in 1 d or
/// 10 % in 3 d. The burn rates are kept for other SLO windows (they then spend a slightly
/// different share of the budget).
pub const FAST_BURN: [(u64, u64, f64); 2] = [(3600, 300, 14.4), (6 * 3600, 1800, 6.0)];
pub const SLOW_BURN: [(u64, u64, f64); 2] =
    [(24 * 3600, 2 * 3600, 3.0), (3 * 24 * 3600, 6 * 3600, 1.0)];

/// Built-in alerts on the service's own metrics (only when Prometheus scrapes it).
pub(super) fn scrape_health(svc: &ServiceCtx) -> Vec<Rule> {
    let h = &svc.m.spec.health_alerts;
    let name = svc.name;
    let w = svc.rate_window;
    let up = svc.job("up").text();
    let requests = svc.job(&h.requests_metric);
    let errors = requests.clone().re("code", "5..");
    let total_rate = format!("sum(rate({}))", requests.range(w));
    let guard = format!("{total_rate} >= {}", number(MIN_REQUEST_RATE));
    let bucket = svc.job(&format!("{}_bucket", h.latency_metric));
    let count = svc.job(&format!("{}_count", h.latency_metric));
    let vcpu = f64::from(svc.m.spec.container.cpu) / 1024.0;
    let memory_bytes = u64::from(svc.m.spec.container.memory) * 1024 * 1024;
    let by_task = "instance, task";
    let target_down_for = svc.builtin_for(BuiltinAlert::TargetDown, TARGET_DOWN_FOR);
    let no_targets_for = svc.builtin_for(BuiltinAlert::NoTargets, NO_TARGETS_FOR);
    let high_error_ratio_for = svc.builtin_for(BuiltinAlert::HighErrorRatio, HIGH_ERROR_RATIO_FOR);
    let high_latency_for = svc.builtin_for(BuiltinAlert::HighLatencyP99, HIGH_LATENCY_FOR);
    let cpu_for = svc.builtin_for(BuiltinAlert::CpuNearLimit, RESOURCE_FOR);
    let memory_for = svc.builtin_for(BuiltinAlert::MemoryNearLimit, RESOURCE_FOR);
    vec![
        svc.alert(
            BuiltinAlert::TargetDown.as_str(),
            format!("{up} == 0"),
            Some(target_down_for),
            Severity::Warning,
            text(
                format!("Task {{{{ $labels.task }}}} of {name} does not answer scrapes"),
                format!(
                    "Prometheus could not scrape {{{{ $labels.instance }}}} (task {{{{ $labels.task }}}}, {{{{ $labels.availability_zone }}}}) for {target_down_for}: the task is stuck, overloaded or gone."
                ),
            ),
        ),
        svc.alert(
            BuiltinAlert::NoTargets.as_str(),
            format!(
                "((sum({up}) or vector(0)) == 0) unless on() (max({}) == 0)",
                svc.operator("ecs_operator_service_desired_tasks").text()
            ),
            Some(no_targets_for),
            Severity::Critical,
            text(
                format!("No task of {name} answers: the service is down"),
                format!(
                    "Prometheus has no scrapeable task of {name} (none discovered, or every scrape fails) for {no_targets_for}, while the service is meant to run."
                ),
            ),
        ),
        svc.alert(
            BuiltinAlert::HighErrorRatio.as_str(),
            format!(
                "(sum(rate({})) / {total_rate}) > {} and on() ({guard})",
                errors.range(w),
                number(h.error_ratio_above)
            ),
            Some(high_error_ratio_for),
            Severity::Critical,
            text(
                format!("{{{{ $value | humanizePercentage }}}} of {name} requests fail with 5xx"),
                format!(
                    "The share of 5xx responses in {} over {w} is above {} (with at least {}/s requests).",
                    h.requests_metric,
                    number(h.error_ratio_above),
                    number(MIN_REQUEST_RATE)
                ),
            ),
        ),
        svc.alert(
            BuiltinAlert::HighLatencyP99.as_str(),
            format!(
                "histogram_quantile(0.99, sum by (le) (rate({}))) > {} and on() (sum(rate({})) >= {})",
                bucket.range(w),
                number(h.latency_p99_above.as_secs_f64()),
                count.range(w),
                number(MIN_REQUEST_RATE)
            ),
            Some(high_latency_for),
            Severity::Warning,
            text(
                format!("p99 latency of {name} is {{{{ $value | humanizeDuration }}}}"),
                format!(
                    "The 99th percentile of {} over {w} is above {} for {high_latency_for}.",
                    h.latency_metric, h.latency_p99_above
                ),
            ),
        ),
        svc.alert(
            BuiltinAlert::CpuNearLimit.as_str(),
            format!(
                "sum by ({by_task}) (rate({})) / {} * 100 > {}",
                svc.job("process_cpu_seconds_total").range(w),
                number(vcpu),
                number(h.cpu_percent_above)
            ),
            Some(cpu_for),
            Severity::Warning,
            text(
                format!(
                    "Task {{{{ $labels.task }}}} of {name} uses {{{{ $value | humanize }}}}% of its {} vCPU",
                    number(vcpu)
                ),
                format!(
                    "CPU use over {w} is above {}% of the task's {} CPU units for {cpu_for}; Fargate throttles at 100%.",
                    number(h.cpu_percent_above),
                    svc.m.spec.container.cpu
                ),
            ),
        ),
        svc.alert(
            BuiltinAlert::MemoryNearLimit.as_str(),
            format!(
                "sum by ({by_task}) ({}) / {memory_bytes} * 100 > {}",
                svc.job("process_resident_memory_bytes").text(),
                number(h.memory_percent_above)
            ),
            Some(memory_for),
            Severity::Warning,
            text(
                format!(
                    "Task {{{{ $labels.task }}}} of {name} uses {{{{ $value | humanize }}}}% of its {} MiB",
                    svc.m.spec.container.memory
                ),
                format!(
                    "Resident memory is above {}% of the task's {} MiB for {memory_for}; at 100% the task is killed (OutOfMemory).",
                    number(h.memory_percent_above),
                    svc.m.spec.container.memory
                ),
            ),
        ),
    ]
}

/// Built-in alerts on the operator's view of the ECS service (work without scraping).
pub(super) fn ecs_health(svc: &ServiceCtx) -> Vec<Rule> {
    let name = svc.name;
    let running = svc.operator("ecs_operator_service_running_tasks").text();
    let desired = svc.operator("ecs_operator_service_desired_tasks").text();
    let failed = svc.operator("ecs_operator_service_rollout_failed").text();
    let rolling = svc
        .operator("ecs_operator_service_rollout")
        .eq("phase", "InProgress")
        .text();
    let deployed = svc.operator(super::rules::DEPLOYED_METRIC).text();
    let rolled_back = svc.operator("ecs_operator_service_rolled_back").text();
    let stopped = svc
        .operator("ecs_operator_service_stopped_tasks_total")
        .not_re("reason", PLANNED_STOP_REASONS);
    let below_desired_for =
        svc.builtin_for(BuiltinAlert::TasksBelowDesired, TASKS_BELOW_DESIRED_FOR);
    let no_for = PromDuration::from_secs(0);
    vec![
        svc.alert(
            BuiltinAlert::TasksBelowDesired.as_str(),
            format!(
                "max({running}) < max({desired}) unless on() (max({rolling}) == 1 and on() max(time() - {deployed}) < {})",
                ROLLOUT_GRACE.as_secs_f64()
            ),
            Some(below_desired_for),
            Severity::Warning,
            text(
                format!("Only {{{{ $value }}}} tasks of {name} run, fewer than desired"),
                format!(
                    "ECS has run fewer tasks of {name} than desired for {below_desired_for}: tasks fail to start (image, secrets, capacity) or keep crashing. (Not judged during the first {ROLLOUT_GRACE} of a rollout.)"
                ),
            ),
        ),
        svc.alert(
            BuiltinAlert::DeploymentFailed.as_str(),
            format!("max({failed}) == 1"),
            Some(svc.builtin_for(BuiltinAlert::DeploymentFailed, no_for)),
            Severity::Warning,
            text(
                format!("The latest deployment of {name} failed"),
                format!(
                    "The rollout state of the current deployment of {name} is FAILED: the circuit breaker stopped it (and rolled back when enabled)."
                ),
            ),
        ),
        svc.alert(
            BuiltinAlert::RolloutRolledBack.as_str(),
            format!("max by (revision, image) ({rolled_back}) == 1"),
            Some(svc.builtin_for(BuiltinAlert::RolloutRolledBack, no_for)),
            Severity::Warning,
            text(
                format!("The release {{{{ $labels.revision }}}} of {name} was rolled back"),
                format!(
                    "{name} was rolled back from {{{{ $labels.revision }}}} (image {{{{ $labels.image }}}}): the previous revision serves again. The spec is held: it is not deployed again until the manifest changes or `ecs-operator retry {name}`; `ecs-operator rollout status {name}` shows why."
                ),
            ),
        ),
        svc.alert(
            BuiltinAlert::TasksStopping.as_str(),
            format!(
                "{} >= {TASKS_STOPPING_COUNT}",
                count_over(&stopped, TASKS_STOPPING_WINDOW, &["reason"])
            ),
            Some(svc.builtin_for(BuiltinAlert::TasksStopping, no_for)),
            Severity::Warning,
            text(
                format!(
                    "{{{{ $value }}}} tasks of {name} stopped in {TASKS_STOPPING_WINDOW} ({{{{ $labels.reason }}}})"
                ),
                format!(
                    "At least {TASKS_STOPPING_COUNT} tasks of {name} stopped for an unplanned reason within {TASKS_STOPPING_WINDOW}: a crash loop."
                ),
            ),
        ),
    ]
}
