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
use crate::hub::Hub;
use async_trait::async_trait;
use soporte_protocol::{Participant, TicketId, UserId};
use std::collections::HashSet;
use std::sync::Arc;

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
