//! The aggregate score: a vote-count-weighted mean of the rating sources, shrunk toward a prior
//! (a Bayesian average), with a 95% interval that only real votes narrow.
//!
//! The rule (`bayes-v2`):
//! - **No votes, no score.** With 0 votes the value and the interval are absent (NULL in
//!   `aggregates`, `null` on the card, which says `"rated": false`): the prior alone is not a
//!   measurement, and showing it as one (`bayes-v1` gave 65.0 [61.1–68.9]) invented data.
//! - **The value** is the Bayesian mean: the votes' mean pulled toward [`PRIOR_MEAN`] with the
//!   weight of [`PRIOR_VOTES`] votes, so that three enthusiastic votes do not rank a movie first.
//! - **The interval** is the value ± 1.96 × [`RATING_SD`] ÷ √votes, clamped to 0–100 and
//!   rounded to one decimal. Its width rests on the real votes only: the prior's pseudo-votes
//!   are not evidence, and counting them made a movie with 0 votes look measured to ±3.9.
//!
//! An interval is *justified* by its votes when it is at least as wide as that rule makes it
//! (less the rounding's 0.1, and a side clamped at 0 or 100 may be as short as the clamp left
//! it): [`interval_is_justified`] in Rust and [`unjustified_interval_sql`] in SQL, built from
//! the same constants, for the audit.

use serde_json::{Value as Json, json};

/// Stored with each aggregate, so a new method can coexist with old rows.
pub const METHOD_VERSION: &str = "bayes-v2";
/// The prior: an average movie scores 65/100 ...
const PRIOR_MEAN: f64 = 65.0;
/// ... with the weight of this many votes (for the value only, never for the interval).
const PRIOR_VOTES: f64 = 100.0;
/// Spread of individual ratings on the 0–100 scale (TMDB votes are 1–10 stars).
const RATING_SD: f64 = 20.0;
/// z of a two-sided 95% interval.
const Z_95: f64 = 1.96;
/// The scale's ends.
const MIN_SCORE: f64 = 0.0;
const MAX_SCORE: f64 = 100.0;
/// Values are rounded to one decimal, so a stored interval may be up to 0.1 narrower than the
/// rule; the extra 1e-9 absorbs the floating-point error of that comparison.
const ROUNDING_SLACK: f64 = 0.1 + 1e-9;

#[derive(Debug, Clone, PartialEq)]
pub struct RatingInput {
    pub source: &'static str,
    pub value_0_100: f64,
    pub votes: i64,
}

/// A movie's aggregate. `score`, `low` and `high` are all present (some votes) or all absent
/// (none); migration 0010 holds `aggregates` to the same.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub score: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub votes: i64,
    pub source_scores: Json,
}

impl Aggregate {
    /// Whether there is a score at all (some votes).
    pub fn is_rated(&self) -> bool {
        self.score.is_some()
    }
}

/// Half the width of the interval `votes` real votes justify.
fn half_width(votes: i64) -> f64 {
    Z_95 * RATING_SD / (votes as f64).sqrt()
}

pub fn aggregate(inputs: &[RatingInput]) -> Aggregate {
    let votes: i64 = inputs.iter().map(|r| r.votes.max(0)).sum();
    let source_scores = inputs
        .iter()
        .map(|r| (r.source.to_owned(), json!({"value_0_100": r.value_0_100, "votes": r.votes})))
        .collect::<serde_json::Map<_, _>>();
    let source_scores = Json::Object(source_scores);
    if votes == 0 {
        return Aggregate { score: None, low: None, high: None, votes, source_scores };
    }
    let weighted: f64 = inputs.iter().map(|r| r.value_0_100 * r.votes.max(0) as f64).sum();
    let score = (weighted + PRIOR_MEAN * PRIOR_VOTES) / (votes as f64 + PRIOR_VOTES);
    let half_width = half_width(votes);
    let round = |x: f64| (x.clamp(MIN_SCORE, MAX_SCORE) * 10.0).round() / 10.0;
    Aggregate {
        score: Some(round(score)),
        low: Some(round(score - half_width)),
        high: Some(round(score + half_width)),
        votes,
        source_scores,
    }
}

/// Whether a stored interval is as wide as its votes justify: with no votes, no interval at all;
/// with votes, an interval at least 2 × 1.96 × SD ÷ √votes wide, where a side at the scale's end
/// counts as reaching as far as the clamp may have cut it (the value is within 0–100, so the
/// unclamped side was at most one half-width beyond the end). An absent interval with votes is
/// not justified either: votes were ignored.
pub fn interval_is_justified(votes: i64, low: Option<f64>, high: Option<f64>) -> bool {
    if votes <= 0 {
        return low.is_none() && high.is_none();
    }
    let (Some(low), Some(high)) = (low, high) else { return false };
    let half_width = half_width(votes);
    let top = if high >= MAX_SCORE { MAX_SCORE + half_width } else { high };
    let bottom = if low <= MIN_SCORE { MIN_SCORE - half_width } else { low };
    top - bottom >= 2.0 * half_width - ROUNDING_SLACK
}

/// [`interval_is_justified`], negated, as an SQL condition over an `aggregates a` row: true when
/// the stored interval is narrower than its votes justify, present without votes, or absent
/// with votes (a score without votes has an interval: migration 0010 stores the value and its
/// interval together or not at all). Never NULL. The constants are written as `float8` with
/// Rust's exact digits, so PostgreSQL computes with the same doubles as Rust.
pub fn unjustified_interval_sql() -> String {
    let f = |x: f64| format!("{x:?}::float8");
    let half_width = format!("({} * {} / sqrt(a.votes_count::float8))", f(Z_95), f(RATING_SD));
    format!(
        "(CASE WHEN a.votes_count <= 0 THEN (a.ai_score_low IS NOT NULL OR a.ai_score_high IS NOT NULL)
               WHEN a.ai_score_low IS NULL OR a.ai_score_high IS NULL THEN true
               ELSE (CASE WHEN a.ai_score_high >= {max} THEN {max} + {hw} ELSE a.ai_score_high END)
                  - (CASE WHEN a.ai_score_low <= {min} THEN {min} - {hw} ELSE a.ai_score_low END)
                  < {two} * {hw} - {slack} END)",
        max = f(MAX_SCORE),
        min = f(MIN_SCORE),
        two = f(2.0),
        hw = half_width,
        slack = f(ROUNDING_SLACK),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmdb(value: f64, votes: i64) -> Aggregate {
        aggregate(&[RatingInput { source: "TMDB", value_0_100: value, votes }])
    }

    #[test]
    fn few_votes_stay_near_the_prior_and_many_votes_follow_the_rating() {
        let few = tmdb(90.0, 3);
        let many = tmdb(90.0, 30_000);
        let (f, m) = (few.score.unwrap(), many.score.unwrap());
        assert!(f < 67.0, "{few:?}");
        assert!(m > 89.0, "{many:?}");
        assert!(many.high.unwrap() - many.low.unwrap() < few.high.unwrap() - few.low.unwrap());
        assert!(few.low.unwrap() <= f && f <= few.high.unwrap());
    }

    #[test]
    fn no_votes_gives_no_score_and_no_interval() {
        for none in [aggregate(&[]), tmdb(0.0, 0), tmdb(80.0, 0)] {
            assert_eq!((none.score, none.low, none.high, none.votes), (None, None, None, 0), "{none:?}");
            assert!(!none.is_rated());
        }
    }

    #[test]
    fn the_interval_rests_on_real_votes_only() {
        // 1 vote: ±39.2, clamped at the top.
        let one = tmdb(80.0, 1);
        assert_eq!((one.low, one.high), (Some(25.9), Some(100.0)), "{one:?}");
        // 100 votes: ±3.9 (the prior's 100 pseudo-votes no longer halve it).
        let hundred = tmdb(70.0, 100);
        assert_eq!(hundred.score, Some(67.5));
        assert_eq!((hundred.low, hundred.high), (Some(63.6), Some(71.4)));
    }

    #[test]
    fn every_computed_interval_is_justified() {
        for votes in [1, 2, 3, 5, 10, 37, 100, 1_000, 33_333, 2_000_000] {
            for value in [0.0, 1.0, 10.0, 33.3, 50.0, 64.9, 65.0, 90.0, 99.5, 100.0] {
                let a = tmdb(value, votes);
                assert!(interval_is_justified(a.votes, a.low, a.high), "{a:?}");
            }
        }
        let none = tmdb(50.0, 0);
        assert!(interval_is_justified(none.votes, none.low, none.high));
    }

    #[test]
    fn narrow_intervals_and_scores_without_votes_are_not_justified() {
        // bayes-v1's answer for a movie without votes.
        assert!(!interval_is_justified(0, Some(61.1), Some(68.9)));
        // bayes-v1 for 100 votes: ±2.8 where the votes justify ±3.9.
        assert!(!interval_is_justified(100, Some(64.7), Some(70.3)));
        assert!(interval_is_justified(100, Some(63.6), Some(71.4)));
        // Votes, but no interval.
        assert!(!interval_is_justified(5, None, None));
        assert!(!interval_is_justified(5, Some(40.0), None));
        // Clamped sides: 4 votes justify ±19.6.
        assert!(interval_is_justified(4, Some(0.0), Some(19.6)));
        assert!(!interval_is_justified(4, Some(0.0), Some(19.0)));
        assert!(interval_is_justified(4, Some(80.4), Some(100.0)));
        assert!(!interval_is_justified(4, Some(81.0), Some(100.0)));
        assert!(interval_is_justified(1, Some(0.0), Some(100.0)));
    }

    #[test]
    fn the_sql_uses_the_same_constants() {
        let sql = unjustified_interval_sql();
        assert!(sql.contains("1.96::float8 * 20.0::float8 / sqrt(a.votes_count::float8)"), "{sql}");
        assert!(sql.contains(&format!("{ROUNDING_SLACK:?}::float8")), "{sql}");
    }
}
