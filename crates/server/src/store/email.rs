//! The email outbox: what a change owes by email is written in its own
//! transaction (`owe_unread_reply`, from `writes::insert`), then claimed,
//! sent and finished by the email worker (a service above the store).

use super::writes::{missing, write, Locks, WriteTx};
use super::{Store, StoreResult};
use crate::domain::email::{Reader, UnreadPolicy};
use futures_util::FutureExt;
use soporte_protocol::{Message, Seq, TicketId, Timestamp, UserId};

/// Replies the customer has not read.
pub const UNREAD_REPLIES: &str = "respuestas_no_leidas";
/// The customer's messages nobody of the team has read (to the ticket's agent).
pub const UNREAD_BY_TEAM: &str = "mensajes_sin_leer_equipo";

/// The kind of email for `reader`, and back.
pub fn kind_for(reader: Reader) -> &'static str {
    match reader {
        Reader::Customer => UNREAD_REPLIES,
        Reader::Agent => UNREAD_BY_TEAM,
    }
}

pub fn reader_of(kind: &str) -> Option<Reader> {
    [Reader::Customer, Reader::Agent]
        .into_iter()
        .find(|reader| kind_for(*reader) == kind)
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
        kind: kind_for(reader),
        from_seq: message.seq,
        due,
        at: message.timestamp,
    };
    tx.queue_email(&row).await
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
