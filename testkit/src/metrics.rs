//! Reading the operator's `/metrics` text.

/// Sum of the samples of `name` (a counter's `_total` or a gauge) whose labels satisfy `keep`.
pub fn metric_sum(text: &str, name: &str, keep: impl Fn(&str) -> bool) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| keep(l))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The `operation` label of a metrics line.
pub fn label<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(&format!("{name}=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
}

/// AWS write attempts to ECS, Cloud Map and Application Auto Scaling, from /metrics.
pub fn control_plane_writes(metrics: &str) -> f64 {
    metric_sum(metrics, "ecs_operator_aws_calls_total", |l| {
        label(l, "service") != "S3" && !ecs_operator::aws::calls::is_read(label(l, "operation"))
    })
}
