//! Data rights, the service: a person's data exported, or erased and their
//! files removed from storage; and retention, the files of tickets closed
//! long enough ago deleted. The store deletes the rows and queues the files
//! in one transaction; the files go right after, and any left (a crash,
//! storage down) on the next sweep.

use crate::state::AppState;
use crate::store::erasure::RetentionCursor;
use crate::store::{Erased, StoreResult};
use soporte_protocol::{Timestamp, UserId};

/// Files removed per sweep round.
const REMOVALS_PER_ROUND: usize = 200;

/// Erases `user`'s data; `by` says who asked (kept with the record).
pub async fn erase(state: &AppState, user: UserId, by: String) -> StoreResult<Erased> {
    let erased = state.store.erase_user(user, by).await?;
    tracing::info!(
        user,
        messages = erased.record.messages,
        files = erased.record.files,
        by = %erased.record.by,
        "a person's data was erased"
    );
    remove_erased_files(state).await;
    Ok(erased)
}

/// Removes the files erasures queued; what cannot be removed now stays
/// queued for the next sweep.
pub async fn remove_erased_files(state: &AppState) {
    loop {
        let keys = match state.store.pending_file_removals(REMOVALS_PER_ROUND).await {
            Ok(keys) => keys,
            Err(error) => {
                tracing::warn!(%error, "could not read the files left to remove");
                return;
            }
        };
        if keys.is_empty() {
            return;
        }
        let mut removed = Vec::with_capacity(keys.len());
        for key in keys {
            match state.files.delete(&key).await {
                Ok(()) => removed.push(key),
                Err(error) => {
                    tracing::warn!(%error, key, "could not remove an erased file; will retry")
                }
            }
        }
        let progress = removed.len() == REMOVALS_PER_ROUND;
        if removed.is_empty() {
            return;
        }
        if let Err(error) = state.store.files_removed(removed).await {
            tracing::warn!(%error, "could not record removed files");
            return;
        }
        if !progress {
            return;
        }
    }
}

/// Retention (`--file-retention`): deletes the files of tickets closed
/// before `now` minus the retention, past `cursor` (which it moves on, so
/// each sweep reads only the tickets that aged since the one before).
pub async fn expire_files(state: &AppState, cursor: &mut RetentionCursor, now: Timestamp) {
    let Some(retention) = state.config.file_retention else {
        return;
    };
    let closed_before = Timestamp::from_millis(now.millis() - retention.as_millis() as i64);
    loop {
        match state
            .store
            .expire_closed_files(*cursor, closed_before)
            .await
        {
            Ok(expired) => {
                if expired.files > 0 {
                    tracing::info!(
                        tickets = expired.tickets.len(),
                        files = expired.files,
                        "files of long-closed tickets deleted (retention)"
                    );
                }
                match expired.next {
                    Some(next) => *cursor = next,
                    None => {
                        // Every ticket before the cutoff is seen: the next
                        // sweep starts where this one's range ended.
                        *cursor = (closed_before, 0).max(*cursor);
                        break;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "could not apply file retention; will retry");
                return;
            }
        }
    }
    remove_erased_files(state).await;
}
