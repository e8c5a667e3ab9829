//! Capped exponential backoff with jitter.

use std::time::Duration;

/// Base of the exponential: the first retry waits about this long.
pub const BASE: Duration = Duration::from_millis(250);

/// Wait before retry number `attempt` (1 = first retry): `min(cap, BASE·2^(attempt-1))`, scaled by
/// a jitter factor in [0.5, 1.0] ("equal jitter") so concurrent clients spread out but never
/// retry immediately. `unit` is a uniform draw in [0, 1).
pub fn delay(attempt: u32, cap: Duration, unit: f64) -> Duration {
    let exp = BASE.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let ceiling = exp.min(cap);
    ceiling.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

/// Wait before a retry after a 429/503: the server's `Retry-After` (seconds) when present, within
/// the cap, else the backoff.
pub fn after_throttle(retry_after: Option<Duration>, attempt: u32, cap: Duration, unit: f64) -> Duration {
    match retry_after {
        Some(wait) => wait.min(cap),
        None => delay(attempt, cap, unit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_stays_within_half_and_full_of_capped_exponential() {
        let cap = Duration::from_secs(10);
        for attempt in 1..40 {
            let ceiling = BASE.saturating_mul(1 << (attempt - 1).min(20)).min(cap);
            for unit in [0.0, 0.25, 0.5, 0.999_999] {
                let d = delay(attempt, cap, unit);
                assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt} unit {unit}: {d:?}");
            }
        }
        assert_eq!(delay(1, cap, 0.999_999_999).as_millis(), 249);
        assert_eq!(delay(30, cap, 0.0), Duration::from_secs(5));
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let cap = Duration::from_secs(10);
        assert_eq!(after_throttle(Some(Duration::from_secs(2)), 1, cap, 0.3), Duration::from_secs(2));
        assert_eq!(after_throttle(Some(Duration::from_secs(60)), 1, cap, 0.3), cap);
        assert!(after_throttle(None, 1, cap, 0.0) >= BASE / 2);
    }
}
