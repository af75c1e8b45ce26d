//! Agents' inboxes: the staff connections that follow many tickets at once
//! (`/ws/soporte/agentes/`). Same rules as rooms: events are encoded once,
//! queued without waiting, and a member that falls behind is evicted.
//!
//! Who gets what: supervisors see everything; an agent sees the tickets
//! assigned to them and the unassigned queue, never another agent's tickets.

use super::{ConnId, Encoded, Outbox};
use crate::metrics::METRICS;
use axum::extract::ws::Utf8Bytes;
use soporte_protocol::{Role, UserId};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// Which inboxes an event is for (supervisors always are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxRoute {
    /// About a ticket: its agent, or every agent while it is unassigned.
    Ticket { agent: Option<UserId> },
    /// These agents.
    Agents(Vec<UserId>),
    /// Every staff inbox.
    Everyone,
}

#[derive(Debug, Clone)]
pub struct InboxEvent {
    pub route: InboxRoute,
    pub text: Utf8Bytes,
}

pub struct InboxMember {
    pub conn: ConnId,
    pub user: UserId,
    pub role: Role,
    /// Its outgoing queue; an inbox that falls behind is evicted by it.
    pub outbox: Outbox,
}

#[derive(Default)]
pub struct Inboxes {
    members: Mutex<Vec<InboxMember>>,
}

impl Inboxes {
    /// Adds an inbox; true when it is the user's first on this node.
    pub fn join(&self, member: InboxMember) -> bool {
        let mut members = self.members.lock().expect("inbox lock");
        let first = !members.iter().any(|m| m.user == member.user);
        members.push(member);
        first
    }

    /// Removes an inbox; true when it was the user's last on this node.
    pub fn leave(&self, conn: ConnId) -> bool {
        let mut members = self.members.lock().expect("inbox lock");
        let Some(index) = members.iter().position(|m| m.conn == conn) else {
            return false;
        };
        let gone = members.swap_remove(index);
        !members.iter().any(|m| m.user == gone.user)
    }

    /// Users with an inbox open here, and whether each is an agent.
    pub fn present(&self) -> Vec<(UserId, bool)> {
        let members = self.members.lock().expect("inbox lock");
        let mut present: Vec<(UserId, bool)> = Vec::new();
        for member in members.iter() {
            if !present.iter().any(|(user, _)| *user == member.user) {
                present.push((member.user, member.role == Role::Agent));
            }
        }
        present
    }

    /// Agents with an inbox open now.
    pub fn online_agents(&self) -> HashSet<UserId> {
        let members = self.members.lock().expect("inbox lock");
        members
            .iter()
            .filter(|m| m.role == Role::Agent)
            .map(|m| m.user)
            .collect()
    }

    pub fn deliver(&self, event: &InboxEvent) {
        let members = self.members.lock().expect("inbox lock");
        let shared = Arc::new(Encoded::Frame {
            seq: None,
            text: event.text.clone(),
        });
        let mut delivered = 0;
        for member in members.iter() {
            let wanted = member.role == Role::Supervisor
                || match &event.route {
                    InboxRoute::Ticket { agent } => agent.is_none_or(|a| a == member.user),
                    InboxRoute::Agents(agents) => agents.contains(&member.user),
                    InboxRoute::Everyone => true,
                };
            if !wanted {
                continue;
            }
            if member.outbox.offer(&shared, member.conn) {
                delivered += 1;
            }
        }
        METRICS
            .events_delivered
            .fetch_add(delivered, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::hub::{outbox, Next, OutboxReader};

    fn member(conn: ConnId, user: UserId, role: Role) -> (InboxMember, OutboxReader) {
        let (outbox, rx) = outbox(8);
        (
            InboxMember {
                conn,
                user,
                role,
                outbox,
            },
            rx,
        )
    }

    #[test]
    fn agents_get_their_tickets_and_the_queue_supervisors_everything() {
        let inboxes = Inboxes::default();
        let (a, mut a_rx) = member(1, 10, Role::Agent);
        let (b, mut b_rx) = member(2, 20, Role::Agent);
        let (s, mut s_rx) = member(3, 30, Role::Supervisor);
        for m in [a, b, s] {
            assert!(inboxes.join(m));
        }
        let send = |route| {
            inboxes.deliver(&InboxEvent {
                route,
                text: "x".into(),
            })
        };
        send(InboxRoute::Ticket { agent: Some(10) });
        send(InboxRoute::Ticket { agent: None });
        send(InboxRoute::Agents(vec![20]));
        let count = |rx: &mut OutboxReader| {
            std::iter::from_fn(|| match rx.try_next() {
                Some(Next::Event(e)) => Some(e),
                _ => None,
            })
            .count()
        };
        assert_eq!(count(&mut a_rx), 2);
        assert_eq!(count(&mut b_rx), 2);
        assert_eq!(count(&mut s_rx), 3);
        assert_eq!(inboxes.online_agents(), HashSet::from([10, 20]));
    }
}
