//! Where a customer waiting for an agent stands (`domain::queue`): their
//! place, read on each ask, and the typical wait, computed from the team's
//! stats at most once a minute per node (every waiting widget asks).

use crate::domain::queue;
use crate::state::AppState;
use crate::store::{Period, StoreResult};
use soporte_protocol::rest::QueueStatus;
use soporte_protocol::{Ticket, Timestamp};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Over how many days the typical wait is measured.
const TYPICAL_WAIT_DAYS: i64 = 7;
/// How long a computed typical wait is reused.
const FRESH: Duration = Duration::from_secs(60);

pub async fn status(state: &AppState, ticket: &Ticket) -> StoreResult<QueueStatus> {
    if !queue::is_queued(ticket) {
        return Ok(QueueStatus {
            position: None,
            typical_wait_seconds: None,
        });
    }
    let ahead = state.store.tickets_ahead(ticket.id).await?;
    Ok(QueueStatus {
        position: Some(queue::position(ahead)),
        typical_wait_seconds: typical_wait(state).await?,
    })
}

async fn typical_wait(state: &AppState) -> StoreResult<Option<u64>> {
    static LAST: Mutex<Option<(Instant, Option<u64>)>> = Mutex::new(None);
    if let Some((at, wait)) = *LAST.lock().expect("typical wait lock") {
        if at.elapsed() < FRESH {
            return Ok(wait);
        }
    }
    let now = state.config.clock.now();
    let since = Timestamp::from_millis(now.millis() - TYPICAL_WAIT_DAYS * 86_400_000);
    let stats = state
        .store
        .team_stats(Period::new(Some(since), None))
        .await?;
    let wait = queue::typical_wait(&stats.queue_wait);
    *LAST.lock().expect("typical wait lock") = Some((Instant::now(), wait));
    Ok(wait)
}
