//! The aggregate score: a vote-count-weighted mean of the rating sources, shrunk toward a prior
//! (a Bayesian average), with a 95% interval that narrows as votes accumulate.

use serde_json::{Value as Json, json};

/// Stored with each aggregate, so a new method can coexist with old rows.
pub const METHOD_VERSION: &str = "bayes-v1";
/// The prior: an average movie scores 65/100 ...
const PRIOR_MEAN: f64 = 65.0;
/// ... with the weight of this many votes.
const PRIOR_VOTES: f64 = 100.0;
/// Spread of individual ratings on the 0–100 scale (TMDB votes are 1–10 stars).
const RATING_SD: f64 = 20.0;

#[derive(Debug, Clone, PartialEq)]
pub struct RatingInput {
    pub source: &'static str,
    pub value_0_100: f64,
    pub votes: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub score: f64,
    pub low: f64,
    pub high: f64,
    pub votes: i64,
    pub source_scores: Json,
}

pub fn aggregate(inputs: &[RatingInput]) -> Aggregate {
    let votes: i64 = inputs.iter().map(|r| r.votes.max(0)).sum();
    let weighted: f64 = inputs.iter().map(|r| r.value_0_100 * r.votes.max(0) as f64).sum();
    let n = votes as f64 + PRIOR_VOTES;
    let score = (weighted + PRIOR_MEAN * PRIOR_VOTES) / n;
    let half_width = 1.96 * RATING_SD / n.sqrt();
    let round = |x: f64| (x.clamp(0.0, 100.0) * 10.0).round() / 10.0;
    let source_scores = inputs
        .iter()
        .map(|r| (r.source.to_owned(), json!({"value_0_100": r.value_0_100, "votes": r.votes})))
        .collect::<serde_json::Map<_, _>>();
    Aggregate {
        score: round(score),
        low: round(score - half_width),
        high: round(score + half_width),
        votes,
        source_scores: Json::Object(source_scores),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_votes_stay_near_the_prior_and_many_votes_follow_the_rating() {
        let few = aggregate(&[RatingInput { source: "TMDB", value_0_100: 90.0, votes: 3 }]);
        let many = aggregate(&[RatingInput { source: "TMDB", value_0_100: 90.0, votes: 30_000 }]);
        assert!(few.score < 67.0, "{few:?}");
        assert!(many.score > 89.0, "{many:?}");
        assert!(many.high - many.low < few.high - few.low);
        assert!(few.low <= few.score && few.score <= few.high);
    }

    #[test]
    fn no_votes_gives_the_prior_with_a_wide_interval() {
        let none = aggregate(&[]);
        assert_eq!(none.score, 65.0);
        assert!(none.high - none.low > 7.0);
    }
}
