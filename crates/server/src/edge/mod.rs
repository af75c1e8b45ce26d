//! What REST resources (`http`) and WebSocket endpoints (`ws`) share: the
//! JSON error answer, extractors (the caller's token, bodies, queries), the
//! accept loop, CORS and the request log. Neither edge imports the other.

pub mod error;
pub mod extract;
pub mod per_ip;
pub mod serve;

use crate::metrics::{method_label, HTTP_REQUESTS};
use crate::state::AppState;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::MethodRouter;
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::RequestId;
use tracing::Instrument;

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
/// links) is replaced by `***`, and so is anything shaped like a token
/// wherever it was put (another parameter, `token[]=`, after a `;`, the
/// path).
pub fn redacted_uri(uri: &axum::http::Uri) -> String {
    let path: Vec<&str> = uri
        .path()
        .split('/')
        .map(|segment| {
            if looks_like_a_token(segment) {
                "***"
            } else {
                segment
            }
        })
        .collect();
    let path = path.join("/");
    let Some(query) = uri.query() else {
        return path;
    };
    let mut redacted = String::with_capacity(query.len());
    let mut rest = query;
    loop {
        // `&` and `;` both separate parameters for some parsers.
        let end = rest.find(['&', ';']).unwrap_or(rest.len());
        let pair = &rest[..end];
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = percent_decoded(name).to_ascii_lowercase();
        if SECRET_PARAMS.iter().any(|secret| decoded == *secret) || looks_like_a_token(value) {
            redacted.push_str(name);
            redacted.push_str("=***");
        } else {
            redacted.push_str(pair);
        }
        if end == rest.len() {
            break;
        }
        redacted.push_str(&rest[end..=end]);
        rest = &rest[end + 1..];
    }
    format!("{path}?{redacted}")
}

/// A JWT or something like one: it starts with `eyJ` (`{"` in base64), or is
/// three dot-separated runs of base64url characters.
fn looks_like_a_token(text: &str) -> bool {
    let decoded = percent_decoded(text);
    if decoded.contains("eyJ") {
        return true;
    }
    let base64url = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let parts: Vec<&str> = decoded.split('.').collect();
    parts.len() == 3 && decoded.len() >= 20 && parts.iter().all(|p| base64url(p))
}

/// `%XX` escapes and `+` decoded (a parameter name may be spelled that way).
fn percent_decoded(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// One line per request at INFO (its id, method, route template, path with
/// credentials redacted, status, time), the access log. Nothing else in the
/// server logs a request's URI. Every line logged while answering (a
/// warning, an error) carries the same id, from the `request` span.
pub async fn log_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("none", MatchedPath::as_str)
        .to_string();
    let method = request.method().clone();
    let id = request_id(&request);
    // At WARN, so that it is there whenever a warning or an error is written.
    let span = tracing::warn_span!("request", id = %id);
    if !tracing::enabled!(tracing::Level::INFO) {
        let response = next.run(request).instrument(span).await;
        count(&route, &method, &response);
        return response;
    }
    let uri = redacted_uri(request.uri());
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span).await;
    count(&route, &method, &response);
    tracing::info!(
        request_id = %id,
        %method,
        route,
        uri,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "http request"
    );
    response
}

fn count(route: &str, method: &Method, response: &Response) {
    let status = response.status();
    HTTP_REQUESTS.add(&[route, method_label(method), status.as_str()]);
}

/// The request's `X-Request-Id` (a UUID given at the door, or the proxy's,
/// kept), at most 64 characters of it in a log line.
fn request_id(request: &Request) -> String {
    request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map(|id| id.chars().take(64).collect())
        .unwrap_or_default()
}

/// CORS for the allowed origins only: a host application on another origin
/// may call the API with a bearer token (no cookies are ever involved), and
/// upload with the grant's header. A preflight from another origin gets no
/// CORS headers, so the browser refuses the call.
pub fn cors_layer(allowed_origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-upload-token"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600))
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

    #[test]
    fn a_token_put_anywhere_never_reaches_a_log_line() {
        let uri = |s: &str| s.parse::<axum::http::Uri>().unwrap();
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
        let unsigned = "aGVhZGVyaGVhZGVy.cGF5bG9hZHBheWxvYWQ.c2ln";
        for (given, logged) in [
            (
                format!("/ws/x/?since={jwt}"),
                "/ws/x/?since=***".to_string(),
            ),
            (
                format!("/ws/x/?token[]={jwt}&a=1"),
                "/ws/x/?token[]=***&a=1".into(),
            ),
            (
                format!("/ws/x/?x=1;token={jwt}"),
                "/ws/x/?x=1;token=***".into(),
            ),
            (
                format!("/ws/x/?x={}", jwt.replace('e', "%65")),
                "/ws/x/?x=***".into(),
            ),
            (format!("/ws/x/?x={unsigned}"), "/ws/x/?x=***".into()),
            (format!("/api/{jwt}/y"), "/api/***/y".into()),
        ] {
            let redacted = redacted_uri(&uri(&given));
            assert_eq!(redacted, logged);
            assert!(!redacted.contains("eyJ"));
        }
        // Ordinary parameters are kept as they are.
        assert_eq!(
            redacted_uri(&uri("/x/?page=2&size=50;before=71&v=1.2.3")),
            "/x/?page=2&size=50;before=71&v=1.2.3"
        );
    }
}
