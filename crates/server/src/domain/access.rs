//! Who may see and act on which ticket. Pure rules, checked for every action
//! (not only at connect), against the ticket as it is now.

use super::User;
use soporte_protocol::{ErrorCode, FrameError, Role, Ticket, TicketId, TicketState, UserId};

/// What the rules need of a ticket: who owns it, who holds it, its state.
/// Rooms keep this (not the whole ticket) for every watched ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketAccess {
    pub id: TicketId,
    pub customer: Option<UserId>,
    pub agent: Option<UserId>,
    pub state: TicketState,
}

impl From<&Ticket> for TicketAccess {
    fn from(ticket: &Ticket) -> Self {
        TicketAccess {
            id: ticket.id,
            customer: ticket.customer.id,
            agent: ticket.agent.as_ref().and_then(|a| a.id),
            state: ticket.state,
        }
    }
}

impl From<&TicketAccess> for TicketAccess {
    fn from(access: &TicketAccess) -> Self {
        *access
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// May read and write.
    Granted,
    /// An agent opening an unassigned ticket: granted once it is assigned to them.
    ClaimOnOpen,
    Denied,
}

/// What `identity` may do with `ticket`.
pub fn access(identity: &User, ticket: impl Into<TicketAccess>) -> Access {
    let ticket = ticket.into();
    match identity.role {
        Role::Supervisor => Access::Granted,
        Role::Customer if ticket.customer == Some(identity.id) => Access::Granted,
        Role::Customer => Access::Denied,
        Role::Agent => match ticket.agent {
            Some(agent) if agent == identity.id => Access::Granted,
            Some(_) => Access::Denied,
            None => Access::ClaimOnOpen,
        },
    }
}

/// May `identity` read this ticket (REST reads, history)? Agents may look at
/// the unassigned queue without taking a ticket.
pub fn may_read(identity: &User, ticket: impl Into<TicketAccess>) -> bool {
    access(identity, ticket) != Access::Denied
}

/// May `identity` write on this ticket now?
pub fn check_write(identity: &User, ticket: impl Into<TicketAccess>) -> Result<(), FrameError> {
    let ticket = ticket.into();
    if access(identity, ticket) != Access::Granted {
        return Err(FrameError::new(
            ErrorCode::Forbidden,
            "No tienes permiso para escribir en este ticket.",
        ));
    }
    if ticket.state == TicketState::Closed {
        return Err(FrameError::new(
            ErrorCode::TicketClosed,
            super::refusal::TICKET_CLOSED,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use soporte_protocol::{AuthorKind, Person, Timestamp};

    fn person(id: i64, tipo: AuthorKind) -> Person {
        Person {
            id: Some(id),
            name: format!("u{id}"),
            kind: tipo,
            avatar: None,
        }
    }

    fn ticket(customer: i64, agent: Option<i64>) -> Ticket {
        Ticket {
            id: 1,
            subject: "x".into(),
            state: TicketState::Open,
            customer: person(customer, AuthorKind::Customer),
            agent: agent.map(|a| person(a, AuthorKind::Agent)),
            created: Timestamp(0),
            updated: Timestamp(0),
            last_seq: 0,
            external_id: None,
            metadata: None,
            public_activity: None,
            resolved_at: None,
            rev: 0,
            csat: None,
        }
    }

    fn who(id: i64, role: Role) -> User {
        User {
            id,
            name: "x".into(),
            role,
            avatar: None,
            email: None,
        }
    }

    #[test]
    fn customers_reach_only_their_own_tickets() {
        assert_eq!(
            access(&who(1, Role::Customer), &ticket(1, None)),
            Access::Granted
        );
        assert_eq!(
            access(&who(2, Role::Customer), &ticket(1, None)),
            Access::Denied
        );
        assert_eq!(
            access(&who(2, Role::Customer), &ticket(1, Some(2))),
            Access::Denied
        );
    }

    #[test]
    fn agents_reach_their_tickets_and_claim_the_queue() {
        assert_eq!(
            access(&who(5, Role::Agent), &ticket(1, Some(5))),
            Access::Granted
        );
        assert_eq!(
            access(&who(5, Role::Agent), &ticket(1, None)),
            Access::ClaimOnOpen
        );
        assert_eq!(
            access(&who(5, Role::Agent), &ticket(1, Some(6))),
            Access::Denied
        );
        assert!(may_read(&who(5, Role::Agent), &ticket(1, None)));
        assert!(check_write(&who(5, Role::Agent), &ticket(1, None)).is_err());
    }

    #[test]
    fn supervisors_reach_everything() {
        assert_eq!(
            access(&who(9, Role::Supervisor), &ticket(1, Some(6))),
            Access::Granted
        );
    }

    #[test]
    fn closed_tickets_take_no_messages() {
        let mut closed = ticket(1, None);
        closed.state = TicketState::Closed;
        assert_eq!(
            check_write(&who(1, Role::Customer), &closed)
                .unwrap_err()
                .code,
            ErrorCode::TicketClosed
        );
    }
}
