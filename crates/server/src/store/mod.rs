//! Storage: the only source of truth for tickets and messages.
//!
//! [`Store`] is the interface the rest of the server talks to; `sqlite` is the
//! embedded implementation (PostgreSQL comes beside it). Every implementation
//! keeps the same promises:
//! - a call that returns `Ok` has committed: a confirmation built from it never
//!   lies, whatever happens to the process next;
//! - each ticket's messages get `seq` 1, 2, 3, … with no gap, assigned in the
//!   transaction that stores them;
//! - a message is stored once per `(ticket, author, client_id)`: a retry gets
//!   the first copy back, marked `duplicate`;
//! - committed messages are handed to the [`CommitListener`] in commit order,
//!   after the commit, so fan-out can never show what was not stored.

pub mod sqlite;

use async_trait::async_trait;
use soporte_protocol::rest::{ChatStats, TicketView};
use soporte_protocol::*;
use std::collections::HashMap;
use std::sync::Arc;

/// Opaque tag of the connection a message came from, so fan-out can skip it.
pub type OriginTag = u64;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The database could not do it right now (disk full, locked, I/O error).
    /// Nothing was committed; the same call may succeed later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The store is shutting down.
    #[error("store closed")]
    Closed,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub ticket: TicketId,
    pub author: Person,
    pub client_id: Option<String>,
    pub content: String,
    pub kind: MessageKind,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub origin: Option<OriginTag>,
}

#[derive(Debug, Clone)]
pub struct Appended {
    pub message: Message,
    /// The `client_id` had been stored before: this is the first copy.
    pub duplicate: bool,
}

/// A message that has just been committed, for fan-out.
#[derive(Debug, Clone)]
pub struct Committed {
    pub message: Message,
    pub origin: Option<OriginTag>,
}

/// Told of every committed message, in commit order, right after the commit.
/// Called on the store's writer: it must not block.
pub trait CommitListener: Send + Sync + 'static {
    fn committed(&self, messages: &[Committed]);
}

/// A user as the last token we saw described them: names and avatars shown in
/// tickets and participant lists come from here.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    pub avatar: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub subject: String,
    pub customer: UserRecord,
}

/// Which tickets a listing covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketScope {
    /// A customer's own tickets.
    OwnedBy(UserId),
    /// Tickets assigned to this agent, and the unassigned queue.
    AgentQueue(UserId),
    /// Every ticket.
    All,
}

/// The outcome of assigning a ticket to an agent who opens it.
#[derive(Debug, Clone)]
pub enum Claim {
    /// The ticket is (now, or already) the agent's.
    Assigned(Ticket),
    /// Someone else holds it.
    HeldBy(Ticket),
}

#[derive(Debug, Clone, Default)]
pub struct MarkRead {
    /// Messages that became read with this call.
    pub marked: Vec<MessageId>,
    /// Ids that are not messages of this ticket.
    pub unknown: Vec<MessageId>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;

    /// Remembers how a user is called and shown.
    async fn upsert_user(&self, user: UserRecord) -> StoreResult<()>;
    async fn touch_last_seen(&self, user: UserId, at: Timestamp) -> StoreResult<()>;
    async fn last_seen(&self, users: Vec<UserId>) -> StoreResult<HashMap<UserId, Timestamp>>;

    async fn create_ticket(&self, ticket: NewTicket) -> StoreResult<Ticket>;
    async fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>>;
    /// Assigns an unassigned ticket to `agent`, atomically.
    async fn claim_ticket(&self, id: TicketId, agent: UserRecord) -> StoreResult<Claim>;
    /// Tickets in `scope`, newest activity first, with `viewer`'s unread count.
    async fn list_tickets(
        &self,
        scope: TicketScope,
        viewer: UserId,
        limit: usize,
    ) -> StoreResult<Vec<TicketView>>;

    /// Stores a message (or finds the earlier copy of a retry). Returns after the commit.
    async fn append(&self, message: NewMessage) -> StoreResult<Appended>;
    /// The message `author` stored on `ticket` with `client_id`, if any.
    async fn find_sent(
        &self,
        ticket: TicketId,
        author: UserId,
        client_id: &str,
    ) -> StoreResult<Option<Message>>;
    /// The newest `limit` messages, oldest first.
    async fn recent_messages(&self, ticket: TicketId, limit: usize) -> StoreResult<Vec<Message>>;
    /// Messages with `after < seq <= up_to`, oldest first, at most `limit`.
    async fn messages_between(
        &self,
        ticket: TicketId,
        after: Seq,
        up_to: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Message>>;

    /// Marks read, by `reader`, the messages of the other side of the
    /// conversation among `ids` (a customer reads staff's, staff read the
    /// customer's); all or nothing if an id is not a message of `ticket`.
    async fn mark_read(
        &self,
        ticket: TicketId,
        reader: UserId,
        reader_role: Role,
        ids: Vec<MessageId>,
    ) -> StoreResult<MarkRead>;
    async fn unread_count(&self, ticket: TicketId, viewer: UserId) -> StoreResult<i64>;
    async fn stats(&self, ticket: TicketId, viewer: UserId) -> StoreResult<ChatStats>;
}

pub type DynStore = Arc<dyn Store>;

/// First answer by staff, and the mean wait of each customer turn, from the
/// ticket's messages in order. Pure, so it is tested on its own.
pub fn response_times(
    messages: impl IntoIterator<Item = (AuthorKind, Timestamp)>,
) -> (Option<f64>, Option<f64>) {
    let mut first_response = None;
    let mut waiting_since: Option<Timestamp> = None;
    let (mut total_ms, mut turns) = (0i64, 0i64);
    for (kind, at) in messages {
        match kind {
            AuthorKind::Cliente => {
                waiting_since.get_or_insert(at);
            }
            AuthorKind::Agente | AuthorKind::Supervisor => {
                if let Some(since) = waiting_since.take() {
                    let wait = at.millis() - since.millis();
                    first_response.get_or_insert(wait as f64 / 1000.0);
                    total_ms += wait;
                    turns += 1;
                }
            }
            AuthorKind::Sistema => {}
        }
    }
    let average = (turns > 0).then(|| total_ms as f64 / turns as f64 / 1000.0);
    (first_response, average)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_times_measure_each_customer_turn() {
        let t = |s: i64| Timestamp::from_millis(s * 1000);
        let messages = vec![
            (AuthorKind::Sistema, t(0)),
            (AuthorKind::Cliente, t(10)),
            (AuthorKind::Cliente, t(15)),
            (AuthorKind::Agente, t(40)), // waited 30 s
            (AuthorKind::Agente, t(50)),
            (AuthorKind::Cliente, t(100)),
            (AuthorKind::Supervisor, t(110)), // waited 10 s
            (AuthorKind::Cliente, t(200)),    // still waiting: not counted
        ];
        let (first, average) = response_times(messages);
        assert_eq!(first, Some(30.0));
        assert_eq!(average, Some(20.0));
    }

    #[test]
    fn no_answer_means_no_response_time() {
        let (first, average) =
            response_times(vec![(AuthorKind::Cliente, Timestamp::from_millis(0))]);
        assert_eq!((first, average), (None, None));
    }
}
