//! Editing and deleting a message, once for both databases: the message
//! read in the writer's transaction, judged by `domain::edits`, then the
//! ticket's next revision, the new text, the earlier text kept as a version,
//! a deleted message's files queued for removal and the webhook event, in
//! one transaction. The SQL both stores run is here too, with `?N`
//! placeholders (PostgreSQL rewrites them to `$N`).

use super::webhooks::emit;
use super::writes::{missing, on_ticket, write};
use super::{Store, StoreResult, WriteTx};
use crate::domain::edits::{self, ChangeRequest, MessageRefusal, DELETED_CONTENT};
use crate::domain::webhooks::EventType;
use crate::domain::User;
use futures_util::future::FutureExt;
use soporte_protocol::webhook::{MessageChangedData, TicketRef};
use soporte_protocol::{Message, MessageChange, MessageId, TicketId, Timestamp};
use std::time::Duration;

/// A change asked of a message.
#[derive(Debug, Clone)]
pub struct MessageEdit {
    pub ticket: TicketId,
    pub message: MessageId,
    pub actor: User,
    pub change: MessageChange,
    /// The new text of an edit (already checked as a message's text).
    pub text: String,
    /// The clock's now: the edit window is judged by it.
    pub at: Timestamp,
    pub edit_window: Option<Duration>,
}

/// What a change did.
#[derive(Debug, Clone)]
pub struct Edited {
    /// The message as it now is, with its files.
    pub message: Message,
    /// False when an edit kept the text it had (nothing was written).
    pub changed: bool,
    /// Files of a deleted message queued for removal from storage.
    pub files_removed: u64,
}

/// The row a change writes (the ticket's revision is the store's to take).
#[derive(Debug, Clone, Copy)]
pub struct ChangeRow<'a> {
    pub ticket: TicketId,
    pub message: MessageId,
    pub change: MessageChange,
    pub content: &'a str,
    /// The text it had, kept as a version.
    pub previous: &'a str,
    pub by: soporte_protocol::UserId,
    pub at: Timestamp,
}

/// Takes the ticket's next revision.
pub const NEXT_REV_SQL: &str = "UPDATE tickets SET rev = rev + 1 WHERE id = ?1";
pub const REV_SQL: &str = "SELECT rev FROM tickets WHERE id = ?1";
/// ?1 id, ?2 text, ?3 deleted, ?4 revision, ?5 when.
pub const CHANGE_SQL: &str =
    "UPDATE messages SET contenido = ?2, eliminado = ?3, rev = ?4, editado_en = ?5 WHERE id = ?1";
/// ?1 message, ?2 revision, ?3 earlier text, ?4 change, ?5 by, ?6 when.
pub const VERSION_SQL: &str = "INSERT INTO message_versions (mensaje_id, rev, contenido, cambio, por_id, creado) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// Messages of ?1 at or below `seq` ?2 changed after revision ?3, in
/// revision order, at most ?4 (`{notes}`: the viewer's filter of notes).
/// `rev > 0` is written out (?3 is never negative) so that the planner,
/// which does not look at bound values, sees the partial index
/// `messages_changed` applies.
pub fn changed_sql(columns: &str, notes: &str) -> String {
    format!(
        "SELECT {columns} FROM messages WHERE ticket_id = ?1 AND seq <= ?2 AND rev > 0 AND rev > ?3{notes}
         ORDER BY rev LIMIT ?4"
    )
}

/// A message's earlier texts, oldest first, with who changed them.
pub const VERSIONS_SQL: &str =
    "SELECT v.rev, v.contenido, v.cambio, v.creado, u.id, u.nombre, u.rol, u.avatar
     FROM message_versions v JOIN messages m ON m.id = v.mensaje_id JOIN users u ON u.id = v.por_id
     WHERE v.mensaje_id = ?1 AND m.ticket_id = ?2 ORDER BY v.rev";

pub(super) async fn change_message<S: Store + ?Sized>(
    store: &S,
    edit: MessageEdit,
) -> StoreResult<Edited> {
    write(store, on_ticket(edit.ticket), move |tx| {
        change_in(tx, edit.clone()).boxed_local()
    })
    .await
}

async fn change_in(tx: &mut dyn WriteTx, edit: MessageEdit) -> StoreResult<Edited> {
    let state = missing(tx.ticket_state(edit.ticket).await?)?;
    let mut message = tx
        .message(edit.ticket, edit.message)
        .await?
        .ok_or(MessageRefusal::NotFound)
        .map_err(crate::domain::Refusal::from)?;
    let request = ChangeRequest {
        change: edit.change,
        at: edit.at,
        edit_window: edit.edit_window,
    };
    edits::check(&edit.actor, &message, state, request)?;
    let content = match edit.change {
        MessageChange::Edited => edit.text.as_str(),
        MessageChange::Deleted => DELETED_CONTENT,
    };
    if edit.change == MessageChange::Edited && content == message.content {
        // A retry of an edit that was made, or no edit at all.
        tx.fill_attachments(std::slice::from_mut(&mut message))
            .await?;
        return Ok(Edited {
            message,
            changed: false,
            files_removed: 0,
        });
    }
    let at = Timestamp::now();
    let row = ChangeRow {
        ticket: edit.ticket,
        message: edit.message,
        change: edit.change,
        content,
        previous: &message.content,
        by: edit.actor.id,
        at,
    };
    let rev = tx.change_message(&row).await?;
    let deleted = edit.change == MessageChange::Deleted;
    let files_removed = if deleted {
        tx.remove_attachments(edit.message, at).await?
    } else {
        0
    };
    message.content = content.to_string();
    message.rev = rev;
    message.edited_at = Some(at);
    message.deleted = deleted;
    message.edited = !deleted;
    tx.fill_attachments(std::slice::from_mut(&mut message))
        .await?;
    let event = if deleted {
        EventType::MessageDeleted
    } else {
        EventType::MessageEdited
    };
    let ticket = missing(tx.ticket(edit.ticket).await?)?;
    let data = MessageChangedData {
        message: message.clone(),
        ticket: TicketRef {
            id: ticket.id,
            external_id: ticket.external_id,
        },
        by: edit.actor.person(),
    };
    emit(tx, event, Some(edit.ticket), message.internal, &data).await?;
    Ok(Edited {
        message,
        changed: true,
        files_removed,
    })
}
