//! The alert inbox: a webhook receiver standing in for the pizza team's pager. It prints each
//! Alertmanager notification as it arrives and keeps it with its arrival time.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

use crate::clock::Clock;

/// One webhook call.
#[derive(Debug, Clone)]
pub struct Notification {
    pub at: Instant,
    pub path: String,
    pub body: Value,
}

impl Notification {
    pub fn receiver(&self) -> &str {
        self.body["receiver"].as_str().unwrap_or("")
    }

    pub fn alerts(&self) -> impl Iterator<Item = &Value> {
        self.body["alerts"].as_array().into_iter().flatten()
    }

    /// The alert of this notification named `alertname` with status `status`, if any.
    pub fn alert(&self, alertname: &str, status: &str) -> Option<&Value> {
        self.alerts()
            .find(|a| a["labels"]["alertname"] == alertname && a["status"] == status)
    }
}

#[derive(Clone)]
pub struct Inbox {
    pub url: String,
    received: Arc<Mutex<Vec<Notification>>>,
    clock: Clock,
}

impl Inbox {
    /// Binds 127.0.0.1 on a free port and serves until the runtime ends.
    pub async fn start(clock: Clock) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let inbox = Inbox {
            url,
            received: Arc::default(),
            clock,
        };
        let app = Router::new()
            .route("/alerts/{team}", post(team_hook))
            .fallback(other)
            .with_state(inbox.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(inbox)
    }

    pub fn all(&self) -> Vec<Notification> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Notifications that arrived at or after `since`.
    pub fn since(&self, since: Instant) -> Vec<Notification> {
        self.all().into_iter().filter(|n| n.at >= since).collect()
    }

    fn record(&self, path: String, body: Value) {
        let at = Instant::now();
        let status = body["status"].as_str().unwrap_or("?").to_uppercase();
        let receiver = body["receiver"].as_str().unwrap_or("?");
        let mut lines = Vec::new();
        for a in body["alerts"].as_array().into_iter().flatten() {
            let l = &a["labels"];
            lines.push(format!(
                "      {} {} (severity {}, service {}, team {}{}): {}",
                a["status"].as_str().unwrap_or("?"),
                l["alertname"].as_str().unwrap_or("?"),
                l["severity"].as_str().unwrap_or("?"),
                l["service"].as_str().unwrap_or("?"),
                l["team"].as_str().unwrap_or("?"),
                l["task"]
                    .as_str()
                    .map(|t| format!(", task {t}"))
                    .unwrap_or_default(),
                a["annotations"]["summary"].as_str().unwrap_or("")
            ));
        }
        println!(
            "  [{}] inbox {path}: {status} notification for receiver {receiver}",
            self.clock.stamp(at)
        );
        for line in lines {
            println!("{line}");
        }
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Notification { at, path, body });
    }
}

async fn team_hook(
    State(inbox): State<Inbox>,
    Path(team): Path<String>,
    Json(body): Json<Value>,
) -> StatusCode {
    inbox.record(format!("/alerts/{team}"), body);
    StatusCode::OK
}

/// Anything posted elsewhere is recorded too: a misrouted notification must show up.
async fn other(State(inbox): State<Inbox>, uri: Uri, body: String) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    inbox.record(uri.path().to_string(), value);
    StatusCode::OK
}
