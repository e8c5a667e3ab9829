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

/// [`title_year`] of a card (the run log's label of an ingested movie).
pub fn title_year_of(card: &Json) -> String {
    title_year(card["title"].as_str(), card["year"].as_i64())
}

/// A movie's one-line label, from its card: "Title (Year) · 2h 19m · PG-13 · score 72.3
/// [60.1–84.5] · dir. A, B · with X, Y, Z". What the card lacks (year, runtime, certification,
/// score, directors, cast) is left out with its separator: nothing is printed that is not data.
pub fn label(card: &Json) -> String {
    let text = |v: &Json| v.as_str().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
    let mut parts = vec![title_year_of(card)];
    parts.extend(text(&card["runtime_display"]));
    parts.extend(text(&card["certification"]));
    let score = &card["score"];
    if let (Some(value), Some(low), Some(high)) =
        (score["value"].as_f64(), score["low"].as_f64(), score["high"].as_f64())
    {
        parts.push(format!("score {value:.1} [{low:.1}–{high:.1}]"));
    }
    let directors = distinct_names(card["directors"].as_array().into_iter().flatten().filter_map(text), 2);
    if !directors.is_empty() {
        parts.push(format!("dir. {directors}"));
    }
    let cast = distinct_names(card["cast"].as_array().into_iter().flatten().filter_map(|c| text(&c["name"])), 3);
    if !cast.is_empty() {
        parts.push(format!("with {cast}"));
    }
    parts.join(" · ")
}

/// The first `n` distinct names, comma-separated (a person credited twice is named once).
fn distinct_names(names: impl Iterator<Item = String>, n: usize) -> String {
    let mut seen = Vec::new();
    for name in names {
        if seen.len() == n {
            break;
        }
        if !seen.contains(&name) {
            seen.push(name);
        }
    }
    seen.join(", ")
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
        // No votes: no value, no interval, and `rated: false` says why (see `score`).
        "score": {"value": score.score, "low": score.low, "high": score.high, "votes": score.votes,
                  "rated": score.is_rated(), "method_version": METHOD_VERSION},
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
    etag_of_bytes(payload.to_string().as_bytes())
}

/// A strong ETag of a response body as sent: its SHA-256, shortened (the rule of [`etag_of`]).
pub fn etag_of_bytes(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16]))
}

/// The entity tags an `If-None-Match` header value names (a list; weak tags as their strong
/// form; `*` as itself).
pub fn if_none_match_tags(header: &str) -> impl Iterator<Item = &str> {
    header.split(',').map(|t| t.trim().trim_start_matches("W/")).filter(|t| !t.is_empty())
}

/// Whether an `If-None-Match` header value matches `etag`: it names it, or is `*`. (The card
/// route asks the database the same question, with [`if_none_match_tags`]: `db::api_reads::card`.)
pub fn if_none_match(header: &str, etag: &str) -> bool {
    if_none_match_tags(header).any(|t| t == "*" || t == etag)
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
        assert_eq!(if_none_match_tags(" \"x\" , W/\"abc\",, *").collect::<Vec<_>>(), ["\"x\"", "\"abc\"", "*"]);
    }

    #[test]
    fn etag_depends_on_content_only() {
        assert_eq!(etag_of(&json!({"a": 1, "b": 2})), etag_of(&json!({"b": 2, "a": 1})));
        assert_ne!(etag_of(&json!({"a": 1})), etag_of(&json!({"a": 2})));
    }

    fn full_card() -> Json {
        json!({
            "title": "Spirited Away", "year": 2001, "runtime_display": "2h 5m", "certification": "PG",
            "score": {"value": 85.1, "low": 84.7, "high": 85.5, "votes": 16000, "rated": true},
            "directors": ["Hayao Miyazaki"],
            "cast": [{"name": "Rumi Hiiragi"}, {"name": "Miyu Irino"}, {"name": "Mari Natsuki"}, {"name": "Takashi Naito"}],
        })
    }

    fn without(key: &str) -> Json {
        let mut card = full_card();
        card.as_object_mut().unwrap().remove(key);
        card
    }

    #[test]
    fn a_full_label_names_everything() {
        assert_eq!(
            label(&full_card()),
            "Spirited Away (2001) · 2h 5m · PG · score 85.1 [84.7–85.5] · dir. Hayao Miyazaki · with Rumi Hiiragi, Miyu Irino, Mari Natsuki"
        );
    }

    #[test]
    fn a_missing_year_runtime_or_certification_is_left_out() {
        let mut card = full_card();
        card["year"] = Json::Null;
        assert!(label(&card).starts_with("Spirited Away · 2h 5m · PG · score"), "{}", label(&card));
        assert!(!label(&card).contains("null"));
        assert_eq!(title_year_of(&card), "Spirited Away");
        assert!(label(&without("runtime_display")).starts_with("Spirited Away (2001) · PG · score"));
        let mut card = full_card();
        card["certification"] = json!("");
        assert!(label(&card).starts_with("Spirited Away (2001) · 2h 5m · score"), "{}", label(&card));
        assert!(!label(&without("certification")).contains("NR"));
    }

    #[test]
    fn a_movie_without_votes_shows_no_score() {
        let mut card = full_card();
        card["score"] = json!({"value": null, "low": null, "high": null, "votes": 0, "rated": false});
        assert_eq!(
            label(&card),
            "Spirited Away (2001) · 2h 5m · PG · dir. Hayao Miyazaki · with Rumi Hiiragi, Miyu Irino, Mari Natsuki"
        );
        assert!(!label(&without("score")).contains("score"));
    }

    #[test]
    fn a_movie_without_credits_names_nobody() {
        let mut card = full_card();
        card["directors"] = json!([]);
        card["cast"] = json!([]);
        assert_eq!(label(&card), "Spirited Away (2001) · 2h 5m · PG · score 85.1 [84.7–85.5]");
        let bare = json!({"title": "Spirited Away", "year": null, "runtime_display": null, "certification": null,
                          "score": {"value": null}, "directors": [], "cast": []});
        assert_eq!(label(&bare), "Spirited Away");
    }

    #[test]
    fn a_person_credited_twice_is_named_once() {
        let mut card = full_card();
        card["cast"] = json!([{"name": "Ada Quill"}, {"name": "Ada Quill"}, {"name": ""}, {"name": "Bo Fenn"}]);
        card["directors"] = json!(["Ada Quill", "Ada Quill"]);
        assert!(label(&card).ends_with("dir. Ada Quill · with Ada Quill, Bo Fenn"), "{}", label(&card));
    }

    #[test]
    fn the_short_card_and_the_card_say_plainly_when_there_are_no_votes() {
        let record = super::super::movie::normalize(
            &crate::tmdb::types::MovieDetails { id: 7, title: Some("Unseen".into()), ..Default::default() },
            &Default::default(),
        )
        .unwrap();
        let card = build(1, &record, &super::super::score::aggregate(&[]));
        assert_eq!(card.payload["score"]["value"], Json::Null);
        assert_eq!(
            (card.payload["score"]["low"].clone(), card.payload["score"]["high"].clone()),
            (Json::Null, Json::Null)
        );
        assert_eq!(card.payload["score"]["rated"], false);
        assert_eq!(card.short["score"], Json::Null);
        assert_eq!(label(&card.payload), "Unseen");
    }
}
