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
//!
//! That checkpoint is the one that syncs the database file (a checkpoint
//! that does not reach the end of the WAL never does), so it would flush
//! every page this thread copied since the last one while no batch commits.
//! This thread writes its pages back itself after each round
//! (`sync_file_range`, no cache flush), which halves the writer's pause.

use rusqlite::Connection;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::METRICS;

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
        let started = Instant::now();
        match checkpoint(writer) {
            Ok((log, copied)) => {
                METRICS.observe_wal_restart(started.elapsed());
                tracing::debug!(log, copied, "writer finished a checkpoint");
            }
            Err(error) => tracing::warn!(%error, "writer checkpoint failed; will retry"),
        }
    }
}

/// Counts the pages the writer's commits append to the WAL
/// (`soporte_wal_frames_total`: how many a message costs is what the disk
/// pays). Installed after `wal_autocheckpoint`, which would replace it.
pub fn count_frames(writer: &Connection) {
    writer.wal_hook(Some(wal_grew));
}

/// The WAL's length in pages after the last commit, as SQLite reported it.
/// A static because the hook is a plain `fn`: one writer per process, as
/// the server has (tests that run several stores in one process see a mix).
static WAL_PAGES: AtomicI64 = AtomicI64::new(0);

/// SQLite passes the WAL's length after each commit; it starts over from
/// the beginning once a checkpoint copied all of it, so a shorter length
/// is this commit's pages alone.
fn wal_grew(_wal: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    let pages = i64::from(pages);
    let before = WAL_PAGES.swap(pages, Ordering::Relaxed);
    let written = if pages >= before {
        pages - before
    } else {
        pages
    };
    METRICS
        .wal_frames
        .fetch_add(written as u64, Ordering::Relaxed);
    Ok(())
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

/// Writes back, and waits for, the database pages this thread's checkpoints
/// copied, without the disk cache flush and journal commit of an fsync. A
/// PASSIVE checkpoint that does not reach the end of the WAL (under steady
/// writes, none of this thread's) does not sync the database file: the one
/// that does, the writer's between two batches, would otherwise carry every
/// page copied since, and no batch commits while it runs.
#[cfg(target_os = "linux")]
fn write_back(database: &File) -> std::io::Result<()> {
    use libc::{SYNC_FILE_RANGE_WAIT_AFTER, SYNC_FILE_RANGE_WAIT_BEFORE, SYNC_FILE_RANGE_WRITE};
    use std::os::fd::AsRawFd;
    let flags = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: a system call on a descriptor this thread owns; offset 0 and
    // length 0 mean the whole file.
    match unsafe { libc::sync_file_range(database.as_raw_fd(), 0, 0, flags) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(not(target_os = "linux"))]
fn write_back(_database: &File) -> std::io::Result<()> {
    Ok(())
}

pub fn spawn(path: &Path, restart: RestartRequest) -> rusqlite::Result<Handle> {
    let conn = super::open_connection(path, false)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // Only for `write_back`. It stays open as long as the thread: closing a
    // descriptor of the file drops the POSIX locks SQLite holds on it.
    let database = File::open(path)
        .map_err(|error| tracing::warn!(%error, "database file not opened for write-back"))
        .ok();
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || loop {
            let last = matches!(
                stopped.recv_timeout(INTERVAL),
                Err(RecvTimeoutError::Disconnected) | Ok(())
            );
            let checkpointed = checkpoint(&conn);
            if let (Ok((_, 1..)), Some(database)) = (&checkpointed, &database) {
                if let Err(error) = write_back(database) {
                    tracing::debug!(%error, "database write-back failed");
                }
            }
            match checkpointed {
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
