//! What a message may be and what it does to its ticket: who may write
//! internal notes, what a message on a closed, waiting or resolved ticket
//! does, which messages count as staff's answer, and whose messages a
//! reader's receipt marks.

use super::tickets::{reopen_on_reply, Plan};
use super::Refusal;
use soporte_protocol::{AuthorKind, Role, TicketState};

/// May someone of `role` write an internal note?
pub fn check_internal_note(role: Role) -> Result<(), Refusal> {
    if role.is_staff() {
        Ok(())
    } else {
        Err(Refusal::forbidden(
            "Solo el equipo de soporte puede escribir notas internas.",
        ))
    }
}

/// What storing a new message does, decided on the ticket's state.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendPlan {
    /// A change of state to record first (a customer's reply reopens).
    pub reopen: Option<Plan>,
    /// Staff's answer the customer sees: the ticket's first response time
    /// is set by the first of these.
    pub first_answer: bool,
}

pub fn append(
    state: TicketState,
    author: AuthorKind,
    internal: bool,
) -> Result<AppendPlan, Refusal> {
    if state == TicketState::Closed {
        return Err(Refusal::TicketClosed);
    }
    let reopen = match author {
        AuthorKind::Customer => reopen_on_reply(state),
        _ => None,
    };
    let staff = matches!(author, AuthorKind::Agent | AuthorKind::Supervisor);
    Ok(AppendPlan {
        reopen,
        first_answer: staff && !internal,
    })
}

/// Receipts go across the conversation: a customer's reading marks staff's
/// messages, staff's reading marks the customer's.
pub fn read_across(reader: Role) -> &'static [AuthorKind] {
    match reader {
        Role::Customer => &[AuthorKind::Agent, AuthorKind::Supervisor],
        Role::Agent | Role::Supervisor => &[AuthorKind::Customer],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AuthorKind::*;
    use TicketState::*;

    #[test]
    fn what_a_message_does_to_its_ticket() {
        // (state, author, internal) -> reopens, first answer
        let table = [
            (Open, Customer, false, false, false),
            (Waiting, Customer, false, true, false),
            (Resolved, Customer, false, true, false),
            (Resolved, Agent, false, false, true),
            (Waiting, Supervisor, false, false, true),
            (Open, Agent, true, false, false), // a note is no answer
            (Open, System, false, false, false),
        ];
        for (state, author, internal, reopens, first) in table {
            let plan = append(state, author, internal).unwrap();
            assert_eq!(
                (plan.reopen.is_some(), plan.first_answer),
                (reopens, first),
                "{state:?} {author:?} internal={internal}"
            );
        }
        for author in [Customer, Agent, Supervisor, System] {
            assert_eq!(append(Closed, author, false), Err(Refusal::TicketClosed));
        }
    }

    #[test]
    fn only_staff_write_notes() {
        assert!(check_internal_note(Role::Agent).is_ok());
        assert!(check_internal_note(Role::Supervisor).is_ok());
        assert!(matches!(
            check_internal_note(Role::Customer),
            Err(Refusal::Forbidden(_))
        ));
    }

    #[test]
    fn receipts_mark_the_other_side() {
        assert_eq!(read_across(Role::Customer), &[Agent, Supervisor]);
        assert_eq!(read_across(Role::Agent), &[Customer]);
        assert_eq!(read_across(Role::Supervisor), &[Customer]);
    }
}
