//! The writer: one task per node owns the writing connection, drains its
//! queue, and commits everything waiting in one transaction (group commit),
//! exactly as the SQLite store's writer thread does.
//!
//! A job keeps its input, so a batch can be run again from the
//! start: when PostgreSQL aborts it to break a deadlock or a serialization
//! conflict with another node (40P01, 40001), or when the connection is lost
//! before COMMIT was sent (the server rolled everything back). Each job runs
//! in a savepoint, so a job that fails leaves the others of its batch intact.
//! Nobody is told "stored", and the [`CommitListener`] sees nothing, unless
//! COMMIT returned; a COMMIT whose answer was lost fails the whole batch as
//! `Unavailable` (a client's retry with the same `client_id` then finds the
//! message if it was stored after all).
//!
//! Other nodes write to the same tickets at once. Before any job runs, the
//! batch locks the rows of every ticket it touches, in id order: two nodes'
//! batches wait for each other instead of deadlocking, and every check a job
//! makes (the ticket's state, its agent, an earlier copy of a `client_id`) is
//! made under that lock, against the latest committed data.
//!
//! Appends cost no round trip of their own: the lock's round trip reads
//! what they need and their rows are written together before COMMIT (see
//! `batch`). Jobs answered that way run without a savepoint; one that fails
//! after changing data (rare: a refusal comes before any write) sends the
//! batch round again statement by statement, each job in its savepoint.

use super::batch::{self, Deferred, MessageIds};
use super::tx::PgTx;
use crate::metrics::METRICS;
use crate::store::columns::corrupt_value;
use crate::store::queue::{self, Jobs, WriteQueue, MAX_BATCH};
use crate::store::*;
use deadpool_postgres::{Object, Pool};
use futures_util::future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_postgres::error::SqlState;

/// Runs of one batch aborted by a deadlock or serialization conflict before
/// its jobs are answered `Unavailable`.
const CONFLICT_ATTEMPTS: u32 = 8;

/// A database error as the store reports it: a value we never write is
/// corrupt data (logged where it is met), anything else is unavailability.
pub fn unavailable(error: &tokio_postgres::Error) -> StoreError {
    match corrupt_value(error) {
        Some(corrupt) => {
            tracing::error!(%corrupt, "a row cannot be read");
            StoreError::Corrupt(corrupt.to_string())
        }
        // A database error's Display is only "db error": say which.
        None => match error.as_db_error() {
            Some(db) => StoreError::Unavailable(format!(
                "PostgreSQL: {} ({})",
                db.message(),
                db.code().code()
            )),
            None => StoreError::Unavailable(format!("PostgreSQL: {error}")),
        },
    }
}

/// A failure that is not the database's answer (no connection from the pool).
pub fn unreachable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL: {error}"))
}

/// A deadlock or serialization conflict with another transaction: the
/// database rolled ours back, and running it again will do.
pub fn is_conflict(error: &tokio_postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

/// The connection is gone (closed, reset, the backend terminated or the
/// server shutting down): nothing more can be done on it.
pub fn connection_lost(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        let code = code.code();
        // 08: connection exceptions; 57P: operator intervention (terminated,
        // shutting down, cannot connect now).
        return code.starts_with("08") || code.starts_with("57P");
    }
    std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>())
}

/// Starts the writer on a thread of its own, with a runtime of its own: the
/// rules of `store::writes` run against a `&mut dyn WriteTx`, whose futures
/// are not `Send`, so they cannot move between the server's worker threads.
/// It also keeps the writer's I/O off the threads that serve sockets. It
/// ends when every handle is dropped, after finishing what was queued.
pub fn spawn(
    pool: Pool,
    listener: Arc<dyn CommitListener>,
    url_base: Arc<str>,
    outbox: Arc<Notify>,
) -> std::io::Result<WriteQueue> {
    let (queue, jobs) = queue::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("postgres-writer".into())
        .spawn(move || runtime.block_on(run(pool, jobs, listener, url_base, outbox)))?;
    Ok(queue)
}

async fn run(
    pool: Pool,
    mut jobs: Jobs,
    listener: Arc<dyn CommitListener>,
    url_base: Arc<str>,
    outbox: Arc<Notify>,
) {
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    let mut ids = MessageIds::default();
    while jobs.next(&mut waiting).await {
        let queued_events =
            commit_batch(&pool, &mut waiting, listener.as_ref(), &url_base, &mut ids).await;
        if queued_events {
            outbox.notify_one();
        }
    }
    tracing::debug!("postgres writer stopped");
}

/// How one run of a batch ended.
enum Attempt {
    /// A job that ran without a savepoint failed after changing data, or a
    /// statement failed outside one: run the batch again, statement by
    /// statement, each job in its savepoint.
    Stepwise,
    /// Committed (or, for a batch of one failed job, rolled back): each job
    /// holds its answer.
    Committed {
        committed: Vec<Committed>,
        /// It queued webhook deliveries.
        outbox_written: bool,
    },
    /// Rolled back by a conflict with another transaction: run it again.
    Conflict(tokio_postgres::Error),
    /// The connection was lost before COMMIT was sent, so nothing was
    /// stored: run it again on a new connection.
    Lost(StoreError),
    /// Nothing of it is known to be stored; answer everyone with this.
    Failed(StoreError),
}

/// Runs and commits one batch; true when it queued webhook deliveries.
async fn commit_batch(
    pool: &Pool,
    jobs: &mut Vec<Box<dyn Job>>,
    listener: &dyn CommitListener,
    url_base: &str,
    ids: &mut MessageIds,
) -> bool {
    let started = std::time::Instant::now();
    let (mut conflicts, mut reconnected, mut defer) = (0, false, true);
    let error = loop {
        let attempted = attempt(pool, jobs, url_base, defer, ids).await;
        // Ids given to messages of a batch rolled back are given again.
        ids.settle(matches!(
            attempted,
            Attempt::Committed { .. } | Attempt::Failed(_)
        ));
        match attempted {
            Attempt::Committed {
                committed,
                outbox_written,
            } => {
                METRICS.commit_batches.fetch_add(1, Ordering::Relaxed);
                METRICS
                    .messages_committed
                    .fetch_add(committed.len() as u64, Ordering::Relaxed);
                METRICS.observe_commit(started.elapsed());
                if !committed.is_empty() {
                    listener.committed(&committed);
                }
                for job in jobs.drain(..) {
                    job.answer(None);
                }
                return outbox_written;
            }
            Attempt::Conflict(error) => {
                conflicts += 1;
                if conflicts >= CONFLICT_ATTEMPTS {
                    break unavailable(&error);
                }
                tracing::debug!(%error, conflicts, "write batch rolled back by a conflict; running it again");
                // A short, growing pause lets the other transaction finish.
                let pause = 2u64 << conflicts.min(6);
                tokio::time::sleep(Duration::from_millis(
                    pause + started.elapsed().subsec_micros() as u64 % 5,
                ))
                .await;
            }
            Attempt::Stepwise => {
                METRICS.commit_stepwise.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("write batch rolled back; running it again statement by statement");
                defer = false;
            }
            Attempt::Lost(error) if !reconnected => {
                reconnected = true;
                tracing::warn!(%error, "lost the database connection before commit; running the batch again on a new one");
            }
            Attempt::Lost(error) | Attempt::Failed(error) => break error,
        }
    };
    tracing::error!(%error, jobs = jobs.len(), "write batch failed; its callers are told so");
    METRICS.commit_failures.fetch_add(1, Ordering::Relaxed);
    for job in jobs.drain(..) {
        job.answer(Some(&error));
    }
    false
}

/// A database error met before COMMIT: which way the batch goes. The
/// transaction is rolled back first, or the connection dropped when it is
/// lost, so the pool never hands out one left inside a transaction.
async fn before_commit(client: Object, error: tokio_postgres::Error) -> Attempt {
    if connection_lost(&error) || client.batch_execute("ROLLBACK").await.is_err() {
        // Never hand this connection out again.
        drop(Object::take(client));
        if !is_conflict(&error) {
            return Attempt::Lost(unavailable(&error));
        }
    }
    if is_conflict(&error) {
        return Attempt::Conflict(error);
    }
    Attempt::Failed(unavailable(&error))
}

async fn attempt(
    pool: &Pool,
    jobs: &mut [Box<dyn Job>],
    url_base: &str,
    defer: bool,
    ids: &mut MessageIds,
) -> Attempt {
    let client = match pool.get().await {
        Ok(client) => client,
        Err(error) => return Attempt::Failed(unreachable(error)),
    };
    match run_in_transaction(&client, jobs, url_base, defer, ids).await {
        Ok(Attempt::Failed(error)) => {
            // A COMMIT whose answer was lost: the connection's state is
            // unknown.
            drop(Object::take(client));
            Attempt::Failed(error)
        }
        Ok(done) => done,
        Err(error) => before_commit(client, error).await,
    }
}

/// Runs the batch between BEGIN and COMMIT, sent by hand rather than with
/// a `Transaction` so that each shares a round trip: BEGIN goes ahead of
/// the locks, COMMIT behind the kept rows. On `Err` the transaction may be
/// open: the caller rolls it back ([`before_commit`]).
async fn run_in_transaction(
    client: &Object,
    jobs: &mut [Box<dyn Job>],
    url_base: &str,
    defer: bool,
    ids: &mut MessageIds,
) -> Result<Attempt, tokio_postgres::Error> {
    let tx = client;
    // Polled in this order, BEGIN is sent first.
    let (begun, locked) =
        future::join(tx.batch_execute("BEGIN"), batch::lock(tx, jobs, defer, ids)).await;
    begun?;
    let deferred = locked?;
    let mut batch = PgTx::new(tx, url_base, deferred, ids);
    // A batch of one needs no savepoint: if its job fails, the transaction
    // is rolled back whole, which is the same. Nor do jobs answered from
    // the batch's copy: a failed one's kept rows are forgotten instead.
    let isolate = jobs.len() > 1;
    // The savepoint of the last job, kept until the next one begins (or
    // COMMIT), so each job costs no round trip of its own for it.
    let mut unreleased = false;
    let mut all_failed = true;
    for job in jobs.iter_mut() {
        let visible_before = batch.committed.len();
        let deferring = batch.deferred.is_some();
        if let Some(deferred) = batch.deferred.as_mut() {
            deferred.begin_job();
        }
        let given_before = batch.ids.given();
        let savepoint = isolate && !deferring;
        (batch.touched, batch.failed) = (false, false);
        let succeeded = if savepoint {
            let begin = if unreleased {
                "RELEASE SAVEPOINT job; SAVEPOINT job"
            } else {
                "SAVEPOINT job"
            };
            // Sent ahead of the job's first statement on the same
            // connection (pipelined): the server runs them in that order.
            let (begun, succeeded) =
                future::join(tx.batch_execute(begin), job.run(&mut batch)).await;
            begun?;
            succeeded
        } else {
            job.run(&mut batch).await
        };
        // The whole batch goes again, or fails: not this job alone.
        if let Some(error) = batch.fatal.take() {
            return Err(error);
        }
        if deferring && (batch.failed || (!succeeded && batch.touched)) {
            tx.batch_execute("ROLLBACK").await?;
            return Ok(Attempt::Stepwise);
        }
        if succeeded {
            unreleased = savepoint;
            all_failed = false;
        } else {
            batch.committed.truncate(visible_before);
            batch.subscriptions = None;
            batch.ids.take_back(given_before);
            if savepoint {
                tx.batch_execute("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")
                    .await?;
            } else if let Some(deferred) = batch.deferred.as_mut() {
                deferred.forget_job();
            }
            unreleased = false;
        }
    }
    let committed = std::mem::take(&mut batch.committed);
    let outbox_written = batch.outbox_written;
    let deferred = batch.deferred.take();
    drop(batch);
    if !isolate && all_failed {
        // The only job failed: keep nothing of it.
        tx.batch_execute("ROLLBACK").await?;
        return Ok(Attempt::Committed {
            committed: Vec::new(),
            outbox_written: false,
        });
    }
    let kept = deferred.filter(|deferred| deferred.kept() > 0);
    let (written, commit) = match kept {
        Some(mut deferred) => {
            let statement = Deferred::prepare(tx).await?;
            deferred.write_then_commit(tx, &statement).await
        }
        None => (Ok(()), tx.batch_execute("COMMIT").await),
    };
    if let Err(error) = written {
        if error.as_db_error().is_none() {
            // No answer from the server (the connection went, or the
            // client never sent it): the COMMIT behind it may have
            // happened.
            return Ok(Attempt::Failed(StoreError::Unavailable(format!(
                "PostgreSQL: commit not confirmed: {error}"
            ))));
        }
        // The server refused it and answered the COMMIT behind it as a
        // rollback: nothing stored, and no transaction left open.
        if is_conflict(&error) {
            return Ok(Attempt::Conflict(error));
        }
        return Ok(Attempt::Stepwise);
    }
    match commit {
        Ok(()) => Ok(Attempt::Committed {
            committed,
            outbox_written,
        }),
        Err(error) if is_conflict(&error) => Ok(Attempt::Conflict(error)),
        // The answer to COMMIT never came: it may or may not have happened.
        Err(error) => Ok(Attempt::Failed(StoreError::Unavailable(format!(
            "PostgreSQL: commit not confirmed: {error}"
        )))),
    }
}
