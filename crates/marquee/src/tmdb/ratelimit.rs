//! A rate limiter shared by every TMDB request of one invocation, which learns TMDB's real
//! limit from its 429s. Requests start evenly spaced at the current rate, at most
//! `max_in_flight` run at once, and a 429 pauses everyone until its `Retry-After` has passed.
//! Every wait is cut by the invocation's deadline: a request whose start would fall at or after
//! it is refused at once rather than waiting.
//!
//! **How the rate is learned** (AIMD-like, tuned for short invocations against a token bucket):
//! - The configured `tmdb_rate_limit_rps` is a ceiling, never exceeded.
//! - On a 429, the rate drops to [`UNDER_ACCEPTED`] × what TMDB accepted from us over the last
//!   [`WINDOW`] before the throttled request started (TMDB's real rate, measured; a multiplicative
//!   cut would need several 429s to get there, and each costs a `Retry-After` pause). One 429
//!   never cuts below [`MAX_CUT`] × the current rate, so a 429 with nothing accepted before it
//!   (other instances used up the IP's limit) halves-and-halves instead of stopping dead.
//! - A 429 for a request sent before the last lowering is the same congestion seen late: it
//!   pauses, but does not lower again.
//! - While TMDB accepts, the rate climbs back by [`PROBE_STEP`] of the learned rate per full
//!   second since it was learned (additive, so concurrent invocations converge to fair
//!   shares), up to the ceiling. The climb is a pure function of time since the 429
//!   ([`LearnedRate::rate_at`]), so a rate shared through the database keeps climbing between
//!   invocations exactly as it does within one.
//!
//! Single-threaded by design (`Cell`s, no `Send`): Spin runs one invocation on one thread, and
//! the native runtime drives the library the same way.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use async_lock::{Semaphore, SemaphoreGuard};
use chrono::{DateTime, Utc};
use futures::future::{Either, select};

use crate::ports::Clock;

/// How far back "what TMDB accepted" is measured when a 429 comes.
pub const WINDOW: Duration = Duration::from_secs(1);
/// After a 429, the rate is this share of what TMDB accepted over the last [`WINDOW`]: just
/// under it, so TMDB's bucket refills while we run.
pub const UNDER_ACCEPTED: f64 = 0.8;
/// One 429 never cuts the rate below this share of the current rate.
pub const MAX_CUT: f64 = 0.25;
/// The climb after a 429: this share of the learned rate is added per full second since.
pub const PROBE_STEP: f64 = 0.03;
/// No 429 lowers the rate below this (or below the ceiling, when that is lower).
pub const FLOOR_RPS: f64 = 1.0;
/// Accepted starts older than this are forgotten (a throttled request is at most a request
/// timeout old, and the window reaches one [`WINDOW`] further back).
const REMEMBER: Duration = Duration::from_secs(60);

/// What a 429 taught: TMDB accepted about `rps` at `at`. The rate allowed later climbs from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearnedRate {
    pub rps: f64,
    pub at: DateTime<Utc>,
}

impl LearnedRate {
    /// The rate this lesson allows at `now`: `rps` raised by [`PROBE_STEP`] × `rps` per full
    /// second since `at`, within [`FLOOR_RPS`] and `ceiling`.
    pub fn rate_at(&self, now: DateTime<Utc>, ceiling: f64) -> f64 {
        let whole_seconds = (now - self.at).num_seconds().max(0) as f64;
        (self.rps * (1.0 + PROBE_STEP * whole_seconds)).min(ceiling).max(FLOOR_RPS.min(ceiling))
    }
}

pub struct RateLimiter {
    /// The configured rate: never exceeded.
    ceiling: f64,
    /// The last lesson (this invocation's, or the shared one it started from); `None`: the
    /// ceiling.
    learned: Cell<Option<LearnedRate>>,
    /// A lesson of this invocation not yet shared with the others.
    unshared: Cell<Option<LearnedRate>>,
    /// When this invocation last lowered the rate.
    lowered_at: Cell<Option<DateTime<Utc>>>,
    /// Start instants of requests TMDB answered with anything but 429 (in answer order).
    accepted: RefCell<VecDeque<DateTime<Utc>>>,
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
            ceiling: f64::from(rps.max(1)),
            learned: Cell::new(None),
            unshared: Cell::new(None),
            lowered_at: Cell::new(None),
            accepted: RefCell::new(VecDeque::new()),
            next_start: Cell::new(None),
            paused_until: Cell::new(None),
            in_flight: Semaphore::new(max_in_flight.max(1)),
        }
    }

    /// Starts from a lesson learned elsewhere (another invocation or instance), unless this
    /// invocation already learned a newer one.
    pub fn start_from(&self, shared: LearnedRate) {
        if self.learned.get().is_none_or(|own| own.at < shared.at) {
            self.learned.set(Some(shared));
        }
    }

    /// Requests started per second at `now`.
    pub fn rate_at(&self, now: DateTime<Utc>) -> f64 {
        self.learned.get().map_or(self.ceiling, |l| l.rate_at(now, self.ceiling))
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
            // Reserve the start before sleeping, so concurrent callers queue behind it, one
            // interval of the rate at that instant apart.
            self.next_start.set(Some(start + Duration::from_secs_f64(1.0 / self.rate_at(start))));
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

    /// TMDB answered (anything but 429) the request started at `started`.
    pub fn accepted(&self, started: DateTime<Utc>, now: DateTime<Utc>) {
        let mut accepted = self.accepted.borrow_mut();
        accepted.push_back(started);
        while accepted.front().is_some_and(|t| *t < now - REMEMBER) {
            accepted.pop_front();
        }
    }

    /// TMDB answered 429 at `now` to the request started at `started`: lowers the rate (see the
    /// module's rules) and returns the lesson, or `None` when this 429 belongs to congestion
    /// already reacted to.
    pub fn throttled(&self, started: DateTime<Utc>, now: DateTime<Utc>) -> Option<LearnedRate> {
        if self.lowered_at.get().is_some_and(|lowered| started < lowered) {
            return None;
        }
        let current = self.rate_at(now);
        let window_start = started - WINDOW;
        let accepted = self.accepted.borrow().iter().filter(|t| **t >= window_start && **t < started).count() as f64;
        let rps = (UNDER_ACCEPTED * accepted.min(current)).max(MAX_CUT * current).max(FLOOR_RPS.min(self.ceiling));
        let lesson = LearnedRate { rps, at: now };
        self.learned.set(Some(lesson));
        self.unshared.set(Some(lesson));
        self.lowered_at.set(Some(now));
        Some(lesson)
    }

    /// The newest lesson of this invocation not yet shared, taken (see [`Self::keep_unshared`]).
    pub fn take_unshared(&self) -> Option<LearnedRate> {
        self.unshared.take()
    }

    /// Puts back a lesson whose sharing failed, unless a newer one came meanwhile.
    pub fn keep_unshared(&self, lesson: LearnedRate) {
        if self.unshared.get().is_none_or(|newer| newer.at < lesson.at) {
            self.unshared.set(Some(lesson));
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

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// `n` requests started `gap` apart from the clock's start, all accepted `latency` later.
    fn accept_starts(limiter: &RateLimiter, clock: &VirtualClock, n: u64, gap: Duration, latency: Duration) {
        for i in 0..n {
            let started = clock.start() + gap * i as u32;
            limiter.accepted(started, started + latency);
        }
    }

    #[test]
    fn a_429_sets_the_rate_just_under_what_tmdb_accepted_over_the_last_second() {
        let clock = VirtualClock::default();
        let limiter = RateLimiter::new(40, 20);
        // 20 accepted at 40 rps (0..475 ms), then the request started at 500 ms gets a 429 at
        // 530 ms. Also accepted, but outside the window: nothing before 500 - 1000 ms exists.
        accept_starts(&limiter, &clock, 20, ms(25), ms(30));
        let lesson = limiter.throttled(clock.start() + ms(500), clock.start() + ms(530)).unwrap();
        assert_eq!(lesson, LearnedRate { rps: 16.0, at: clock.start() + ms(530) }, "0.8 x 20 accepted");
        assert_eq!(limiter.rate_at(clock.start() + ms(530)), 16.0);
        assert_eq!(limiter.take_unshared(), Some(lesson));
        assert_eq!(limiter.take_unshared(), None, "taken once");
    }

    #[test]
    fn only_the_last_second_before_the_throttled_start_counts() {
        let clock = VirtualClock::default();
        let limiter = RateLimiter::new(40, 20);
        // 40 accepted over 0..3.9 s (10 rps); the 429 is for a start at 4 s: the window
        // [3 s, 4 s) holds 10 of them.
        accept_starts(&limiter, &clock, 40, ms(100), ms(30));
        let lesson = limiter.throttled(clock.start() + ms(4000), clock.start() + ms(4030)).unwrap();
        assert_eq!(lesson.rps, 10.0, "max(0.8 x 10, a quarter of 40)");
        let limiter = RateLimiter::new(20, 20);
        accept_starts(&limiter, &clock, 40, ms(100), ms(30));
        assert_eq!(limiter.throttled(clock.start() + ms(4000), clock.start() + ms(4030)).unwrap().rps, 8.0);
    }

    #[test]
    fn one_429_never_cuts_below_a_quarter_of_the_rate_nor_the_floor() {
        let clock = VirtualClock::default();
        let at = |n: u64| clock.start() + ms(n);
        let limiter = RateLimiter::new(40, 20);
        // Nothing accepted before: other instances used up the IP's limit.
        assert_eq!(limiter.throttled(at(0), at(30)).unwrap().rps, 10.0);
        assert_eq!(limiter.throttled(at(40), at(70)).unwrap().rps, 2.5);
        assert_eq!(limiter.throttled(at(80), at(110)).unwrap().rps, FLOOR_RPS);
        assert_eq!(limiter.throttled(at(120), at(150)).unwrap().rps, FLOOR_RPS);
    }

    #[test]
    fn a_429_for_a_request_sent_before_the_lowering_does_not_lower_again() {
        let clock = VirtualClock::default();
        let at = |n: u64| clock.start() + ms(n);
        let limiter = RateLimiter::new(40, 20);
        accept_starts(&limiter, &clock, 20, ms(25), ms(30));
        assert!(limiter.throttled(at(500), at(530)).is_some());
        // Sent at 525 ms (before the lowering at 530 ms), answered 429 at 555 ms: seen late.
        assert_eq!(limiter.throttled(at(525), at(555)), None);
        assert_eq!(limiter.rate_at(at(555)), 16.0);
        // Sent after the lowering: a new episode, 0.8 x min(20 accepted, 16 the current rate).
        assert_eq!(limiter.throttled(at(600), at(630)).map(|l| l.rps), Some(12.8));
    }

    #[test]
    fn the_rate_climbs_back_by_three_percent_of_the_lesson_per_full_second_up_to_the_ceiling() {
        let clock = VirtualClock::default();
        let lesson = LearnedRate { rps: 10.0, at: clock.start() };
        let rate = |secs: f64| lesson.rate_at(clock.start() + Duration::from_secs_f64(secs), 40.0);
        assert_eq!(rate(0.0), 10.0);
        assert_eq!(rate(0.999), 10.0, "per full second");
        assert!(close(rate(1.0), 10.3));
        assert!(close(rate(10.5), 13.0));
        assert_eq!(rate(100.0), 40.0);
        assert_eq!(rate(3600.0), 40.0, "never above the ceiling");
        assert_eq!(LearnedRate { rps: 50.0, at: clock.start() }.rate_at(clock.start(), 40.0), 40.0);
        assert_eq!(LearnedRate { rps: 0.1, at: clock.start() }.rate_at(clock.start(), 40.0), FLOOR_RPS);
    }

    #[test]
    fn after_a_429_starts_are_spaced_at_the_learned_rate_once_the_pause_is_over() {
        let clock = VirtualClock::default();
        let limiter = RateLimiter::new(40, 20);
        accept_starts(&limiter, &clock, 20, ms(25), ms(30));
        clock.advance(ms(530));
        limiter.throttled(clock.start() + ms(500), clock.now());
        limiter.pause_until(clock.now() + ms(500));
        let starts = RefCell::new(Vec::new());
        block_on(join_all((0..5).map(|_| async {
            let _permit = limiter.acquire(&clock, None).await.unwrap();
            starts.borrow_mut().push(clock.elapsed());
        })));
        // 16 rps: 62.5 ms apart from the end of the pause (1.03 s), within the lesson's first
        // second (no climb yet).
        let expected: Vec<Duration> = (0..5).map(|i| Duration::from_micros(1_030_000 + 62_500 * i)).collect();
        assert_eq!(starts.into_inner(), expected);
    }

    #[test]
    fn a_shared_lesson_is_the_starting_point_unless_a_newer_one_was_learned_here() {
        let clock = VirtualClock::default();
        let limiter = RateLimiter::new(40, 20);
        limiter.start_from(LearnedRate { rps: 8.0, at: clock.start() - Duration::from_secs(10) });
        assert!(close(limiter.rate_at(clock.start()), 8.0 * 1.3), "climbed for 10 s before this invocation");
        assert_eq!(limiter.take_unshared(), None, "someone else's lesson is not ours to share again");
        let own = limiter.throttled(clock.start(), clock.start() + ms(30)).unwrap();
        limiter.start_from(LearnedRate { rps: 30.0, at: clock.start() });
        assert_eq!(limiter.rate_at(clock.start() + ms(30)), own.rps, "an older shared lesson does not replace ours");
    }

    #[test]
    fn a_lesson_that_could_not_be_shared_is_kept_unless_a_newer_one_came() {
        let clock = VirtualClock::default();
        let limiter = RateLimiter::new(40, 20);
        let first = limiter.throttled(clock.start(), clock.start() + ms(10)).unwrap();
        assert_eq!(limiter.take_unshared(), Some(first));
        let second = limiter.throttled(clock.start() + ms(20), clock.start() + ms(30)).unwrap();
        limiter.keep_unshared(first);
        assert_eq!(limiter.take_unshared(), Some(second), "the newer lesson wins");
        limiter.keep_unshared(second);
        assert_eq!(limiter.take_unshared(), Some(second));
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
