//! Operations: liveness, readiness, metrics, the OpenAPI document and the web
//! demo (the customer page at `/`, the agent console at `/agente/`), and the
//! embeddable widget (`/widget.js`, its launcher's CSS, its panel `/widget/`).
//!
//! The demo is the Vite build of `web/` (`web/dist-demo`), read from disk at
//! request time so that `cargo build` never depends on Node: the folder is
//! `SOPORTE_WEB_DIR` when set, else `web/dist-demo` under the working directory
//! or beside the binary's workspace. Without a build, `/` answers a short page
//! that says how to make one (`./scripts/serve` does it).

use crate::edge::error::ApiError;
use crate::metrics::METRICS;
use crate::state::AppState;
use crate::store::Backlog;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tower_http::compression::CompressionLayer;

const OPENAPI: &str = include_str!("openapi.json");
/// Shown at `/` when the web demo has not been built.
const NOT_BUILT_PAGE: &str = include_str!("../../assets/demo-not-built.html");

/// `/metrics` alone, for its own listener (`--metrics-bind`).
pub fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Liveness, readiness, the OpenAPI document, the web pages and, unless it has
/// a listener of its own, `/metrics`.
pub fn router(with_metrics: bool) -> Router<AppState> {
    // The web pages and their assets go compressed (gzip or brotli, as the
    // browser accepts): the app's JS chunk shrinks from ~270 KB to ~80 KB.
    let web = Router::new()
        .route("/", get(demo_index))
        .route("/agente", get(demo_console))
        .route("/agente/", get(demo_console))
        .route("/assets/{*file}", get(demo_asset))
        .route("/favicon.svg", get(favicon))
        .route("/widget.js", get(widget_loader))
        .route("/widget-launcher.css", get(widget_launcher_css))
        .route("/widget", get(widget_panel))
        .route("/widget/", get(widget_panel))
        .layer(CompressionLayer::new());
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/openapi.json", get(openapi))
        .merge(web);
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

/// The folder holding the built demo (`index.html`, `agente/index.html`,
/// `assets/`), looked up once.
fn web_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut candidates = Vec::new();
        if let Some(dir) = std::env::var_os("SOPORTE_WEB_DIR") {
            candidates.push(PathBuf::from(dir));
        }
        candidates.push(PathBuf::from("web/dist-demo"));
        // The workspace this binary was built from (target/{debug,release}/soporte).
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist-demo"));
        let found = candidates
            .into_iter()
            .find(|dir| dir.join("index.html").is_file());
        match &found {
            Some(dir) => tracing::info!(dir = %dir.display(), "serving the web demo"),
            None => tracing::info!("web demo not built: `/` explains how to build it"),
        }
        found
    })
    .as_deref()
}

/// The page's policy: scripts and styles only from this origin (the Vite build
/// has no inline script), WebSockets back to the host the page came from,
/// framed by `ancestors` only (`'none'` but for the widget's panel).
fn csp(headers: &HeaderMap, ancestors: &str) -> HeaderValue {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    let sockets = match host {
        Some(host) => format!(" ws://{host} wss://{host}"),
        None => String::new(),
    };
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         img-src 'self' data: blob:; connect-src 'self'{sockets}; \
         object-src 'none'; base-uri 'none'; frame-ancestors {ancestors}; form-action 'self'"
    );
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'self'"))
}

async fn page(headers: HeaderMap, relative: &str) -> Response {
    framed_page(headers, relative, "'none'").await
}

async fn framed_page(headers: HeaderMap, relative: &str, ancestors: &str) -> Response {
    let Some(dir) = web_dir() else {
        return (
            [(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
            )],
            Html(NOT_BUILT_PAGE),
        )
            .into_response();
    };
    match tokio::fs::read(dir.join(relative)).await {
        Ok(body) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                (header::CONTENT_SECURITY_POLICY, csp(&headers, ancestors)),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
                (
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ),
            ],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(%error, relative, "web demo page unreadable");
            StatusCode::NOT_FOUND.into_response()
        }
    }
}

/// The customer page.
async fn demo_index(headers: HeaderMap) -> Response {
    page(headers, "index.html").await
}

/// The agent console.
async fn demo_console(headers: HeaderMap) -> Response {
    page(headers, "agente/index.html").await
}

/// The widget's chat panel, framed by the host pages of `--allowed-origins`
/// (and this server's own) and by nothing else.
async fn widget_panel(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let ancestors = state.allowed_origins.join(" ");
    framed_page(headers, "widget/index.html", &ancestors).await
}

/// The loader host pages link to: a stable URL, so cached briefly (a new
/// release reaches every host within minutes).
async fn widget_loader() -> Response {
    match web_dir() {
        Some(dir) => static_file(dir, "widget.js", "public, max-age=300").await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn widget_launcher_css() -> Response {
    match web_dir() {
        Some(dir) => static_file(dir, "widget-launcher.css", "public, max-age=300").await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn favicon() -> Response {
    match web_dir() {
        Some(dir) => static_file(dir, "favicon.svg", "no-cache").await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Hashed build outputs (`/assets/index-3f2a.js`): cached for good.
async fn demo_asset(UrlPath(file): UrlPath<String>) -> Response {
    match web_dir() {
        Some(dir) => {
            static_file(
                dir,
                &format!("assets/{file}"),
                "public, max-age=31536000, immutable",
            )
            .await
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A file of the build, by a path relative to `dir`: plain names only (no
/// `..`, no absolute paths) and only the types a Vite build produces.
async fn static_file(dir: &Path, relative: &str, cache: &'static str) -> Response {
    let path = Path::new(relative);
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let content_type = match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        "json" | "map" => "application/json",
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match tokio::fs::read(dir.join(path)).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, cache),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(dir: &Path, relative: &str) -> (StatusCode, Option<String>) {
        let response = static_file(dir, relative, "no-cache").await;
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        (response.status(), content_type)
    }

    #[tokio::test]
    async fn static_files_are_served_with_their_type_and_nothing_outside_the_folder() {
        let root = tempfile::tempdir().unwrap();
        let web = root.path().join("web");
        std::fs::create_dir_all(web.join("assets")).unwrap();
        std::fs::write(web.join("assets/app-1.js"), "console.log(1)").unwrap();
        std::fs::write(web.join("assets/app-1.css"), "a{}").unwrap();
        std::fs::write(web.join("assets/notes.txt"), "x").unwrap();
        std::fs::write(root.path().join("secret.js"), "x").unwrap();

        let (status, content_type) = get(&web, "assets/app-1.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.unwrap(), "text/javascript; charset=utf-8");
        assert_eq!(
            get(&web, "assets/app-1.css").await.1.unwrap(),
            "text/css; charset=utf-8"
        );
        assert_eq!(get(&web, "assets/notes.txt").await.0, StatusCode::NOT_FOUND);
        assert_eq!(get(&web, "../secret.js").await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            get(&web, "assets/../../secret.js").await.0,
            StatusCode::NOT_FOUND
        );
        let absolute = root.path().join("secret.js");
        assert_eq!(
            get(&web, absolute.to_str().unwrap()).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(&web, "assets/missing.js").await.0,
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn the_page_policy_allows_scripts_from_self_and_sockets_to_the_page_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8000"));
        let policy = csp(&headers, "'none'");
        let policy = policy.to_str().unwrap();
        assert!(policy.contains("script-src 'self';"));
        assert!(policy.contains("frame-ancestors 'none';"));
        assert!(!policy.contains("unsafe-inline"));
        assert!(policy.contains("connect-src 'self' ws://127.0.0.1:8000 wss://127.0.0.1:8000;"));

        headers.insert(
            header::HOST,
            HeaderValue::from_static("evil.com; script-src *"),
        );
        let policy = csp(&headers, "'none'");
        assert!(policy.to_str().unwrap().contains("connect-src 'self';"));
    }
}
