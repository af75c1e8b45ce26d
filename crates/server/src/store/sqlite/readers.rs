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
            let conn = idle
                .lock()
                .expect("reader pool lock")
                .pop()
                .expect("a permit guarantees an idle connection");
            let result = query(&conn);
            idle.lock().expect("reader pool lock").push(conn);
            drop(permit);
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?
        .map_err(unavailable)
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
}
