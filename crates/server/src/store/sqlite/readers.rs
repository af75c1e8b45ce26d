//! The pool of read-only connections. A read takes a permit, then runs on a
//! blocking thread with a connection of its own.
//!
//! The connection goes back to the pool from inside the blocking closure,
//! before the permit is released. A caller that stops waiting (a client that
//! hangs up mid-request drops the handler's future) cannot lose it: the
//! closure finishes on its thread either way. Giving the connection back
//! after the `await`, in the caller, would drop it with the abandoned result
//! and leave one more permit than connections.

use super::writer::unavailable;
use crate::store::{StoreError, StoreResult};
use rusqlite::Connection;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

pub struct Readers {
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub fn new(connections: Vec<Connection>) -> Readers {
        Readers {
            permits: Arc::new(Semaphore::new(connections.len())),
            idle: Arc::new(Mutex::new(connections)),
        }
    }

    /// Runs `query` on an idle connection, off the async threads.
    pub async fn run<T, F>(&self, query: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let idle = self.idle.clone();
        tokio::task::spawn_blocking(move || {
            let result = query(Lent::take(&idle).conn());
            drop(permit);
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?
        .map_err(unavailable)
    }

    /// Runs a short `query` (rows found by key, a bounded page of them) on
    /// this thread when a connection is idle, or like [`run`](Self::run)
    /// when none is.
    ///
    /// Why not always off the async threads: such a read takes tens of
    /// microseconds, and handing it to a blocking thread and back (a wake-up
    /// each way) cost more than the read itself. Measured with `perf` while
    /// 10,000 sockets connected, each reading its ticket twice: the hand-offs
    /// were about 30% of the server's CPU, the reads 13%.
    pub async fn run_short<T, F>(&self, query: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let Ok(permit) = self.permits.try_acquire() else {
            return self.run(query).await;
        };
        // A query that panics fails the read, as it does on a blocking
        // thread, rather than the caller's task (a session's cleanup must run).
        let lent = Lent::take(&self.idle);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| query(lent.conn())));
        drop(lent);
        drop(permit);
        result.map_err(|_| StoreError::Closed)?.map_err(unavailable)
    }
}

/// A connection taken from the idle list, put back when dropped (a query
/// that panics still gives it back, so every permit finds one).
struct Lent<'a> {
    conn: Option<Connection>,
    idle: &'a Mutex<Vec<Connection>>,
}

impl<'a> Lent<'a> {
    /// Only with a permit in hand: the permit guarantees an idle connection.
    fn take(idle: &'a Mutex<Vec<Connection>>) -> Lent<'a> {
        let conn = idle
            .lock()
            .expect("reader pool lock")
            .pop()
            .expect("a permit guarantees an idle connection");
        Lent {
            conn: Some(conn),
            idle,
        }
    }

    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("lent until dropped")
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A poisoned lock (a panic elsewhere while holding it) still
            // holds a usable list.
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.push(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pool(size: usize) -> (tempfile::TempDir, Readers) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);")
            .unwrap();
        let connections = (0..size)
            .map(|_| super::super::open_connection(&path, true).unwrap())
            .collect();
        (dir, Readers::new(connections))
    }

    fn slow_read(conn: &Connection) -> rusqlite::Result<i64> {
        std::thread::sleep(Duration::from_millis(150));
        conn.query_row("SELECT x FROM t", [], |row| row.get(0))
    }

    /// A caller that gives up while its query runs (a client hanging up
    /// mid-request) leaves the pool whole: afterwards every permit still
    /// finds a connection, even when all are taken at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_read_gives_its_connection_back() {
        let (_dir, readers) = pool(2);
        let abandoned =
            tokio::time::timeout(Duration::from_millis(20), readers.run(slow_read)).await;
        assert!(
            abandoned.is_err(),
            "the read should still have been running"
        );
        // Both connections at once: each read needs one of its own.
        let (a, b) = tokio::join!(readers.run(slow_read), readers.run(slow_read));
        assert_eq!((a.unwrap(), b.unwrap()), (7, 7));
        assert_eq!(readers.idle.lock().unwrap().len(), 2);
    }

    fn thread_of(conn: &Connection) -> rusqlite::Result<std::thread::ThreadId> {
        conn.query_row("SELECT x FROM t", [], |_| Ok(std::thread::current().id()))
    }

    /// A short read runs on the caller's thread while a connection is idle,
    /// and waits its turn on a blocking thread when none is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_read_runs_here_when_a_connection_is_idle() {
        let (_dir, readers) = pool(1);
        let here = std::thread::current().id();
        assert_eq!(readers.run_short(thread_of).await.unwrap(), here);
        let (busy, elsewhere) = tokio::join!(readers.run(slow_read), async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            readers.run_short(thread_of).await
        });
        assert_eq!(busy.unwrap(), 7);
        assert_ne!(elsewhere.unwrap(), here);
        assert_eq!(readers.idle.lock().unwrap().len(), 1);
    }

    /// A query that panics fails its read, not the caller, and gives its
    /// connection back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_read_fails_and_gives_its_connection_back() {
        let (_dir, readers) = pool(1);
        let panicked = readers
            .run_short(|_| -> rusqlite::Result<()> { panic!("a bug in a query") })
            .await;
        assert!(matches!(panicked, Err(StoreError::Closed)), "{panicked:?}");
        let panicked = readers
            .run(|_| -> rusqlite::Result<()> { panic!("a bug in a query") })
            .await;
        assert!(matches!(panicked, Err(StoreError::Closed)), "{panicked:?}");
        assert!(readers.run(slow_read).await.is_ok());
        assert_eq!(readers.run_short(slow_read).await.unwrap(), 7);
    }
}
