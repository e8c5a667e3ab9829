//! The card served by `GET /api/works/{tmdb_id}` and returned by `ingest-movie`, its short
//! form for lists, and its ETag. The card holds no fetch time, so refreshing a movie whose data
//! did not change keeps its ETag.

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use super::movie::MovieRecord;
use super::score::{Aggregate, METHOD_VERSION};

pub const TMDB_ATTRIBUTION: &str = "This product uses the TMDB API but is not endorsed or certified by TMDB.";
pub const JUSTWATCH_ATTRIBUTION: &str = "Streaming availability data provided by JustWatch.";

#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub payload: Json,
    pub short: Json,
    pub etag: String,
}

/// "Title (Year)", as the old run log wrote it; just the title when the year is unknown, and
/// "?" for a movie without a title.
pub fn title_year(title: Option<&str>, year: Option<i64>) -> String {
    let title = title.filter(|t| !t.trim().is_empty()).unwrap_or("?");
    match year {
        Some(year) => format!("{title} ({year})"),
        None => title.to_owned(),
    }
}

pub fn build(work_id: i64, record: &MovieRecord, score: &Aggregate) -> Card {
    let m = &record.meta;
    let top = |key: &str, n: usize| {
        Json::Array(m[key].as_array().map(|a| a.iter().take(n).cloned().collect()).unwrap_or_default())
    };
    let directors: Vec<Json> = m["crew_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["job"] == "Director")
        .map(|c| c["name"].clone())
        .collect();
    let streaming_us = m["streaming"].get("US").cloned().unwrap_or(Json::Null);
    let has_providers = m["streaming"].as_object().is_some_and(|o| !o.is_empty());
    let mut attribution = vec![json!(TMDB_ATTRIBUTION)];
    if has_providers {
        attribution.push(json!(JUSTWATCH_ATTRIBUTION));
    }
    let payload = json!({
        "work_id": work_id,
        "tmdb_id": record.tmdb_id,
        "imdb_id": record.imdb_id,
        "title": record.title,
        "original_title": record.original_title,
        "year": record.year,
        "release_date": record.release_date,
        "runtime_minutes": m["runtime_minutes"],
        "runtime_display": m["runtime_display"],
        "certification": m["certification"],
        "genres": m["genres"],
        "tagline": m["tagline"],
        "overview": m["overview"],
        "poster": {"small": m["poster_url_small"], "medium": m["poster_url_medium"], "large": m["poster_url_large"], "original": m["poster_url_original"]},
        "backdrop": {"url": m["backdrop_url"], "mobile": m["backdrop_url_mobile"]},
        "score": {"value": score.score, "low": score.low, "high": score.high, "votes": score.votes, "method_version": METHOD_VERSION},
        "directors": directors,
        "cast": top("cast_members", 10),
        "trailers": top("trailers", 3),
        "keywords": m["keywords"],
        "streaming_us": streaming_us,
        "similar": record.facts.similar,
        "attribution": attribution,
    });
    let short = json!({
        "tmdb_id": record.tmdb_id,
        "title": record.title,
        "year": record.year,
        "poster": m["poster_url_small"],
        "score": score.score,
        "genres": top("genres", 3),
        "certification": m["certification"],
    });
    let etag = etag_of(&payload);
    Card { payload, short, etag }
}

/// A strong ETag: the SHA-256 of the card's canonical JSON (keys are sorted), shortened.
pub fn etag_of(payload: &Json) -> String {
    let digest = Sha256::digest(payload.to_string().as_bytes());
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Whether an `If-None-Match` header value matches `etag` (a list, weak tags, or `*`).
pub fn if_none_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let e = "\"abc\"";
        assert!(if_none_match("\"abc\"", e));
        assert!(if_none_match("\"x\", W/\"abc\"", e));
        assert!(if_none_match("*", e));
        assert!(!if_none_match("\"abd\"", e));
    }

    #[test]
    fn etag_depends_on_content_only() {
        assert_eq!(etag_of(&json!({"a": 1, "b": 2})), etag_of(&json!({"b": 2, "a": 1})));
        assert_ne!(etag_of(&json!({"a": 1})), etag_of(&json!({"a": 2})));
    }
}
