//! Rate limits: a token bucket, buckets by key (a user, an address), and the
//! per-user message budgets built on them.
//!
//! A connection has buckets of its own (in `ws::session`); a user has one
//! message budget, spent by every message they send, whichever way it comes:
//! any of their sockets, or REST `sync/`. So opening more sockets, or posting
//! through REST instead, does not multiply how fast one user may write. In
//! cluster mode the budget is shared by the nodes through Redis
//! ([`crate::cluster::budgets`]), so connecting to more nodes does not either.

use crate::cluster::budgets::RedisBudgets;
use soporte_protocol::UserId;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a message may wait on Redis for its budget. Past it, this node's
/// own budget answers: a message must not stall its socket on a slow Redis.
const SHARED_TIMEOUT: Duration = Duration::from_millis(200);
/// After Redis failed to answer, how long every message is counted on this
/// node alone before Redis is asked again.
const SHARED_RETRY: Duration = Duration::from_secs(2);

/// Each user's message budget: `rate` messages per second with a burst of
/// three seconds' worth, kept whether or not the user has a socket open.
pub struct MessageBudgets {
    rate: u32,
    local: KeyedBuckets<UserId>,
    /// Cluster mode: the budget all nodes share. This node's own buckets
    /// stand in while Redis cannot answer.
    shared: Option<RedisBudgets>,
    /// Set while Redis is failing: when to ask it again.
    shared_retry_at: Mutex<Option<Instant>>,
}

/// A token bucket per key, each `rate` per second with `burst`; only keys
/// that spent some of theirs recently are kept.
pub struct KeyedBuckets<K> {
    rate: u32,
    burst: u32,
    buckets: Mutex<Buckets<K>>,
}

struct Buckets<K> {
    by_key: HashMap<K, TokenBucket>,
    /// The map is swept of refilled buckets when it reaches this size.
    sweep_at: usize,
}

/// A map this small is never swept: sweeping it would cost more than it holds.
const MIN_SWEEP_AT: usize = 1024;

impl MessageBudgets {
    /// `rate == 0` turns the budgets off.
    pub fn new(rate: u32) -> MessageBudgets {
        MessageBudgets {
            rate,
            local: KeyedBuckets::new(rate, burst(rate)),
            shared: None,
            shared_retry_at: Mutex::new(None),
        }
    }

    /// Cluster mode: the budgets live in Redis, shared by every node.
    pub fn shared(rate: u32, redis: std::sync::Arc<crate::cluster::Redis>) -> MessageBudgets {
        MessageBudgets {
            shared: Some(RedisBudgets::new(redis, rate, burst(rate))),
            ..MessageBudgets::new(rate)
        }
    }

    /// Takes one message from `user`'s budget; false when they are sending
    /// too fast.
    pub async fn try_take(&self, user: UserId) -> bool {
        self.take_up_to(user, 1).await == 1
    }

    /// Takes up to `wanted` messages from `user`'s budget at once and says
    /// how many it took: a batch gets a prefix, never a gap.
    pub async fn take_up_to(&self, user: UserId, wanted: u32) -> u32 {
        if self.rate == 0 {
            return wanted;
        }
        if let Some(shared) = self.shared.as_ref().filter(|_| self.shared_usable()) {
            // A reply that comes too late may still have spent the shared
            // budget: the message then counts twice, never zero times.
            match tokio::time::timeout(SHARED_TIMEOUT, shared.take_up_to(user, wanted)).await {
                Ok(Ok(taken)) => {
                    self.shared_answered();
                    return taken;
                }
                Ok(Err(error)) => self.shared_failed(&error),
                Err(_) => self.shared_failed("timed out"),
            }
        }
        self.take_locally(user, wanted)
    }

    fn shared_usable(&self) -> bool {
        let retry_at = self.shared_retry_at.lock().expect("budgets lock");
        retry_at.is_none_or(|at| Instant::now() >= at)
    }

    fn shared_answered(&self) {
        if self
            .shared_retry_at
            .lock()
            .expect("budgets lock")
            .take()
            .is_some()
        {
            tracing::info!("message budgets are shared through Redis again");
        }
    }

    fn shared_failed(&self, error: &str) {
        let mut retry_at = self.shared_retry_at.lock().expect("budgets lock");
        if retry_at.is_none() {
            tracing::warn!(%error, "Redis cannot keep the message budgets; each node keeps its own until it can");
        }
        *retry_at = Some(Instant::now() + SHARED_RETRY);
    }

    /// This node's own budget for `user`.
    fn take_locally(&self, user: UserId, wanted: u32) -> u32 {
        self.take_locally_at(user, wanted, Instant::now())
    }

    fn take_locally_at(&self, user: UserId, wanted: u32, now: Instant) -> u32 {
        self.local.take_up_to_at(user, wanted, now)
    }

    #[cfg(test)]
    fn users_kept(&self) -> usize {
        self.local.kept()
    }
}

impl<K: Hash + Eq> KeyedBuckets<K> {
    /// `rate == 0` means unlimited.
    pub fn new(rate: u32, burst: u32) -> KeyedBuckets<K> {
        KeyedBuckets {
            rate,
            burst,
            buckets: Mutex::new(Buckets {
                by_key: HashMap::new(),
                sweep_at: MIN_SWEEP_AT,
            }),
        }
    }

    /// Takes one from `key`'s bucket; false when it is empty.
    pub fn try_take(&self, key: K) -> bool {
        self.take_up_to_at(key, 1, Instant::now()) == 1
    }

    fn take_up_to_at(&self, key: K, wanted: u32, now: Instant) -> u32 {
        if self.rate == 0 {
            return wanted;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (rate, burst) = (self.rate, self.burst);
        let taken = buckets
            .by_key
            .entry(key)
            .or_insert_with(|| TokenBucket::new(rate, burst))
            .take_up_to_at(wanted, now);
        buckets.sweep(now);
        taken
    }

    #[cfg(test)]
    fn kept(&self) -> usize {
        self.buckets.lock().expect("buckets lock").by_key.len()
    }
}

/// A user's burst: three seconds' worth.
fn burst(rate: u32) -> u32 {
    rate.saturating_mul(3)
}

impl<K: Hash + Eq> Buckets<K> {
    /// A bucket that has refilled is the same as a new one, so it can go:
    /// the map holds only keys that spent in the last few seconds. Sweeping
    /// when the map doubles keeps the cost per take constant.
    fn sweep(&mut self, now: Instant) {
        if self.by_key.len() < self.sweep_at {
            return;
        }
        self.by_key.retain(|_, bucket| !bucket.is_full_at(now));
        self.sweep_at = (self.by_key.len() * 2).max(MIN_SWEEP_AT);
    }
}

pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate == 0` means unlimited.
    pub fn new(rate: u32, burst: u32) -> TokenBucket {
        TokenBucket {
            rate: rate as f64,
            burst: burst.max(1) as f64,
            tokens: burst.max(1) as f64,
            last: Instant::now(),
        }
    }

    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&mut self, now: Instant) -> bool {
        self.take_up_to_at(1, now) == 1
    }

    fn take_up_to_at(&mut self, wanted: u32, now: Instant) -> u32 {
        if self.rate == 0.0 {
            return wanted;
        }
        self.refill(now);
        let taken = (self.tokens.floor() as u32).min(wanted);
        self.tokens -= f64::from(taken);
        taken
    }

    fn is_full_at(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_burst_passes_then_the_rate_applies() {
        let start = Instant::now();
        let mut bucket = TokenBucket {
            last: start,
            ..TokenBucket::new(10, 30)
        };
        for _ in 0..30 {
            assert!(bucket.try_take_at(start));
        }
        assert!(!bucket.try_take_at(start));
        // 100 ms at 10/s gives back exactly one.
        let later = start + Duration::from_millis(100);
        assert!(bucket.try_take_at(later));
        assert!(!bucket.try_take_at(later));
    }

    #[test]
    fn a_batch_takes_what_is_left_and_no_more() {
        let start = Instant::now();
        let mut bucket = TokenBucket {
            last: start,
            ..TokenBucket::new(2, 6)
        };
        assert_eq!(bucket.take_up_to_at(4, start), 4);
        assert_eq!(bucket.take_up_to_at(4, start), 2);
        assert_eq!(bucket.take_up_to_at(4, start), 0);
        assert_eq!(bucket.take_up_to_at(4, start + Duration::from_secs(1)), 2);
    }

    #[test]
    fn every_way_a_user_writes_spends_one_budget_and_other_users_have_their_own() {
        let budgets = MessageBudgets::new(2);
        // New buckets start full whatever the clock; then one instant for all.
        let now = Instant::now() + Duration::from_secs(1);
        // A burst of three seconds' worth (6), whether taken one by one
        // (sockets) or as a batch (REST sync).
        let take = |user, wanted| budgets.take_locally_at(user, wanted, now);
        assert_eq!((0..4).filter(|_| take(1, 1) == 1).count(), 4);
        assert_eq!(take(1, 100), 2);
        assert_eq!(take(1, 1), 0);
        assert_eq!(take(2, 1), 1, "another user has their own budget");
    }

    #[tokio::test]
    async fn while_redis_does_not_answer_each_message_is_counted_here_without_waiting() {
        // A "Redis" that accepts connections and never answers (a network
        // partition looks the same).
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("redis://{}", silent.local_addr().unwrap());
        let budgets = MessageBudgets::shared(1, crate::cluster::Redis::open(&url).unwrap());
        // The first message waits for Redis at most SHARED_TIMEOUT, then
        // this node's budget (burst 3) answers.
        assert_eq!(budgets.take_up_to(7, 10).await, 3);
        assert!(!budgets.shared_usable(), "Redis is not asked again at once");
        // The next ones are counted here without asking Redis: were it
        // asked, the call would last SHARED_TIMEOUT.
        let started = Instant::now();
        assert_eq!(budgets.take_up_to(7, 10).await, 0);
        assert!(budgets.try_take(8).await);
        assert!(
            started.elapsed() < SHARED_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
        drop(silent);
    }

    #[tokio::test]
    async fn a_rate_of_zero_turns_the_budgets_off() {
        let budgets = MessageBudgets::new(0);
        assert_eq!(budgets.take_up_to(1, 1_000).await, 1_000);
        assert!(budgets.try_take(1).await);
    }

    #[test]
    fn refilled_budgets_are_forgotten_and_spent_ones_kept() {
        let budgets = MessageBudgets::new(1);
        // One user spent their budget; many others wrote one message each
        // long enough ago (in the bucket's clock) to have refilled.
        assert_eq!(budgets.take_locally(0, 10), 3);
        {
            let mut buckets = budgets.local.buckets.lock().unwrap();
            let long_ago = Instant::now() - Duration::from_secs(10);
            for user in 1..MIN_SWEEP_AT as UserId {
                let mut bucket = TokenBucket::new(1, 3);
                bucket.last = long_ago;
                bucket.tokens = 2.0;
                buckets.by_key.insert(user, bucket);
            }
        }
        assert_eq!(budgets.users_kept(), MIN_SWEEP_AT);
        // The next message sweeps: the refilled ones go, the spent one stays
        // (forgetting it would hand its user a fresh burst).
        assert_eq!(budgets.take_locally(MIN_SWEEP_AT as UserId, 1), 1);
        assert_eq!(budgets.users_kept(), 2);
        assert_eq!(budgets.take_locally(0, 10), 0, "still spent");
    }

    #[test]
    fn zero_means_unlimited() {
        let mut bucket = TokenBucket::new(0, 0);
        assert!((0..10_000).all(|_| bucket.try_take()));
    }
}
