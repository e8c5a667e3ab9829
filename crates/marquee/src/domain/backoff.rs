//! Capped exponential backoff with jitter, for TMDB retries and for queue re-attempts.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first retry waits about this long.
    pub base: Duration,
    /// No single wait exceeds this.
    pub cap: Duration,
}

impl Backoff {
    /// TMDB requests: fast retries, never longer than 10 s.
    pub const TMDB: Backoff = Backoff { base: Duration::from_millis(250), cap: Duration::from_secs(10) };
    /// Queue rows that failed: the ceiling doubles from 30 s up to an hour, and each wait is half to
    /// all of it ([`Backoff::delay`]), so 15 s to 1 h between attempts.
    pub const QUEUE: Backoff = Backoff { base: Duration::from_secs(30), cap: Duration::from_secs(3600) };

    /// The cap-limited exponential for retry number `attempt` (1 = first retry).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(self.cap)
    }

    /// Wait before retry `attempt`: the ceiling scaled by a jitter factor in [0.5, 1.0] ("equal
    /// jitter"), so concurrent clients spread out but never retry at once. `unit` is a uniform
    /// draw in [0, 1).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        self.ceiling(attempt).mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }

    /// After a 429: the server's `Retry-After` when present (within the cap), else the backoff.
    pub fn after_throttle(&self, retry_after: Option<Duration>, attempt: u32, unit: f64) -> Duration {
        match retry_after {
            Some(wait) => wait.min(self.cap),
            None => self.delay(attempt, unit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn delays_stay_between_half_and_all_of_the_capped_exponential(
            attempt in 0u32..200, unit in 0.0f64..1.0, base_ms in 1u64..120_000, cap_ms in 1u64..10_000_000,
        ) {
            let b = Backoff { base: Duration::from_millis(base_ms), cap: Duration::from_millis(cap_ms) };
            let d = b.delay(attempt, unit);
            prop_assert!(d <= b.cap);
            prop_assert!(d <= b.ceiling(attempt));
            prop_assert!(d >= b.ceiling(attempt) / 2);
            prop_assert!(b.ceiling(attempt) <= b.ceiling(attempt + 1));
        }

        #[test]
        fn retry_after_is_honoured_within_the_cap(secs in 0u64..100_000, attempt in 1u32..10, unit in 0.0f64..1.0) {
            let wait = Backoff::TMDB.after_throttle(Some(Duration::from_secs(secs)), attempt, unit);
            prop_assert_eq!(wait, Duration::from_secs(secs).min(Backoff::TMDB.cap));
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(Backoff::TMDB.ceiling(1), Duration::from_millis(250));
        assert_eq!(Backoff::TMDB.ceiling(3), Duration::from_secs(1));
        assert_eq!(Backoff::TMDB.ceiling(30), Duration::from_secs(10));
        assert_eq!(Backoff::QUEUE.delay(1, 0.0), Duration::from_secs(15));
    }
}
