//! Operations: liveness, readiness, metrics, the OpenAPI document and the demo page.

use super::error::ApiError;
use crate::app::AppState;
use crate::metrics::METRICS;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

const OPENAPI: &str = include_str!("openapi.json");
const DEMO_PAGE: &str = include_str!("../../assets/demo.html");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi))
        .route("/", get(demo))
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

async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        METRICS.render(),
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn demo() -> impl IntoResponse {
    (
        [(header::CONTENT_SECURITY_POLICY, "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline' 'self'; connect-src 'self'; img-src 'self' data:")],
        Html(DEMO_PAGE),
    )
}
