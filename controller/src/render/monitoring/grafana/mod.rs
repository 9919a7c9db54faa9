//! One Grafana dashboard per service, and the file provider that loads them.
//!
//! Dashboards use the classic dashboard JSON model (the one Grafana's provisioning and
//! `/api/dashboards/db` read), checked by `tools/grafana-schema` against `@grafana/schema`.
//! The Prometheus data source is chosen by a `datasource` template variable and referenced as
//! `{"type": "prometheus", "uid": "${datasource}"}`, never by name.

use serde::Serialize;
use serde_json::{json, Value};

mod jobs;
mod panels;
mod queue;
#[cfg(test)]
mod tests;

use panels::*;

use super::prometheus::FAST_BURN;
use super::promql::{number, quote};
use super::{dashboard_uid, yaml_file, ServiceCtx};
use crate::manifest::PanelKind;
use crate::settings::Settings;

/// Where the dashboards are, as Grafana sees the monitoring directory, when the settings name
/// no `configDir`.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/ecs-operator/monitoring";

pub(crate) fn dashboard(svc: &ServiceCtx) -> String {
    let spec = &svc.m.spec;
    let h = &spec.health_alerts;
    let name = svc.name;
    let w = svc.rate_window;
    let mut l = Layout::new();

    l.row("Alerts");
    l.place(firing_alerts(name), 12, 8);
    l.place(
        timeseries(
            "Stopped tasks",
            "Tasks ECS stopped in the rate window, by reason and the essential container that exited; and containers that failed while their task ran on (non-essential sidecars) (operator metrics).",
            "short",
            &[
                Series {
                    expr: format!(
                        "sum by (reason, container) (increase({}))",
                        svc.operator("ecs_operator_service_stopped_tasks_total")
                            .range(w)
                    ),
                    legend: "{{reason}} {{container}}",
                },
                Series {
                    expr: format!(
                        "sum by (container) (increase({}))",
                        svc.operator("ecs_operator_service_container_failures_total")
                            .range(w)
                    ),
                    legend: "{{container}} failed (task ran on)",
                },
            ],
            None,
        ),
        12,
        8,
    );

    if spec.metrics.enabled {
        let requests = svc.job(&h.requests_metric);
        let errors = requests.clone().re("code", "5..");
        let bucket = svc.job(&format!("{}_bucket", h.latency_metric));
        l.row("Requests");
        l.place(
            timeseries(
                "Request rate",
                &format!("{} per second, by status code.", h.requests_metric),
                "reqps",
                &[Series {
                    expr: format!("sum by (code) (rate({}))", requests.range(w)),
                    legend: "{{code}}",
                }],
                None,
            ),
            8,
            8,
        );
        l.place(
            timeseries(
                "Error ratio (5xx)",
                "Share of 5xx responses; the red area is where HighErrorRatio fires.",
                "percentunit",
                &[Series {
                    expr: format!(
                        "(sum(rate({})) or vector(0)) / sum(rate({}))",
                        errors.range(w),
                        requests.range(w)
                    ),
                    legend: "5xx share",
                }],
                Some(steps(&[
                    ("green", None),
                    ("red", Some(h.error_ratio_above)),
                ])),
            ),
            8,
            8,
        );
        let quantile = |q: &str| {
            format!(
                "histogram_quantile({q}, sum by (le) (rate({})))",
                bucket.range(w)
            )
        };
        l.place(
            timeseries(
                "Latency",
                "Request duration quantiles; the red area is where HighLatencyP99 fires.",
                "s",
                &[
                    Series {
                        expr: quantile("0.5"),
                        legend: "p50",
                    },
                    Series {
                        expr: quantile("0.9"),
                        legend: "p90",
                    },
                    Series {
                        expr: quantile("0.99"),
                        legend: "p99",
                    },
                ],
                Some(steps(&[
                    ("green", None),
                    ("red", Some(h.latency_p99_above.as_secs_f64())),
                ])),
            ),
            8,
            8,
        );
    }

    let business: Vec<Value> = spec
        .alerts
        .iter()
        .filter_map(|a| business_panel(svc, a))
        .collect();
    if !business.is_empty() {
        l.row("Business metrics");
        for panel in business {
            l.place(panel, 12, 8);
        }
    }

    l.row("Tasks and resources");
    let op = |metric: &str| format!("max({})", svc.operator(metric).text());
    l.place(
        timeseries(
            "Tasks",
            "Running, desired and pending tasks as ECS reports them (operator metrics).",
            "short",
            &[
                Series {
                    expr: op("ecs_operator_service_running_tasks"),
                    legend: "running",
                },
                Series {
                    expr: op("ecs_operator_service_desired_tasks"),
                    legend: "desired",
                },
                Series {
                    expr: op("ecs_operator_service_pending_tasks"),
                    legend: "pending",
                },
            ],
            None,
        ),
        8,
        8,
    );
    if spec.metrics.enabled {
        let vcpu = f64::from(spec.container.cpu) / 1024.0;
        let memory_bytes = u64::from(spec.container.memory) * 1024 * 1024;
        l.place(
            timeseries(
                "CPU (% of task limit)",
                &format!(
                    "CPU per task against its {} CPU units; red is where CpuNearLimit fires.",
                    spec.container.cpu
                ),
                "percent",
                &[Series {
                    expr: format!(
                        "sum by (task) (rate({})) / {} * 100",
                        svc.job("process_cpu_seconds_total").range(w),
                        number(vcpu)
                    ),
                    legend: "{{task}}",
                }],
                Some(steps(&[
                    ("green", None),
                    ("red", Some(h.cpu_percent_above)),
                ])),
            ),
            8,
            8,
        );
        l.place(
            timeseries(
                "Memory (% of task limit)",
                &format!(
                    "Resident memory per task against its {} MiB; red is where MemoryNearLimit fires.",
                    spec.container.memory
                ),
                "percent",
                &[Series {
                    expr: format!(
                        "sum by (task) ({}) / {memory_bytes} * 100",
                        svc.job("process_resident_memory_bytes").text()
                    ),
                    legend: "{{task}}",
                }],
                Some(steps(&[("green", None), ("red", Some(h.memory_percent_above))])),
            ),
            8,
            8,
        );
    }

    queue::queue_row(svc, &mut l);
    jobs::runs_row(svc, &mut l);

    if let Some(slo) = &spec.slo {
        l.row("Service level objective");
        let budget = (100.0 - slo.availability) / 100.0;
        let (long, _, fast) = FAST_BURN[0];
        let long = crate::duration::PromDuration::from_secs(long).max(
            crate::duration::PromDuration::from_millis(4 * svc.scrape.as_millis()),
        );
        let ratio = format!(
            "ecs_operator:slo_errors:ratio_rate{long}{{service={}}}",
            quote(name)
        );
        l.place(
            timeseries(
                "Error budget burn rate (1h)",
                &format!(
                    "How fast the availability budget ({}% over {}) is spent: 1 spends it exactly in the window; at {} the fast-burn page fires.",
                    number(slo.availability),
                    slo.window,
                    number(fast)
                ),
                "short",
                &[Series {
                    expr: format!("{ratio} / {}", number((budget * 1e12).round() / 1e12)),
                    legend: "burn rate",
                }],
                Some(steps(&[("green", None), ("orange", Some(1.0)), ("red", Some(fast))])),
            ),
            12,
            8,
        );
        l.place(
            stat(
                "Availability (3d)",
                &format!(
                    "Share of non-5xx responses over 3 days; objective {}%.",
                    number(slo.availability)
                ),
                "percentunit",
                &format!(
                    "1 - ecs_operator:slo_errors:ratio_rate3d{{service={}}}",
                    quote(name)
                ),
                steps(&[("red", None), ("green", Some(slo.availability / 100.0))]),
            ),
            12,
            8,
        );
    }

    if !spec.dashboard.panels.is_empty() {
        l.row("Custom");
        for p in &spec.dashboard.panels {
            let panel = match p.kind {
                PanelKind::Timeseries => timeseries(
                    &p.title,
                    "Declared in the manifest.",
                    &p.unit,
                    &[Series {
                        expr: p.expr.clone(),
                        legend: "",
                    }],
                    None,
                ),
                PanelKind::Stat => stat(
                    &p.title,
                    "Declared in the manifest.",
                    &p.unit,
                    &p.expr,
                    steps(&[("green", None)]),
                ),
            };
            l.place(panel, 12, 8);
        }
    }

    let annotations = json!({
        "list": [
            {
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": true,
                "hide": true,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "target": {"limit": 100, "matchAny": false, "tags": [], "type": "dashboard"},
                "type": "dashboard",
            },
            {
                "datasource": ds(),
                "enable": true,
                "expr": format!("max({}) > 0", svc.operator("ecs_operator_service_pending_tasks").text()),
                "hide": false,
                "iconColor": "#5794F2",
                "name": "Deployments and scale-outs",
                "step": "60s",
                "textFormat": "tasks starting",
                "titleFormat": "Tasks pending",
                "useValueForTime": false,
            },
            {
                "datasource": ds(),
                "enable": true,
                "expr": format!("max({}) == 1", svc.operator("ecs_operator_service_rollout_failed").text()),
                "hide": false,
                "iconColor": "#F2495C",
                "name": "Failed rollouts",
                "step": "60s",
                "textFormat": "the circuit breaker stopped the deployment",
                "titleFormat": "Rollout failed",
                "useValueForTime": false,
            },
        ],
    });

    let dashboard = json!({
        "annotations": annotations,
        "description": format!(
            "Requests, business metrics, tasks, resources and alerts of {name} (team {}). Generated by ecs-operator; edits in Grafana are overwritten.",
            svc.team
        ),
        "editable": false,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": null,
        "links": [{
            "asDropdown": true,
            "icon": "external link",
            "includeVars": true,
            "keepTime": true,
            "tags": ["ecs-operator", svc.team],
            "targetBlank": false,
            "title": format!("Team {}", svc.team),
            "tooltip": "Other services of the team",
            "type": "dashboards",
            "url": "",
        }],
        "liveNow": false,
        "panels": l.panels,
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["ecs-operator", svc.team],
        "templating": {
            "list": [{
                "hide": 0,
                "includeAll": false,
                "label": "Data source",
                "multi": false,
                "name": "datasource",
                "options": [],
                "query": "prometheus",
                "refresh": 1,
                "regex": "",
                "skipUrlSync": false,
                "type": "datasource",
            }],
        },
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m"]},
        "timezone": "browser",
        "title": name,
        "uid": dashboard_uid(name),
        "version": 1,
        "weekStart": "",
    });
    let mut text =
        serde_json::to_string_pretty(&dashboard).expect("a JSON value always serialises");
    text.push('\n');
    text
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Provisioning {
    api_version: u32,
    providers: Vec<Provider>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Provider {
    name: String,
    org_id: u32,
    #[serde(rename = "type")]
    kind: String,
    disable_deletion: bool,
    allow_ui_updates: bool,
    update_interval_seconds: u32,
    options: ProviderOptions,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderOptions {
    path: String,
    folders_from_files_structure: bool,
}

/// Grafana's dashboard file provider: every JSON file under `grafana/dashboards/`, one folder
/// per team (the subdirectory).
pub(crate) fn provisioning(settings: &Settings) -> String {
    let dir = settings
        .monitoring
        .config_dir
        .as_deref()
        .unwrap_or(DEFAULT_CONFIG_DIR)
        .trim_end_matches('/');
    let doc = Provisioning {
        api_version: 1,
        providers: vec![Provider {
            name: "ecs-operator".into(),
            org_id: 1,
            kind: "file".into(),
            disable_deletion: false,
            allow_ui_updates: false,
            update_interval_seconds: 30,
            options: ProviderOptions {
                path: format!("{dir}/grafana/dashboards"),
                folders_from_files_structure: true,
            },
        }],
    };
    yaml_file(
        "Generated by ecs-operator: Grafana's file provider for the generated dashboards.",
        &doc,
    )
}
