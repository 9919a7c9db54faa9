//! The HTTP service: routes, handlers, the request-metrics middleware and start/stop.
//!
//! [`start`] binds, builds the state and serves in a background task, returning a handle; the
//! binary waits for a signal and calls [`RunningService::shutdown`], tests do the same on an
//! ephemeral port. Request bodies are parsed by hand from bytes so that every malformed body is a
//! plain 400 with a JSON error (axum's `Json` extractor would answer 415 or 422 for some of them).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::ServiceConfig;
use crate::faults::{ExitFn, Faults, KnobsPatch, CRASH_EXIT_CODE};
use crate::metrics::{self, FailureReason, Metrics};
use crate::orders::{NewOrder, Order, OrderStore};

/// Default and largest `limit` of `GET /orders`.
pub const DEFAULT_LIST_LIMIT: usize = 100;

/// Shared state of one service instance.
#[derive(Debug)]
pub struct AppState {
    pub instance_id: String,
    pub metrics: Metrics,
    pub orders: OrderStore,
    pub faults: Faults,
}

/// A served instance: its address and state, and the means to stop it.
#[derive(Debug)]
pub struct RunningService {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningService {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets in-flight requests finish and waits for the server.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .context("server task panicked")?
            .context("server failed")
    }

    /// Waits until the server ends by itself (it only does on error).
    pub async fn wait(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::select! {
            res = &mut self.task => res.context("server task panicked")?.context("server failed"),
            () = shutdown => self.shutdown().await,
        }
    }
}

/// The exit used by the binary: ends the process with `code`.
pub fn process_exit() -> ExitFn {
    Arc::new(|code| std::process::exit(code))
}

/// Binds `config.listen`, applies the start-up fault knobs and serves in the background.
pub async fn start(config: &ServiceConfig, exit: ExitFn) -> anyhow::Result<RunningService> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener
        .local_addr()
        .context("listener has no local address")?;
    let instance_id = config.resolved_instance_id();
    let capacity = usize::try_from(config.max_orders).unwrap_or(usize::MAX);
    let state = Arc::new(AppState {
        metrics: Metrics::new(&instance_id),
        orders: OrderStore::new(capacity),
        faults: Faults::new(config.memory_cap_mb, exit),
        instance_id,
    });
    state
        .faults
        .apply(&config.initial_faults())
        .map_err(|e| anyhow::anyhow!("invalid start-up fault knobs: {e}"))?;

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let app = router(Arc::clone(&state));
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    tracing::info!(%addr, instance_id = %state.instance_id, "pizza-service listening");
    Ok(RunningService {
        addr,
        state,
        stop: Some(stop_tx),
        task,
    })
}

/// The router with every route and the metrics middleware.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/orders", post(create_order).get(list_orders))
        .route("/orders/{id}", get(get_order))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/admin/faults", get(get_faults).put(put_faults))
        .route("/admin/crash", post(crash))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            track_request,
        ))
        .with_state(state)
}

/// Counts every request by route template and status, and observes its duration.
async fn track_request(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = metrics::route_label(
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let started = Instant::now();
    let response = next.run(req).await;
    state
        .metrics
        .request_done(route, response.status().as_u16(), started.elapsed());
    response
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Response of a created order.
#[derive(Debug, Serialize, Deserialize)]
pub struct Created {
    #[serde(flatten)]
    pub order: Order,
    pub instance_id: String,
}

async fn create_order(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let knobs = state.faults.knobs();
    if knobs.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.latency_ms)).await;
    }
    let new: NewOrder = match serde_json::from_slice(&body) {
        Ok(new) => new,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid order: {e}")),
    };
    if let Err(e) = new.validate() {
        return error(StatusCode::BAD_REQUEST, format!("invalid order: {e}"));
    }
    if let Some(reason) = draw_failure(knobs.failure_ratio) {
        state.metrics.order_failed(reason);
        tracing::debug!(reason = reason.as_str(), "order failed");
        let body = json!({ "error": "order failed", "reason": reason.as_str() });
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
    }
    let order = state.orders.insert(&new);
    state.metrics.order_created();
    let created = Created {
        order,
        instance_id: state.instance_id.clone(),
    };
    (StatusCode::CREATED, Json(created)).into_response()
}

/// With probability `ratio`, a failure reason drawn uniformly from the fixed set.
fn draw_failure(ratio: f64) -> Option<FailureReason> {
    if ratio <= 0.0 {
        return None;
    }
    let mut rng = rand::rng();
    if rng.random::<f64>() < ratio {
        let i = rng.random_range(0..FailureReason::ALL.len());
        Some(FailureReason::ALL[i])
    } else {
        None
    }
}

#[derive(Debug, Deserialize)]
struct ListParams {
    limit: Option<usize>,
}

async fn list_orders(
    State(state): State<Arc<AppState>>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let limit = match params {
        Ok(Query(p)) => p.limit.unwrap_or(DEFAULT_LIST_LIMIT),
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid query: {e}")),
    };
    let orders = state.orders.recent(limit.min(state.orders.capacity()));
    (
        StatusCode::OK,
        Json(json!({ "orders": orders, "count": orders.len() })),
    )
        .into_response()
}

async fn get_order(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    // A non-numeric id names no order: 404, like any other unknown id.
    match id.parse::<u64>().ok().and_then(|id| state.orders.get(id)) {
        Some(order) => (StatusCode::OK, Json(order)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no order {id}")),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    match state.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics"),
    }
}

async fn get_faults(State(state): State<Arc<AppState>>) -> Response {
    (StatusCode::OK, Json(state.faults.status())).into_response()
}

async fn put_faults(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let patch: KnobsPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid fault knobs: {e}")),
    };
    match state.faults.apply(&patch) {
        Ok(status) => (StatusCode::OK, Json(status)).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn crash(State(state): State<Arc<AppState>>) -> Response {
    tracing::warn!("crash requested through the admin API");
    state.faults.crash_soon();
    (
        StatusCode::ACCEPTED,
        Json(json!({ "status": "crashing", "exit_code": CRASH_EXIT_CODE })),
    )
        .into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such route")
}
