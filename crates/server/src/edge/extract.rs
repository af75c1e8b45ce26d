//! Extractors that answer bad input in the API's own error shape.

use crate::auth::{AuthError, Identity};
use crate::edge::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// The token of `Authorization: Bearer <token>`. The scheme is matched
/// without regard to case (RFC 9110 §11.1); the one place headers are read
/// for a token.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The caller, from `Authorization: Bearer JWT`.
pub struct Caller(pub Identity);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token =
            bearer_token(&parts.headers).ok_or(ApiError::Unauthorized(AuthError::Missing))?;
        state
            .verifier
            .verify(token)
            .map(Caller)
            .map_err(ApiError::Unauthorized)
    }
}

/// A JSON body; a body that does not parse is a 400 with a `detalle`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => {
                let status = rejection.status();
                Err(match status {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::BadBody(
                        status,
                        "El cuerpo de la petición es demasiado grande.".into(),
                    ),
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::BadBody(
                        status,
                        "El cuerpo debe ser JSON (Content-Type: application/json).".into(),
                    ),
                    _ => ApiError::BadRequest(format!(
                        "Cuerpo JSON inválido: {}",
                        rejection
                            .body_text()
                            .split(" at line ")
                            .next()
                            .unwrap_or_default()
                    )),
                })
            }
        }
    }
}

/// Query parameters; bad ones are a 400 with a `detalle`.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "Parámetros inválidos: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// A ticket id from the path: anything but a number is simply not found.
pub fn ticket_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_read_in_any_case_and_nothing_else_is() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            bearer_token(&headers).map(str::to_string)
        };
        assert_eq!(with("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(with("bearer abc").as_deref(), Some("abc"));
        assert_eq!(with("BEARER  abc ").as_deref(), Some("abc"));
        assert_eq!(with("Basic abc"), None);
        assert_eq!(with("Bearer "), None);
        assert_eq!(with("Bearerabc"), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
