//! When a movie must be refreshed: one table of tiers ([`TIERS`]), read by the Rust decision
//! made at write time ([`next_refresh_at`]) and turned into SQL for the stale queue's priority
//! ([`priority_sql`]) and for the audit ([`interval_sql`]), so the three cannot disagree. A row
//! written by an older [`SCHEMA_VERSION`] is stale whatever its tier.
//!
//! The tiers, first match wins:
//!
//! | Movie | Every | Why |
//! |---|---|---|
//! | canceled (any date) | 30 days | it will not be made: nothing about it is expected to change |
//! | released ≤ 30 days ago, or dated in the future | 2 days | dates, trailers, cast, certifications, providers and votes change most around a release |
//! | released 31–180 days ago | 7 days | |
//! | released 181–365 days ago | 14 days | |
//! | undated and planned, in production or in post-production | 7 days | being made: a date, a trailer or the cast may come any week, and nothing says which |
//! | undated and rumored | 14 days | most rumored movies are never made; they change seldom, but a date or a cast can appear |
//! | everything else (older, or undated without a status that says more) | 30 days | |
//!
//! TMDB's changes feed already reports edits to tracked movies within a day (`daily-refresh`);
//! the tiers are the backstop for what the feed does not report (popularity, votes) and for a
//! feed that was missed. A movie that gets a date moves to the dated tiers at its next write.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::states::ReleaseStatus::{self, Canceled, InProduction, Planned, PostProduction, Rumored};

/// Bump when normalisation, the score or the card changes, so existing rows become stale.
/// 2: scores without votes are absent and intervals rest on real votes (`score::METHOD_VERSION`
/// `bayes-v2`); undated and canceled movies have tiers of their own.
pub const SCHEMA_VERSION: i32 = 2;

/// Which movies a tier holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Movies with one of these statuses, whatever their date.
    Status(&'static [ReleaseStatus]),
    /// Dated movies released at most this many days ago (a future date is a negative age).
    ReleasedWithin(i64),
    /// Movies without a release date and with one of these statuses.
    UndatedWith(&'static [ReleaseStatus]),
    /// Every movie (the last tier).
    Rest,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub holds: Holds,
    /// Refresh every this many days.
    pub every_days: i64,
    /// Queue priority of its stale movies (higher first).
    pub priority: i32,
}

/// The tiers, first match wins; the last one holds every movie (see the module's table).
pub const TIERS: &[Tier] = &[
    Tier { holds: Holds::Status(&[Canceled]), every_days: 30, priority: 0 },
    Tier { holds: Holds::ReleasedWithin(30), every_days: 2, priority: 3 },
    Tier { holds: Holds::ReleasedWithin(180), every_days: 7, priority: 2 },
    Tier { holds: Holds::ReleasedWithin(365), every_days: 14, priority: 1 },
    Tier { holds: Holds::UndatedWith(&[Planned, InProduction, PostProduction]), every_days: 7, priority: 2 },
    Tier { holds: Holds::UndatedWith(&[Rumored]), every_days: 14, priority: 1 },
    Tier { holds: Holds::Rest, every_days: 30, priority: 0 },
];

/// The lowest priority a stale movie is queued at (bulk imports rank below it).
pub const LOWEST_PRIORITY: i32 = {
    let mut lowest = i32::MAX;
    let mut i = 0;
    while i < TIERS.len() {
        if TIERS[i].priority < lowest {
            lowest = TIERS[i].priority;
        }
        i += 1;
    }
    lowest
};

impl Holds {
    fn matches(self, release_date: Option<NaiveDate>, status: Option<ReleaseStatus>, today: NaiveDate) -> bool {
        let has_status = |list: &[ReleaseStatus]| status.is_some_and(|s| list.contains(&s));
        match self {
            Holds::Status(list) => has_status(list),
            Holds::ReleasedWithin(max_age) => release_date.is_some_and(|d| (today - d).num_days() <= max_age),
            Holds::UndatedWith(list) => release_date.is_none() && has_status(list),
            Holds::Rest => true,
        }
    }

    /// The same test in SQL, over a date, a status and "today" given as SQL expressions. A NULL
    /// status or date matches no list, as `None` does in [`Holds::matches`].
    fn sql(self, release_date: &str, status: &str, today: &str) -> String {
        let list = |statuses: &[ReleaseStatus]| {
            statuses.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ")
        };
        match self {
            Holds::Status(statuses) => format!("{status} IN ({})", list(statuses)),
            Holds::ReleasedWithin(max_age) => format!("{release_date} >= {today} - {max_age}"),
            Holds::UndatedWith(statuses) => format!("{release_date} IS NULL AND {status} IN ({})", list(statuses)),
            Holds::Rest => "true".to_owned(),
        }
    }
}

/// The tier of a movie on `today` (a UTC date).
pub fn tier(release_date: Option<NaiveDate>, status: Option<ReleaseStatus>, today: NaiveDate) -> &'static Tier {
    TIERS.iter().find(|t| t.holds.matches(release_date, status, today)).unwrap_or(&TIERS[TIERS.len() - 1])
}

pub fn refresh_interval(release_date: Option<NaiveDate>, status: Option<ReleaseStatus>, today: NaiveDate) -> Duration {
    Duration::days(tier(release_date, status, today).every_days)
}

/// When a movie written at `refreshed_at` is due again: its tier on that (UTC) day.
pub fn next_refresh_at(
    release_date: Option<NaiveDate>,
    status: Option<ReleaseStatus>,
    refreshed_at: DateTime<Utc>,
) -> DateTime<Utc> {
    refreshed_at + refresh_interval(release_date, status, refreshed_at.date_naive())
}

/// `CASE` over the tiers, choosing `pick(tier)` for the first that holds.
fn case_sql(release_date: &str, status: &str, today: &str, pick: impl Fn(&Tier) -> String) -> String {
    let arms: String =
        TIERS.iter().map(|t| format!("WHEN {} THEN {} ", t.holds.sql(release_date, status, today), pick(t))).collect();
    format!("(CASE {arms}END)")
}

/// The queue priority of a stale work by its tier today (UTC), as SQL over `works w` (its
/// status read from `works_meta` by key, so the statement needs no join).
pub fn priority_sql() -> String {
    case_sql(
        "w.release_date",
        "(SELECT m.release_status FROM works_meta m WHERE m.work_id = w.work_id)",
        "(now() AT TIME ZONE 'UTC')::date",
        |t| t.priority.to_string(),
    )
}

/// The refresh interval the tiers give a `works w` row joined to its `works_meta m`, on the UTC
/// day of its last refresh: what `next_refresh_at - last_refreshed_at` must be. An interval of
/// whole 24-hour days (never calendar days, which a time zone's DST change would stretch), as
/// [`next_refresh_at`] adds.
pub fn interval_sql() -> String {
    let days = case_sql("w.release_date", "m.release_status", "(w.last_refreshed_at AT TIME ZONE 'UTC')::date", |t| {
        t.every_days.to_string()
    });
    format!("({days} * interval '24 hours')")
}

/// The index in [`TIERS`] of the tier a `works w` row is in today (UTC), as SQL (its status read
/// from `works_meta` by key, as [`priority_sql`] does, so that counting the stale works of a large
/// catalog by tier probes the index for each of them instead of joining every work's metadata):
/// the dashboard counts stale works per tier with it.
pub fn tier_index_sql() -> String {
    let status = "(SELECT m.release_status FROM works_meta m WHERE m.work_id = w.work_id)";
    let today = "(now() AT TIME ZONE 'UTC')::date";
    let arms: String = TIERS
        .iter()
        .enumerate()
        .map(|(i, t)| format!("WHEN {} THEN {i} ", t.holds.sql("w.release_date", status, today)))
        .collect();
    format!("(CASE {arms}END)")
}

/// A tier in words, for people (the dashboard): which movies it holds.
pub fn describe(index: usize) -> String {
    let Some(tier) = TIERS.get(index) else { return format!("tier {index}") };
    let statuses =
        |list: &[ReleaseStatus]| list.iter().map(|s| s.as_str().to_lowercase()).collect::<Vec<_>>().join(", ");
    match tier.holds {
        Holds::Status(list) => statuses(list),
        Holds::ReleasedWithin(max_age) => {
            // The nearest earlier tier by age gives this one's lower bound.
            let earlier = TIERS[..index].iter().rev().find_map(|t| match t.holds {
                Holds::ReleasedWithin(age) => Some(age),
                _ => None,
            });
            match earlier {
                None => format!("released ≤ {max_age} days ago, or dated in the future"),
                Some(age) => format!("released {}–{max_age} days ago", age + 1),
            }
        }
        Holds::UndatedWith(list) => format!("undated, {}", statuses(list)),
        Holds::Rest => "everything else".to_owned(),
    }
}

/// True for a complete `works w` row (joined to `works_meta m`) whose `next_refresh_at` is not
/// what its tier gave it at its last refresh: the audit's check, and what its repair sets.
pub fn tier_mismatch_sql() -> String {
    format!("(w.next_refresh_at IS DISTINCT FROM w.last_refreshed_at + {})", interval_sql())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::states::ReleaseStatus::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn interval_for_age(age: i64) -> i64 {
        refresh_interval(Some(today() - Duration::days(age)), Some(Released), today()).num_days()
    }

    fn undated(status: Option<ReleaseStatus>) -> i64 {
        refresh_interval(None, status, today()).num_days()
    }

    #[test]
    fn tiers_switch_exactly_at_their_boundaries() {
        assert_eq!(interval_for_age(-400), 2);
        assert_eq!(interval_for_age(-10), 2);
        assert_eq!(interval_for_age(0), 2);
        assert_eq!(interval_for_age(30), 2);
        assert_eq!(interval_for_age(31), 7);
        assert_eq!(interval_for_age(180), 7);
        assert_eq!(interval_for_age(181), 14);
        assert_eq!(interval_for_age(365), 14);
        assert_eq!(interval_for_age(366), 30);
    }

    #[test]
    fn undated_movies_are_refreshed_by_what_their_status_says() {
        assert_eq!(undated(Some(Planned)), 7);
        assert_eq!(undated(Some(InProduction)), 7);
        assert_eq!(undated(Some(PostProduction)), 7);
        assert_eq!(undated(Some(Rumored)), 14);
        assert_eq!(undated(Some(Canceled)), 30);
        assert_eq!(undated(Some(Released)), 30);
        assert_eq!(undated(None), 30);
    }

    #[test]
    fn a_date_decides_before_the_status_except_for_canceled_movies() {
        let soon = Some(today() + Duration::days(90));
        assert_eq!(refresh_interval(soon, Some(Rumored), today()).num_days(), 2);
        assert_eq!(refresh_interval(soon, Some(PostProduction), today()).num_days(), 2);
        assert_eq!(refresh_interval(soon, None, today()).num_days(), 2);
        assert_eq!(refresh_interval(soon, Some(Canceled), today()).num_days(), 30);
        let old = Some(today() - Duration::days(4000));
        assert_eq!(refresh_interval(old, Some(InProduction), today()).num_days(), 30);
    }

    #[test]
    fn the_last_tier_holds_everything_and_imports_rank_below_every_tier() {
        assert_eq!(TIERS.last().unwrap().holds, Holds::Rest);
        assert!(TIERS[..TIERS.len() - 1].iter().all(|t| t.holds != Holds::Rest));
        assert_eq!(LOWEST_PRIORITY, 0);
    }

    #[test]
    fn the_sql_lists_every_tier_in_order() {
        let sql = interval_sql();
        assert!(sql.contains("WHEN m.release_status IN ('Canceled') THEN 30"), "{sql}");
        assert!(
            sql.contains(
                "w.release_date IS NULL AND m.release_status IN ('Planned', 'In Production', 'Post Production') THEN 7"
            ),
            "{sql}"
        );
        assert!(sql.contains("WHEN true THEN 30 END"), "{sql}");
        assert!(priority_sql().contains("THEN 3"));
        assert!(tier_index_sql().contains("WHEN true THEN 6 END"), "{}", tier_index_sql());
    }

    #[test]
    fn every_tier_has_words() {
        let words: Vec<String> = (0..TIERS.len()).map(describe).collect();
        assert_eq!(
            words,
            [
                "canceled",
                "released ≤ 30 days ago, or dated in the future",
                "released 31–180 days ago",
                "released 181–365 days ago",
                "undated, planned, in production, post production",
                "undated, rumored",
                "everything else"
            ]
        );
    }
}
