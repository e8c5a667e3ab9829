//! When a movie must be refreshed (the seed's tiers): released ≤ 30 days ago → every 2 days;
//! 31–180 → 7; 181–365 → 14; older → 30. Unreleased and undated movies count as new and old
//! respectively. A row written by an older [`SCHEMA_VERSION`] is stale whatever its age.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Bump when normalisation or the card changes, so existing rows become stale.
pub const SCHEMA_VERSION: i32 = 1;

pub fn refresh_interval(release_date: Option<NaiveDate>, today: NaiveDate) -> Duration {
    let Some(released) = release_date else { return Duration::days(30) };
    let age_days = (today - released).num_days();
    Duration::days(match age_days {
        ..=30 => 2,
        31..=180 => 7,
        181..=365 => 14,
        _ => 30,
    })
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
