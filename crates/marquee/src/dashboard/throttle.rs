//! How fast the sign-in form can be tried: every attempt takes a slot in PostgreSQL
//! (`db::sessions::take_slot`), and after failures the slots are spaced out. Spin instances share
//! nothing but the database, so a limit kept in memory would let each instance (and each
//! concurrent request) guess freely; here concurrent attempts from anywhere take consecutive
//! slots. An attempt waits for its slot, within its invocation's deadline; one whose slot is
//! further away is refused at once with the time to wait.
//!
//! One throttle for everyone (not per client): a per-address limit would be as good as the
//! address, which a proxy or an attacker sets. The price is that someone guessing can slow the
//! operator's sign-in down to one attempt per [`SPACING_MS`]'s last step; the admin token still
//! works on every other route, and the `marquee` tool needs none of this.

use std::time::Duration;

/// What the throttle protects.
pub const SCOPE: &str = "admin_token";

/// The spacing of attempts after 0, 1, 2, … consecutive failures (ms); the last entry holds for
/// more. A typo costs a second; a guesser gets four attempts a minute, about 5,760 a day, which a
/// random admin token of 128 bits shrugs off.
pub const SPACING_MS: &[i64] = &[0, 1_000, 2_000, 4_000, 8_000, 15_000];

/// Failures this old are forgotten: the next failure counts as the first.
pub const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// Time kept back from the deadline for checking the token and answering after the wait.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(1_000);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spacing_starts_free_grows_and_fits_in_the_default_budget() {
        assert_eq!(SPACING_MS[0], 0, "a first attempt never waits");
        assert!(SPACING_MS.windows(2).all(|w| w[0] < w[1]));
        let default_budget = Duration::from_millis(20_000);
        assert!(Duration::from_millis(*SPACING_MS.last().unwrap() as u64) + ANSWER_MARGIN < default_budget);
    }
}
