//! Panel builders and the grid layout of a dashboard.

use serde_json::{json, Value};

use super::super::prometheus::measured_value;
use super::super::promql::quote;
use super::super::ServiceCtx;
use crate::manifest::{Alert, Measure};

pub(super) fn ds() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

pub(super) fn target(expr: &str, legend: &str, ref_id: &str) -> Value {
    json!({
        "datasource": ds(),
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": true,
        "refId": ref_id,
    })
}

pub(super) fn steps(steps: &[(&str, Option<f64>)]) -> Value {
    json!({
        "mode": "absolute",
        "steps": steps.iter().map(|(color, value)| json!({"color": color, "value": value})).collect::<Vec<_>>(),
    })
}

/// Panels laid out left to right, 24 columns wide.
pub(super) struct Layout {
    pub(super) panels: Vec<Value>,
    next_id: u32,
    x: u32,
    y: u32,
    row_height: u32,
}

impl Layout {
    pub(super) fn new() -> Self {
        Self {
            panels: Vec::new(),
            next_id: 1,
            x: 0,
            y: 0,
            row_height: 0,
        }
    }

    pub(super) fn id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(super) fn newline(&mut self) {
        if self.x > 0 {
            self.y += self.row_height;
            self.x = 0;
            self.row_height = 0;
        }
    }

    pub(super) fn row(&mut self, title: &str) {
        self.newline();
        let id = self.id();
        self.panels.push(json!({
            "collapsed": false,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            "id": id,
            "panels": [],
            "title": title,
            "type": "row",
        }));
        self.y += 1;
    }

    pub(super) fn place(&mut self, mut panel: Value, w: u32, h: u32) {
        if self.x + w > 24 {
            self.newline();
        }
        let id = self.id();
        panel["id"] = json!(id);
        panel["gridPos"] = json!({"h": h, "w": w, "x": self.x, "y": self.y});
        self.x += w;
        self.row_height = self.row_height.max(h);
        self.panels.push(panel);
    }
}

pub(super) struct Series<'a> {
    pub(super) expr: String,
    pub(super) legend: &'a str,
}

pub(super) fn timeseries(
    title: &str,
    description: &str,
    unit: &str,
    series: &[Series],
    thresholds: Option<Value>,
) -> Value {
    let refs = ["A", "B", "C", "D", "E", "F"];
    let shown = thresholds.is_some();
    json!({
        "datasource": ds(),
        "description": description,
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "palette-classic"},
                "custom": {
                    "drawStyle": "line",
                    "fillOpacity": 10,
                    "lineWidth": 1,
                    "showPoints": "never",
                    "spanNulls": false,
                    "thresholdsStyle": {"mode": if shown { "line+area" } else { "off" }},
                },
                "mappings": [],
                "min": 0,
                "thresholds": thresholds.unwrap_or_else(|| steps(&[("green", None)])),
                "unit": unit,
            },
            "overrides": [],
        },
        "options": {
            "legend": {"calcs": ["mean", "max"], "displayMode": "table", "placement": "bottom", "showLegend": true},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": series.iter().zip(refs).map(|(s, r)| target(&s.expr, s.legend, r)).collect::<Vec<_>>(),
        "title": title,
        "type": "timeseries",
    })
}

pub(super) fn stat(
    title: &str,
    description: &str,
    unit: &str,
    expr: &str,
    thresholds: Value,
) -> Value {
    json!({
        "datasource": ds(),
        "description": description,
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "thresholds"},
                "mappings": [],
                "thresholds": thresholds,
                "unit": unit,
            },
            "overrides": [],
        },
        "options": {
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            "textMode": "auto",
        },
        "targets": [target(expr, "", "A")],
        "title": title,
        "type": "stat",
    })
}

pub(super) fn firing_alerts(service: &str) -> Value {
    json!({
        "datasource": ds(),
        "description": "Alerts of this service firing now (Prometheus ALERTS series).",
        "fieldConfig": {
            "defaults": {
                "custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": false},
                "mappings": [],
                "thresholds": steps(&[("green", None)]),
            },
            "overrides": [{
                "matcher": {"id": "byName", "options": "severity"},
                "properties": [
                    {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    {"id": "mappings", "value": [{
                        "options": {
                            "critical": {"color": "red", "index": 0},
                            "warning": {"color": "orange", "index": 1},
                            "info": {"color": "blue", "index": 2},
                        },
                        "type": "value",
                    }]},
                ],
            }],
        },
        "options": {"cellHeight": "sm", "footer": {"show": false}, "showHeader": true},
        "targets": [{
            "datasource": ds(),
            "editorMode": "code",
            "expr": format!("ALERTS{{service={},alertstate=\"firing\"}}", quote(service)),
            "format": "table",
            "instant": true,
            "refId": "A",
        }],
        "title": "Firing alerts",
        "transformations": [{
            "id": "organize",
            "options": {
                "excludeByName": {"Time": true, "Value": true, "__name__": true, "alertstate": true},
                "indexByName": {},
                "renameByName": {"alertname": "alert"},
            },
        }],
        "type": "table",
    })
}

/// Threshold steps for an alert's comparison: red on the firing side of the line.
pub(super) fn alert_steps(a: &Alert) -> Option<Value> {
    if let Some(x) = a.above.or(a.at_least) {
        Some(steps(&[("green", None), ("red", Some(x))]))
    } else {
        a.below
            .or(a.at_most)
            .map(|x| steps(&[("red", None), ("green", Some(x))]))
    }
}

pub(super) fn business_panel(svc: &ServiceCtx, a: &Alert) -> Option<Value> {
    let (expr, what) = measured_value(svc, a)?;
    let legend = match a.measure? {
        Measure::Pace => "pace",
        Measure::Count => "count",
        Measure::Value => "value",
    };
    Some(timeseries(
        &format!("{}: {what}", a.name),
        &format!(
            "What alert {} compares with its threshold; it fires on the red side.",
            a.name
        ),
        "short",
        &[Series { expr, legend }],
        alert_steps(a),
    ))
}
