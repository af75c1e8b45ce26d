//! Editing and deleting a message: the one path WebSocket frames and REST
//! requests take. Check the text and the budget, let the store judge and
//! write the change (`store::edits`), remove a deleted message's files,
//! then tell the ticket's room and the staff inboxes that see it.

use crate::bus::Event;
use crate::domain::access::TicketAccess;
use crate::domain::edits;
use crate::hub::inbox::{InboxEvent, InboxRoute};
use crate::hub::{Audience, Except, TicketEvent};
use crate::state::AppState;
use crate::store::edits::MessageEdit;
use crate::store::StoreError;
use soporte_protocol::server::MessageUpdated;
use soporte_protocol::{ErrorCode, FrameError, Message, MessageChange, MessageId, ServerFrame};

/// Why a change was not made.
#[derive(Debug)]
pub enum ChangeError {
    /// The request itself: a bad text, or over the sender's budget.
    Frame(FrameError),
    /// The rules, or the store.
    Store(StoreError),
}

/// Edits (`text` is the new one) or deletes message `id` of `ticket` as
/// `actor`; returns the message as it now is.
pub async fn change(
    state: &AppState,
    actor: &crate::domain::User,
    ticket: TicketAccess,
    id: MessageId,
    change: MessageChange,
    text: String,
) -> Result<Message, ChangeError> {
    let text = match change {
        MessageChange::Edited => {
            soporte_protocol::client::validate_text(&text, state.config.max_message_length)
                .map_err(ChangeError::Frame)?;
            soporte_protocol::client::without_bidi_controls(text)
        }
        MessageChange::Deleted => String::new(),
    };
    edits::check_access(actor, ticket).map_err(|r| ChangeError::Store(r.into()))?;
    // A change costs what a message does, over every way the user writes.
    if !state.message_budgets.try_take(actor.id).await {
        return Err(ChangeError::Frame(FrameError::new(
            ErrorCode::RateLimited,
            crate::chat::USER_RATE_REFUSAL,
        )));
    }
    let edit = MessageEdit {
        ticket: ticket.id,
        message: id,
        actor: actor.clone(),
        change,
        text,
        at: state.config.clock.now(),
        edit_window: state.config.edit_window,
    };
    let edited = state
        .store
        .change_message(edit)
        .await
        .map_err(ChangeError::Store)?;
    if edited.files_removed > 0 {
        // Queued in the deletion's transaction; gone from storage now, or
        // on the next sweep.
        crate::data_rights::remove_erased_files(state).await;
    }
    if edited.changed {
        let frame: axum::extract::ws::Utf8Bytes = ServerFrame::MessageUpdated(MessageUpdated {
            change,
            message: edited.message.clone(),
        })
        .encode()
        .into();
        state.bus.publish(Event::Room(TicketEvent {
            ticket: ticket.id,
            seq: None,
            audience: if edited.message.internal {
                Audience::StaffOnly
            } else {
                Audience::Everyone
            },
            except: Except::Nobody,
            text: frame.clone(),
        }));
        // The staff inboxes that see the ticket: a preview showing this
        // message must not keep an edited or deleted text.
        state.bus.publish(Event::Inbox(InboxEvent {
            route: InboxRoute::Ticket {
                agent: ticket.agent,
            },
            text: frame,
        }));
    }
    Ok(edited.message)
}
