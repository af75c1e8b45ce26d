//! The one error type of HTTP handlers: a status and a Spanish `detalle` for
//! the person; internal causes are logged, never sent.

use crate::auth::AuthError;
use crate::domain::edits::MessageRefusal;
use crate::domain::Refusal;
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use soporte_protocol::rest::ErrorBody;
use soporte_protocol::TicketId;

#[derive(Debug)]
pub enum ApiError {
    Unauthorized(AuthError),
    Forbidden(String),
    NotFound,
    BadRequest(String),
    /// A body refused for its size (413) or type (415).
    BadBody(StatusCode, String),
    TooManyRequests(String),
    /// The request does not fit the resource as it is now.
    Conflict(String),
    /// It existed and is no more (an expired grant).
    Gone(String),
    /// The host's `external_id` names a ticket already (409, with its id).
    TicketExists(TicketId, String),
    /// The store or a dependency cannot serve now; worth retrying.
    Unavailable(String),
    /// A change to a message refused, with its code.
    Message(MessageRefusal),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::BadBody(status, _) => *status,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::TicketExists(..) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Message(MessageRefusal::NotFound) => StatusCode::NOT_FOUND,
            ApiError::Message(MessageRefusal::NotAuthor) => StatusCode::FORBIDDEN,
            ApiError::Message(_) => StatusCode::CONFLICT,
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Unauthorized(auth) => auth.to_string(),
            ApiError::NotFound => "No encontrado.".into(),
            ApiError::Forbidden(d)
            | ApiError::BadBody(_, d)
            | ApiError::BadRequest(d)
            | ApiError::TooManyRequests(d)
            | ApiError::Conflict(d)
            | ApiError::Gone(d)
            | ApiError::TicketExists(_, d)
            | ApiError::Unavailable(d) => d.clone(),
            ApiError::Message(refusal) => refusal.text().into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Refused(refusal) => refusal.into(),
            StoreError::Unavailable(_) | StoreError::Corrupt(_) | StoreError::Closed => {
                tracing::error!(%error, "store error in a request");
                ApiError::Unavailable(
                    "El servicio no está disponible en este momento. Inténtalo de nuevo.".into(),
                )
            }
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound => ApiError::NotFound,
            Refusal::TicketClosed => ApiError::Conflict("El ticket está cerrado.".into()),
            Refusal::Conflict(detail) => ApiError::Conflict(detail),
            Refusal::Forbidden(detail) => ApiError::Forbidden(detail),
            Refusal::Invalid(detail) => ApiError::BadRequest(detail),
            Refusal::ExternalIdTaken(ticket) => ApiError::TicketExists(ticket, refusal.text()),
            Refusal::TooMany(detail) => ApiError::TooManyRequests(detail),
            Refusal::QuotaExceeded(detail) => {
                ApiError::BadBody(StatusCode::PAYLOAD_TOO_LARGE, detail)
            }
            Refusal::Message(refusal) => ApiError::Message(refusal),
            Refusal::StorageFull => ApiError::BadBody(
                StatusCode::INSUFFICIENT_STORAGE,
                crate::domain::refusal::STORAGE_FULL.into(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (
            status,
            Json(ErrorBody {
                detail: self.detail(),
                ticket: match &self {
                    ApiError::TicketExists(ticket, _) => Some(*ticket),
                    _ => None,
                },
                code: match &self {
                    ApiError::Message(refusal) => Some(refusal.code()),
                    _ => None,
                },
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
