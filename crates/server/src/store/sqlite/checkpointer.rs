//! WAL checkpoints on a thread of their own.
//!
//! A PASSIVE checkpoint copies committed pages from the WAL into the database
//! file without blocking the writer or readers; once it has caught up, the
//! next write starts the WAL from the beginning again, so the WAL stays about
//! one interval's worth of writes.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

const INTERVAL: Duration = Duration::from_millis(500);

/// Dropping it stops the thread after a last checkpoint.
pub struct Handle {
    _stop: mpsc::Sender<()>,
}

pub fn spawn(path: &Path) -> rusqlite::Result<Handle> {
    let conn = super::open_connection(path, false)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || loop {
            let last = matches!(
                stopped.recv_timeout(INTERVAL),
                Err(RecvTimeoutError::Disconnected) | Ok(())
            );
            if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(%error, "WAL checkpoint failed; will retry");
            }
            if last {
                return;
            }
        })
        .expect("spawning the checkpoint thread");
    Ok(Handle { _stop: stop })
}
