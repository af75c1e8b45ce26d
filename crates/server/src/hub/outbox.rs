//! A connection's outgoing queue: bounded, written by fan-out without ever
//! waiting, read by the connection's one task.
//!
//! Why not `tokio::sync::mpsc`: an idle connection's queue is most of what
//! it costs. A tokio channel allocates its cache-padded state (about 0.5 KiB)
//! and a first block of 32 slots up front, and eviction needed a
//! `CancellationToken` (another allocation) beside it. Here the queue, the
//! eviction flag and the reader's waker share one small allocation, and the
//! slots are allocated only while events wait (an idle connection holds
//! none). The lock is held for a push or a pop, never across an `.await`;
//! its only contenders are the fan-out and the one reader.

use super::{ConnId, Outbound};
use crate::metrics::METRICS;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Slots kept allocated once the queue drains; a burst that needed more
/// gives them back, so a connection's idle cost stays small.
const KEEP_SLOTS: usize = 8;

/// A new queue of `capacity` events: the writing end for the hub, the
/// reading end for the connection's task.
pub fn outbox(capacity: usize) -> (Outbox, OutboxReader) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            capacity,
            evicted: false,
            closed: false,
            reader: None,
        }),
    });
    (
        Outbox {
            shared: shared.clone(),
        },
        OutboxReader { shared },
    )
}

struct Shared {
    state: Mutex<State>,
}

struct State {
    items: VecDeque<Outbound>,
    capacity: usize,
    /// The reader fell behind: it must close rather than read on.
    evicted: bool,
    /// One of the two ends is gone.
    closed: bool,
    /// The reader's task, waiting for something to read.
    reader: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the queue consistent (every
        // change is a single push, pop or flag), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The writing end, held by the connection's room or inbox membership.
/// Dropping it tells the reader nothing more will come.
pub struct Outbox {
    shared: Arc<Shared>,
}

/// What [`OutboxReader::next`] yields.
#[derive(Debug)]
pub enum Next {
    Event(Outbound),
    /// The queue overflowed: the connection cannot keep up and must close
    /// (the client resumes with `since`). Reported before anything queued.
    Evicted,
    /// The writing end is gone.
    Closed,
}

impl Outbox {
    /// Queues `item` without waiting. A full queue means the reader cannot
    /// keep up: it is evicted. True when queued.
    pub fn offer(&self, item: &Outbound, conn: ConnId) -> bool {
        let mut state = self.shared.lock();
        if state.closed || state.evicted {
            return false;
        }
        if state.items.len() >= state.capacity {
            state.evicted = true;
            // Nothing more will be read: free what waits.
            state.items = VecDeque::new();
            let reader = state.reader.take();
            drop(state);
            METRICS
                .slow_consumers_closed
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(conn, "outgoing queue full; closing slow connection");
            if let Some(reader) = reader {
                reader.wake();
            }
            return false;
        }
        state.items.push_back(item.clone());
        let reader = state.reader.take();
        drop(state);
        if let Some(reader) = reader {
            reader.wake();
        }
        true
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        let reader = state.reader.take();
        drop(state);
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

/// The reading end, owned by the connection's task.
pub struct OutboxReader {
    shared: Arc<Shared>,
}

impl OutboxReader {
    /// The next event, or why there will be none.
    pub async fn next(&mut self) -> Next {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// What is ready now, without waiting (`None`: nothing yet).
    pub fn try_next(&mut self) -> Option<Next> {
        let mut state = self.shared.lock();
        Self::take(&mut state)
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Next> {
        let mut state = self.shared.lock();
        match Self::take(&mut state) {
            Some(next) => Poll::Ready(next),
            None => {
                // Registered under the lock: an offer after this sees it.
                if !state
                    .reader
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.reader = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    fn take(state: &mut State) -> Option<Next> {
        if state.evicted {
            return Some(Next::Evicted);
        }
        if let Some(item) = state.items.pop_front() {
            if state.items.is_empty() && state.items.capacity() > KEEP_SLOTS {
                state.items = VecDeque::new();
            }
            return Some(Next::Event(item));
        }
        if state.closed {
            return Some(Next::Closed);
        }
        None
    }
}

impl Drop for OutboxReader {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        state.items = VecDeque::new();
        // The waker holds the connection's task: let it go with the reader,
        // not when the room drops its end.
        state.reader = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Encoded;

    fn event(n: i64) -> Outbound {
        Arc::new(Encoded::Frame {
            seq: Some(n),
            text: format!("m{n}").into(),
        })
    }

    fn seq(next: Option<Next>) -> Option<i64> {
        match next {
            Some(Next::Event(e)) => match &*e {
                Encoded::Frame { seq, .. } => *seq,
                Encoded::Close(_) => None,
            },
            _ => None,
        }
    }

    #[test]
    fn events_come_out_in_the_order_they_were_offered() {
        let (outbox, mut reader) = outbox(4);
        for n in 1..=3 {
            assert!(outbox.offer(&event(n), 1));
        }
        assert_eq!(seq(reader.try_next()), Some(1));
        assert_eq!(seq(reader.try_next()), Some(2));
        assert_eq!(seq(reader.try_next()), Some(3));
        assert!(reader.try_next().is_none());
    }

    #[test]
    fn an_offer_to_a_full_queue_evicts_the_reader_before_anything_queued() {
        let (outbox, mut reader) = outbox(2);
        assert!(outbox.offer(&event(1), 1));
        assert!(outbox.offer(&event(2), 1));
        assert!(!outbox.offer(&event(3), 1));
        assert!(matches!(reader.try_next(), Some(Next::Evicted)));
        // Evicted stays evicted: nothing more is queued or read.
        assert!(!outbox.offer(&event(4), 1));
        assert!(matches!(reader.try_next(), Some(Next::Evicted)));
    }

    #[test]
    fn the_reader_learns_that_the_writer_is_gone_after_what_it_queued() {
        let (outbox, mut reader) = outbox(4);
        assert!(outbox.offer(&event(1), 1));
        drop(outbox);
        assert_eq!(seq(reader.try_next()), Some(1));
        assert!(matches!(reader.try_next(), Some(Next::Closed)));
    }

    #[test]
    fn offers_after_the_reader_is_gone_are_refused() {
        let (outbox, reader) = outbox(4);
        drop(reader);
        assert!(!outbox.offer(&event(1), 1));
    }

    #[test]
    fn a_drained_queue_gives_back_the_slots_of_a_burst() {
        let (outbox, mut reader) = outbox(256);
        for n in 0..100 {
            assert!(outbox.offer(&event(n), 1));
        }
        while let Some(Next::Event(_)) = reader.try_next() {}
        assert_eq!(outbox.shared.lock().items.capacity(), 0);
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_for_an_offer_from_another_task() {
        let (outbox, mut reader) = outbox(4);
        let writer = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            assert!(outbox.offer(&event(7), 1));
            outbox
        });
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), reader.next())
            .await
            .expect("woken by the offer");
        assert_eq!(seq(Some(next)), Some(7));
        drop(writer.await.unwrap());
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), reader.next())
            .await
            .expect("woken by the writer's drop");
        assert!(matches!(next, Next::Closed));
    }

    #[test]
    fn a_dropped_reader_lets_go_of_its_waker() {
        struct Count;
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {}
        }
        let count = Arc::new(Count);
        let waker = std::task::Waker::from(count.clone());
        let (outbox, mut reader) = outbox(4);
        let mut cx = Context::from_waker(&waker);
        assert!(reader.poll_next(&mut cx).is_pending());
        drop(waker);
        assert_eq!(Arc::strong_count(&count), 2, "the outbox keeps the waker");
        drop(reader);
        assert_eq!(
            Arc::strong_count(&count),
            1,
            "the reader's drop releases it"
        );
        drop(outbox);
    }
}
