//! The queue in front of a store's writer: bounded, so callers feel
//! backpressure when the database falls behind, and drained in batches
//! that share one commit.

use super::writes::Job;
use super::{StoreError, StoreResult};
use crate::metrics::METRICS;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

/// Most jobs committed in one transaction: bounds the latency one batch adds.
pub const MAX_BATCH: usize = 1024;
/// Jobs waiting for the writer; senders wait when it is full.
pub const QUEUE_CAPACITY: usize = 8192;

/// Where callers queue jobs for a writer.
#[derive(Clone)]
pub struct WriteQueue {
    sender: mpsc::Sender<Box<dyn Job>>,
}

/// Where the writer takes them from.
pub struct Jobs {
    receiver: mpsc::Receiver<Box<dyn Job>>,
}

pub fn channel() -> (WriteQueue, Jobs) {
    let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
    (WriteQueue { sender }, Jobs { receiver })
}

impl WriteQueue {
    /// Queues `job` for the next batch (waiting while the queue is full).
    pub async fn submit(&self, job: Box<dyn Job>) -> StoreResult<()> {
        METRICS.writer_queue_depth.fetch_add(1, Ordering::Relaxed);
        if self.sender.send(job).await.is_err() {
            METRICS.writer_queue_depth.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::Closed);
        }
        Ok(())
    }
}

impl Jobs {
    /// The next batch: `first` and whatever else is already waiting, up to
    /// [`MAX_BATCH`], in the order they were queued.
    fn batch(&mut self, first: Box<dyn Job>, batch: &mut Vec<Box<dyn Job>>) {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match self.receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        METRICS
            .writer_queue_depth
            .fetch_sub(batch.len() as i64, Ordering::Relaxed);
    }

    /// Waits (blocking the thread: the SQLite writer has no runtime) for the
    /// next batch; false once every queue handle is gone and all was taken.
    pub fn next_blocking(&mut self, batch: &mut Vec<Box<dyn Job>>) -> bool {
        match self.receiver.blocking_recv() {
            Some(first) => {
                self.batch(first, batch);
                true
            }
            None => false,
        }
    }

    /// Waits for the next batch; false once every queue handle is gone.
    pub async fn next(&mut self, batch: &mut Vec<Box<dyn Job>>) -> bool {
        match self.receiver.recv().await {
            Some(first) => {
                self.batch(first, batch);
                true
            }
            None => false,
        }
    }
}
