//! Operations: liveness, readiness, metrics and the OpenAPI document.

use crate::edge::error::ApiError;
use crate::metrics::METRICS;
use crate::state::AppState;
use crate::store::Backlog;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const OPENAPI: &str = include_str!("openapi.json");

/// `/metrics` alone, for its own listener (`--metrics-bind`).
pub fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Liveness, readiness, the OpenAPI document and, unless it has a listener
/// of its own, `/metrics`.
pub fn router(with_metrics: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/openapi.json", get(openapi));
    match with_metrics {
        true => router.merge(metrics_router()),
        false => router,
    }
}

/// The process is up and serving HTTP.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The process can do its job: the database answers.
async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.ping().await.map_err(|error| {
        tracing::warn!(%error, "not ready: database");
        ApiError::Unavailable("La base de datos no responde.".into())
    })?;
    let Some(redis) = &state.redis else {
        return Ok(Json(json!({"status": "ready", "database": "ok"})));
    };
    // A node cut off from Redis still serves its own connections, but the
    // balancer should send new ones to a node that reaches the others.
    redis.ping().await.map_err(|error| {
        tracing::warn!(%error, "not ready: Redis");
        ApiError::Unavailable("Redis no responde.".into())
    })?;
    if METRICS
        .cluster_subscribed
        .load(std::sync::atomic::Ordering::Relaxed)
        != 1
    {
        return Err(ApiError::Unavailable(
            "Este nodo aún no recibe los eventos de los demás.".into(),
        ));
    }
    Ok(Json(
        json!({"status": "ready", "database": "ok", "redis": "ok"}),
    ))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        METRICS.render(
            state.store.memory_in_use(),
            backlog(&state).await,
            state.files.free_space(),
        ),
    )
}

/// How long a read of the webhook outbox's backlog answers `/metrics`.
/// Scrapers ask every 15–60 s; a monitor polling faster would otherwise run
/// a database read on a blocking thread each time and, at a few reads a
/// second, keep every idle blocking thread of the runtime alive (each one
/// woken before its 10 s idle timeout), with the memory each one holds.
const BACKLOG_FRESH: Duration = Duration::from_secs(15);

async fn backlog(state: &AppState) -> Option<Backlog> {
    static LAST: Mutex<Option<(Instant, Backlog)>> = Mutex::new(None);
    if let Some((at, backlog)) = *LAST.lock().expect("backlog cache lock") {
        if at.elapsed() < BACKLOG_FRESH {
            return Some(backlog);
        }
    }
    let backlog = state.store.outbox_backlog().await.ok()?;
    *LAST.lock().expect("backlog cache lock") = Some((Instant::now(), backlog));
    Some(backlog)
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
