//! A virtual clock: `now()` is virtual time, and `sleep(d)` completes when virtual time
//! reaches the instant it was asked for. Time moves only when the test has nothing else to do.
//!
//! How time moves: every pending sleep is a wake-up instant in one ordered set. The sleeper
//! whose instant is the earliest does not jump the clock at once (another task, not yet
//! polled, may be about to ask for an earlier instant); it wakes itself and yields, and once it
//! has been polled [`QUIET_POLLS`] times in a row with no clock activity in between (no sleep
//! registered or cancelled, no [`Hold`] released), it moves the clock to its instant and
//! completes. Every other sleeper due by then is woken and completes at that same instant, and
//! the next earliest is woken to take its turn. So concurrent sleepers (in `join_all`,
//! `buffer_unordered`, `select`) each wake at their exact instant, in order of instant, and
//! sleepers due at one instant in the order they went to sleep.
//!
//! The assumption: nothing the test awaits is pending on anything but this clock (no real
//! I/O, no real timers) while a sleep is pending, because the clock cannot see such work and
//! would move on without it. Code that does real I/O while others sleep (a real database in an
//! integration test) takes a [`Hold`] for its duration: time stands still while one is alive.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ports::Clock;

/// How many times the earliest sleeper is polled, with the clock untouched in between, before
/// it moves time. One round lets every runnable task run once; a few more let tasks woken by
/// those (a semaphore released, a channel sent to) run and register their own sleeps.
const QUIET_POLLS: u32 = 3;

/// A pending wake-up: its instant, then a sequence number (first come, first woken).
type Key = (DateTime<Utc>, u64);

/// Shared by clones: every clone reads and moves the same time.
#[derive(Clone)]
pub struct VirtualClock {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    sleepers: BTreeMap<Key, Waker>,
    next_id: u64,
    /// Bumped by every change a waiting sleeper must notice before time may move.
    epoch: u64,
    holds: usize,
}

impl Inner {
    /// Wakers of the sleepers due now, and of the earliest not yet due (to take its turn).
    fn due_and_next(&self) -> Vec<Waker> {
        let mut wakers: Vec<Waker> = self.sleepers.range(..(self.now, u64::MAX)).map(|(_, w)| w.clone()).collect();
        if let Some((_, w)) = self.sleepers.range((self.now, u64::MAX)..).next() {
            wakers.push(w.clone());
        }
        wakers
    }

    fn forget(&mut self, key: Key) -> Vec<Waker> {
        self.sleepers.remove(&key);
        self.epoch += 1;
        self.due_and_next()
    }
}

fn wake(wakers: Vec<Waker>) {
    wakers.into_iter().for_each(Waker::wake);
}

impl Default for VirtualClock {
    /// Starts at 2025-06-01 12:00:00 UTC: a fixed instant, so dates never depend on the day.
    fn default() -> Self {
        Self::starting_at(DateTime::from_timestamp(1_748_779_200, 0).expect("a valid instant"))
    }
}

impl VirtualClock {
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        let inner = Inner { start, now: start, sleepers: BTreeMap::new(), next_id: 0, epoch: 0, holds: 0 };
        Self { inner: Rc::new(RefCell::new(inner)) }
    }

    /// The instant this clock started at.
    pub fn start(&self) -> DateTime<Utc> {
        self.inner.borrow().start
    }

    /// Virtual time elapsed since the start.
    pub fn elapsed(&self) -> Duration {
        let inner = self.inner.borrow();
        (inner.now - inner.start).to_std().unwrap_or_default()
    }

    /// Moves time forward by hand (for code that reads `now()` without sleeping); sleepers
    /// due by then complete.
    pub fn advance(&self, by: Duration) {
        let wakers = {
            let mut inner = self.inner.borrow_mut();
            inner.now += by;
            inner.epoch += 1;
            inner.due_and_next()
        };
        wake(wakers);
    }

    /// Stops time until the returned guard is dropped: for real I/O that runs while others sleep.
    pub fn hold(&self) -> Hold {
        self.inner.borrow_mut().holds += 1;
        Hold { clock: self.clone() }
    }

    /// Completes when virtual time reaches now + `duration` (the deadline is fixed here, when
    /// the future is made, like a real timer's).
    pub fn sleep_for(&self, duration: Duration) -> Sleep {
        let until = self.inner.borrow().now + duration;
        Sleep { clock: self.clone(), until, key: None, quiet: None }
    }

    /// Sleeps pending on this clock (registered and not yet completed or dropped).
    pub fn sleepers(&self) -> usize {
        self.inner.borrow().sleepers.len()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        self.inner.borrow().now
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        self.sleep_for(duration)
    }
}

/// While alive, virtual time does not move. See [`VirtualClock::hold`].
pub struct Hold {
    clock: VirtualClock,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let wakers = {
            let mut inner = self.clock.inner.borrow_mut();
            inner.holds -= 1;
            inner.epoch += 1;
            inner.due_and_next()
        };
        wake(wakers);
    }
}

/// The future of [`VirtualClock::sleep_for`].
pub struct Sleep {
    clock: VirtualClock,
    until: DateTime<Utc>,
    /// Set once registered in the clock's set of pending wake-ups.
    key: Option<Key>,
    /// While earliest: the epoch last seen and how many quiet polls in a row saw it.
    quiet: Option<(u64, u32)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut inner = this.clock.inner.borrow_mut();
        if inner.now >= this.until {
            if let Some(key) = this.key.take() {
                let wakers = inner.forget(key);
                drop(inner);
                wake(wakers);
            }
            return Poll::Ready(());
        }
        let key = match this.key {
            Some(key) => key,
            None => {
                let key = (this.until, inner.next_id);
                inner.next_id += 1;
                inner.epoch += 1;
                this.key = Some(key);
                key
            }
        };
        inner.sleepers.insert(key, cx.waker().clone());
        let earliest = inner.holds == 0 && inner.sleepers.keys().next() == Some(&key);
        if !earliest {
            this.quiet = None;
            return Poll::Pending;
        }
        let polls = match this.quiet {
            Some((epoch, n)) if epoch == inner.epoch => n + 1,
            _ => 0,
        };
        if polls < QUIET_POLLS {
            this.quiet = Some((inner.epoch, polls));
            drop(inner);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // Every other task had its turns and left the clock alone: time moves to this instant.
        inner.now = this.until;
        this.key = None;
        let wakers = inner.forget(key);
        drop(inner);
        wake(wakers);
        Poll::Ready(())
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        // A cancelled sleep (e.g. the losing side of a `select`) leaves the set.
        if let Some(key) = self.key.take()
            && let Ok(mut inner) = self.clock.inner.try_borrow_mut()
        {
            let wakers = inner.forget(key);
            drop(inner);
            wake(wakers);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use futures::executor::block_on;
    use futures::future::join_all;
    use futures::stream::{self, StreamExt};

    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_sleep_completes_at_its_instant_and_costs_no_real_time() {
        let clock = VirtualClock::default();
        let start = clock.now();
        block_on(clock.sleep(Duration::from_secs(3600)));
        assert_eq!(clock.now() - start, chrono::Duration::hours(1));
        assert_eq!(clock.elapsed(), Duration::from_secs(3600));
        assert_eq!(clock.sleepers(), 0);
    }

    #[test]
    fn concurrent_sleepers_wake_at_their_exact_instants_in_order() {
        let clock = VirtualClock::default();
        let woke = RefCell::new(Vec::new());
        // Out of order on purpose, with a tie (2 s twice: first come, first woken).
        let order = [5.0, 2.0, 7.5, 0.25, 2.0, 1.0];
        let sleepers = order.iter().enumerate().map(|(i, s)| {
            let (clock, woke) = (&clock, &woke);
            async move {
                clock.sleep(secs(*s)).await;
                woke.borrow_mut().push((i, clock.elapsed()));
            }
        });
        block_on(join_all(sleepers));
        let expected =
            vec![(3, secs(0.25)), (5, secs(1.0)), (1, secs(2.0)), (4, secs(2.0)), (0, secs(5.0)), (2, secs(7.5))];
        assert_eq!(woke.into_inner(), expected);
    }

    #[test]
    fn twenty_sleepers_in_buffer_unordered_each_wake_on_time() {
        let clock = VirtualClock::default();
        let done: Vec<(u64, Duration)> = block_on(
            stream::iter((1..=20u64).rev())
                .map(|n| {
                    let clock = &clock;
                    async move {
                        clock.sleep(Duration::from_millis(100 * n)).await;
                        (n, clock.elapsed())
                    }
                })
                .buffer_unordered(20)
                .collect(),
        );
        let expected: Vec<(u64, Duration)> = (1..=20).map(|n| (n, Duration::from_millis(100 * n))).collect();
        assert_eq!(done, expected);
    }

    #[test]
    fn a_task_still_working_is_not_overtaken_by_an_earlier_sleeper() {
        // B does some work (yields a few times, off the clock) before asking for an instant
        // earlier than A's: the clock must not jump to A's instant first.
        let clock = VirtualClock::default();
        let woke = RefCell::new(Vec::new());
        let a = async {
            clock.sleep(secs(5.0)).await;
            woke.borrow_mut().push(("a", clock.elapsed()));
        };
        let b = async {
            futures::future::ready(()).await;
            yield_now().await;
            clock.sleep(secs(1.0)).await;
            woke.borrow_mut().push(("b", clock.elapsed()));
        };
        block_on(futures::future::join(a, b));
        assert_eq!(woke.into_inner(), vec![("b", secs(1.0)), ("a", secs(5.0))]);
    }

    #[test]
    fn a_cancelled_sleep_leaves_the_set_and_the_winner_of_a_select_decides_the_time() {
        let clock = VirtualClock::default();
        block_on(async {
            let short = std::pin::pin!(clock.sleep(secs(1.0)));
            let long = std::pin::pin!(clock.sleep(secs(10.0)));
            futures::future::select(short, long).await;
        });
        assert_eq!((clock.elapsed(), clock.sleepers()), (secs(1.0), 0));
        block_on(clock.sleep(secs(0.5)));
        assert_eq!(clock.elapsed(), secs(1.5), "the dropped 10 s sleep did not move time");
    }

    #[test]
    fn time_stands_still_while_held() {
        let clock = VirtualClock::default();
        let hold = RefCell::new(Some(clock.hold()));
        let seen = RefCell::new(None);
        let sleeper = async {
            clock.sleep(secs(1.0)).await;
        };
        let holder = async {
            for _ in 0..10 {
                yield_now().await;
            }
            *seen.borrow_mut() = Some(clock.elapsed());
            hold.borrow_mut().take();
        };
        block_on(futures::future::join(sleeper, holder));
        assert_eq!(seen.into_inner(), Some(Duration::ZERO), "no time passed while held");
        assert_eq!(clock.elapsed(), secs(1.0));
    }

    #[test]
    fn advancing_by_hand_completes_due_sleepers() {
        let clock = VirtualClock::default();
        clock.advance(secs(2.0));
        assert_eq!(clock.elapsed(), secs(2.0));
        block_on(clock.sleep(Duration::ZERO));
        assert_eq!(clock.elapsed(), secs(2.0));
    }

    /// Yields once to the executor (what a task doing other work looks like to the clock).
    async fn yield_now() {
        let mut yielded = false;
        futures::future::poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await
    }
}
