//! The email outbox: what a change owes by email is written in its own
//! transaction (`owe_unread_reply`, from `writes::insert`), then claimed,
//! sent and finished by the email worker (a service above the store).

use super::writes::{missing, write, Locks, WriteTx};
use super::{Store, StoreResult};
use crate::domain::email::{self, UnreadPolicy};
use futures_util::FutureExt;
use soporte_protocol::{Message, Seq, TicketId, Timestamp, UserId};

/// The one kind of email so far: replies the customer has not read.
pub const UNREAD_REPLIES: &str = "respuestas_no_leidas";

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

/// In the transaction storing `message`: when it is a reply the customer is
/// emailed about and they have an address, the pending email of their ticket
/// (one at a time: a later reply joins the one already owed).
pub(super) async fn owe_unread_reply(
    tx: &mut dyn WriteTx,
    policy: Option<UnreadPolicy>,
    message: &Message,
) -> StoreResult<()> {
    let Some(policy) = policy else {
        return Ok(());
    };
    if !email::notifies_customer(message.author.kind, message.internal) {
        return Ok(());
    }
    let Some((customer, Some(to))) = tx.customer_email(message.ticket).await? else {
        return Ok(());
    };
    let due = Timestamp::from_millis(message.timestamp.millis() + policy.after.as_millis() as i64);
    let row = EmailRow {
        ticket: message.ticket,
        user: customer,
        to: &to,
        kind: UNREAD_REPLIES,
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
