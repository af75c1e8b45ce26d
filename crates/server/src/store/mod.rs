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

pub mod columns;
pub mod csat;
pub mod edits;
pub mod email;
pub mod erasure;
pub mod postgres;
pub mod queue;
pub mod rows;
pub mod search;
pub mod sqlite;
pub mod webhooks;
pub mod writes;

use crate::domain::csat::CsatPolicy;
pub use crate::domain::tickets::TicketCommand;
use crate::domain::webhooks::RetryPolicy;
use crate::domain::{Refusal, User};
use async_trait::async_trait;
pub use erasure::Erased;
use soporte_protocol::rest::{self, CannedResponse, CannedResponseInput, ChatStats, TicketView};
use soporte_protocol::webhook::{DeliveryView, WebhookView};
use soporte_protocol::*;
use std::collections::HashMap;
use std::sync::Arc;
pub use webhooks::{Backlog, DueClaim, DueDelivery, Finished, NewWebhook, Round};
pub use writes::{Job, WriteTx};

/// Opaque tag of the connection a message came from, so fan-out can skip it.
pub type OriginTag = u64;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The rules refused it, against the data as it is in the transaction
    /// that would have made it; nothing was written.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The database could not do it right now (disk full, locked, I/O error).
    /// Nothing was committed; the same call may succeed later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A row holds a value we never write: the read fails rather than
    /// guessing (see `columns`).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The store is shutting down.
    #[error("store closed")]
    Closed,
}

impl StoreError {
    pub const NOT_FOUND: StoreError = StoreError::Refused(Refusal::NotFound);
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
    /// A reply to email the customer about if they have not read it by then.
    pub unread_email: Option<crate::domain::email::UnreadPolicy>,
    /// The earlier message of the ticket this one answers.
    pub reply_to: Option<MessageId>,
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
    /// Why it was transferred (empty when no reason was given).
    pub reason: String,
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

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub subject: String,
    pub customer: NewCustomer,
    /// Agents the ticket may be assigned to at once (automatic assignment),
    /// in no particular order; the store picks the one with the fewest open
    /// tickets under `max_open`.
    pub auto_assign: Vec<UserId>,
    pub max_open: i64,
    /// Assign it at once to this agent (instead of automatic assignment).
    pub agent: Option<UserId>,
    /// The host helpdesk's id of the ticket, checked (unique).
    pub external_id: Option<String>,
    /// The host helpdesk's data, as checked JSON text.
    pub metadata: Option<String>,
    /// Limits on customers opening their own tickets ([`NewCustomer::Themselves`]).
    pub customer_limits: crate::domain::tickets::CustomerTicketLimits,
}

impl NewTicket {
    /// A ticket for `customer`, as described, with nothing else.
    pub fn new(subject: impl Into<String>, customer: User) -> NewTicket {
        NewTicket {
            subject: subject.into(),
            customer: NewCustomer::Described(customer),
            auto_assign: Vec::new(),
            max_open: 0,
            agent: None,
            external_id: None,
            metadata: None,
            customer_limits: Default::default(),
        }
    }
}

/// Who a new ticket is for.
#[derive(Debug, Clone)]
pub enum NewCustomer {
    /// A provisioned customer, by id: they must exist already.
    Provisioned(UserId),
    /// A customer described by staff or a service: stored if new. An
    /// existing person's profile is theirs (their token) or the host's
    /// (provisioning) to change, never a ticket creator's.
    Described(User),
    /// The customer, from their own token: their profile as it says.
    Themselves(User),
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
pub enum Claimed {
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

/// Messages of a ticket with `after < seq <= up_to` the viewer may see,
/// oldest first, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub ticket: TicketId,
    pub after: Seq,
    pub up_to: Seq,
    pub limit: usize,
    pub sees_internal: bool,
}

impl Span {
    pub fn new(
        ticket: TicketId,
        after: Seq,
        up_to: Seq,
        limit: usize,
        sees_internal: bool,
    ) -> Span {
        Span {
            ticket,
            after,
            up_to,
            limit,
            sees_internal,
        }
    }

    /// The newest `limit` messages of a ticket whose last is `last_seq`,
    /// notes included: a staff member's first page of history (`seq` has no
    /// gaps).
    pub fn newest(ticket: TicketId, last_seq: Seq, limit: usize) -> Span {
        let after = last_seq.saturating_sub(limit as Seq).max(0);
        Span::new(ticket, after, last_seq, limit, true)
    }
}

/// See [`Store::admission`].
#[derive(Debug, Clone)]
pub struct Admission {
    pub ticket: Option<Ticket>,
    pub user: Option<User>,
    /// The newest messages, when asked for and the ticket exists.
    pub recent: Option<Vec<Message>>,
}

/// The newest `limit` messages of a ticket the viewer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Newest {
    pub ticket: TicketId,
    pub limit: usize,
    pub sees_internal: bool,
}

impl Newest {
    pub fn new(ticket: TicketId, limit: usize, sees_internal: bool) -> Newest {
        Newest {
            ticket,
            limit,
            sees_internal,
        }
    }
}

/// A customer's history page: visible messages with `seq <= top`, newest
/// first skipping `offset`, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageAt {
    pub ticket: TicketId,
    pub top: Seq,
    pub offset: usize,
    pub limit: usize,
}

impl PageAt {
    pub fn new(ticket: TicketId, top: Seq, offset: usize, limit: usize) -> PageAt {
        PageAt {
            ticket,
            top,
            offset,
            limit,
        }
    }
}

/// Tickets in `scope`, newest activity first, with `viewer`'s unread
/// counts, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketQuery {
    pub scope: TicketScope,
    pub viewer: Viewer,
    pub limit: usize,
    /// Narrows the scope (it never widens it).
    pub filter: TicketFilter,
    /// Only tickets after this one in the list's order (newest activity
    /// first, as the viewer sees it; then the highest id): its activity time
    /// and id.
    pub after: Option<(Timestamp, TicketId)>,
}

impl TicketQuery {
    pub fn new(scope: TicketScope, viewer: Viewer, limit: usize) -> TicketQuery {
        TicketQuery {
            scope,
            viewer,
            limit,
            filter: TicketFilter::default(),
            after: None,
        }
    }
}

/// A list narrowed to one state, and to one agent's tickets or the
/// unassigned queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TicketFilter {
    pub state: Option<TicketState>,
    pub agent: Option<AgentFilter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentFilter {
    Agent(UserId),
    Unassigned,
}

impl TicketFilter {
    /// The filter's conditions, each starting with `AND`, for a query on
    /// `tickets t`; `agent` is the placeholder bound to [`Self::agent_id`]
    /// (always referenced, so the statement's parameters are the same
    /// whichever filters are on). The state is written as its constant.
    pub fn conditions(&self, agent: &str) -> String {
        let mut sql = String::new();
        if let Some(state) = self.state {
            sql.push_str(&format!(" AND t.estado = '{}'", state.as_str()));
        }
        sql.push_str(&match self.agent {
            Some(AgentFilter::Agent(_)) => format!(" AND t.agente_id = {agent}"),
            Some(AgentFilter::Unassigned) => {
                format!(" AND t.agente_id IS NULL AND {agent} = {agent}")
            }
            None => format!(" AND {agent} = {agent}"),
        });
        sql
    }

    /// The value for the `agent` placeholder of [`Self::conditions`].
    pub fn agent_id(&self) -> i64 {
        match self.agent {
            Some(AgentFilter::Agent(id)) => id,
            _ => 0,
        }
    }
}

/// The message `author` sent on `ticket` with `client_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent<'a> {
    pub ticket: TicketId,
    pub author: UserId,
    pub client_id: &'a str,
}

impl<'a> Sent<'a> {
    pub fn new(ticket: TicketId, author: UserId, client_id: &'a str) -> Sent<'a> {
        Sent {
            ticket,
            author,
            client_id,
        }
    }
}

/// Tickets created in `[from, to]` (either end open when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl Period {
    pub fn new(from: Option<Timestamp>, to: Option<Timestamp>) -> Period {
        Period { from, to }
    }
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
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What a new grant is judged by: the quotas, and who asks for it.
#[derive(Debug, Clone, Copy)]
pub struct GrantLimits {
    pub quotas: crate::domain::uploads::UploadQuotas,
    pub uploader: Role,
}

impl GrantLimits {
    /// No quota at all (tests, tools).
    pub fn none() -> GrantLimits {
        GrantLimits {
            quotas: Default::default(),
            uploader: Role::Customer,
        }
    }
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

/// A service credential as listed and checked (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub last_used: Option<Timestamp>,
}

/// An API key with the hash a presented key is checked against.
#[derive(Debug, Clone)]
pub struct StoredApiKey {
    pub key: ApiKey,
    pub hash: String,
}

/// The database. Reads are each store's own SQL. Writes are queued to the
/// store's writer as [`Job`]s and run by `writes` against the store's
/// [`WriteTx`], so every rule a write applies is written once; a store
/// implements [`Store::submit`] and the provided methods do the rest.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// The id of this database's history, fixed when it was created (or
    /// renewed after a restore). Clients resume with it: another epoch means
    /// their `since` belongs to a different history.
    fn epoch(&self) -> &str;
    /// Base of the download URLs of attachments (the server's public URL).
    fn url_base(&self) -> Arc<str>;
    /// Heap bytes the database library holds in this process (SQLite's
    /// caches), for `/metrics`; `None` when it keeps none here.
    fn memory_in_use(&self) -> Option<u64> {
        None
    }

    /// Queues `job` for the writer (waiting while its queue is full). Its
    /// answer goes to the job's own channel after the commit.
    async fn submit(&self, job: Box<dyn Job>) -> StoreResult<()>;

    async fn last_seen(&self, users: Vec<UserId>) -> StoreResult<HashMap<UserId, Timestamp>>;
    /// Every agent we know, with availability and open tickets (`online` false:
    /// presence is the inbox hub's).
    async fn agents(&self) -> StoreResult<Vec<soporte_protocol::server::AgentView>>;
    /// Notified after a commit that queued webhook deliveries: the local
    /// delivery worker's doorbell (other nodes' commits it finds by polling).
    fn outbox_signal(&self) -> Arc<tokio::sync::Notify>;
    /// The subscriptions in force, oldest first.
    async fn webhooks(&self) -> StoreResult<Vec<WebhookView>>;
    /// A subscription, deleted or not.
    async fn webhook(&self, id: i64) -> StoreResult<Option<WebhookView>>;
    /// A subscription's newest deliveries, newest first, with their attempts.
    async fn deliveries(&self, webhook: i64, limit: usize) -> StoreResult<Vec<DeliveryView>>;
    /// What the outbox still owes.
    async fn outbox_backlog(&self) -> StoreResult<Backlog>;
    /// Tickets `user` is the customer or the agent of, oldest first.
    async fn tickets_of_person(&self, user: UserId) -> StoreResult<Vec<Ticket>>;
    /// Every message `user` wrote, oldest first, with attachments.
    async fn messages_by(&self, user: UserId) -> StoreResult<Vec<Message>>;
    /// The erasures of `user`'s data, oldest first.
    async fn erasures_of(&self, user: UserId) -> StoreResult<Vec<rest::ErasureRecord>>;
    /// Storage keys of erased files still to remove.
    async fn pending_file_removals(&self, limit: usize) -> StoreResult<Vec<String>>;
    /// Every API key, by name.
    async fn api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    /// The key with this prefix, revoked or not.
    async fn api_key(&self, prefix: &str) -> StoreResult<Option<StoredApiKey>>;
    /// The user as stored (named by a token, or provisioned by the host).
    async fn user(&self, id: UserId) -> StoreResult<Option<User>>;
    /// The user with what the host provisioned of them (`activo`).
    async fn user_view(&self, id: UserId) -> StoreResult<Option<soporte_protocol::rest::UserView>>;
    /// The tickets with this `external_id` (one at most).
    async fn ticket_by_external_id(&self, external_id: &str) -> StoreResult<Option<Ticket>>;
    async fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>>;
    /// What a connection's admission reads, in one trip to the store where
    /// it can: the ticket, the user as stored, and with `newest` (a fresh
    /// connection) the messages its greeting will hold.
    async fn admission(
        &self,
        ticket: TicketId,
        user: UserId,
        newest: Option<Newest>,
    ) -> StoreResult<Admission> {
        let found = self.ticket(ticket).await?;
        let recent = match (&found, newest) {
            (Some(_), Some(newest)) => Some(self.recent_messages(newest).await?),
            _ => None,
        };
        Ok(Admission {
            ticket: found,
            user: self.user(user).await?,
            recent,
        })
    }
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
    async fn list_tickets(&self, query: TicketQuery) -> StoreResult<Vec<TicketView>>;
    async fn find_sent(&self, sent: Sent<'_>) -> StoreResult<Option<Message>>;
    async fn recent_messages(&self, newest: Newest) -> StoreResult<Vec<Message>>;
    /// A ticket and its newest messages, read in one trip to the store (a
    /// connection's greeting); `None` when there is no such ticket.
    async fn ticket_with_recent(
        &self,
        newest: Newest,
    ) -> StoreResult<Option<(Ticket, Vec<Message>)>> {
        let Some(ticket) = self.ticket(newest.ticket).await? else {
            return Ok(None);
        };
        Ok(Some((ticket, self.recent_messages(newest).await?)))
    }
    /// A ticket and the messages of its [`Span::newest`], read in one trip
    /// where the store can (a staff member's first page of history); `None`
    /// when there is no such ticket.
    async fn ticket_with_newest_page(
        &self,
        ticket: TicketId,
        limit: usize,
    ) -> StoreResult<Option<(Ticket, Vec<Message>)>> {
        let Some(ticket) = self.ticket(ticket).await? else {
            return Ok(None);
        };
        let page = self
            .messages_between(Span::newest(ticket.id, ticket.last_seq, limit))
            .await?;
        Ok(Some((ticket, page)))
    }
    async fn messages_between(&self, span: Span) -> StoreResult<Vec<Message>>;
    /// Messages with `seq <= span.up_to` changed after revision `span.after`
    /// (edited or deleted), in revision order, at most `span.limit`.
    async fn changed_messages(&self, span: Span) -> StoreResult<Vec<Message>>;
    /// A message's earlier texts, oldest first; `None` when the ticket has
    /// no such message.
    async fn message_versions(
        &self,
        ticket: TicketId,
        message: MessageId,
    ) -> StoreResult<Option<Vec<rest::MessageVersion>>>;
    /// Internal notes of `ticket` with `seq <= top`.
    async fn notes_up_to(&self, ticket: TicketId, top: Seq) -> StoreResult<i64>;
    /// The page counted in messages customers see, walking back from `top`
    /// past the notes (a deep page by number costs its offset; the `before`
    /// cursor keeps every page cheap).
    async fn visible_skipping_notes(&self, page: PageAt) -> StoreResult<Vec<Message>>;
    async fn visible_page(&self, page: PageAt) -> StoreResult<VisiblePage> {
        let notes = self.notes_up_to(page.ticket, page.top).await?;
        let messages = if notes == 0 {
            // Nothing hidden below the cursor: the page is plain arithmetic
            // on `seq`, as for staff, and a deep page costs what the newest does.
            let up_to = (page.top - page.offset as i64).max(0);
            let after = (up_to - page.limit as i64).max(0);
            let span = Span::new(page.ticket, after, up_to, page.limit, false);
            self.messages_between(span).await?
        } else {
            self.visible_skipping_notes(page).await?
        };
        Ok(VisiblePage {
            count: page.top - notes,
            messages,
        })
    }
    async fn unread_count(&self, ticket: TicketId, viewer: Viewer) -> StoreResult<i64>;
    async fn stats(&self, ticket: TicketId, viewer: Viewer) -> StoreResult<ChatStats>;
    async fn team_stats(&self, period: Period) -> StoreResult<soporte_protocol::rest::TeamStats>;
    /// (created, first reply) of the answered tickets created since `since`.
    async fn first_replies(&self, since: Timestamp) -> StoreResult<Vec<(Timestamp, Timestamp)>>;
    /// Candidate hits of `query` (`raw`: as typed, for `external_id`) in what
    /// `scope` sees; `domain::search::rank` decides what they are worth.
    async fn search(
        &self,
        query: crate::domain::search::Query,
        raw: String,
        scope: search::SearchScope,
    ) -> StoreResult<Vec<crate::domain::search::Candidate>>;
    /// Queued tickets (open, unassigned) ahead of `ticket` in the queue.
    async fn tickets_ahead(&self, ticket: TicketId) -> StoreResult<i64>;
    /// A team-wide setting's JSON (`horario`), if set.
    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;
    async fn upload_grant(&self, upload_id: &str) -> StoreResult<Option<GrantState>>;
    async fn attachment_file(&self, id: i64) -> StoreResult<Option<AttachmentFile>>;
    async fn canned_responses(&self) -> StoreResult<Vec<CannedResponse>>;
    async fn canned_response(&self, id: i64) -> StoreResult<Option<CannedResponse>>;

    /// Remembers how a user is called and shown.
    async fn upsert_user(&self, user: User) -> StoreResult<()> {
        writes::upsert_user(self, user).await
    }
    async fn touch_last_seen(&self, user: UserId, at: Timestamp) -> StoreResult<()> {
        writes::touch_last_seen(self, user, at).await
    }
    async fn set_availability(&self, user: UserId, availability: Availability) -> StoreResult<()> {
        writes::set_availability(self, user, availability).await
    }
    async fn create_ticket(&self, ticket: NewTicket) -> StoreResult<Ticket> {
        writes::create_ticket(self, ticket).await
    }
    /// Assigns an unassigned ticket to `agent`, atomically.
    async fn claim_ticket(&self, id: TicketId, agent: User) -> StoreResult<Claimed> {
        writes::claim_ticket(self, id, agent).await
    }
    /// Applies `command` by `actor`, stores the message that records it, and
    /// returns the ticket after the change.
    async fn change_ticket(
        &self,
        id: TicketId,
        actor: User,
        command: TicketCommand,
        csat: CsatPolicy,
    ) -> StoreResult<Ticket> {
        writes::change_ticket(self, id, actor, command, csat).await
    }
    /// The ticket's customer rates it (see `domain::csat`); returns the
    /// ticket with its rating.
    async fn rate_ticket(
        &self,
        id: TicketId,
        actor: User,
        request: rest::CsatRequest,
        policy: CsatPolicy,
        now: Timestamp,
    ) -> StoreResult<Ticket> {
        csat::rate_ticket(self, id, actor, request, policy, now).await
    }
    /// Queues the transcript of ticket `id` that `actor` asks for; returns
    /// the address it goes to.
    async fn request_transcript(
        &self,
        id: TicketId,
        actor: User,
        address: Option<String>,
        now: Timestamp,
    ) -> StoreResult<String> {
        email::request_transcript(self, id, actor, address, now).await
    }
    /// Leases the emails due at `now` to this worker until `until`.
    async fn claim_emails(
        &self,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<email::OwedEmail>> {
        email::claim_emails(self, now, until, limit).await
    }
    async fn finish_email(
        &self,
        id: i64,
        outcome: email::EmailOutcome,
        at: Timestamp,
    ) -> StoreResult<()> {
        email::finish_email(self, id, outcome, at).await
    }
    /// Closes a page of tickets resolved `after` ago or more; how many.
    async fn close_idle(&self, now: Timestamp, after: std::time::Duration) -> StoreResult<usize> {
        writes::close_idle(self, now, after).await
    }
    /// Stores a message (or finds the earlier copy of a retry). Returns after the commit.
    async fn append(&self, message: NewMessage) -> StoreResult<Appended> {
        writes::append(self, message).await
    }
    /// Marks read, by `reader`, the messages of the other side of the
    /// conversation among `ids` (a customer reads staff's, staff read the
    /// customer's); all or nothing if an id is not a message of `ticket`.
    async fn mark_read(
        &self,
        ticket: TicketId,
        reader: Viewer,
        reader_role: Role,
        ids: Vec<MessageId>,
    ) -> StoreResult<MarkRead> {
        writes::mark_read(self, ticket, reader, reader_role, ids).await
    }
    /// Stores the grant if the uploader and the ticket have room for its
    /// file under `limits` (judged in the writer, so grants cannot race past
    /// a quota on one node).
    async fn create_upload_grant(
        &self,
        grant: UploadGrant,
        limits: GrantLimits,
    ) -> StoreResult<()> {
        writes::create_upload_grant(self, grant, limits).await
    }
    /// Uses the grant (once), and stores the file's record with its message
    /// (a new `ARCHIVO` message, or the uploader's recent one).
    async fn complete_upload(&self, upload: CompleteUpload) -> StoreResult<Uploaded> {
        writes::complete_upload(self, upload).await
    }
    /// Edits or deletes a message, if `domain::edits` allows it.
    async fn change_message(&self, edit: edits::MessageEdit) -> StoreResult<edits::Edited> {
        edits::change_message(self, edit).await
    }
    /// Forgets upload grants that expired before `before`; returns how many.
    async fn purge_upload_grants(&self, before: Timestamp) -> StoreResult<usize> {
        writes::purge_upload_grants(self, before).await
    }
    /// Creates (`id` None) or replaces one; a shortcut already taken is a conflict.
    async fn save_canned_response(
        &self,
        id: Option<i64>,
        input: CannedResponseInput,
        by: UserId,
    ) -> StoreResult<CannedResponse> {
        writes::save_canned_response(self, id, input, by).await
    }
    /// Sets a team-wide setting (`None` removes it).
    async fn save_setting(&self, key: &'static str, value: Option<String>) -> StoreResult<()> {
        writes::save_setting(self, key, value).await
    }
    async fn delete_canned_response(&self, id: i64) -> StoreResult<bool> {
        writes::delete_canned_response(self, id).await
    }
    /// Stores a user as the host provisions them; true when new.
    async fn provision_user(&self, user: User, active: bool) -> StoreResult<bool> {
        writes::provision_user(self, user, active).await
    }
    /// Stores a new key's hash under `name` (a name taken is a conflict).
    async fn create_api_key(
        &self,
        name: String,
        prefix: String,
        hash: String,
    ) -> StoreResult<ApiKey> {
        writes::create_api_key(self, name, prefix, hash).await
    }
    /// Revokes the key called `name`; false when there is no such key in use.
    async fn revoke_api_key(&self, name: String) -> StoreResult<bool> {
        writes::revoke_api_key(self, name).await
    }
    /// Notes that key `id` was used at `at`.
    async fn touch_api_key(&self, id: i64, at: Timestamp) -> StoreResult<()> {
        writes::touch_api_key(self, id, at).await
    }

    /// Stores a webhook subscription; the view carries its secret.
    async fn create_webhook(&self, new: NewWebhook) -> StoreResult<WebhookView> {
        webhooks::create_webhook(self, new).await
    }
    /// Ends a subscription: nothing more is queued or posted for it.
    async fn delete_webhook(&self, id: i64) -> StoreResult<bool> {
        webhooks::delete_webhook(self, id).await
    }
    /// Queues a delivery again, due now.
    async fn redeliver(&self, webhook: i64, delivery: i64) -> StoreResult<bool> {
        webhooks::redeliver(self, webhook, delivery).await
    }
    /// A delivery worker's round (see `webhooks::settle_and_claim`).
    async fn settle_and_claim(
        &self,
        finished: Vec<Finished>,
        released: Vec<i64>,
        claim: DueClaim,
        policy: RetryPolicy,
    ) -> StoreResult<Round> {
        webhooks::settle_and_claim(self, finished, released, claim, policy).await
    }
    /// Erases a person's data (see `erasure`); `by` says who asked.
    async fn erase_user(&self, user: UserId, by: String) -> StoreResult<Erased> {
        erasure::erase_user(self, user, by).await
    }
    /// Retention: one page of the files of tickets closed before
    /// `closed_before`, past `after`, deleted (see `erasure::expire_files`).
    async fn expire_closed_files(
        &self,
        after: erasure::RetentionCursor,
        closed_before: Timestamp,
    ) -> StoreResult<erasure::Expired> {
        erasure::expire_files(self, after, closed_before).await
    }
    /// Forgets the queued removals of these files (they are gone).
    async fn files_removed(&self, keys: Vec<String>) -> StoreResult<()> {
        erasure::files_removed(self, keys).await
    }
    /// A person's data, for export: `None` when nobody by that id is known.
    async fn export_user(&self, user: UserId) -> StoreResult<Option<rest::UserExport>> {
        let Some(view) = self.user_view(user).await? else {
            return Ok(None);
        };
        let tickets = self.tickets_of_person(user).await?;
        let messages = self.messages_by(user).await?;
        let erasures = self.erasures_of(user).await?;
        Ok(Some(rest::UserExport {
            user: view,
            tickets: tickets.into_iter().map(Into::into).collect(),
            messages,
            erasures,
            exported: Timestamp::now(),
        }))
    }
    /// Forgets deliveries finished before `before`; returns how many.
    async fn prune_deliveries(&self, before: Timestamp) -> StoreResult<usize> {
        webhooks::prune_deliveries(self, before).await
    }
}

pub type DynStore = Arc<dyn Store>;
