//! The email outbox: what a change owes by email is written in its own
//! transaction (`owe_unread_reply`, from `writes::insert`; a transcript
//! asked for, `request_transcript`), then claimed, sent and finished by the
//! email worker (a service above the store).

use super::writes::{missing, on_ticket, write, Locks, WriteTx};
use super::{Store, StoreResult};
use crate::domain::email::{self, EmailKind, Reader, UnreadPolicy};
use crate::domain::User;
use futures_util::FutureExt;
use soporte_protocol::{Message, Seq, TicketId, Timestamp, UserId};

/// A kind of email as its rows (and the metric's `tipo`) name it, and back.
pub fn kind_name(kind: EmailKind) -> &'static str {
    match kind {
        EmailKind::UnreadReplies => "respuestas_no_leidas",
        EmailKind::UnreadByTeam => "mensajes_sin_leer_equipo",
        EmailKind::Transcript => "transcripcion",
    }
}

pub fn kind_of(name: &str) -> Option<EmailKind> {
    EmailKind::ALL
        .into_iter()
        .find(|kind| kind_name(*kind) == name)
}

/// A pending email to write.
#[derive(Debug, Clone, Copy)]
pub struct EmailRow<'a> {
    pub ticket: TicketId,
    pub user: UserId,
    pub to: &'a str,
    pub kind: &'static str,
    pub from_seq: Seq,
    pub due: Timestamp,
    pub at: Timestamp,
}

/// A pending email a worker claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedEmail {
    pub id: i64,
    pub ticket: TicketId,
    pub user: UserId,
    pub to: String,
    pub from_seq: Seq,
    pub attempts: u32,
    pub kind: String,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailOutcome {
    Sent,
    /// Nothing left to say (the customer read it first).
    Cancelled,
    /// The server refused or could not be reached: again at `at`.
    Retry {
        at: Timestamp,
        error: String,
    },
    /// Given up.
    Failed {
        error: String,
    },
}

/// In the transaction storing `message`: the pending email of its ticket
/// for whoever is emailed about it (the customer about a reply, the
/// ticket's agent about the customer's message), when they have an address
/// (one at a time: a later message joins the one already owed).
pub(super) async fn owe_unread_reply(
    tx: &mut dyn WriteTx,
    policy: Option<UnreadPolicy>,
    message: &Message,
) -> StoreResult<()> {
    let Some(policy) = policy else {
        return Ok(());
    };
    let Some(reader) = Reader::of_message_by(message.author.kind, message.internal) else {
        return Ok(());
    };
    let ticket = missing(tx.ticket(message.ticket).await?)?;
    let person = match reader {
        Reader::Customer => ticket.customer.id,
        Reader::Agent => ticket.agent.and_then(|agent| agent.id),
    };
    let recipient = match person {
        Some(id) => tx.user(id).await?,
        None => None,
    };
    let Some((user, Some(to))) = recipient.map(|user| (user.id, user.email)) else {
        return Ok(());
    };
    let due = Timestamp::from_millis(message.timestamp.millis() + policy.after.as_millis() as i64);
    let row = EmailRow {
        ticket: message.ticket,
        user,
        to: &to,
        kind: kind_name(EmailKind::unread_for(reader)),
        from_seq: message.seq,
        due,
        at: message.timestamp,
    };
    tx.queue_email(&row).await
}

/// Queues the transcript of ticket `id` that `actor` asks for (to `given`,
/// or the customer's address; see `domain::email::transcript_to`), and
/// remembers an address the customer gave, in one transaction. Returns
/// where it goes.
pub(super) async fn request_transcript<S: Store + ?Sized>(
    store: &S,
    id: TicketId,
    actor: User,
    given: Option<String>,
    now: Timestamp,
) -> StoreResult<String> {
    write(store, on_ticket(id), move |tx| {
        let (actor, given) = (actor.clone(), given.clone());
        async move {
            let ticket = missing(tx.ticket(id).await?)?;
            let customer = match ticket.customer.id {
                Some(customer) => tx.user(customer).await?,
                None => None,
            };
            let kind = kind_name(EmailKind::Transcript);
            let last = match ticket.customer.id {
                Some(customer) => tx.last_email(id, customer, kind).await?,
                None => None,
            };
            let to = email::transcript_to(
                &ticket,
                &actor,
                customer.as_ref(),
                given.as_deref(),
                last,
                now,
            )?;
            if let (true, Some(mut customer)) = (to.remember, customer) {
                customer.email = Some(to.address.clone());
                tx.save_user(&customer).await?;
            }
            let row = EmailRow {
                ticket: id,
                user: to.user,
                to: &to.address,
                kind,
                from_seq: 1,
                due: now,
                at: now,
            };
            tx.queue_email(&row).await?;
            Ok(to.address)
        }
        .boxed_local()
    })
    .await
}

/// Claims up to `limit` emails due at `now` for this worker until `until`.
pub(super) async fn claim_emails<S: Store + ?Sized>(
    store: &S,
    now: Timestamp,
    until: Timestamp,
    limit: usize,
) -> StoreResult<Vec<OwedEmail>> {
    write(store, Locks::default(), move |tx| {
        async move { tx.claim_emails(now, until, limit).await }.boxed_local()
    })
    .await
}

pub(super) async fn finish_email<S: Store + ?Sized>(
    store: &S,
    id: i64,
    outcome: EmailOutcome,
    at: Timestamp,
) -> StoreResult<()> {
    write(store, Locks::default(), move |tx| {
        let outcome = outcome.clone();
        async move {
            let found = tx.finish_email(id, &outcome, at).await?;
            missing(found.then_some(()))
        }
        .boxed_local()
    })
    .await
}
