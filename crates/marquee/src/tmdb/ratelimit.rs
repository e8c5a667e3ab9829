//! A rate limiter shared by every TMDB request of one invocation: requests start at most
//! `rps` per second (evenly spaced), at most `max_in_flight` run at once, and a 429 pauses
//! everyone until its `Retry-After` has passed.
//!
//! Single-threaded by design (`Cell`s, no `Send`): Spin runs one invocation on one thread, and
//! the native runtime drives the library the same way.

use std::cell::Cell;
use std::time::Duration;

use async_lock::{Semaphore, SemaphoreGuard};
use chrono::{DateTime, Utc};

use crate::ports::Clock;

pub struct RateLimiter {
    interval: Duration,
    next_start: Cell<Option<DateTime<Utc>>>,
    in_flight: Semaphore,
}

pub struct Permit<'a> {
    _slot: SemaphoreGuard<'a>,
}

impl RateLimiter {
    pub fn new(rps: u32, max_in_flight: usize) -> Self {
        Self {
            interval: Duration::from_secs(1) / rps.max(1),
            next_start: Cell::new(None),
            in_flight: Semaphore::new(max_in_flight.max(1)),
        }
    }

    /// Waits for a free connection slot, then for this request's start time.
    pub async fn acquire(&self, clock: &impl Clock) -> Permit<'_> {
        let slot = self.in_flight.acquire().await;
        let now = clock.now();
        // Reserve the next start time before sleeping, so concurrent callers queue behind it.
        let start = self.next_start.get().filter(|t| *t > now).unwrap_or(now);
        self.next_start.set(Some(start + self.interval));
        if let Ok(wait) = (start - now).to_std()
            && !wait.is_zero()
        {
            clock.sleep(wait).await;
        }
        Permit { _slot: slot }
    }

    /// After a 429: nobody starts before `until`.
    pub fn pause_until(&self, until: DateTime<Utc>) {
        if self.next_start.get().is_none_or(|t| t < until) {
            self.next_start.set(Some(until));
        }
    }
}
