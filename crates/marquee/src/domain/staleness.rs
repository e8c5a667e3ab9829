//! When a movie must be refreshed (the seed's tiers): released ≤ 30 days ago → every 2 days;
//! 31–180 → 7; 181–365 → 14; older → 30 (see [`TIERS`]). A row written by an older
//! [`SCHEMA_VERSION`] is stale whatever its age.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Bump when normalisation or the card changes, so existing rows become stale.
pub const SCHEMA_VERSION: i32 = 1;

/// The tiers, newest first: (released at most this many days ago, refresh every this many days,
/// queue priority of its stale movies). Movies released later than the last bound use
/// [`OLDEST`]. Unreleased movies (negative age) are in the first tier: their dates, trailers and
/// cast change most. Undated movies (rumored, in production) use the oldest tier: nothing tells
/// when they will change, and there are many of them.
pub const TIERS: &[(i64, i64, i32)] = &[(30, 2, 3), (180, 7, 2), (365, 14, 1)];
/// Everything older, or without a release date: every 30 days, priority 0.
pub const OLDEST: (i64, i32) = (30, 0);

pub fn refresh_interval(release_date: Option<NaiveDate>, today: NaiveDate) -> Duration {
    let Some(released) = release_date else { return Duration::days(OLDEST.0) };
    let age_days = (today - released).num_days();
    let days = TIERS.iter().find(|(max_age, ..)| age_days <= *max_age).map_or(OLDEST.0, |(_, every, _)| *every);
    Duration::days(days)
}

/// The queue priority of a stale work by its tier, as SQL over `works w`: the same table as
/// [`refresh_interval`], so the two cannot disagree.
pub fn priority_sql() -> String {
    let arms: String = TIERS
        .iter()
        .map(|(max_age, _, priority)| format!("WHEN w.release_date >= current_date - {max_age} THEN {priority} "))
        .collect();
    format!("(CASE {arms}ELSE {} END)", OLDEST.1)
}

pub fn next_refresh_at(release_date: Option<NaiveDate>, refreshed_at: DateTime<Utc>) -> DateTime<Utc> {
    refreshed_at + refresh_interval(release_date, refreshed_at.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval_for_age(age: i64) -> i64 {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        refresh_interval(Some(today - Duration::days(age)), today).num_days()
    }

    #[test]
    fn tiers_switch_exactly_at_their_boundaries() {
        assert_eq!(interval_for_age(-10), 2);
        assert_eq!(interval_for_age(0), 2);
        assert_eq!(interval_for_age(30), 2);
        assert_eq!(interval_for_age(31), 7);
        assert_eq!(interval_for_age(180), 7);
        assert_eq!(interval_for_age(181), 14);
        assert_eq!(interval_for_age(365), 14);
        assert_eq!(interval_for_age(366), 30);
        assert_eq!(refresh_interval(None, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()).num_days(), 30);
    }
}
