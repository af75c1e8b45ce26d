//! The web pages: the customer page (`/`), the agent console (`/agente/`),
//! the embeddable widget (`/widget.js`, its launcher's CSS, its panel
//! `/widget/`) and their hashed assets (`/assets/…`).
//!
//! They are the Vite build of `web/` (`web/dist-demo`), embedded in the binary
//! at compile time by memory-serve (see build.rs): served brotli, gzip or
//! plain as the browser accepts, with an `ETag` and `304` on revalidation.
//! `SOPORTE_WEB_DIR` serves a folder from disk instead, for working on the
//! pages without rebuilding the server. A binary built without the pages
//! answers `/` with a short page that says how to build them.
//!
//! One middleware gives every answer its headers (policy, caching), whichever
//! of the three serves it.

use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tower_http::compression::CompressionLayer;

/// Shown at `/` when the binary was built without the web pages.
const NOT_BUILT_PAGE: &str = include_str!("../../assets/demo-not-built.html");

/// Whether build.rs found a web build to embed.
const EMBEDDED: bool = matches!(env!("SOPORTE_WEB_EMBEDDED").as_bytes(), b"1");

/// The pages and their assets. `widget_ancestors` are the origins allowed to
/// frame the widget's panel (`--allowed-origins`, space-separated).
pub fn router(widget_ancestors: String) -> Router<AppState> {
    // Empty is unset (`SOPORTE_WEB_DIR=` in an env file).
    let pages = match std::env::var_os("SOPORTE_WEB_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => from_disk(PathBuf::from(dir)),
        None if EMBEDDED => embedded(),
        None => Router::new().route("/", get(not_built)),
    };
    pages.layer(middleware::from_fn_with_state(
        Arc::<str>::from(widget_ancestors),
        headers,
    ))
}

/// The embedded build. memory-serve leaks what it unpacks at start-up, so it
/// is unpacked once per process (the tests start many servers in one).
fn embedded() -> Router<AppState> {
    static PAGES: OnceLock<Router<AppState>> = OnceLock::new();
    PAGES
        .get_or_init(|| {
            memory_serve::load!()
                .index_file(Some("/index.html"))
                // `/agente` and `/widget`, and with a slash below.
                .index_on_subdirectories(true)
                .add_alias("/agente/", "/agente/index.html")
                .add_alias("/widget/", "/widget/index.html")
                .enable_brotli(true)
                .enable_gzip(true)
                .into_router()
        })
        .clone()
}

/// A build on disk (`SOPORTE_WEB_DIR`), read at request time and compressed
/// on the fly.
fn from_disk(dir: PathBuf) -> Router<AppState> {
    tracing::info!(dir = %dir.display(), "serving the web pages from disk");
    let dir: Arc<Path> = dir.into();
    let file = |relative: &'static str| {
        let dir = dir.clone();
        get(move || disk_file(dir.clone(), relative.to_string()))
    };
    let assets = dir.clone();
    Router::new()
        .route("/", file("index.html"))
        .route("/agente", file("agente/index.html"))
        .route("/agente/", file("agente/index.html"))
        .route("/widget", file("widget/index.html"))
        .route("/widget/", file("widget/index.html"))
        .route("/widget.js", file("widget.js"))
        .route("/widget-launcher.css", file("widget-launcher.css"))
        .route("/favicon.svg", file("favicon.svg"))
        .route(
            "/assets/{*file}",
            get(
                move |axum::extract::Path(name): axum::extract::Path<String>| {
                    disk_file(assets.clone(), format!("assets/{name}"))
                },
            ),
        )
        .layer(CompressionLayer::new())
}

async fn not_built() -> Response {
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
        )],
        Html(NOT_BUILT_PAGE),
    )
        .into_response()
}

/// A file of the build, by a path relative to `dir`: plain names only (no
/// `..`, no absolute paths) and only the types a Vite build produces.
async fn disk_file(dir: Arc<Path>, relative: String) -> Response {
    let path = Path::new(&relative);
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let content_type = match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        "json" | "map" => "application/json",
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match tokio::fs::read(dir.join(path)).await {
        Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Every answer: `nosniff`; caching by kind (hashed assets for good, the
/// widget's stable URLs for minutes, pages revalidated each time); pages get
/// their policy (a handler's own policy stands).
async fn headers(
    State(widget_ancestors): State<Arc<str>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    let host = request.headers().get(header::HOST).cloned();
    let mut response = next.run(request).await;
    let status = response.status();
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let cache = if !(status.is_success() || status == StatusCode::NOT_MODIFIED) {
        "no-store"
    } else if path.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else if path == "/widget.js" || path == "/widget-launcher.css" {
        // Host pages link to these URLs: a new release reaches every host
        // within minutes.
        "public, max-age=300"
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    let html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if (html || status == StatusCode::NOT_MODIFIED)
        && !headers.contains_key(header::CONTENT_SECURITY_POLICY)
    {
        let ancestors = match path == "/widget" || path.starts_with("/widget/") {
            true => &*widget_ancestors,
            false => "'none'",
        };
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            csp(host.as_ref(), ancestors),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    response
}

/// The page's policy: scripts and styles only from this origin (the Vite build
/// has no inline script), WebSockets back to the host the page came from,
/// framed by `ancestors` only (`'none'` but for the widget's panel).
fn csp(host: Option<&HeaderValue>, ancestors: &str) -> HeaderValue {
    let host = host.and_then(|h| h.to_str().ok()).filter(|h| {
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(dir: &Path, relative: &str) -> (StatusCode, Option<String>) {
        let response = disk_file(dir.into(), relative.to_string()).await;
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        (response.status(), content_type)
    }

    #[tokio::test]
    async fn files_on_disk_are_served_with_their_type_and_nothing_outside_the_folder() {
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
        let host = HeaderValue::from_static("127.0.0.1:8000");
        let policy = csp(Some(&host), "'none'");
        let policy = policy.to_str().unwrap();
        assert!(policy.contains("script-src 'self';"));
        assert!(policy.contains("frame-ancestors 'none';"));
        assert!(!policy.contains("unsafe-inline"));
        assert!(policy.contains("connect-src 'self' ws://127.0.0.1:8000 wss://127.0.0.1:8000;"));

        let evil = HeaderValue::from_static("evil.com; script-src *");
        let policy = csp(Some(&evil), "'none'");
        assert!(policy.to_str().unwrap().contains("connect-src 'self';"));
    }
}
