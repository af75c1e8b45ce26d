//! `/api/soporte/tickets/{id}/chat/mensajes/{mensaje_id}/`: editing and
//! deleting a message over REST (the same path as the WebSocket frames,
//! `crate::edits`), and its earlier texts for supervisors.

use super::tickets::visible_ticket;
use crate::auth::Identity;
use crate::edge::error::ApiError;
use crate::edge::extract::{Caller, JsonBody};
use crate::edge::routes;
use crate::edits::{self, ChangeError};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::{get, patch};
use axum::{Json, Router};
use soporte_protocol::rest::{EditInput, MessageHistory};
use soporte_protocol::{ErrorCode, Message, MessageChange, MessageId, Role};

pub fn router() -> Router<AppState> {
    let router = routes(
        Router::new(),
        "/api/soporte/tickets/{id}/chat/mensajes/{mensaje_id}/",
        patch(edit).delete(delete),
    );
    routes(
        router,
        "/api/soporte/tickets/{id}/chat/mensajes/{mensaje_id}/versiones/",
        get(versions),
    )
}

fn message_id(raw: &str) -> Result<MessageId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

fn refused(error: ChangeError) -> ApiError {
    match error {
        ChangeError::Frame(error) if error.code == ErrorCode::RateLimited => {
            ApiError::TooManyRequests(error.detail)
        }
        ChangeError::Frame(error) => ApiError::BadRequest(error.detail),
        ChangeError::Store(error) => error.into(),
    }
}

/// `PATCH`: a new text for one of the caller's messages.
async fn edit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, message)): Path<(String, String)>,
    JsonBody(body): JsonBody<EditInput>,
) -> Result<Json<Message>, ApiError> {
    let change = (MessageChange::Edited, body.text);
    change_message(&state, &caller, (&id, &message), change).await
}

/// `DELETE`: the message reads as deleted for everyone from now on.
async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, message)): Path<(String, String)>,
) -> Result<Json<Message>, ApiError> {
    let change = (MessageChange::Deleted, String::new());
    change_message(&state, &caller, (&id, &message), change).await
}

async fn change_message(
    state: &AppState,
    caller: &Identity,
    (ticket, message): (&str, &str),
    (change, text): (MessageChange, String),
) -> Result<Json<Message>, ApiError> {
    let ticket = visible_ticket(state, caller, ticket).await?;
    let message = message_id(message)?;
    edits::change(state, &caller.user, (&ticket).into(), message, change, text)
        .await
        .map(Json)
        .map_err(refused)
}

/// `GET …/versiones/`: what a message said before each change (supervisors).
async fn versions(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, message)): Path<(String, String)>,
) -> Result<Json<MessageHistory>, ApiError> {
    if caller.user.role != Role::Supervisor {
        return Err(ApiError::Forbidden(
            "Solo los supervisores ven las versiones anteriores de un mensaje.".into(),
        ));
    }
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let message = message_id(&message)?;
    let versions = state
        .store
        .message_versions(ticket.id, message)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(MessageHistory {
        message_id: message,
        versions,
    }))
}
