//! A rate limiter shared by every TMDB request of one invocation: requests start at most
//! `rps` per second (evenly spaced), at most `max_in_flight` run at once, and a 429 pauses
//! everyone until its `Retry-After` has passed. Every wait is cut by the invocation's deadline:
//! a request whose start would fall at or after it is refused at once rather than waiting.
//!
//! Single-threaded by design (`Cell`s, no `Send`): Spin runs one invocation on one thread, and
//! the native runtime drives the library the same way.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use async_lock::{Semaphore, SemaphoreGuard};
use chrono::{DateTime, Utc};
use futures::future::{Either, select};

use crate::ports::Clock;

pub struct RateLimiter {
    interval: Duration,
    /// The earliest start not yet reserved.
    next_start: Cell<Option<DateTime<Utc>>>,
    /// After a 429: nobody starts before this, including requests already waiting for a slot.
    paused_until: Cell<Option<DateTime<Utc>>>,
    in_flight: Semaphore,
}

pub struct Permit<'a> {
    _slot: SemaphoreGuard<'a>,
}

/// The deadline came before a start slot: nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSlotBeforeDeadline;

impl RateLimiter {
    pub fn new(rps: u32, max_in_flight: usize) -> Self {
        Self {
            interval: Duration::from_secs(1) / rps.max(1),
            next_start: Cell::new(None),
            paused_until: Cell::new(None),
            in_flight: Semaphore::new(max_in_flight.max(1)),
        }
    }

    /// Waits for a free connection slot, then for this request's start time; refuses when
    /// either wait would reach `deadline`.
    pub async fn acquire(
        &self,
        clock: &impl Clock,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Permit<'_>, NoSlotBeforeDeadline> {
        let slot = before(clock, deadline, self.in_flight.acquire()).await.ok_or(NoSlotBeforeDeadline)?;
        loop {
            let now = clock.now();
            let start = [self.next_start.get(), self.paused_until.get()].into_iter().flatten().fold(now, DateTime::max);
            if deadline.is_some_and(|d| start >= d) {
                return Err(NoSlotBeforeDeadline);
            }
            // Reserve the start before sleeping, so concurrent callers queue behind it.
            self.next_start.set(Some(start + self.interval));
            if let Ok(wait) = (start - now).to_std()
                && !wait.is_zero()
            {
                clock.sleep(wait).await;
            }
            // A 429 that arrived while we waited holds us back too: queue again behind it.
            if self.paused_until.get().is_none_or(|until| until <= start) {
                return Ok(Permit { _slot: slot });
            }
        }
    }

    /// After a 429: nobody starts before `until`.
    pub fn pause_until(&self, until: DateTime<Utc>) {
        if self.paused_until.get().is_none_or(|t| t < until) {
            self.paused_until.set(Some(until));
        }
    }
}

/// `work`'s output, or `None` when `deadline` comes first (`work` is then dropped, i.e.
/// cancelled). With no deadline, simply `work`.
pub async fn before<F: Future>(clock: &impl Clock, deadline: Option<DateTime<Utc>>, work: F) -> Option<F::Output> {
    let Some(deadline) = deadline else {
        return Some(work.await);
    };
    let left = (deadline - clock.now()).to_std().ok().filter(|d| !d.is_zero())?;
    match select(std::pin::pin!(work), std::pin::pin!(clock.sleep(left))).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(((), _)) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use futures::executor::block_on;
    use futures::future::join_all;

    use super::*;
    use crate::testing::VirtualClock;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn starts_are_spaced_at_exactly_one_over_rps() {
        let clock = VirtualClock::default();
        let limiter = RateLimiter::new(4, 20);
        let starts = RefCell::new(Vec::new());
        block_on(join_all((0..6).map(|_| async {
            let _permit = limiter.acquire(&clock, None).await.unwrap();
            starts.borrow_mut().push(clock.elapsed());
        })));
        assert_eq!(starts.into_inner(), [0, 250, 500, 750, 1000, 1250].map(ms));
    }

    #[test]
    fn a_start_at_or_after_the_deadline_is_refused_at_once() {
        let clock = VirtualClock::default();
        let limiter = RateLimiter::new(1, 20);
        let deadline = Some(clock.now() + Duration::from_secs(2));
        let results = RefCell::new(Vec::new());
        block_on(join_all((0..4).map(|_| async {
            let result = limiter.acquire(&clock, deadline).await.map(|_| ());
            results.borrow_mut().push((result, clock.elapsed()));
        })));
        let mut results = results.into_inner();
        results.sort_by_key(|(_, at)| *at);
        // Slots at 0 s and 1 s; the slot at 2 s is the deadline itself: refused, without waiting.
        assert_eq!(
            results,
            [
                (Ok(()), ms(0)),
                (Err(NoSlotBeforeDeadline), ms(0)),
                (Err(NoSlotBeforeDeadline), ms(0)),
                (Ok(()), ms(1000)),
            ]
        );
        assert_eq!(clock.elapsed(), ms(1000), "nobody waited for a refused slot");
    }

    #[test]
    fn waiting_for_a_connection_slot_is_cut_by_the_deadline() {
        let clock = VirtualClock::default();
        let limiter = RateLimiter::new(1000, 1);
        // One permit held for 10 s; the second caller's deadline is 3 s away.
        let refused = RefCell::new(None);
        block_on(futures::future::join(
            async {
                let _permit = limiter.acquire(&clock, None).await.unwrap();
                clock.sleep(Duration::from_secs(10)).await;
            },
            async {
                let result = limiter.acquire(&clock, Some(clock.now() + Duration::from_secs(3))).await.map(|_| ());
                *refused.borrow_mut() = Some((result, clock.elapsed()));
            },
        ));
        assert_eq!(refused.into_inner(), Some((Err(NoSlotBeforeDeadline), ms(3000))));
    }

    #[test]
    fn a_pause_holds_back_requests_already_waiting_for_their_slot() {
        let clock = VirtualClock::default();
        let limiter = RateLimiter::new(10, 20);
        let starts = RefCell::new(Vec::new());
        block_on(join_all((0..3).map(|i| {
            let (clock, limiter, starts) = (&clock, &limiter, &starts);
            async move {
                if i == 0 {
                    clock.sleep(ms(50)).await;
                    limiter.pause_until(clock.now() + Duration::from_secs(2));
                    return;
                }
                let _permit = limiter.acquire(clock, None).await.unwrap();
                starts.borrow_mut().push(clock.elapsed());
            }
        })));
        // Reserved 0 ms and 100 ms; the second was waiting when the pause (until 2.05 s) came.
        assert_eq!(starts.into_inner(), [ms(0), ms(2050)]);
    }
}
