//! Records a run cannot do without, kept trying through a database that went away for a
//! moment: a queue row's outcome, the rows given back, the run's closing row.
//!
//! A restart, a terminated session or a full connection table lasts seconds. Without these
//! records the rows would stay held until their lease runs out (the budget + 30 s), then be
//! retried one at a time as if their runner had died, and the run would stay open until the next
//! run closes it as abandoned a minute after its deadline. So a record whose session was lost, or
//! whose connection was refused, is tried again on a new session, with a short backoff, for up to
//! [`PATIENCE`]; any other error is returned at once.

use std::time::Duration;

use crate::ports::{Clock, DbError};

/// How long a record keeps trying: longer than a fast restart, well within a lease's margin.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Runs `record` (which takes its own session each time) until it succeeds, fails with an
/// error that is not a lost session, or [`PATIENCE`] is spent.
pub async fn persist<C: Clock, T>(
    clock: &C,
    mut record: impl AsyncFnMut() -> Result<T, DbError>,
) -> Result<T, DbError> {
    let until = clock.now() + PATIENCE;
    let mut wait = Duration::from_millis(100);
    loop {
        match record().await {
            Err(e) if e.session_lost() && clock.now() + wait < until => {
                clock.sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::testing::VirtualClock;

    fn lost() -> DbError {
        DbError::Query {
            code: Some("57P01".into()),
            message: "terminating connection due to administrator command".into(),
        }
    }

    #[test]
    fn a_lost_session_is_tried_again_until_the_database_answers() {
        let clock = VirtualClock::starting_at(crate::ports::system_now());
        let tries = Cell::new(0);
        let result = futures::executor::block_on(persist(&clock, async || {
            tries.set(tries.get() + 1);
            if tries.get() < 4 { Err(lost()) } else { Ok(7) }
        }));
        assert_eq!((result.unwrap(), tries.get()), (7, 4));
    }

    #[test]
    fn other_errors_are_returned_at_once_and_patience_runs_out() {
        let clock = VirtualClock::starting_at(crate::ports::system_now());
        let tries = Cell::new(0);
        let refused = futures::executor::block_on(persist(&clock, async || {
            tries.set(tries.get() + 1);
            Err::<(), _>(DbError::Query { code: Some("23505".into()), message: "duplicate".into() })
        }));
        assert_eq!((refused.unwrap_err().sqlstate(), tries.get()), (Some("23505"), 1));

        let started = clock.now();
        let gone = futures::executor::block_on(persist(&clock, async || Err::<(), _>(lost())));
        assert!(gone.unwrap_err().session_lost());
        assert!(clock.now() - started <= chrono::Duration::from_std(PATIENCE).unwrap());
        assert!(clock.now() - started >= chrono::Duration::seconds(8), "it kept trying: {}", clock.now() - started);
    }
}
