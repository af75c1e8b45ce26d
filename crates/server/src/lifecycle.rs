//! What happens to tickets with time alone: a resolved ticket the customer
//! did not come back to closes after `--auto-close-after` (the rule:
//! `domain::tickets::close_when_idle`, judged again under the writer's lock,
//! so every node may sweep).

use crate::state::AppState;
use std::time::Duration;

/// How often the sweep looks; the clock moving (tests) wakes it too.
const EVERY: Duration = Duration::from_secs(60);
/// Pages one sweep closes at most, so a backlog cannot hold the writer.
const PAGES: usize = 50;

pub async fn close_idle_periodically(state: AppState) {
    let Some(after) = state.config.auto_close_after else {
        return;
    };
    let mut wakeups = state.config.clock.every(EVERY);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = wakeups.next() => {}
        }
        for _ in 0..PAGES {
            match state
                .store
                .close_idle(state.config.clock.now(), after)
                .await
            {
                Ok(0) => break,
                Ok(closed) => tracing::info!(closed, "idle resolved tickets closed"),
                Err(error) => {
                    tracing::warn!(%error, "could not close idle resolved tickets");
                    break;
                }
            }
        }
    }
}
