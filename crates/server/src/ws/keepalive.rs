//! The timing rules every socket of ours keeps: a ping every heartbeat, a
//! close after two heartbeats without hearing from the peer (a half-open
//! socket), and a close when the token expires.
//!
//! They share one timer with whatever else a connection waits for (the
//! typing deadline): the connection's task re-arms a single `Sleep` for the
//! earliest of them. Three live timers per connection (an `Interval` boxes
//! its own) cost several hundred bytes on every idle socket; one costs a
//! fraction of that, and the arithmetic is cheaper than the timer wheel.

use soporte_protocol::Timestamp;
use std::time::Duration;
use tokio::time::Instant;

/// What the timer found due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Time to ping the peer.
    Ping,
    /// Nothing heard for two heartbeats: the peer is gone.
    Silent,
    /// The token expired: the connection must close (1008).
    Expired,
}

pub struct Keepalive {
    heartbeat: Duration,
    next_ping: Instant,
    last_heard: Instant,
    expires: Instant,
}

impl Keepalive {
    pub fn new(heartbeat: Duration, token_expires_at: Timestamp) -> Keepalive {
        let now = Instant::now();
        let left = (token_expires_at.millis() - Timestamp::now().millis()).max(0) as u64;
        Keepalive {
            heartbeat,
            next_ping: now + heartbeat,
            last_heard: now,
            expires: now + Duration::from_millis(left),
        }
    }

    /// The peer sent something: it is alive.
    pub fn heard(&mut self) {
        self.last_heard = Instant::now();
    }

    /// When the connection's timer must fire next, given its own `other`
    /// deadline (if any).
    pub fn wake_at(&self, other: Option<Instant>) -> Instant {
        let mine = self.next_ping.min(self.expires);
        other.map_or(mine, |other| other.min(mine))
    }

    /// What is due at `now`; a ping schedules the next one.
    pub fn due(&mut self, now: Instant) -> Option<Due> {
        if now >= self.expires {
            return Some(Due::Expired);
        }
        if now < self.next_ping {
            return None;
        }
        self.next_ping = now + self.heartbeat;
        if now.duration_since(self.last_heard) > self.heartbeat * 2 {
            Some(Due::Silent)
        } else {
            Some(Due::Ping)
        }
    }
}

/// Re-arms `timer` for `at` when it is set for another time or has fired
/// (a fired `Sleep` stays ready until reset).
pub fn arm(timer: std::pin::Pin<&mut tokio::time::Sleep>, at: Instant) {
    if timer.deadline() != at || timer.is_elapsed() {
        timer.reset(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEAT: Duration = Duration::from_secs(30);
    const HOUR: i64 = 3_600_000;

    fn in_ms(ms: i64) -> Timestamp {
        Timestamp::from_millis(Timestamp::now().millis() + ms)
    }

    /// A keepalive and the instant it started counting from.
    fn started(expires_in_ms: i64) -> (Keepalive, Instant) {
        let keepalive = Keepalive::new(BEAT, in_ms(expires_in_ms));
        let start = keepalive.last_heard;
        (keepalive, start)
    }

    #[test]
    fn pings_every_heartbeat_while_the_peer_is_heard() {
        let (mut keepalive, start) = started(HOUR);
        assert_eq!(keepalive.wake_at(None), start + BEAT);
        assert_eq!(keepalive.due(start + BEAT / 2), None);
        assert_eq!(keepalive.due(start + BEAT), Some(Due::Ping));
        assert_eq!(keepalive.wake_at(None), start + BEAT * 2);
        assert_eq!(keepalive.due(start + BEAT * 2), Some(Due::Ping));
    }

    #[test]
    fn a_peer_silent_for_two_heartbeats_is_gone() {
        let (mut keepalive, start) = started(HOUR);
        assert_eq!(keepalive.due(start + BEAT), Some(Due::Ping));
        assert_eq!(keepalive.due(start + BEAT * 2), Some(Due::Ping));
        let late = start + BEAT * 3;
        assert_eq!(keepalive.due(late), Some(Due::Silent));
        // Hearing from the peer in time keeps it alive.
        let (mut keepalive, start) = started(HOUR);
        keepalive.last_heard = start + BEAT * 2;
        assert_eq!(keepalive.due(start + BEAT * 3), Some(Due::Ping));
    }

    #[test]
    fn the_token_expiry_comes_first_when_it_is_earlier() {
        let (mut keepalive, start) = started(5_000);
        let expires = keepalive.wake_at(None);
        assert!(
            expires <= start + Duration::from_millis(5_100) && expires > start,
            "{expires:?}"
        );
        // Another deadline earlier still wins.
        let typing = start + Duration::from_secs(1);
        assert_eq!(keepalive.wake_at(Some(typing)), typing);
        assert_eq!(keepalive.due(typing), None);
        assert_eq!(keepalive.due(expires), Some(Due::Expired));
    }

    #[test]
    fn an_expired_token_is_due_at_once() {
        let (mut keepalive, start) = started(-1_000);
        assert_eq!(keepalive.due(start), Some(Due::Expired));
    }
}
