//! The single writer: one thread owns the only writing connection, drains its
//! queue, and commits everything waiting in one transaction (group commit).
//!
//! Why one writer: SQLite allows one writer at a time anyway; giving it a
//! thread of its own replaces lock contention (and `SQLITE_BUSY`) with a
//! queue, and lets N waiting messages share one fsync instead of paying N.
//! Each job runs inside a savepoint, so a job that fails leaves the others of
//! its batch intact; a failed COMMIT fails them all, and nobody is told
//! "stored" unless the COMMIT returned.

use super::super::{CommitListener, Committed, StoreError, StoreResult};
use crate::metrics::METRICS;
use rusqlite::Connection;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most jobs committed in one transaction: bounds the latency one batch adds.
const MAX_BATCH: usize = 1024;
/// Jobs waiting for the writer; senders wait when it is full (backpressure).
pub const QUEUE_CAPACITY: usize = 8192;

/// What a job sees: the connection inside the open transaction, and where to
/// put messages that become visible when it commits.
pub struct Batch<'c> {
    pub conn: &'c Connection,
    pub committed: Vec<Committed>,
}

/// Called once the batch's fate is known: `None` means committed.
type Finisher = Box<dyn FnOnce(Option<&StoreError>) + Send>;
/// Runs its work in the open batch (`Some`), or skips it when the batch could
/// not even begin (`None`), and returns how to answer its caller.
type Job = Box<dyn FnOnce(Option<&mut Batch<'_>>) -> Finisher + Send>;

#[derive(Clone)]
pub struct WriterHandle {
    queue: mpsc::Sender<Job>,
}

impl WriterHandle {
    /// Runs `work` in the next batch and returns its result after the commit.
    pub async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Batch<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |batch| {
            let result = batch.map(|batch| in_savepoint(batch, work));
            Box::new(move |commit_error| {
                let outcome = match (commit_error, result) {
                    (Some(error), _) => Err(error.clone()),
                    (None, Some(result)) => result,
                    (None, None) => Err(StoreError::Closed),
                };
                let _ = reply.send(outcome);
            })
        });
        METRICS.writer_queue_depth.fetch_add(1, Ordering::Relaxed);
        if self.queue.send(job).await.is_err() {
            METRICS.writer_queue_depth.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::Closed);
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

fn in_savepoint<T>(
    batch: &mut Batch<'_>,
    work: impl FnOnce(&mut Batch<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    let visible_before = batch.committed.len();
    batch
        .conn
        .execute_batch("SAVEPOINT job")
        .map_err(unavailable)?;
    let result = work(batch);
    let end = match &result {
        Ok(_) => batch.conn.execute_batch("RELEASE job"),
        Err(_) => {
            batch.committed.truncate(visible_before);
            batch.conn.execute_batch("ROLLBACK TO job; RELEASE job")
        }
    };
    match end {
        Ok(()) => result,
        Err(e) => {
            batch.committed.truncate(visible_before);
            Err(unavailable(e))
        }
    }
}

pub fn unavailable(error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// Starts the writer thread. It ends when every handle is dropped, after
/// finishing what was queued.
pub fn spawn(
    conn: Connection,
    listener: Arc<dyn CommitListener>,
) -> (WriterHandle, std::thread::JoinHandle<()>) {
    let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
    let thread = std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || run(conn, jobs, listener))
        .expect("spawning the writer thread");
    (WriterHandle { queue }, thread)
}

fn run(conn: Connection, mut jobs: mpsc::Receiver<Job>, listener: Arc<dyn CommitListener>) {
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.blocking_recv() {
        waiting.push(first);
        while waiting.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => waiting.push(job),
                Err(_) => break,
            }
        }
        METRICS
            .writer_queue_depth
            .fetch_sub(waiting.len() as i64, Ordering::Relaxed);
        commit_batch(&conn, &mut waiting, listener.as_ref());
    }
    tracing::debug!("sqlite writer stopped");
}

fn commit_batch(conn: &Connection, jobs: &mut Vec<Job>, listener: &dyn CommitListener) {
    let started = std::time::Instant::now();
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let error = unavailable(e);
        tracing::error!(%error, jobs = jobs.len(), "cannot begin a write transaction");
        for job in jobs.drain(..) {
            job(None)(Some(&error));
        }
        return;
    }
    let mut batch = Batch {
        conn,
        committed: Vec::new(),
    };
    let finishers: Vec<Finisher> = jobs.drain(..).map(|job| job(Some(&mut batch))).collect();
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            METRICS.commit_batches.fetch_add(1, Ordering::Relaxed);
            METRICS
                .messages_committed
                .fetch_add(batch.committed.len() as u64, Ordering::Relaxed);
            METRICS.observe_commit(started.elapsed());
            if !batch.committed.is_empty() {
                listener.committed(&batch.committed);
            }
            for finish in finishers {
                finish(None);
            }
        }
        Err(e) => {
            let error = unavailable(e);
            tracing::error!(%error, jobs = finishers.len(), "commit failed; nothing of this batch is stored");
            METRICS.commit_failures.fetch_add(1, Ordering::Relaxed);
            let _ = conn.execute_batch("ROLLBACK");
            for finish in finishers {
                finish(Some(&error));
            }
        }
    }
}
