//! Storage: the only source of truth for tickets and messages.
//!
//! [`Store`] is the interface the rest of the server talks to; `sqlite` is the
//! embedded implementation, `postgres` the one several nodes share (cluster
//! mode). Every implementation keeps the same promises:
//! - a call that returns `Ok` has committed: a confirmation built from it never
//!   lies, whatever happens to the process next;
//! - each ticket's messages get `seq` 1, 2, 3, … with no gap, assigned in the
//!   transaction that stores them;
//! - a message is stored once per `(ticket, author, client_id)`: a retry gets
//!   the first copy back, marked `duplicate`;
//! - committed messages are handed to the [`CommitListener`] in commit order,
//!   after the commit, so fan-out can never show what was not stored.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use soporte_protocol::rest::{CannedResponse, CannedResponseInput, ChatStats, TicketView};
use soporte_protocol::*;
use std::collections::HashMap;
use std::sync::Arc;

/// Opaque tag of the connection a message came from, so fan-out can skip it.
pub type OriginTag = u64;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The ticket is closed and takes no new messages.
    #[error("ticket closed")]
    TicketClosed,
    /// The request does not fit the ticket as it is now (already assigned,
    /// a transition its state does not allow, …). The text is for a person.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The actor may not do this to this ticket as it is now.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request names something that does not fit (an unknown agent, …).
    #[error("invalid: {0}")]
    Invalid(String),
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
    /// An internal note (staff only).
    pub internal: bool,
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
    /// Who the ticket is assigned to once this message is stored: inboxes
    /// route previews by it.
    pub ticket_agent: Option<UserId>,
    /// Set on the message that records a change of the ticket (assignment,
    /// transfer, state): the ticket as it is after the change.
    pub ticket_change: Option<TicketChangeRecord>,
}

#[derive(Debug, Clone)]
pub struct TicketChangeRecord {
    pub change: soporte_protocol::server::TicketChange,
    pub ticket: Ticket,
    /// The agent the ticket was assigned to before (transfers, reassignments).
    pub previous_agent: Option<Person>,
}

/// Told of every committed message, in commit order, right after the commit.
/// Called on the store's writer: it must not block.
pub trait CommitListener: Send + Sync + 'static {
    fn committed(&self, messages: &[Committed]);
}

/// For a store used without a server around it (tools, benchmarks, tests):
/// commits are told to nobody.
pub struct NoListener;

impl CommitListener for NoListener {
    fn committed(&self, _: &[Committed]) {}
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

impl UserRecord {
    pub fn person(&self) -> Person {
        Person::user(self.id, &self.name, self.role, self.avatar.as_deref())
    }
}

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub subject: String,
    pub customer: UserRecord,
    /// Agents the ticket may be assigned to at once (automatic assignment),
    /// in no particular order; the store picks the one with the fewest open
    /// tickets under `max_open`.
    pub auto_assign: Vec<UserId>,
    pub max_open: i64,
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

/// Who reads: customers never see internal notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub id: UserId,
    pub sees_internal: bool,
}

impl Viewer {
    pub fn new(id: UserId, role: Role) -> Viewer {
        Viewer {
            id,
            sees_internal: role.is_staff(),
        }
    }
}

/// The outcome of assigning a ticket to an agent who opens it.
#[derive(Debug, Clone)]
pub enum Claim {
    /// The ticket is (now, or already) the agent's.
    Assigned(Ticket),
    /// Someone else holds it.
    HeldBy(Ticket),
    /// It is closed: nobody takes it any more.
    Closed(Ticket),
}

#[derive(Debug, Clone, Default)]
pub struct MarkRead {
    /// Messages that became read with this call.
    pub marked: Vec<MessageId>,
    /// Ids that are not messages of this ticket (visible to the reader).
    pub unknown: Vec<MessageId>,
}

/// A change to a ticket, made by `actor`, checked against the ticket as it is
/// in the transaction that makes it.
#[derive(Debug, Clone)]
pub enum TicketCommand {
    /// The actor (an agent) takes the unassigned ticket, or a supervisor
    /// assigns it to `agent`.
    Assign {
        agent: UserId,
    },
    /// The assigned agent or a supervisor hands the ticket to `agent`.
    Transfer {
        agent: UserId,
        reason: String,
    },
    SetState {
        state: TicketState,
    },
}

/// A page of what a viewer may see, for history.
#[derive(Debug, Clone)]
pub struct VisiblePage {
    /// Messages visible to the viewer at or below the cursor.
    pub count: i64,
    /// Oldest first.
    pub messages: Vec<Message>,
}

/// Permission to upload one file to a ticket, valid until `expires_at`.
#[derive(Debug, Clone)]
pub struct UploadGrant {
    pub upload_id: String,
    pub credential_hash: String,
    pub user: UserId,
    pub ticket: TicketId,
    /// The sanitized name the file will be shown with.
    pub name: String,
    /// The size the client declared; the upload may not exceed it.
    pub size: u64,
    /// The extension the name declares; the bytes must match it.
    pub extension: String,
    pub expires_at: Timestamp,
}

/// A grant as stored, to check an upload before reading its body.
#[derive(Debug, Clone)]
pub struct GrantState {
    pub grant: UploadGrant,
    pub used: bool,
}

/// Bytes already durable in storage, to be attached.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub key: String,
    pub thumbnail_key: Option<String>,
    pub size: u64,
    pub mime: String,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct CompleteUpload {
    pub upload_id: String,
    pub credential_hash: String,
    pub uploader: UserId,
    pub file: StoredFile,
    /// Attach to this message of the uploader's instead of a new one.
    pub attach_to: Option<MessageId>,
}

#[derive(Debug, Clone)]
pub struct Uploaded {
    pub attachment: Attachment,
    /// The message the file belongs to.
    pub message: Message,
}

/// What a download needs.
#[derive(Debug, Clone)]
pub struct AttachmentFile {
    pub attachment: Attachment,
    pub ticket: TicketId,
    pub key: String,
    pub thumbnail_key: Option<String>,
    pub sha256: String,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// The id of this database's history, fixed when it was created (or
    /// renewed after a restore). Clients resume with it: another epoch means
    /// their `since` belongs to a different history.
    fn epoch(&self) -> &str;

    /// Remembers how a user is called and shown.
    async fn upsert_user(&self, user: UserRecord) -> StoreResult<()>;
    async fn touch_last_seen(&self, user: UserId, at: Timestamp) -> StoreResult<()>;
    async fn last_seen(&self, users: Vec<UserId>) -> StoreResult<HashMap<UserId, Timestamp>>;
    async fn set_availability(&self, user: UserId, availability: Availability) -> StoreResult<()>;
    /// Every agent we know, with availability and open tickets (`online` false:
    /// presence is the inbox hub's).
    async fn agents(&self) -> StoreResult<Vec<soporte_protocol::server::AgentView>>;

    async fn create_ticket(&self, ticket: NewTicket) -> StoreResult<Ticket>;
    async fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>>;
    /// The newest `seq` of each of these tickets (unknown ones are left out).
    /// Cluster nodes compare it with what their rooms have, to catch up on
    /// what Redis did not bring.
    async fn last_seqs(&self, ids: Vec<TicketId>) -> StoreResult<HashMap<TicketId, Seq>> {
        let mut last = HashMap::with_capacity(ids.len());
        for id in ids {
            if let Some(ticket) = self.ticket(id).await? {
                last.insert(id, ticket.last_seq);
            }
        }
        Ok(last)
    }
    /// Assigns an unassigned ticket to `agent`, atomically.
    async fn claim_ticket(&self, id: TicketId, agent: UserRecord) -> StoreResult<Claim>;
    /// Applies `command` by `actor`, stores the message that records it, and
    /// returns the ticket after the change.
    async fn change_ticket(
        &self,
        id: TicketId,
        actor: UserRecord,
        command: TicketCommand,
    ) -> StoreResult<Ticket>;
    /// Tickets in `scope`, newest activity first, with `viewer`'s unread count.
    async fn list_tickets(
        &self,
        scope: TicketScope,
        viewer: Viewer,
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
    /// The newest `limit` messages the viewer may see, oldest first.
    async fn recent_messages(
        &self,
        ticket: TicketId,
        limit: usize,
        sees_internal: bool,
    ) -> StoreResult<Vec<Message>>;
    /// Messages with `after < seq <= up_to` the viewer may see, oldest first, at most `limit`.
    async fn messages_between(
        &self,
        ticket: TicketId,
        after: Seq,
        up_to: Seq,
        limit: usize,
        sees_internal: bool,
    ) -> StoreResult<Vec<Message>>;
    /// A customer's history page: visible messages with `seq <= top`, newest
    /// first skipping `offset`, returned oldest first.
    async fn visible_page(
        &self,
        ticket: TicketId,
        top: Seq,
        offset: usize,
        limit: usize,
    ) -> StoreResult<VisiblePage>;

    /// Marks read, by `reader`, the messages of the other side of the
    /// conversation among `ids` (a customer reads staff's, staff read the
    /// customer's); all or nothing if an id is not a message of `ticket`.
    async fn mark_read(
        &self,
        ticket: TicketId,
        reader: Viewer,
        reader_role: Role,
        ids: Vec<MessageId>,
    ) -> StoreResult<MarkRead>;
    async fn unread_count(&self, ticket: TicketId, viewer: Viewer) -> StoreResult<i64>;
    async fn stats(&self, ticket: TicketId, viewer: Viewer) -> StoreResult<ChatStats>;
    async fn team_stats(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> StoreResult<soporte_protocol::rest::TeamStats>;

    async fn create_upload_grant(&self, grant: UploadGrant) -> StoreResult<()>;
    async fn upload_grant(&self, upload_id: &str) -> StoreResult<Option<GrantState>>;
    /// Uses the grant (once), and stores the file's record with its message
    /// (a new `ARCHIVO` message, or the uploader's recent one).
    async fn complete_upload(&self, upload: CompleteUpload) -> StoreResult<Uploaded>;
    async fn attachment_file(&self, id: i64) -> StoreResult<Option<AttachmentFile>>;
    /// Forgets upload grants that expired before `before`; returns how many.
    async fn purge_upload_grants(&self, before: Timestamp) -> StoreResult<usize>;

    async fn canned_responses(&self) -> StoreResult<Vec<CannedResponse>>;
    async fn canned_response(&self, id: i64) -> StoreResult<Option<CannedResponse>>;
    /// Creates (`id` None) or replaces one; a shortcut already taken is a conflict.
    async fn save_canned_response(
        &self,
        id: Option<i64>,
        input: CannedResponseInput,
        by: UserId,
    ) -> StoreResult<CannedResponse>;
    async fn delete_canned_response(&self, id: i64) -> StoreResult<bool>;
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
            AuthorKind::Customer => {
                waiting_since.get_or_insert(at);
            }
            AuthorKind::Agent | AuthorKind::Supervisor => {
                if let Some(since) = waiting_since.take() {
                    let wait = at.millis() - since.millis();
                    first_response.get_or_insert(wait as f64 / 1000.0);
                    total_ms += wait;
                    turns += 1;
                }
            }
            AuthorKind::System => {}
        }
    }
    let average = (turns > 0).then(|| total_ms as f64 / turns as f64 / 1000.0);
    (first_response, average)
}

/// Median and 90th percentile (nearest rank) of durations in milliseconds.
pub fn duration_stats(mut millis: Vec<i64>) -> soporte_protocol::rest::DurationStats {
    millis.sort_unstable();
    let at = |q: f64| -> Option<f64> {
        if millis.is_empty() {
            return None;
        }
        let rank = ((millis.len() as f64 * q).ceil() as usize).clamp(1, millis.len());
        Some(millis[rank - 1] as f64 / 1000.0)
    };
    soporte_protocol::rest::DurationStats {
        n: millis.len(),
        median_seconds: at(0.5),
        p90_seconds: at(0.9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_stats_use_nearest_rank() {
        let stats = duration_stats((1..=10).map(|s| s * 1000).collect());
        assert_eq!(
            (stats.n, stats.median_seconds, stats.p90_seconds),
            (10, Some(5.0), Some(9.0))
        );
        assert_eq!(duration_stats(vec![]).median_seconds, None);
    }

    #[test]
    fn response_times_measure_each_customer_turn() {
        let t = |s: i64| Timestamp::from_millis(s * 1000);
        let messages = vec![
            (AuthorKind::System, t(0)),
            (AuthorKind::Customer, t(10)),
            (AuthorKind::Customer, t(15)),
            (AuthorKind::Agent, t(40)), // waited 30 s
            (AuthorKind::Agent, t(50)),
            (AuthorKind::Customer, t(100)),
            (AuthorKind::Supervisor, t(110)), // waited 10 s
            (AuthorKind::Customer, t(200)),   // still waiting: not counted
        ];
        let (first, average) = response_times(messages);
        assert_eq!(first, Some(30.0));
        assert_eq!(average, Some(20.0));
    }

    #[test]
    fn no_answer_means_no_response_time() {
        let (first, average) =
            response_times(vec![(AuthorKind::Customer, Timestamp::from_millis(0))]);
        assert_eq!((first, average), (None, None));
    }
}
