//! Every write, once for both databases: what it reads, which rule of
//! [`crate::domain`] decides it, and what it writes. A store only provides
//! the rows ([`WriteTx`], inside its writer's open transaction) and runs the
//! queued [`Job`]s in its batches; the SQL differs, the behaviour cannot.
//!
//! Jobs are re-runnable (a batch may run again, isolated or after a
//! conflict with another node), so each keeps its input and builds its work
//! afresh on every run. A job's answer is typed: it goes straight to its
//! caller's channel once the batch's fate is known.

use super::email::{EmailOutcome, EmailRow, OwedEmail};
use super::erasure::{ErasureRow, Replacement};
use super::webhooks::{
    emit, owed_to, queue, queue_message, AttemptRow, Candidate, DeliveryRow, DueClaim, WebhookRow,
};
use super::*;
use crate::domain::csat::{self, CsatFacts, CsatPolicy};
use crate::domain::tickets::{self, Claim, Plan, ResolvedAt};
use crate::domain::uploads::{self, GrantFacts, UploadUsage};
use crate::domain::webhooks::{EventType, Subscription};
use crate::domain::{canned, integration, messages};
use async_trait::async_trait;
use futures_util::future::{FutureExt, LocalBoxFuture};
use soporte_protocol::server::TicketChange;
use soporte_protocol::webhook::{FileEventData, TicketEventData, TicketRef};
use std::collections::HashSet;
use tokio::sync::oneshot;

/// Rows, read and written inside a writer's open transaction. Every read
/// here sees what the batch wrote so far, and (PostgreSQL) rows of the
/// tickets the batch locked, so rules are judged on the latest data.
#[async_trait(?Send)]
pub trait WriteTx {
    /// Base of attachment URLs (the server's public URL).
    fn url_base(&self) -> &str;
    /// Told of a message that becomes visible when the batch commits.
    fn committed(&mut self, committed: Committed);

    async fn user(&mut self, id: UserId) -> StoreResult<Option<User>>;
    /// Stores how a user is called and shown (writing only what changed).
    async fn save_user(&mut self, user: &User) -> StoreResult<()>;
    async fn touch_last_seen(&mut self, user: UserId, at: Timestamp) -> StoreResult<()>;
    /// False when the user is unknown.
    async fn set_availability(
        &mut self,
        user: UserId,
        availability: Availability,
    ) -> StoreResult<bool>;

    async fn ticket(&mut self, id: TicketId) -> StoreResult<Option<Ticket>>;
    async fn ticket_state(&mut self, id: TicketId) -> StoreResult<Option<TicketState>>;
    /// The state of `new`'s ticket and, when it has an author and a
    /// `client_id`, the message they stored with it before (`None`: no such
    /// ticket).
    async fn append_context(&mut self, new: &NewMessage) -> StoreResult<Option<AppendContext>>;
    /// The new ticket's id; `None` when its `external_id` is taken.
    async fn insert_ticket(&mut self, row: &TicketRow<'_>) -> StoreResult<Option<TicketId>>;
    async fn ticket_by_external_id(&mut self, external_id: &str) -> StoreResult<Option<TicketId>>;
    /// Whether the host counts the user as active (unknown users are not).
    async fn is_active(&mut self, user: UserId) -> StoreResult<bool>;
    /// Stores a user as the host provisions them (every field as given);
    /// true when the user is new.
    async fn provision_user(&mut self, user: &User, active: bool) -> StoreResult<bool>;
    /// Serializes automatic assignment among the writers of every node.
    async fn lock_auto_assign(&mut self) -> StoreResult<()>;
    /// Open tickets (not resolved or closed) assigned to `agent`.
    async fn open_tickets_of(&mut self, agent: UserId) -> StoreResult<i64>;
    /// Of `customer`'s tickets: how many are open (not resolved or closed),
    /// and how many were opened since `since`.
    async fn customer_tickets(
        &mut self,
        customer: UserId,
        since: Timestamp,
    ) -> StoreResult<(i64, i64)>;
    async fn set_agent(
        &mut self,
        ticket: TicketId,
        agent: UserId,
        at: Timestamp,
    ) -> StoreResult<()>;
    async fn set_state(&mut self, ticket: TicketId, change: &StateChange) -> StoreResult<()>;

    /// Gives the message its ticket's next `seq` and stores it; `None`: no such ticket.
    async fn insert_message(&mut self, row: &MessageRow<'_>) -> StoreResult<Option<Inserted>>;
    async fn message(&mut self, ticket: TicketId, id: MessageId) -> StoreResult<Option<Message>>;
    /// Puts each message's files in its `attachments`.
    async fn fill_attachments(&mut self, messages: &mut [Message]) -> StoreResult<()>;
    /// Takes the ticket's next revision and writes the change with it (the
    /// message's new text, its earlier one as a version); returns the revision.
    async fn change_message(&mut self, row: &super::edits::ChangeRow<'_>) -> StoreResult<u64>;
    /// Deletes a message's files, their storage queued for removal; how many.
    async fn remove_attachments(&mut self, message: MessageId, at: Timestamp) -> StoreResult<u64>;
    /// The `seq` of each of the receipt's ids that is a message of its
    /// ticket the reader may see.
    async fn visible_seqs(&mut self, receipt: &Receipt<'_>)
        -> StoreResult<HashMap<MessageId, Seq>>;
    /// Marks read those of the receipt's ids written by its `authors` and not
    /// read yet; returns them.
    async fn mark_read(&mut self, receipt: &Receipt<'_>) -> StoreResult<HashSet<MessageId>>;
    async fn advance_read_cursor(
        &mut self,
        ticket: TicketId,
        user: UserId,
        seq: Seq,
    ) -> StoreResult<()>;

    async fn insert_grant(&mut self, grant: &UploadGrant) -> StoreResult<()>;
    async fn upload_grant(&mut self, upload_id: &str) -> StoreResult<Option<GrantState>>;
    /// Marks the grant used; false when it already was.
    async fn use_grant(&mut self, upload_id: &str, at: Timestamp) -> StoreResult<bool>;
    async fn purge_grants(&mut self, expired_before: Timestamp) -> StoreResult<usize>;
    /// What `user` and `ticket` store or were granted and have not used
    /// (grants expiring after `now`), and the bytes granted to `user` since
    /// `since`.
    async fn upload_usage(
        &mut self,
        user: UserId,
        ticket: TicketId,
        now: Timestamp,
        since: Timestamp,
    ) -> StoreResult<UploadUsage>;
    async fn insert_attachment(&mut self, row: &AttachmentRow<'_>) -> StoreResult<i64>;

    async fn canned_with_shortcut(&mut self, shortcut: &str) -> StoreResult<Option<i64>>;
    async fn save_canned(&mut self, row: &CannedRow<'_>) -> StoreResult<CannedSave>;
    async fn canned_response(&mut self, id: i64) -> StoreResult<Option<CannedResponse>>;
    async fn delete_canned(&mut self, id: i64) -> StoreResult<bool>;

    /// The new key; `None` when its name (or prefix) is taken.
    async fn insert_api_key(&mut self, row: &ApiKeyRow<'_>) -> StoreResult<Option<ApiKey>>;
    /// False when no key in use has this name.
    async fn revoke_api_key(&mut self, name: &str, at: Timestamp) -> StoreResult<bool>;
    async fn touch_api_key(&mut self, id: i64, at: Timestamp) -> StoreResult<()>;

    /// The webhook subscriptions in force, read once per batch (and again
    /// after one is made or deleted in it).
    async fn subscriptions(&mut self) -> StoreResult<Arc<[Subscription]>>;
    /// Queues an event for a subscription; the commit wakes the workers.
    async fn insert_delivery(&mut self, row: &DeliveryRow<'_>) -> StoreResult<()>;
    async fn insert_webhook(&mut self, row: &WebhookRow<'_>) -> StoreResult<i64>;
    /// False when there is no such subscription in force.
    async fn delete_webhook(&mut self, id: i64, at: Timestamp) -> StoreResult<bool>;
    /// False when the subscription has no such delivery.
    async fn redeliver(&mut self, webhook: i64, delivery: i64, at: Timestamp) -> StoreResult<bool>;
    /// Due deliveries (see [`DueClaim`]) in `id` order, at most its limit;
    /// PostgreSQL locks them, skipping rows another node's worker holds.
    async fn due_candidates(&mut self, claim: &DueClaim) -> StoreResult<Vec<Candidate>>;
    /// Nobody else posts these before `until`.
    async fn lease_deliveries(&mut self, ids: &[i64], until: Timestamp) -> StoreResult<()>;
    /// Ends the lease of deliveries claimed and not posted.
    async fn release_deliveries(&mut self, ids: &[i64]) -> StoreResult<()>;
    /// Stores an attempt and moves its delivery on (ending its lease).
    async fn record_attempt(&mut self, row: &AttemptRow<'_>) -> StoreResult<()>;
    /// Counts a failure of the endpoint (or, `failed` false, clears the
    /// count); returns its failures in a row.
    async fn count_failure(&mut self, webhook: i64, failed: bool) -> StoreResult<u32>;
    async fn pause_webhook(&mut self, webhook: i64, until: Timestamp) -> StoreResult<()>;
    async fn prune_deliveries(&mut self, finished_before: Timestamp) -> StoreResult<usize>;

    /// Removes the rows of the files `user` sent and queues the files for
    /// removal from storage; returns how many files.
    async fn erase_files(&mut self, user: UserId, at: Timestamp) -> StoreResult<u64>;
    /// Replaces what `user` wrote; returns the ticket of each message replaced.
    async fn erase_messages(
        &mut self,
        user: UserId,
        replacement: &Replacement<'_>,
    ) -> StoreResult<Vec<TicketId>>;
    /// Replaces how `user` is called and reached, and sets them inactive.
    async fn erase_person(&mut self, user: UserId, name: &str) -> StoreResult<()>;
    async fn record_erasure(&mut self, row: &ErasureRow<'_>) -> StoreResult<()>;
    async fn files_removed(&mut self, keys: &[String]) -> StoreResult<()>;
    /// Tickets in `state` last active after `after` (activity time, then
    /// id) and before `before`, in that order, at most `limit`.
    async fn tickets_inactive(
        &mut self,
        state: TicketState,
        after: (Timestamp, TicketId),
        before: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<(Timestamp, TicketId)>>;
    /// Deletes the file rows of `tickets` and queues their storage for
    /// removal; returns how many files.
    async fn expire_files(&mut self, tickets: &[TicketId], at: Timestamp) -> StoreResult<u64>;

    /// Up to `limit` tickets resolved at or before `before`, oldest first
    /// (PostgreSQL: locked, skipping those another transaction holds).
    async fn resolved_before(
        &mut self,
        before: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<TicketId>>;
    /// What a ticket's conversation says for its rating.
    async fn csat_facts(&mut self, ticket: TicketId) -> StoreResult<CsatFacts>;
    async fn set_csat(&mut self, ticket: TicketId, rating: &Rating) -> StoreResult<()>;
    async fn put_setting(
        &mut self,
        key: &str,
        value: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<()>;

    /// Queues `row` unless one of its ticket, person and kind is pending.
    async fn queue_email(&mut self, row: &EmailRow<'_>) -> StoreResult<()>;
    /// When the last email of `kind` about `ticket` to `user` was queued.
    async fn last_email(
        &mut self,
        ticket: TicketId,
        user: UserId,
        kind: &str,
    ) -> StoreResult<Option<Timestamp>>;
    /// Leases up to `limit` pending emails due at `now` until `until`.
    async fn claim_emails(
        &mut self,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<OwedEmail>>;
    /// Records an attempt's outcome; false when there is no such email.
    async fn finish_email(
        &mut self,
        id: i64,
        outcome: &EmailOutcome,
        at: Timestamp,
    ) -> StoreResult<bool>;
}

/// A service credential to store (its hash, never the key).
#[derive(Debug, Clone, Copy)]
pub struct ApiKeyRow<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub hash: &'a str,
    pub at: Timestamp,
}

/// What appending a message needs to know of its ticket.
#[derive(Debug, Clone)]
pub struct AppendContext {
    pub state: TicketState,
    /// The author's earlier copy of this `client_id`.
    pub earlier: Option<Message>,
}

/// A ticket row to insert.
#[derive(Debug, Clone, Copy)]
pub struct TicketRow<'a> {
    pub subject: &'a str,
    pub customer: UserId,
    pub external_id: Option<&'a str>,
    /// JSON text.
    pub metadata: Option<&'a str>,
    pub at: Timestamp,
}

/// A ticket's move to `state`, at `at`.
#[derive(Debug, Clone, Copy)]
pub struct StateChange {
    pub state: TicketState,
    pub resolved: ResolvedAt,
    pub at: Timestamp,
}

/// A reader's receipt for messages of a ticket.
#[derive(Debug, Clone, Copy)]
pub struct Receipt<'a> {
    pub ticket: TicketId,
    pub ids: &'a [MessageId],
    /// May the reader see internal notes?
    pub sees_internal: bool,
    /// Whose messages it marks (the other side of the conversation).
    pub authors: &'a [AuthorKind],
    pub at: Timestamp,
}

/// A canned response to create (`id` None) or replace.
#[derive(Debug, Clone, Copy)]
pub struct CannedRow<'a> {
    pub id: Option<i64>,
    pub input: &'a CannedResponseInput,
    pub by: UserId,
    pub at: Timestamp,
}

/// A message row to insert: what both stores write.
#[derive(Debug, Clone, Copy)]
pub struct MessageRow<'a> {
    pub ticket: TicketId,
    pub author: &'a Person,
    pub client_id: Option<&'a str>,
    pub content: &'a str,
    pub kind: MessageKind,
    /// `None` when empty.
    pub metadata: Option<&'a str>,
    pub internal: bool,
    pub at: Timestamp,
    /// Staff's first answer the customer sees: the ticket records when.
    pub first_answer: bool,
    pub reply_to: Option<MessageId>,
}

/// What inserting a message gave it.
#[derive(Debug, Clone)]
pub struct Inserted {
    pub id: MessageId,
    pub seq: Seq,
    /// Who the ticket is assigned to.
    pub ticket_agent: Option<UserId>,
    /// The host's id of the ticket (for the events it is told of).
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct AttachmentRow<'a> {
    pub ticket: TicketId,
    pub uploader: UserId,
    pub message: MessageId,
    pub name: &'a str,
    pub file: &'a StoredFile,
    pub at: Timestamp,
}

/// How saving a canned response went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannedSave {
    Saved(i64),
    NotFound,
    /// Another response took the shortcut meanwhile (another node).
    ShortcutTaken,
}

/// Rows a job must hold before it runs: PostgreSQL locks them, in id order,
/// before any job of the batch runs, so nodes queue instead of deadlocking.
#[derive(Debug, Clone, Default)]
pub struct Locks {
    pub ticket: Option<TicketId>,
    /// The ticket of this upload grant.
    pub grant: Option<String>,
    /// The job appends a message to `ticket`: PostgreSQL reads what that
    /// needs with the locks, so the append costs no round trip of its own.
    pub append: Option<AppendKey>,
}

/// Who sends the message a job appends, and the `client_id` they gave it
/// (its earlier copy is looked for).
#[derive(Debug, Clone)]
pub struct AppendKey {
    pub author: Option<UserId>,
    pub client_id: Option<String>,
}

/// One caller's write, queued for a store's writer.
pub trait Job: Send {
    fn locks(&self) -> &Locks;
    /// Runs the work in the open batch and says whether it succeeded. The
    /// writer may run it again; only the last run's result is answered.
    fn run<'a>(&'a mut self, tx: &'a mut dyn WriteTx) -> LocalBoxFuture<'a, bool>;
    /// Answers the caller once the batch's fate is known: `batch_error` when
    /// nothing of the batch is stored.
    fn answer(self: Box<Self>, batch_error: Option<&StoreError>);
}

struct Pending<T, F> {
    locks: Locks,
    work: F,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: for<'a> Fn(&'a mut dyn WriteTx) -> LocalBoxFuture<'a, StoreResult<T>> + Send,
{
    fn locks(&self) -> &Locks {
        &self.locks
    }

    fn run<'a>(&'a mut self, tx: &'a mut dyn WriteTx) -> LocalBoxFuture<'a, bool> {
        async move {
            let result = (self.work)(tx).await;
            let succeeded = result.is_ok();
            self.result = Some(result);
            succeeded
        }
        .boxed_local()
    }

    fn answer(self: Box<Self>, batch_error: Option<&StoreError>) {
        let outcome = match (batch_error, self.result) {
            (Some(error), _) => Err(error.clone()),
            (None, Some(result)) => result,
            (None, None) => Err(StoreError::Unavailable("the write did not run".into())),
        };
        let _ = self.reply.send(outcome);
    }
}

/// Queues `work` on `store`'s writer and returns its result after the commit.
pub(super) async fn write<S, T, F>(store: &S, locks: Locks, work: F) -> StoreResult<T>
where
    S: Store + ?Sized,
    T: Send + 'static,
    F: for<'a> Fn(&'a mut dyn WriteTx) -> LocalBoxFuture<'a, StoreResult<T>> + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    let job = Pending {
        locks,
        work,
        result: None,
        reply,
    };
    store.submit(Box::new(job)).await?;
    answer.await.map_err(|_| StoreError::Closed)?
}

pub(super) fn on_ticket(ticket: TicketId) -> Locks {
    Locks {
        ticket: Some(ticket),
        ..Locks::default()
    }
}

pub(super) fn missing<T>(value: Option<T>) -> StoreResult<T> {
    value.ok_or(StoreError::NOT_FOUND)
}

pub(super) async fn upsert_user<S: Store + ?Sized>(store: &S, user: User) -> StoreResult<()> {
    write(store, Locks::default(), move |tx| {
        let user = user.clone();
        async move { tx.save_user(&user).await }.boxed_local()
    })
    .await
}

pub(super) async fn touch_last_seen<S: Store + ?Sized>(
    store: &S,
    user: UserId,
    at: Timestamp,
) -> StoreResult<()> {
    write(store, Locks::default(), move |tx| {
        tx.touch_last_seen(user, at)
    })
    .await
}

pub(super) async fn set_availability<S: Store + ?Sized>(
    store: &S,
    user: UserId,
    availability: Availability,
) -> StoreResult<()> {
    write(store, Locks::default(), move |tx| {
        async move {
            match tx.set_availability(user, availability).await? {
                true => Ok(()),
                false => Err(StoreError::NOT_FOUND),
            }
        }
        .boxed_local()
    })
    .await
}

pub(super) async fn create_ticket<S: Store + ?Sized>(
    store: &S,
    new: NewTicket,
) -> StoreResult<Ticket> {
    write(store, Locks::default(), move |tx| {
        create_ticket_in(tx, new.clone()).boxed_local()
    })
    .await
}

async fn create_ticket_in(tx: &mut dyn WriteTx, new: NewTicket) -> StoreResult<Ticket> {
    let at = Timestamp::now();
    let customer = match &new.customer {
        NewCustomer::Provisioned(id) => {
            let known = tx.user(*id).await?;
            integration::provisioned_customer(*id, known.as_ref())?;
            *id
        }
        NewCustomer::Described(customer) | NewCustomer::Themselves(customer) => {
            let known = tx.user(customer.id).await?;
            let themselves = matches!(new.customer, NewCustomer::Themselves(_));
            tickets::check_customer(customer.id, known.as_ref().map(|user| user.role))?;
            if themselves {
                let hour_ago = Timestamp::from_millis(at.millis() - 3_600_000);
                let (open, last_hour) = tx.customer_tickets(customer.id, hour_ago).await?;
                tickets::check_new_ticket(new.customer_limits, open, last_hour)?;
            }
            if known.is_none() || themselves {
                tx.save_user(customer).await?;
            }
            customer.id
        }
    };
    let taken = |existing: Option<TicketId>| match existing {
        Some(ticket) => Err(StoreError::Refused(Refusal::ExternalIdTaken(ticket))),
        None => Ok(()),
    };
    if let Some(external_id) = &new.external_id {
        taken(tx.ticket_by_external_id(external_id).await?)?;
    }
    let row = TicketRow {
        subject: &new.subject,
        customer,
        external_id: new.external_id.as_deref(),
        metadata: new.metadata.as_deref(),
        at,
    };
    let Some(id) = tx.insert_ticket(&row).await? else {
        // Another node's ticket took the external_id since the check.
        let external_id = new.external_id.as_deref().unwrap_or_default();
        taken(tx.ticket_by_external_id(external_id).await?)?;
        return Err(StoreError::Unavailable(
            "a ticket insert wrote nothing".into(),
        ));
    };
    let chosen = match new.agent {
        Some(agent) => Some(agent),
        None if new.auto_assign.is_empty() => None,
        None => {
            tx.lock_auto_assign().await?;
            let mut loads = Vec::with_capacity(new.auto_assign.len());
            for &agent in &new.auto_assign {
                loads.push((agent, tx.open_tickets_of(agent).await?));
            }
            tickets::choose_agent(&loads, new.max_open)
        }
    };
    if let Some(chosen) = chosen {
        let known = tx.user(chosen).await?;
        let agent = tickets::known_agent(chosen, known.as_ref())?;
        integration::check_active_agent(agent, tx.is_active(chosen).await?)?;
        tx.set_agent(id, chosen, at).await?;
    }
    let ticket = missing(tx.ticket(id).await?)?;
    let data = ticket_event(&ticket, None, "");
    emit(tx, EventType::TicketCreated, Some(id), false, &data).await?;
    if chosen.is_some() {
        emit(tx, EventType::TicketAssigned, Some(id), false, &data).await?;
    }
    Ok(ticket)
}

/// What `ticket.*` events carry: the ticket after the change.
fn ticket_event(ticket: &Ticket, previous_agent: Option<&Person>, reason: &str) -> TicketEventData {
    TicketEventData {
        ticket: ticket.clone().into(),
        previous_agent: previous_agent.cloned(),
        reason: (!reason.is_empty()).then(|| reason.to_string()),
    }
}

pub(super) async fn claim_ticket<S: Store + ?Sized>(
    store: &S,
    id: TicketId,
    agent: User,
) -> StoreResult<Claimed> {
    write(store, on_ticket(id), move |tx| {
        claim_ticket_in(tx, id, agent.clone()).boxed_local()
    })
    .await
}

async fn claim_ticket_in(tx: &mut dyn WriteTx, id: TicketId, who: User) -> StoreResult<Claimed> {
    tx.save_user(&who).await?;
    let ticket = missing(tx.ticket(id).await?)?;
    Ok(match tickets::claim(&ticket, who.id) {
        Claim::Theirs => Claimed::Assigned(ticket),
        Claim::HeldByOther => Claimed::HeldBy(ticket),
        Claim::Closed => Claimed::Closed(ticket),
        Claim::Take => {
            tx.set_agent(id, who.id, Timestamp::now()).await?;
            let ticket = missing(tx.ticket(id).await?)?;
            let data = ticket_event(&ticket, None, "");
            emit(tx, EventType::TicketAssigned, Some(id), false, &data).await?;
            Claimed::Assigned(ticket)
        }
    })
}

pub(super) async fn change_ticket<S: Store + ?Sized>(
    store: &S,
    id: TicketId,
    actor: User,
    command: TicketCommand,
    csat: CsatPolicy,
) -> StoreResult<Ticket> {
    write(store, on_ticket(id), move |tx| {
        change_ticket_in(tx, id, actor.clone(), command.clone(), csat).boxed_local()
    })
    .await
}

async fn change_ticket_in(
    tx: &mut dyn WriteTx,
    id: TicketId,
    actor: User,
    command: TicketCommand,
    csat: CsatPolicy,
) -> StoreResult<Ticket> {
    tx.save_user(&actor).await?;
    let ticket = missing(tx.ticket(id).await?)?;
    let target = match command.target() {
        Some(target) => tx.user(target).await?,
        None => None,
    };
    let mut plan = tickets::decide(&ticket, &actor, &command, target.as_ref())?;
    if let (Some(agent), Some(target)) = (plan.assign, &target) {
        if agent == target.id {
            integration::check_active_agent(target, tx.is_active(agent).await?)?;
        }
    }
    if let Some(to) = plan.state.filter(|to| csat::ends_conversation(*to)) {
        let facts = tx.csat_facts(id).await?;
        if csat::asks_on(csat, &ticket, to, facts, Timestamp::now()) {
            plan.ask_for_rating();
        }
    }
    apply(tx, id, plan).await?;
    missing(tx.ticket(id).await?)
}

/// Closes, at `now`, up to a page of tickets resolved `after` ago or more
/// (each judged again under the writer's lock); returns how many closed.
pub(super) async fn close_idle<S: Store + ?Sized>(
    store: &S,
    now: Timestamp,
    after: std::time::Duration,
) -> StoreResult<usize> {
    write(store, Locks::default(), move |tx| {
        async move {
            let before = Timestamp::from_millis(now.millis() - after.as_millis() as i64);
            let mut closed = 0;
            for id in tx.resolved_before(before, IDLE_PAGE).await? {
                let ticket = missing(tx.ticket(id).await?)?;
                if let Some(plan) = tickets::close_when_idle(&ticket, now, after) {
                    apply(tx, id, plan).await?;
                    closed += 1;
                }
            }
            Ok(closed)
        }
        .boxed_local()
    })
    .await
}

/// Tickets one idle-close transaction closes at most.
pub(super) const IDLE_PAGE: usize = 100;

/// Writes what a rule decided about a ticket.
pub(super) async fn apply(tx: &mut dyn WriteTx, ticket: TicketId, plan: Plan) -> StoreResult<()> {
    let at = Timestamp::now();
    if let Some(agent) = plan.assign {
        tx.set_agent(ticket, agent, at).await?;
    }
    if let Some(state) = plan.state {
        let change = StateChange {
            state,
            resolved: ResolvedAt::on_entering(state),
            at,
        };
        tx.set_state(ticket, &change).await?;
    }
    if let Some(record) = plan.record {
        let reason = match &record.event {
            SystemEvent::Transfer { reason, .. } => reason.clone(),
            SystemEvent::State { .. } | SystemEvent::Rated { .. } => String::new(),
        };
        let new = NewMessage {
            ticket,
            author: Person::system(),
            client_id: None,
            content: record.text,
            kind: record.kind,
            metadata: record.event.to_metadata(),
            internal: false,
            origin: None,
            unread_email: None,
            reply_to: None,
        };
        let change = ChangeNote {
            change: record.change,
            previous_agent: record.previous_agent,
            reason,
        };
        insert(tx, &new, false, Some(change)).await?;
    }
    Ok(())
}

/// What the message recording a change of its ticket tells fan-out.
pub(super) struct ChangeNote {
    change: TicketChange,
    previous_agent: Option<Person>,
    reason: String,
}

/// Stores `new` (its ticket's next `seq`) and puts it among the batch's
/// commit notifications.
pub(super) async fn insert(
    tx: &mut dyn WriteTx,
    new: &NewMessage,
    first_answer: bool,
    change: Option<ChangeNote>,
) -> StoreResult<Message> {
    let at = Timestamp::now();
    let metadata = (!new.metadata.is_empty())
        .then(|| serde_json::Value::Object(new.metadata.clone()).to_string());
    let row = MessageRow {
        ticket: new.ticket,
        author: &new.author,
        client_id: new.client_id.as_deref(),
        content: &new.content,
        kind: new.kind,
        metadata: metadata.as_deref(),
        internal: new.internal,
        at,
        first_answer,
        reply_to: new.reply_to,
    };
    let inserted = missing(tx.insert_message(&row).await?)?;
    let message = Message {
        id: inserted.id,
        client_id: new.client_id.clone(),
        ticket: new.ticket,
        seq: inserted.seq,
        timestamp: at,
        author: new.author.clone(),
        content: new.content.clone(),
        kind: new.kind,
        state: MessageState::Delivered,
        attachments: Vec::new(),
        reply_to: new.reply_to,
        edited: false,
        deleted: false,
        edited_at: None,
        rev: 0,
        metadata: new.metadata.clone(),
        internal: new.internal,
    };
    let ticket_change = match change {
        None => None,
        Some(note) => Some(TicketChangeRecord {
            change: note.change,
            ticket: missing(tx.ticket(new.ticket).await?)?,
            previous_agent: note.previous_agent,
            reason: note.reason,
        }),
    };
    if let Some(record) = &ticket_change {
        let event = match record.change {
            TicketChange::Created => EventType::TicketCreated,
            TicketChange::Assigned => EventType::TicketAssigned,
            TicketChange::Transferred => EventType::TicketTransferred,
            TicketChange::State => EventType::TicketStateChanged,
        };
        let data = ticket_event(
            &record.ticket,
            record.previous_agent.as_ref(),
            &record.reason,
        );
        emit(tx, event, Some(new.ticket), false, &data).await?;
    }
    super::email::owe_unread_reply(tx, new.unread_email, &message).await?;
    // Every message is an event, its body built when it is posted.
    let owed = owed_to(tx, EventType::MessageCreated, new.internal).await?;
    queue_message(tx, &owed, new.ticket, message.id).await?;
    tx.committed(Committed {
        message: message.clone(),
        origin: new.origin,
        ticket_agent: inserted.ticket_agent,
        ticket_change,
    });
    Ok(message)
}

pub(super) async fn append<S: Store + ?Sized>(
    store: &S,
    message: NewMessage,
) -> StoreResult<Appended> {
    let locks = Locks {
        append: Some(AppendKey {
            author: message.author.id,
            client_id: message.client_id.clone(),
        }),
        ..on_ticket(message.ticket)
    };
    write(store, locks, move |tx| {
        append_in(tx, message.clone()).boxed_local()
    })
    .await
}

/// Stores one message: the earlier copy when this author already sent this
/// `client_id` (so a retry cannot take a second `seq`), otherwise what
/// [`messages::append`] decides.
async fn append_in(tx: &mut dyn WriteTx, new: NewMessage) -> StoreResult<Appended> {
    let context = missing(tx.append_context(&new).await?)?;
    if let Some(message) = context.earlier {
        return Ok(Appended {
            message,
            duplicate: true,
        });
    }
    let plan = messages::append(context.state, new.author.kind, new.internal)?;
    if let Some(target) = new.reply_to {
        let target = tx.message(new.ticket, target).await?;
        let staff = matches!(new.author.kind, AuthorKind::Agent | AuthorKind::Supervisor);
        crate::domain::edits::check_reply(target.as_ref(), staff, new.internal)?;
    }
    if let Some(reopen) = plan.reopen {
        apply(tx, new.ticket, reopen).await?;
    }
    let message = insert(tx, &new, plan.first_answer, None).await?;
    Ok(Appended {
        message,
        duplicate: false,
    })
}

pub(super) async fn mark_read<S: Store + ?Sized>(
    store: &S,
    ticket: TicketId,
    reader: Viewer,
    reader_role: Role,
    ids: Vec<MessageId>,
) -> StoreResult<MarkRead> {
    write(store, on_ticket(ticket), move |tx| {
        mark_read_in(tx, ticket, reader, reader_role, ids.clone()).boxed_local()
    })
    .await
}

/// All or nothing: a request naming anything but messages of this ticket
/// the reader may see changes nothing.
async fn mark_read_in(
    tx: &mut dyn WriteTx,
    ticket: TicketId,
    reader: Viewer,
    reader_role: Role,
    ids: Vec<MessageId>,
) -> StoreResult<MarkRead> {
    let receipt = Receipt {
        ticket,
        ids: &ids,
        sees_internal: reader.sees_internal,
        authors: messages::read_across(reader_role),
        at: Timestamp::now(),
    };
    let seqs = tx.visible_seqs(&receipt).await?;
    let mut outcome = MarkRead {
        marked: Vec::new(),
        unknown: ids
            .iter()
            .copied()
            .filter(|id| !seqs.contains_key(id))
            .collect(),
    };
    if !outcome.unknown.is_empty() || ids.is_empty() {
        return Ok(outcome);
    }
    let mut marked = tx.mark_read(&receipt).await?;
    // In the order asked, each once.
    for &id in &ids {
        if marked.remove(&id) {
            outcome.marked.push(id);
        }
    }
    let highest = seqs.values().copied().max().unwrap_or(0);
    tx.advance_read_cursor(ticket, reader.id, highest).await?;
    Ok(outcome)
}

/// The window of the upload budget ([`uploads::UploadQuotas::bytes_per_hour`]).
pub const UPLOAD_BUDGET_WINDOW_MS: i64 = 3_600_000;

pub(super) async fn create_upload_grant<S: Store + ?Sized>(
    store: &S,
    grant: UploadGrant,
    limits: GrantLimits,
) -> StoreResult<()> {
    let locks = on_ticket(grant.ticket);
    write(store, locks, move |tx| {
        let grant = grant.clone();
        async move {
            let now = grant.created_at;
            let since = Timestamp::from_millis(now.millis() - UPLOAD_BUDGET_WINDOW_MS);
            let usage = tx
                .upload_usage(grant.user, grant.ticket, now, since)
                .await?;
            uploads::check_quotas(&limits.quotas, &usage, grant.size, limits.uploader)?;
            tx.insert_grant(&grant).await
        }
        .boxed_local()
    })
    .await
}

pub(super) async fn purge_upload_grants<S: Store + ?Sized>(
    store: &S,
    before: Timestamp,
) -> StoreResult<usize> {
    write(store, Locks::default(), move |tx| tx.purge_grants(before)).await
}

pub(super) async fn complete_upload<S: Store + ?Sized>(
    store: &S,
    upload: CompleteUpload,
) -> StoreResult<Uploaded> {
    let locks = Locks {
        grant: Some(upload.upload_id.clone()),
        ..Locks::default()
    };
    write(store, locks, move |tx| {
        complete_upload_in(tx, upload.clone()).boxed_local()
    })
    .await
}

async fn complete_upload_in(tx: &mut dyn WriteTx, upload: CompleteUpload) -> StoreResult<Uploaded> {
    let now = Timestamp::now();
    let state = missing(tx.upload_grant(&upload.upload_id).await?)?;
    let facts = GrantFacts {
        owner: state.grant.user,
        credential_hash: &state.grant.credential_hash,
        expires_at: state.grant.expires_at,
        used: state.used,
    };
    uploads::check_grant(facts, &upload.credential_hash, upload.uploader, now)?;
    let grant = state.grant;
    let uploader = missing(tx.user(grant.user).await?)?;
    if !tx.use_grant(&grant.upload_id, now).await? {
        // Used by another node's upload since it was read.
        return Err(uploads::used_already().into());
    }
    let mut message = match upload.attach_to {
        Some(id) => {
            let message = tx.message(grant.ticket, id).await?;
            uploads::check_attach_to(message.as_ref(), grant.user, now)?;
            missing(message)?
        }
        None => {
            let state = missing(tx.ticket_state(grant.ticket).await?)?;
            if state == TicketState::Closed {
                return Err(Refusal::TicketClosed.into());
            }
            let new = NewMessage {
                ticket: grant.ticket,
                author: uploader.person(),
                client_id: None,
                content: grant.name.clone(),
                kind: MessageKind::File,
                metadata: Default::default(),
                internal: false,
                origin: None,
                unread_email: None,
                reply_to: None,
            };
            insert(tx, &new, false, None).await?
        }
    };
    let row = AttachmentRow {
        ticket: grant.ticket,
        uploader: grant.user,
        message: message.id,
        name: &grant.name,
        file: &upload.file,
        at: now,
    };
    let id = tx.insert_attachment(&row).await?;
    let base = tx.url_base();
    let attachment = Attachment {
        id,
        name: grant.name,
        size: upload.file.size,
        mime_type: upload.file.mime.clone(),
        url: rows::attachment_url(base, id),
        thumbnail_url: upload
            .file
            .thumbnail_key
            .as_ref()
            .map(|_| rows::thumbnail_url(base, id)),
    };
    message.attachments.push(attachment.clone());
    let owed = owed_to(tx, EventType::FileUploaded, message.internal).await?;
    if !owed.is_empty() {
        let ticket = missing(tx.ticket(grant.ticket).await?)?;
        let data = FileEventData {
            attachment: attachment.clone(),
            message: message.clone(),
            ticket: TicketRef {
                id: ticket.id,
                external_id: ticket.external_id,
            },
        };
        queue(
            tx,
            &owed,
            EventType::FileUploaded,
            Some(grant.ticket),
            &data,
        )
        .await?;
    }
    Ok(Uploaded {
        attachment,
        message,
    })
}

pub(super) async fn save_canned_response<S: Store + ?Sized>(
    store: &S,
    id: Option<i64>,
    input: CannedResponseInput,
    by: UserId,
) -> StoreResult<CannedResponse> {
    write(store, Locks::default(), move |tx| {
        save_canned_in(tx, id, input.clone(), by).boxed_local()
    })
    .await
}

async fn save_canned_in(
    tx: &mut dyn WriteTx,
    id: Option<i64>,
    input: CannedResponseInput,
    by: UserId,
) -> StoreResult<CannedResponse> {
    let taken = tx.canned_with_shortcut(&input.shortcut).await?;
    if taken.is_some() && taken != id {
        return Err(canned::shortcut_taken(&input.shortcut).into());
    }
    let row = CannedRow {
        id,
        input: &input,
        by,
        at: Timestamp::now(),
    };
    let id = match tx.save_canned(&row).await? {
        CannedSave::Saved(id) => id,
        CannedSave::NotFound => return Err(StoreError::NOT_FOUND),
        CannedSave::ShortcutTaken => return Err(canned::shortcut_taken(&input.shortcut).into()),
    };
    missing(tx.canned_response(id).await?)
}

pub(super) async fn save_setting<S: Store + ?Sized>(
    store: &S,
    key: &'static str,
    value: Option<String>,
) -> StoreResult<()> {
    write(store, Locks::default(), move |tx| {
        let value = value.clone();
        async move {
            tx.put_setting(key, value.as_deref(), Timestamp::now())
                .await
        }
        .boxed_local()
    })
    .await
}

pub(super) async fn delete_canned_response<S: Store + ?Sized>(
    store: &S,
    id: i64,
) -> StoreResult<bool> {
    write(store, Locks::default(), move |tx| tx.delete_canned(id)).await
}

pub(super) async fn provision_user<S: Store + ?Sized>(
    store: &S,
    user: User,
    active: bool,
) -> StoreResult<bool> {
    write(store, Locks::default(), move |tx| {
        let user = user.clone();
        async move { tx.provision_user(&user, active).await }.boxed_local()
    })
    .await
}

pub(super) async fn create_api_key<S: Store + ?Sized>(
    store: &S,
    name: String,
    prefix: String,
    hash: String,
) -> StoreResult<ApiKey> {
    write(store, Locks::default(), move |tx| {
        let (name, prefix, hash) = (name.clone(), prefix.clone(), hash.clone());
        async move {
            let row = ApiKeyRow {
                name: &name,
                prefix: &prefix,
                hash: &hash,
                at: Timestamp::now(),
            };
            tx.insert_api_key(&row)
                .await?
                .ok_or_else(|| integration::key_name_taken(&name).into())
        }
        .boxed_local()
    })
    .await
}

pub(super) async fn revoke_api_key<S: Store + ?Sized>(
    store: &S,
    name: String,
) -> StoreResult<bool> {
    write(store, Locks::default(), move |tx| {
        let name = name.clone();
        async move { tx.revoke_api_key(&name, Timestamp::now()).await }.boxed_local()
    })
    .await
}

pub(super) async fn touch_api_key<S: Store + ?Sized>(
    store: &S,
    id: i64,
    at: Timestamp,
) -> StoreResult<()> {
    write(store, Locks::default(), move |tx| tx.touch_api_key(id, at)).await
}

/// Runs `future` to its end when it never waits (the SQLite store's rows are
/// read and written synchronously on its writer thread): the writer thread
/// has no executor, and needs none. `None` if it would have waited, which is
/// a defect, not a state to sleep in.
pub fn run_now<T>(future: LocalBoxFuture<'_, T>) -> Option<T> {
    let mut future = future;
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(value) => Some(value),
        std::task::Poll::Pending => None,
    }
}
