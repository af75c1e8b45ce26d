//! The single writer: one thread owns the only writing connection, drains its
//! queue, and commits everything waiting in one transaction (group commit).
//!
//! Why one writer: SQLite allows one writer at a time anyway; giving it a
//! thread of its own replaces lock contention (and `SQLITE_BUSY`) with a
//! queue, and lets N waiting messages share one fsync instead of paying N.
//!
//! A job that fails leaves the others of its batch intact. Jobs first run
//! one after another with nothing around them: almost every failure (a
//! closed ticket, a missing one, a refused change) is found before the job
//! writes anything, and then there is nothing to undo. A job that fails after
//! it wrote rolls the whole batch back, and the batch runs again from the
//! start with each job in a savepoint of its own (a job keeps its input, so
//! it can run again).
//! Savepoints on every job would cost a copy of every page each job touches
//! (SQLite's statement journal), on the path every message takes.
//!
//! Nobody is told "stored", and the commit listener sees nothing, unless the
//! COMMIT returned.

use super::checkpointer::RestartRequest;
use super::tx::SqliteTx;
use super::words::KnownWords;
use crate::metrics::METRICS;
use crate::store::columns::corrupt_value;
use crate::store::queue::{self, Jobs, WriteQueue, MAX_BATCH};
use crate::store::writes::{run_now, Job};
use crate::store::{CommitListener, StoreError, StoreResult};
use rusqlite::Connection;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::Notify;

/// Runs `job` in the open batch, inside a savepoint when `isolated`, and
/// says whether it succeeded. A failed run leaves nothing of it in
/// `tx.committed`.
fn run_job(tx: &mut SqliteTx<'_>, job: &mut dyn Job, isolated: bool) -> bool {
    let visible_before = tx.committed.len();
    let deliveries_before = tx.deliveries.len();
    if isolated && tx.conn.execute_batch("SAVEPOINT job").is_err() {
        return false;
    }
    let mut succeeded = match run_now(job.run(tx)) {
        Some(succeeded) => succeeded,
        None => {
            tracing::error!("a write waited on the SQLite writer thread; it is failed");
            false
        }
    };
    if !succeeded {
        tx.deliveries.truncate(deliveries_before);
    }
    if isolated && succeeded {
        // Its deliveries are part of it: written inside its savepoint.
        if let Err(error) = tx.flush_deliveries() {
            tracing::error!(%error, "writing a job's webhook deliveries");
            tx.deliveries.clear();
            succeeded = false;
        }
    }
    if isolated {
        let end = if succeeded {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        if let Err(error) = tx.conn.execute_batch(end) {
            tracing::error!(%error, "ending a job's savepoint");
            tx.committed.truncate(visible_before);
            tx.subscriptions = None;
            return false;
        }
    }
    if !succeeded {
        tx.committed.truncate(visible_before);
        tx.subscriptions = None;
    }
    succeeded
}

/// A database error as the store reports it: a value we never write is
/// corrupt data (logged where it is met), anything else is unavailability.
pub fn unavailable(error: rusqlite::Error) -> StoreError {
    match corrupt_value(&error) {
        Some(corrupt) => {
            tracing::error!(%corrupt, "a row cannot be read");
            StoreError::Corrupt(corrupt.to_string())
        }
        None => StoreError::Unavailable(error.to_string()),
    }
}

/// Starts the writer thread. It ends when every handle is dropped, after
/// finishing what was queued. Between batches it answers the checkpoint
/// thread's `restart` requests (see `checkpointer`).
pub fn spawn(
    conn: Connection,
    listener: Arc<dyn CommitListener>,
    restart: RestartRequest,
    url_base: Arc<str>,
    outbox: Arc<Notify>,
) -> std::io::Result<(WriteQueue, std::thread::JoinHandle<()>)> {
    let (queue, jobs) = queue::channel();
    let listeners = Listeners {
        commits: listener,
        outbox,
    };
    let thread = std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || run(conn, jobs, &listeners, &restart, &url_base))?;
    Ok((queue, thread))
}

/// Who hears of a commit: fan-out, and the webhook workers' doorbell.
struct Listeners {
    commits: Arc<dyn CommitListener>,
    outbox: Arc<Notify>,
}

fn run(
    conn: Connection,
    mut jobs: Jobs,
    listeners: &Listeners,
    restart: &RestartRequest,
    url_base: &str,
) {
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    let mut words = KnownWords::default();
    while jobs.next_blocking(&mut waiting) {
        commit_batch(&conn, &mut waiting, listeners, url_base, &mut words);
        restart.answer(&conn);
    }
    tracing::debug!("sqlite writer stopped");
}

/// Runs and commits one batch, then tells the listener what became visible
/// and answers every job: in commit order, so `seq` order holds everywhere,
/// and a message reaches its room before its sender hears it is stored.
fn commit_batch(
    conn: &Connection,
    jobs: &mut Vec<Box<dyn Job>>,
    listeners: &Listeners,
    url_base: &str,
    words: &mut KnownWords,
) {
    let started = std::time::Instant::now();
    let mut batch = SqliteTx::new(conn, url_base);
    let outcome = run_jobs(&mut batch, jobs, false).and_then(|redo| {
        if !redo {
            return Ok(());
        }
        // A job failed after it wrote: undo everything, and run the batch
        // again with each job isolated.
        tracing::debug!(
            jobs = jobs.len(),
            "a job failed halfway; running its batch again in savepoints"
        );
        conn.execute_batch("ROLLBACK").map_err(unavailable)?;
        batch = SqliteTx::new(conn, url_base);
        run_jobs(&mut batch, jobs, true).map(|_| ())
    });
    let mut new_words = Vec::new();
    let outcome = outcome
        .and_then(|()| batch.flush_deliveries())
        .and_then(|()| {
            new_words = words.write_new(conn, &batch.texts).map_err(unavailable)?;
            Ok(())
        })
        .and_then(|()| conn.execute_batch("COMMIT").map_err(unavailable));
    let error = match outcome {
        Ok(()) => {
            words.remember(new_words);
            METRICS.commit_batches.fetch_add(1, Ordering::Relaxed);
            METRICS
                .messages_committed
                .fetch_add(batch.committed.len() as u64, Ordering::Relaxed);
            METRICS.observe_commit(started.elapsed());
            if !batch.committed.is_empty() {
                listeners.commits.committed(&batch.committed);
            }
            if batch.outbox_written {
                listeners.outbox.notify_one();
            }
            None
        }
        Err(error) => {
            tracing::error!(%error, jobs = jobs.len(), "write batch failed; nothing of it is stored");
            METRICS.commit_failures.fetch_add(1, Ordering::Relaxed);
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Some(error)
        }
    };
    for job in jobs.drain(..) {
        job.answer(error.as_ref());
    }
}

/// Opens the batch's transaction and runs its jobs in it. Returns whether
/// the batch must run again isolated: never when `isolated`; otherwise when
/// a job failed after writing (the count of changed rows moved), in which
/// case the jobs after it have not run.
fn run_jobs(
    batch: &mut SqliteTx<'_>,
    jobs: &mut [Box<dyn Job>],
    isolated: bool,
) -> StoreResult<bool> {
    let conn = batch.conn;
    conn.execute_batch("BEGIN IMMEDIATE").map_err(unavailable)?;
    for job in jobs.iter_mut() {
        let changes_before = conn.total_changes();
        let succeeded = run_job(batch, job.as_mut(), isolated);
        // Some errors (a full disk, I/O) make SQLite roll the whole
        // transaction back itself; nothing more may run, or it would run
        // outside any transaction and be stored whatever we answer.
        if conn.is_autocommit() {
            return Err(StoreError::Unavailable(
                "the write transaction was rolled back by the database".into(),
            ));
        }
        if !succeeded && !isolated && conn.total_changes() != changes_before {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::webhooks::EventType;
    use crate::domain::User;
    use crate::store::webhooks::{DeliveryRow, EventBody};
    use crate::store::writes::{Locks, WriteTx};
    use crate::store::Committed;
    use futures_util::future::{FutureExt, LocalBoxFuture};
    use soporte_protocol::Role;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::sync::oneshot;

    /// Records the `seq` of every message it is told of.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<i64>>);

    impl CommitListener for Recorder {
        fn committed(&self, messages: &[Committed]) {
            let mut seen = self.0.lock().unwrap();
            seen.extend(messages.iter().map(|c| c.message.seq));
        }
    }

    fn visible(seq: i64) -> Committed {
        let message = serde_json::from_value(serde_json::json!({
            "id": seq, "client_id": null, "ticket": 1, "seq": seq,
            "timestamp": "2026-11-28T00:00:00.000Z",
            "autor": {"id": 1, "nombre": "Ana", "tipo": "CLIENTE", "avatar": null},
            "contenido": "hola", "tipo": "TEXTO", "estado": "ENTREGADO", "archivos": [],
            "replyTo": null, "editado": false, "eliminado": false, "metadata": {}, "interno": false
        }))
        .expect("a message");
        Committed {
            message,
            origin: None,
            ticket_agent: None,
            ticket_change: None,
        }
    }

    fn open() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = super::super::open_connection(&dir.path().join("w.db"), false).unwrap();
        super::super::migrations::apply(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO webhooks (id, url, eventos, secreto, creado) VALUES (1, 'http://h', '[\"*\"]', 's', 0)",
            [],
        )
        .unwrap();
        (dir, conn)
    }

    /// The event ids of the stored deliveries, in `id` order.
    fn deliveries(dir: &tempfile::TempDir) -> Vec<String> {
        let conn = super::super::open_connection(&dir.path().join("w.db"), true).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT evento_id FROM webhook_deliveries WHERE evento_id <> 'evt-0' ORDER BY id",
            )
            .unwrap();
        let rows = stmt.query_map([], |row| row.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    /// How a test job ends.
    #[derive(Clone, Copy)]
    enum Ending {
        Stores,
        /// Refused before it wrote anything.
        RefusedFirst,
        /// Wrote its row, then failed.
        FailsAfterWriting,
        /// Holds the writer until released.
        Holds,
    }

    /// A job that stores user `x` (and says so to the listener as message
    /// `x`), ending as told.
    struct TestJob {
        x: i64,
        ending: Ending,
        runs: Arc<AtomicUsize>,
        gate: Option<(
            std::sync::mpsc::Sender<()>,
            Mutex<std::sync::mpsc::Receiver<()>>,
        )>,
        locks: Locks,
        result: Option<StoreResult<i64>>,
        reply: oneshot::Sender<StoreResult<i64>>,
    }

    impl Job for TestJob {
        fn locks(&self) -> &Locks {
            &self.locks
        }

        fn run<'a>(&'a mut self, tx: &'a mut dyn WriteTx) -> LocalBoxFuture<'a, bool> {
            async move {
                self.runs.fetch_add(1, Ordering::SeqCst);
                if let Some((started, hold)) = &self.gate {
                    let _ = started.send(());
                    let _ = hold.lock().unwrap().recv_timeout(Duration::from_secs(5));
                }
                let result = match self.ending {
                    Ending::RefusedFirst => {
                        Err(StoreError::Refused(crate::domain::Refusal::TicketClosed))
                    }
                    ending => {
                        let user = User {
                            id: self.x,
                            name: "x".into(),
                            role: Role::Customer,
                            avatar: None,
                            email: None,
                        };
                        let event_id = format!("evt-{}", self.x);
                        let delivery = DeliveryRow {
                            webhook: 1,
                            event_id: &event_id,
                            event: EventType::TicketCreated,
                            ticket: None,
                            body: EventBody::Written("{}"),
                            at: soporte_protocol::Timestamp::from_millis(0),
                        };
                        let saved = match tx.save_user(&user).await {
                            Ok(()) => tx.insert_delivery(&delivery).await,
                            failed => failed,
                        };
                        match saved {
                            Err(error) => Err(error),
                            Ok(()) => {
                                tx.committed(visible(self.x));
                                match ending {
                                    Ending::FailsAfterWriting => Err(StoreError::NOT_FOUND),
                                    _ => Ok(self.x),
                                }
                            }
                        }
                    }
                };
                let succeeded = result.is_ok();
                self.result = Some(result);
                succeeded
            }
            .boxed_local()
        }

        fn answer(self: Box<Self>, batch_error: Option<&StoreError>) {
            let outcome = match (batch_error, self.result) {
                (Some(error), _) => Err(error.clone()),
                (None, Some(result)) => result,
                (None, None) => Err(StoreError::Closed),
            };
            let _ = self.reply.send(outcome);
        }
    }

    fn job(
        x: i64,
        ending: Ending,
        runs: Arc<AtomicUsize>,
    ) -> (Box<TestJob>, oneshot::Receiver<StoreResult<i64>>) {
        let (reply, answer) = oneshot::channel();
        let job = TestJob {
            x,
            ending,
            runs,
            gate: None,
            locks: Locks::default(),
            result: None,
            reply,
        };
        (Box::new(job), answer)
    }

    /// Queues jobs that all land in one batch, in this order: a first job
    /// holds the writer until the others are queued behind it.
    async fn one_batch(
        writer: &WriteQueue,
        jobs: Vec<(i64, Ending, Arc<AtomicUsize>)>,
    ) -> Vec<StoreResult<i64>> {
        let (started, holding) = std::sync::mpsc::channel::<()>();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (mut holder, held) = job(0, Ending::Holds, Arc::default());
        holder.gate = Some((started, Mutex::new(hold)));
        writer.submit(holder).await.unwrap();
        tokio::task::spawn_blocking(move || holding.recv_timeout(Duration::from_secs(5)))
            .await
            .unwrap()
            .expect("the holder runs");
        let mut answers = Vec::new();
        for (x, ending, runs) in jobs {
            let (job, answer) = job(x, ending, runs);
            writer.submit(job).await.unwrap();
            answers.push(answer);
        }
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.unwrap());
        }
        results
    }

    fn stored(dir: &tempfile::TempDir) -> Vec<i64> {
        let conn = super::super::open_connection(&dir.path().join("w.db"), true).unwrap();
        let mut stmt = conn
            .prepare("SELECT id FROM users WHERE id > 0 ORDER BY id")
            .unwrap();
        let rows = stmt.query_map([], |row| row.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    /// What one batch of jobs 1, 2, 3 (the middle one ending as `middle`)
    /// did: the answers, the rows stored, what the listener heard, and how
    /// often each job ran.
    struct Outcome {
        answers: Vec<StoreResult<i64>>,
        stored: Vec<i64>,
        heard: Vec<i64>,
        runs: Vec<usize>,
    }

    async fn batch_of_three(middle: Ending) -> Outcome {
        let (dir, conn) = open();
        let listener = Arc::new(Recorder::default());
        let restart = RestartRequest::default();
        let (writer, _thread) = spawn(
            conn,
            listener.clone(),
            restart,
            Arc::from(""),
            Arc::default(),
        )
        .unwrap();
        let runs: Vec<_> = (0..3).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        let endings = [Ending::Stores, middle, Ending::Stores];
        let jobs = (1..=3).zip(endings).zip(&runs);
        let answers = one_batch(&writer, jobs.map(|((x, e), r)| (x, e, r.clone())).collect()).await;
        let heard = listener
            .0
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|x| *x > 0)
            .collect();
        // A job's webhook deliveries (written in a few rows at the end of
        // the batch, or of the job's savepoint) are stored exactly when its
        // change is, in job order.
        let expected: Vec<String> = stored(&dir).iter().map(|x| format!("evt-{x}")).collect();
        assert_eq!(deliveries(&dir), expected);
        Outcome {
            answers,
            stored: stored(&dir),
            heard,
            runs: runs.iter().map(|r| r.load(Ordering::SeqCst)).collect(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_refused_before_writing_costs_the_others_nothing() {
        let outcome = batch_of_three(Ending::RefusedFirst).await;
        let answers = &outcome.answers;
        assert!(matches!(answers[0], Ok(1)), "{answers:?}");
        assert!(
            matches!(
                answers[1],
                Err(StoreError::Refused(crate::domain::Refusal::TicketClosed))
            ),
            "{answers:?}"
        );
        assert!(matches!(answers[2], Ok(3)), "{answers:?}");
        assert_eq!(outcome.stored, vec![1, 3]);
        assert_eq!(outcome.heard, vec![1, 3]);
        // Nothing to undo, so the batch ran once.
        assert_eq!(outcome.runs, vec![1, 1, 1]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_failing_after_it_wrote_leaves_nothing_and_the_others_are_stored() {
        let outcome = batch_of_three(Ending::FailsAfterWriting).await;
        let answers = &outcome.answers;
        assert!(matches!(answers[0], Ok(1)), "{answers:?}");
        assert!(
            matches!(
                answers[1],
                Err(StoreError::Refused(crate::domain::Refusal::NotFound))
            ),
            "{answers:?}"
        );
        assert!(matches!(answers[2], Ok(3)), "{answers:?}");
        // The failed job's row is gone; the listener heard of the others once.
        assert_eq!(outcome.stored, vec![1, 3]);
        assert_eq!(outcome.heard, vec![1, 3]);
        // The batch ran again isolated: the jobs up to the failure twice, the
        // one after it only in the second run.
        assert_eq!(outcome.runs, vec![2, 2, 1]);
    }
}
