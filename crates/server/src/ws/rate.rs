//! A token bucket: `rate` per second on average, with a burst of `burst`.

use std::time::Instant;

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
        if self.rate == 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
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
    fn zero_means_unlimited() {
        let mut bucket = TokenBucket::new(0, 0);
        assert!((0..10_000).all(|_| bucket.try_take()));
    }
}
