//! What REST resources (`http`) and WebSocket endpoints (`ws`) share: the
//! JSON error answer, extractors (the caller's token, bodies, queries), the
//! accept loop, CORS and the request log. Neither edge imports the other.

pub mod error;
pub mod extract;
pub mod serve;

use crate::metrics::METRICS;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use std::sync::atomic::Ordering;

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

/// Query parameters whose values are credentials: never written to a log.
const SECRET_PARAMS: [&str; 3] = ["token", "access_token", "jwt"];

/// The request's path and query as they may appear in a log line: the value
/// of every credential parameter (`?token=JWT` on sockets and download
/// links) is replaced by `***`.
pub fn redacted_uri(uri: &axum::http::Uri) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return path.to_string();
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            let decoded = percent_decoded(name).to_ascii_lowercase();
            if SECRET_PARAMS.iter().any(|secret| decoded == *secret) {
                format!("{name}=***")
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{path}?{}", redacted.join("&"))
}

/// `%XX` escapes and `+` decoded (a parameter name may be spelled that way).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One debug line per request (method, path with credentials redacted,
/// status, time). Nothing else in the server logs a request's URI.
pub async fn log_request(request: Request, next: Next) -> Response {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let uri = redacted_uri(request.uri());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        uri,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "http request"
    );
    response
}

/// CORS for the allowed origins only: a host application on another origin
/// may call the API with a bearer token (no cookies are ever involved).
pub async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
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

#[cfg(test)]
mod tests {
    use super::redacted_uri;

    #[test]
    fn credentials_in_the_query_never_reach_a_log_line() {
        let uri = |s: &str| s.parse::<axum::http::Uri>().unwrap();
        assert_eq!(
            redacted_uri(&uri("/ws/soporte/ticket/1/?token=eyJ.abc.def&since=4")),
            "/ws/soporte/ticket/1/?token=***&since=4"
        );
        assert_eq!(
            redacted_uri(&uri(
                "/api/soporte/archivos/3/?since=1&TOKEN=x&jwt=y&access_token=z"
            )),
            "/api/soporte/archivos/3/?since=1&TOKEN=***&jwt=***&access_token=***"
        );
        assert_eq!(redacted_uri(&uri("/healthz")), "/healthz");
        assert_eq!(redacted_uri(&uri("/x?token")), "/x?token=***");
        assert_eq!(redacted_uri(&uri("/x?tokens=1")), "/x?tokens=1");
        assert_eq!(redacted_uri(&uri("/x?%74oken=s3cr3t")), "/x?%74oken=***");
    }
}
