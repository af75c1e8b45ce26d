//! Posting a message: the one path every message takes, whether it comes from
//! a WebSocket frame or the REST `sync` endpoint. Validate, check permission
//! on the ticket as it is now, append (commit), and let the store's commit
//! listener fan it out.

use crate::access::{self, TicketAccess};
use crate::app::AppState;
use crate::auth::Identity;
use crate::store::{Appended, NewMessage, OriginTag, StoreError};
use soporte_protocol::{ErrorCode, FrameError, MessageKind, SendMessage};

/// What a user is told when their messages, over all their sockets and REST
/// together, go faster than their budget (`crate::rate::MessageBudgets`).
pub const USER_RATE_REFUSAL: &str = "Estás enviando demasiados mensajes. Espera un momento.";

/// Validates and stores a text message by `author` on `ticket`.
pub async fn post_text(
    state: &AppState,
    author: &Identity,
    ticket: TicketAccess,
    message: SendMessage,
    origin: Option<OriginTag>,
) -> Result<Appended, FrameError> {
    if let Err(refused) = message
        .validate(state.config.max_message_length)
        .and_then(|()| access::check_write(author, ticket))
    {
        // A retry of a message stored earlier is confirmed with the first
        // copy, even if the ticket no longer takes new messages (it was
        // stored when it did): a client must never be told "failed" for
        // something that is in the history.
        return match state
            .store
            .find_sent(ticket.id, author.id, &message.client_id)
            .await
        {
            Ok(Some(message)) => Ok(Appended {
                message,
                duplicate: true,
            }),
            _ => Err(refused),
        };
    }
    // An internal note (`metadata.interno = true`) is for staff only.
    let internal = message
        .metadata
        .as_ref()
        .and_then(|m| m.get("interno"))
        .and_then(|v| v.as_bool())
        == Some(true);
    if internal && !author.role.is_staff() {
        return Err(FrameError::new(
            ErrorCode::Forbidden,
            "Solo el equipo de soporte puede escribir notas internas.",
        ));
    }
    let new = NewMessage {
        ticket: ticket.id,
        author: author.person(),
        client_id: Some(message.client_id),
        content: message.text,
        kind: MessageKind::Text,
        metadata: message.metadata.unwrap_or_default(),
        internal,
        origin,
    };
    state.store.append(new).await.map_err(storage_error)
}

/// What a person is told when a write was refused or could not be made.
pub fn storage_error(error: StoreError) -> FrameError {
    match error {
        StoreError::NotFound => FrameError::new(ErrorCode::Forbidden, "El ticket no existe."),
        StoreError::TicketClosed => FrameError::new(
            ErrorCode::TicketClosed,
            "El ticket está cerrado y no admite mensajes nuevos.",
        ),
        StoreError::Conflict(detail) | StoreError::Forbidden(detail) => {
            FrameError::new(ErrorCode::Forbidden, detail)
        }
        StoreError::Invalid(detail) => FrameError::new(ErrorCode::InvalidData, detail),
        StoreError::Unavailable(_) | StoreError::Closed => {
            tracing::error!(%error, "write failed");
            FrameError::new(
                ErrorCode::StorageError,
                "No se pudo guardar el mensaje. Reinténtalo con el mismo client_id.",
            )
        }
    }
}
