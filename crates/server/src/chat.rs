//! Posting a message: the one path every message takes, whether it comes from
//! a WebSocket frame or the REST `sync` endpoint. Validate, check permission
//! on the ticket as it is now, append (commit), and let the store's commit
//! listener fan it out.

use crate::auth::Identity;
use crate::domain::access::{self, TicketAccess};
use crate::domain::email::UnreadPolicy;
use crate::domain::messages;
use crate::state::AppState;
use crate::store::Sent;
use crate::store::{Appended, NewMessage, OriginTag, StoreError};
use soporte_protocol::{asks_for_internal_note, ErrorCode, FrameError, MessageKind, SendMessage};

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
        .and_then(|()| access::check_write(&author.user, ticket))
    {
        // A retry of a message stored earlier is confirmed with the first
        // copy, even if the ticket no longer takes new messages (it was
        // stored when it did): a client must never be told "failed" for
        // something that is in the history.
        return match state
            .store
            .find_sent(Sent::new(ticket.id, author.user.id, &message.client_id))
            .await
        {
            Ok(Some(message)) => Ok(Appended {
                message,
                duplicate: true,
            }),
            _ => Err(refused),
        };
    }
    let internal = asks_for_internal_note(message.metadata.as_ref());
    if internal {
        messages::check_internal_note(author.user.role).map_err(|r| r.frame_error())?;
    }
    let new = NewMessage {
        ticket: ticket.id,
        author: author.user.person(),
        client_id: Some(message.client_id),
        content: soporte_protocol::client::without_bidi_controls(message.text),
        kind: MessageKind::Text,
        metadata: message.metadata.unwrap_or_default(),
        internal,
        origin,
        // Used only when the author is staff (`store::email::owe_unread_reply`).
        unread_email: state.config.email.as_ref().map(|email| UnreadPolicy {
            after: email.unread_after,
        }),
        reply_to: message.reply_to,
    };
    state.store.append(new).await.map_err(storage_error)
}

/// What a person is told when a write was refused or could not be made.
/// Internal failures are logged here, where they become an answer.
pub fn storage_error(error: StoreError) -> FrameError {
    match error {
        StoreError::Refused(refusal) => refusal.frame_error(),
        StoreError::Unavailable(_) | StoreError::Corrupt(_) | StoreError::Closed => {
            tracing::error!(%error, "write failed");
            FrameError::new(
                ErrorCode::StorageError,
                "No se pudo guardar el mensaje. Reinténtalo con el mismo client_id.",
            )
        }
    }
}
