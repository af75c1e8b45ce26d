//! WAL checkpoints on a thread of their own, and a WAL that stays short.
//!
//! A PASSIVE checkpoint copies committed pages from the WAL into the database
//! file without blocking the writer or readers. That alone never shortens the
//! WAL under steady writes: SQLite starts the WAL over only when a write
//! transaction begins with every frame already copied, and a writer that
//! never pauses has always committed more since the last checkpoint. (A
//! 20-minute soak left a 2.3 GB WAL; its index, mapped into the server, had
//! added 70 MiB to the RSS.) So once the WAL holds more than
//! [`RESTART_FRAMES`], this thread asks the writer to run one more PASSIVE
//! checkpoint itself, between two batches. It has little left to copy (this
//! thread copied the rest), and with no commit between it and the writer's
//! next transaction, that transaction starts the WAL over; if a reader was
//! still in the WAL, the next round does.

use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

const INTERVAL: Duration = Duration::from_millis(500);
/// Frames (pages) in the WAL above which it is started over: 4096 pages are
/// 16 MiB.
pub const RESTART_FRAMES: i64 = 4096;
/// Bytes the WAL file is cut back to when it starts over, after a burst made
/// it longer (`PRAGMA journal_size_limit`).
pub const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// The checkpoint thread's request that the writer finish a checkpoint.
#[derive(Clone, Default)]
pub struct RestartRequest(Arc<AtomicBool>);

impl RestartRequest {
    fn ask(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Run by the writer between two batches: when asked, checkpoints what
    /// the checkpoint thread has not yet copied, so the next transaction
    /// starts the WAL over.
    pub fn answer(&self, writer: &Connection) {
        if !self.0.swap(false, Ordering::Relaxed) {
            return;
        }
        match checkpoint(writer) {
            Ok((log, copied)) => tracing::debug!(log, copied, "writer finished a checkpoint"),
            Err(error) => tracing::warn!(%error, "writer checkpoint failed; will retry"),
        }
    }
}

/// Dropping it stops the thread after a last checkpoint.
pub struct Handle {
    _stop: mpsc::Sender<()>,
}

/// A PASSIVE checkpoint: frames in the WAL, and frames copied to the database.
fn checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })
}

pub fn spawn(path: &Path, restart: RestartRequest) -> rusqlite::Result<Handle> {
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
            match checkpoint(&conn) {
                Ok((log, _)) if log >= RESTART_FRAMES => restart.ask(),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "WAL checkpoint failed; will retry"),
            }
            if last {
                return;
            }
        })
        .expect("spawning the checkpoint thread");
    Ok(Handle { _stop: stop })
}
