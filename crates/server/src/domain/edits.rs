//! Changing a message after it was sent: who may edit or delete it, until
//! when, which earlier message a new one may answer, and what a deleted
//! message reads as.
//!
//! A change never moves a message: it keeps its `seq`, and the ticket's
//! revision (`rev`) counts changes apart, so a resuming client learns of
//! them without any gap in `seq` (see PROTOCOL.md §2.7).

use super::access::{access, Access, TicketAccess};
use super::{Refusal, User};
use soporte_protocol::{ErrorCode, Message, MessageChange, MessageKind, TicketState, Timestamp};
use std::time::Duration;

/// How long its author may edit a message unless configured otherwise.
pub const DEFAULT_EDIT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// What a deleted message reads as, for everyone (its earlier texts stay
/// for supervisors, in its versions).
pub const DELETED_CONTENT: &str = "Mensaje eliminado.";

/// Why a change to a message, or a reply to one, was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRefusal {
    /// No such message in the ticket, or not one the actor may see.
    NotFound,
    NotAuthor,
    WindowPassed,
    AlreadyDeleted,
    NotEditable,
}

impl MessageRefusal {
    pub fn code(self) -> ErrorCode {
        match self {
            MessageRefusal::NotFound => ErrorCode::MessageNotFound,
            MessageRefusal::NotAuthor => ErrorCode::NotAuthor,
            MessageRefusal::WindowPassed => ErrorCode::EditWindowPassed,
            MessageRefusal::AlreadyDeleted => ErrorCode::AlreadyDeleted,
            MessageRefusal::NotEditable => ErrorCode::NotEditable,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            MessageRefusal::NotFound => "Ese mensaje no está en este ticket.",
            MessageRefusal::NotAuthor => "Solo quien escribió el mensaje puede cambiarlo.",
            MessageRefusal::WindowPassed => {
                "Ya no se puede editar este mensaje: pasó el tiempo para hacerlo."
            }
            MessageRefusal::AlreadyDeleted => "Ese mensaje ya fue eliminado.",
            MessageRefusal::NotEditable => "Este tipo de mensaje no se puede cambiar.",
        }
    }
}

impl From<MessageRefusal> for Refusal {
    fn from(refusal: MessageRefusal) -> Refusal {
        Refusal::Message(refusal)
    }
}

/// May `actor` change messages of this ticket at all? Those it is theirs
/// to write in: its customer, its agent, supervisors (an agent looking at
/// the queue has not taken the ticket yet).
pub fn check_access(actor: &User, ticket: TicketAccess) -> Result<(), Refusal> {
    if access(actor, ticket) == Access::Granted {
        Ok(())
    } else {
        Err(Refusal::forbidden(
            "No tienes permiso para cambiar mensajes de este ticket.",
        ))
    }
}

/// A change asked of a message, judged by [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeRequest {
    pub change: MessageChange,
    /// When it is asked (the clock's now).
    pub at: Timestamp,
    /// How long an author may edit (`None`: editing is off).
    pub edit_window: Option<Duration>,
}

/// May `actor` make `request` to `message` of a ticket in `state`?
///
/// - Only people's messages change: not the server's (state changes,
///   transfers); only text is edited (a file is deleted and sent again).
/// - Its author edits, within the window, while the ticket is not closed.
/// - Its author deletes it; staff may delete anyone's (a card number a
///   customer should not have sent), even on a closed ticket.
/// - A customer never reaches internal notes (they are not found).
pub fn check(
    actor: &User,
    message: &Message,
    state: TicketState,
    request: ChangeRequest,
) -> Result<(), Refusal> {
    let staff = actor.role.is_staff();
    if message.internal && !staff {
        return Err(MessageRefusal::NotFound.into());
    }
    if message.deleted {
        return Err(MessageRefusal::AlreadyDeleted.into());
    }
    if matches!(message.kind, MessageKind::System | MessageKind::Transfer) {
        return Err(MessageRefusal::NotEditable.into());
    }
    let own = message.author.id == Some(actor.id);
    match request.change {
        MessageChange::Edited => {
            if message.kind != MessageKind::Text {
                return Err(MessageRefusal::NotEditable.into());
            }
            if !own {
                return Err(MessageRefusal::NotAuthor.into());
            }
            if state == TicketState::Closed {
                return Err(Refusal::TicketClosed);
            }
            let window = request.edit_window.ok_or(MessageRefusal::WindowPassed)?;
            let age = request.at.millis() - message.timestamp.millis();
            if age > window.as_millis() as i64 {
                return Err(MessageRefusal::WindowPassed.into());
            }
        }
        MessageChange::Deleted => {
            if !staff && !own {
                return Err(MessageRefusal::NotAuthor.into());
            }
            if !staff && state == TicketState::Closed {
                return Err(Refusal::TicketClosed);
            }
        }
    }
    Ok(())
}

/// May a new message (internal or not) by someone (`staff` or not) answer
/// `target`, the message it names in the same ticket (`None`: none there)?
pub fn check_reply(target: Option<&Message>, staff: bool, internal: bool) -> Result<(), Refusal> {
    let target = target.ok_or(MessageRefusal::NotFound)?;
    if target.internal && !staff {
        return Err(MessageRefusal::NotFound.into());
    }
    if target.internal && !internal {
        return Err(Refusal::invalid(
            "Una respuesta al cliente no puede citar una nota interna.",
        ));
    }
    if target.deleted {
        return Err(Refusal::invalid(
            "No se puede responder a un mensaje eliminado.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use soporte_protocol::{AuthorKind, MessageState, Person, Role};

    fn user(id: i64, role: Role) -> User {
        User {
            id,
            name: format!("u{id}"),
            role,
            avatar: None,
            email: None,
        }
    }

    fn message(author: i64, kind: MessageKind, sent_ms: i64) -> Message {
        Message {
            id: 1,
            client_id: None,
            ticket: 1,
            seq: 1,
            timestamp: Timestamp::from_millis(sent_ms),
            author: Person {
                id: Some(author),
                name: "x".into(),
                kind: AuthorKind::Customer,
                avatar: None,
            },
            content: "hola".into(),
            kind,
            state: MessageState::Delivered,
            attachments: Vec::new(),
            reply_to: None,
            edited: false,
            deleted: false,
            edited_at: None,
            rev: 0,
            metadata: Default::default(),
            internal: false,
        }
    }

    const MINUTE: i64 = 60_000;

    fn ask(change: MessageChange, at_ms: i64) -> ChangeRequest {
        ChangeRequest {
            change,
            at: Timestamp::from_millis(at_ms),
            edit_window: Some(DEFAULT_EDIT_WINDOW),
        }
    }

    fn refusal(result: Result<(), Refusal>) -> Option<MessageRefusal> {
        match result {
            Err(Refusal::Message(r)) => Some(r),
            Ok(()) => None,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn authors_edit_their_text_within_the_window() {
        use MessageChange::Edited;
        let ana = user(1, Role::Customer);
        let maria = user(5, Role::Agent);
        let boss = user(9, Role::Supervisor);
        let text = message(1, MessageKind::Text, 0);
        let open = TicketState::Open;
        assert_eq!(
            refusal(check(&ana, &text, open, ask(Edited, 15 * MINUTE))),
            None
        );
        assert_eq!(
            refusal(check(&ana, &text, open, ask(Edited, 15 * MINUTE + 1))),
            Some(MessageRefusal::WindowPassed)
        );
        // Nobody else edits it, supervisors included.
        for other in [&maria, &boss, &user(2, Role::Customer)] {
            assert_eq!(
                refusal(check(other, &text, open, ask(Edited, MINUTE))),
                Some(MessageRefusal::NotAuthor)
            );
        }
        let off = ChangeRequest {
            edit_window: None,
            ..ask(Edited, 1)
        };
        assert_eq!(
            refusal(check(&ana, &text, open, off)),
            Some(MessageRefusal::WindowPassed)
        );
        assert_eq!(
            check(&ana, &text, TicketState::Closed, ask(Edited, 1)),
            Err(Refusal::TicketClosed)
        );
        let file = message(1, MessageKind::File, 0);
        assert_eq!(
            refusal(check(&ana, &file, open, ask(Edited, 1))),
            Some(MessageRefusal::NotEditable)
        );
    }

    #[test]
    fn authors_delete_theirs_and_staff_any() {
        use MessageChange::Deleted;
        let ana = user(1, Role::Customer);
        let maria = user(5, Role::Agent);
        let customers = message(1, MessageKind::File, 0);
        let late = ask(Deleted, 400 * MINUTE);
        assert_eq!(
            refusal(check(&ana, &customers, TicketState::Open, late)),
            None
        );
        assert_eq!(
            refusal(check(&maria, &customers, TicketState::Open, late)),
            None
        );
        assert_eq!(
            refusal(check(
                &user(2, Role::Customer),
                &customers,
                TicketState::Open,
                late
            )),
            Some(MessageRefusal::NotAuthor)
        );
        // Staff clean up closed tickets; customers leave them as they are.
        assert_eq!(
            refusal(check(&maria, &customers, TicketState::Closed, late)),
            None
        );
        assert_eq!(
            check(&ana, &customers, TicketState::Closed, late),
            Err(Refusal::TicketClosed)
        );
        let mut gone = customers.clone();
        gone.deleted = true;
        assert_eq!(
            refusal(check(&maria, &gone, TicketState::Open, late)),
            Some(MessageRefusal::AlreadyDeleted)
        );
        for kind in [MessageKind::System, MessageKind::Transfer] {
            let server = message(0, kind, 0);
            assert_eq!(
                refusal(check(&maria, &server, TicketState::Open, late)),
                Some(MessageRefusal::NotEditable)
            );
        }
    }

    #[test]
    fn customers_never_reach_notes() {
        let ana = user(1, Role::Customer);
        let mut note = message(1, MessageKind::Text, 0);
        note.internal = true;
        for change in [MessageChange::Edited, MessageChange::Deleted] {
            assert_eq!(
                refusal(check(&ana, &note, TicketState::Open, ask(change, 1))),
                Some(MessageRefusal::NotFound)
            );
        }
        assert_eq!(
            refusal(check_reply(Some(&note), false, false)),
            Some(MessageRefusal::NotFound)
        );
    }

    #[test]
    fn replies_name_a_live_message_their_readers_see() {
        let text = message(1, MessageKind::Text, 0);
        assert_eq!(check_reply(Some(&text), false, false), Ok(()));
        assert_eq!(
            refusal(check_reply(None, true, false)),
            Some(MessageRefusal::NotFound)
        );
        let mut note = text.clone();
        note.internal = true;
        assert_eq!(check_reply(Some(&note), true, true), Ok(()));
        assert!(matches!(
            check_reply(Some(&note), true, false),
            Err(Refusal::Invalid(_))
        ));
        let mut gone = text.clone();
        gone.deleted = true;
        assert!(matches!(
            check_reply(Some(&gone), true, false),
            Err(Refusal::Invalid(_))
        ));
    }
}
