//! The time the server's time-dependent rules judge by (auto-close, the
//! rating window): the system's, or in tests one moved forward on purpose,
//! so "seven days later" is tested without waiting seven days.
//!
//! A moved clock is the system's plus an offset that only grows: what the
//! store wrote with the system time stays in the past of the rules' "now".

use soporte_protocol::Timestamp;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Its offset in milliseconds, watched by the sweeps that judge by it.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<watch::Sender<i64>>>);

/// A clock's moves, as one sweep sees them: a move made while the sweep was
/// busy is still seen at its next wait.
pub struct Moves(Option<watch::Receiver<i64>>);

impl Moves {
    /// Resolves when the clock has moved since the last call; never for the
    /// system's clock.
    pub async fn next(&mut self) {
        match &mut self.0 {
            Some(moves) => {
                if moves.changed().await.is_err() {
                    std::future::pending::<()>().await
                }
            }
            None => std::future::pending().await,
        }
    }
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that keeps the system's time until [`Clock::advance`] moves it.
    pub fn movable() -> Clock {
        Clock(Some(Arc::new(watch::channel(0).0)))
    }

    pub fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        match &self.0 {
            None => now,
            Some(offset) => Timestamp::from_millis(now.millis() + *offset.borrow()),
        }
    }

    /// Moves a movable clock forward by `by` and wakes what judges by it.
    /// The system's clock cannot be moved: a no-op.
    pub fn advance(&self, by: Duration) {
        if let Some(offset) = &self.0 {
            offset.send_modify(|offset| *offset += by.as_millis() as i64);
        }
    }

    pub fn moves(&self) -> Moves {
        Moves(self.0.as_ref().map(|offset| offset.subscribe()))
    }

    /// Wakes every `period` (the first at once) and whenever this clock moves.
    pub fn every(&self, period: Duration) -> Wakeups {
        Wakeups {
            tick: tokio::time::interval(period),
            moves: self.moves(),
        }
    }
}

/// A sweep's wake-ups: every `period`, and whenever the clock moves.
pub struct Wakeups {
    tick: tokio::time::Interval,
    moves: Moves,
}

impl Wakeups {
    pub async fn next(&mut self) {
        tokio::select! {
            _ = self.tick.tick() => {}
            _ = self.moves.next() => {}
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Clock::system"),
            Some(offset) => write!(f, "Clock::movable(+{} ms)", *offset.borrow()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_movable_clock_moves_forward_and_wakes_its_waiters() {
        let clock = Clock::movable();
        let before = clock.now();
        let mut moves = clock.moves();
        // Moved before the sweep waits: the wait still sees it.
        clock.advance(Duration::from_secs(7 * 86_400));
        tokio::time::timeout(Duration::from_secs(5), moves.next())
            .await
            .expect("the move is seen");
        assert!(clock.now().millis() - before.millis() >= 7 * 86_400_000);
        // The system's clock ignores it.
        let system = Clock::system();
        system.advance(Duration::from_secs(86_400));
        assert!(system.now().millis() - Timestamp::now().millis() < 1_000);
    }
}
