//! HTTP: one module per resource, each exposing `router()`, merged here with
//! the WebSocket route, CORS for allowed origins, and a body limit.

pub mod chat;
pub mod error;
pub mod extract;
pub mod files;
pub mod ops;
pub mod team;
pub mod tickets;

use crate::app::AppState;
use crate::metrics::METRICS;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use std::sync::atomic::Ordering;

/// Largest request body: a sync of 100 long messages fits with room to spare.
const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let ws = routes(
        Router::new(),
        "/ws/soporte/ticket/{ticket}/",
        get(crate::ws::upgrade),
    );
    let ws = routes(ws, "/ws/soporte/agentes/", get(crate::ws::inbox::upgrade));
    Router::new()
        .merge(tickets::router())
        .merge(chat::router())
        .merge(team::router())
        .merge(files::router(state.config.max_file_size))
        .merge(ops::router())
        .merge(ws)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), cors))
        .with_state(state)
}

/// Registers `path` (which ends in `/`, as the seed's client calls it) and the
/// same path without the trailing slash.
pub fn routes(
    router: Router<AppState>,
    path: &str,
    handler: MethodRouter<AppState>,
) -> Router<AppState> {
    let bare = path.trim_end_matches('/');
    router.route(path, handler.clone()).route(bare, handler)
}

/// CORS for the allowed origins only: a host application on another origin
/// may call the API with a bearer token (no cookies are ever involved).
async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    METRICS.http_requests.fetch_add(1, Ordering::Relaxed);
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| state.allowed_origins.iter().any(|a| a == o))
        .map(str::to_string);
    let preflight = request.method() == Method::OPTIONS;
    let mut response = if preflight && origin.is_some() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    if let Some(origin) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        if preflight {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
    }
    response
}
