//! The operator's one HTTP port: health, readiness, metrics, Prometheus service discovery and
//! status. Every route is read-only; `/status` can require a bearer token.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::metrics::Metrics;
use crate::observe::instances::TargetGroup;
use crate::status::ServiceStatus;

/// State shared between the control loop and the HTTP handlers.
pub struct Shared {
    pub metrics: Metrics,
    /// The statuses of the last pass: the control loop's own map, shared.
    pub statuses: RwLock<Arc<BTreeMap<String, ServiceStatus>>>,
    pub targets: RwLock<BTreeMap<String, Vec<TargetGroup>>>,
    /// Source loaded and AWS reachable at least once.
    pub ready: AtomicBool,
    pub leader: AtomicBool,
    pub status_token: Option<String>,
}

impl Shared {
    pub fn new(status_token: Option<String>) -> Self {
        Self {
            metrics: Metrics::new(),
            statuses: RwLock::new(Arc::default()),
            targets: RwLock::new(BTreeMap::new()),
            ready: AtomicBool::new(false),
            leader: AtomicBool::new(false),
            status_token,
        }
    }
}

/// Binds `listen` and serves [`router`] until `cancel` fires.
pub async fn serve(
    listen: std::net::SocketAddr,
    shared: Arc<Shared>,
    cancel: tokio_util::sync::CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, "serving health, metrics, discovery and status");
    let app = router(shared);
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await;
    }))
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/sd/prometheus", get(service_discovery))
        .route("/status", get(status))
        .with_state(shared)
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.ready.load(Ordering::Relaxed) {
        "ready".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: manifests not loaded or AWS not reached yet",
        )
            .into_response()
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.encode(),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct SdQuery {
    service: Option<String>,
}

async fn service_discovery(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<SdQuery>,
) -> Json<Vec<TargetGroup>> {
    let targets = shared.targets.read().unwrap_or_else(|e| e.into_inner());
    let groups = match &q.service {
        Some(service) => targets.get(service).cloned().unwrap_or_default(),
        None => targets.values().flatten().cloned().collect(),
    };
    Json(groups)
}

async fn status(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(token) = &shared.status_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return (StatusCode::UNAUTHORIZED, "a bearer token is required").into_response();
        }
    }
    let statuses = shared.statuses.read().unwrap_or_else(|e| e.into_inner());
    Json(serde_json::json!({
        "leader": shared.leader.load(Ordering::Relaxed),
        "ready": shared.ready.load(Ordering::Relaxed),
        "services": statuses.values().collect::<Vec<_>>(),
    }))
    .into_response()
}
