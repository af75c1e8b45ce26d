//! Extractors that answer bad input in the API's own error shape.

use crate::api_keys;
use crate::auth::{AuthError, Identity};
use crate::edge::error::ApiError;
use crate::state::AppState;
use crate::store::ApiKey;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use soporte_protocol::{Role, Timestamp};

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

/// Who a token names: its signature and times checked, a missing role or
/// name completed from the provisioned user (read only for such tokens).
pub async fn identify(state: &AppState, token: &str) -> Result<Identity, ApiError> {
    let claims = state
        .verifier
        .verify(token)
        .map_err(ApiError::Unauthorized)?;
    let provisioned = match claims.is_complete() {
        true => None,
        false => state.store.user(claims.id).await?,
    };
    state
        .verifier
        .identity(claims, provisioned.as_ref())
        .map_err(ApiError::Unauthorized)
}

/// The service key of `Authorization: Api-Key <key>`, if it is one in use.
/// Its last use is recorded at most once a minute (a write per request
/// would cost more than the request).
pub async fn service_key(state: &AppState, presented: &str) -> Result<ApiKey, ApiError> {
    let refused = || ApiError::Unauthorized(AuthError::BadApiKey);
    let (prefix, hash) = api_keys::parse(presented).ok_or_else(refused)?;
    let stored = state.store.api_key(&prefix).await?.ok_or_else(refused)?;
    if stored.hash != hash || stored.key.revoked_at.is_some() {
        return Err(refused());
    }
    let now = Timestamp::now();
    let stale = stored
        .key
        .last_used
        .is_none_or(|at| now.millis() - at.millis() > 60_000);
    if stale {
        let store = state.store.clone();
        let id = stored.key.id;
        tokio::spawn(async move {
            if let Err(error) = store.touch_api_key(id, now).await {
                tracing::debug!(%error, "could not record an API key's use");
            }
        });
    }
    Ok(stored.key)
}

/// Who calls an endpoint of the integration API: a user's token, or the
/// host's service key (with a supervisor's rights on REST).
pub enum Actor {
    User(Identity),
    Service(ApiKey),
}

impl Actor {
    /// Sees and manages everything: a supervisor, or a service.
    pub fn is_admin(&self) -> bool {
        match self {
            Actor::User(identity) => identity.user.role == Role::Supervisor,
            Actor::Service(_) => true,
        }
    }

    /// The user behind the call, unless it is a service.
    pub fn user(&self) -> Option<&Identity> {
        match self {
            Actor::User(identity) => Some(identity),
            Actor::Service(_) => None,
        }
    }

    /// Supervisors and services only.
    pub fn admin_only(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "Solo para supervisores o con una clave de API.".into(),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(key) = api_keys::from_headers(&parts.headers) {
            return service_key(state, key).await.map(Actor::Service);
        }
        Caller::from_request_parts(parts, state)
            .await
            .map(|Caller(identity)| Actor::User(identity))
    }
}

/// The caller, from `Authorization: Bearer JWT`.
pub struct Caller(pub Identity);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if api_keys::from_headers(&parts.headers).is_some() {
            return Err(ApiError::Forbidden(
                "Esta operación necesita el token de un usuario; las claves de API sirven \
                 para la API de integración (usuarios, tickets, webhooks)."
                    .into(),
            ));
        }
        let token =
            bearer_token(&parts.headers).ok_or(ApiError::Unauthorized(AuthError::Missing))?;
        identify(state, token).await.map(Caller)
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
