//! Presence: who is connected to which ticket, and which agents have an
//! inbox open, across the whole deployment.
//!
//! Rooms and inboxes know the connections of this process; [`Presence`]
//! answers for every node. On one node it is the hubs themselves
//! ([`LocalPresence`]); in cluster mode it is held in Redis with an expiry
//! each node keeps refreshing (`cluster::presence`), so a node that dies
//! stops counting as present within a bounded time.
//!
//! Sessions call it only on their user's first and last connection on this
//! node: the hubs already tell those apart.

use crate::hub::inbox::Inboxes;
use crate::hub::{Audience, Hub};
use async_trait::async_trait;
use soporte_protocol::server::{PresenceEvent, ServerFrame};
use soporte_protocol::Role;
use soporte_protocol::{Participant, TicketId, UserId};
use std::collections::HashSet;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// A person's first connection to a ticket opening, or their last closing.
pub enum Change {
    Arrived,
    Departed,
}

/// Who is told of a person's coming and going on a ticket. Agents are
/// announced to everyone (`agente_joined` / `agente_left`); the customer to
/// staff only (`cliente_joined` / `cliente_left`: the team learns that the
/// customer left; the customer has no one to be told about). Supervisors
/// monitor silently: they show up in a conversation when they write in it,
/// which also keeps a ticket watched by many supervisors from turning every
/// join into a frame for every watcher (a join storm is quadratic).
pub fn announcement(
    role: Role,
    change: Change,
    event: PresenceEvent,
) -> Option<(ServerFrame, Audience)> {
    match (role, change) {
        (Role::Agent, Change::Arrived) => {
            Some((ServerFrame::AgentJoined(event), Audience::Everyone))
        }
        (Role::Agent, Change::Departed) => {
            Some((ServerFrame::AgentLeft(event), Audience::Everyone))
        }
        (Role::Customer, Change::Arrived) => {
            Some((ServerFrame::CustomerJoined(event), Audience::StaffOnly))
        }
        (Role::Customer, Change::Departed) => {
            Some((ServerFrame::CustomerLeft(event), Audience::StaffOnly))
        }
        (Role::Supervisor, _) => None,
    }
}

#[async_trait]
pub trait Presence: Send + Sync + 'static {
    /// `user` opened their first connection to `ticket` on this node. True
    /// when it is their first anywhere (announce them).
    async fn arrived(&self, ticket: TicketId, user: &Participant) -> bool;
    /// `user` closed their last connection to `ticket` on this node. True
    /// when they have none left anywhere (announce they left).
    async fn departed(&self, ticket: TicketId, user: UserId) -> bool;
    /// Everyone connected to `ticket` anywhere, one entry per user.
    async fn online(&self, ticket: TicketId) -> Vec<Participant>;
    /// An agent or supervisor opened their first inbox on this node.
    async fn inbox_opened(&self, user: UserId, is_agent: bool);
    /// Their last inbox on this node closed.
    async fn inbox_closed(&self, user: UserId);
    /// Agents with an inbox open anywhere (candidates for assignment).
    async fn online_agents(&self) -> HashSet<UserId>;
}

pub type DynPresence = Arc<dyn Presence>;

/// One node: the hubs are the whole truth.
pub struct LocalPresence {
    pub hub: Arc<Hub>,
    pub inboxes: Arc<Inboxes>,
}

#[async_trait]
impl Presence for LocalPresence {
    async fn arrived(&self, _: TicketId, _: &Participant) -> bool {
        true
    }

    async fn departed(&self, _: TicketId, _: UserId) -> bool {
        true
    }

    async fn online(&self, ticket: TicketId) -> Vec<Participant> {
        self.hub.online(ticket)
    }

    async fn inbox_opened(&self, _: UserId, _: bool) {}

    async fn inbox_closed(&self, _: UserId) {}

    async fn online_agents(&self) -> HashSet<UserId> {
        self.inboxes.online_agents()
    }
}
