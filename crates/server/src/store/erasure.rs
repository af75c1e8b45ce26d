//! Data rights, once for both databases: a person's data erased in one
//! transaction (their messages' content, their files' rows, their name),
//! with the record of who asked and the `usuario.eliminado` event; the
//! files themselves are removed from storage after the commit, from a
//! queue written in the same transaction.

use super::webhooks::emit;
use super::writes::{write, Locks};
use super::{Store, StoreError, StoreResult};
use crate::domain::erasure::{ERASED_CONTENT, ERASED_NAME};
use crate::domain::webhooks::EventType;
use futures_util::future::FutureExt;
use soporte_protocol::webhook::UserErasedData;
use soporte_protocol::{TicketId, TicketState, Timestamp, UserId};

/// What an erasure changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Erased {
    pub record: UserErasedData,
    /// Tickets whose history changed (caches of them are stale).
    pub tickets: Vec<TicketId>,
}

/// The fixed texts that replace what was erased.
#[derive(Debug, Clone, Copy)]
pub struct Replacement<'a> {
    pub content: &'a str,
    pub name: &'a str,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Copy)]
pub struct ErasureRow<'a> {
    pub user: UserId,
    pub by: &'a str,
    pub at: Timestamp,
    pub messages: u64,
    pub files: u64,
}

/// Erases `user`'s data; refused as not found when nobody by that id is known.
pub(super) async fn erase_user<S: Store + ?Sized>(
    store: &S,
    user: UserId,
    by: String,
) -> StoreResult<Erased> {
    write(store, Locks::default(), move |tx| {
        let by = by.clone();
        async move {
            if tx.user(user).await?.is_none() {
                return Err(StoreError::NOT_FOUND);
            }
            let replacement = Replacement {
                content: ERASED_CONTENT,
                name: ERASED_NAME,
                at: Timestamp::now(),
            };
            // Files first: their rows are found through the messages.
            let files = tx.erase_files(user, replacement.at).await?;
            let mut tickets = tx.erase_messages(user, &replacement).await?;
            let messages = tickets.len() as u64;
            tickets.sort_unstable();
            tickets.dedup();
            tx.erase_person(user, replacement.name).await?;
            let row = ErasureRow {
                user,
                by: &by,
                at: replacement.at,
                messages,
                files,
            };
            tx.record_erasure(&row).await?;
            let record = UserErasedData {
                user,
                messages,
                files,
                by: by.clone(),
            };
            emit(tx, EventType::UserErased, None, false, &record).await?;
            Ok(Erased { record, tickets })
        }
        .boxed_local()
    })
    .await
}

/// Where the retention sweep goes on from: the activity time and id of the
/// last ticket it saw. A closed ticket's activity time does not change, so
/// a ticket behind the cursor never becomes due again.
pub type RetentionCursor = (Timestamp, TicketId);

/// One page of the retention sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Expired {
    /// Tickets whose files went (caches of their history are stale).
    pub tickets: Vec<TicketId>,
    pub files: u64,
    /// Where the next page starts; `None` when the sweep is done for now.
    pub next: Option<RetentionCursor>,
}

/// Tickets looked at per page of the sweep (one writer transaction).
const RETENTION_PAGE: usize = 200;

/// The files of tickets closed (and so last active) before `closed_before`
/// and after `after`, one page of tickets: their rows deleted and their
/// storage queued for removal in one transaction.
pub(super) async fn expire_files<S: Store + ?Sized>(
    store: &S,
    after: RetentionCursor,
    closed_before: Timestamp,
) -> StoreResult<Expired> {
    write(store, Locks::default(), move |tx| {
        async move {
            let page = tx
                .tickets_inactive(TicketState::Closed, after, closed_before, RETENTION_PAGE)
                .await?;
            let next = (page.len() == RETENTION_PAGE).then(|| page[page.len() - 1]);
            let tickets: Vec<TicketId> = page.iter().map(|(_, id)| *id).collect();
            let files = if tickets.is_empty() {
                0
            } else {
                tx.expire_files(&tickets, Timestamp::now()).await?
            };
            Ok(Expired {
                tickets,
                files,
                next,
            })
        }
        .boxed_local()
    })
    .await
}

/// Forgets the queued removals of `keys` (their files are gone).
pub(super) async fn files_removed<S: Store + ?Sized>(
    store: &S,
    keys: Vec<String>,
) -> StoreResult<()> {
    write(store, Locks::default(), move |tx| {
        let keys = keys.clone();
        async move { tx.files_removed(&keys).await }.boxed_local()
    })
    .await
}
