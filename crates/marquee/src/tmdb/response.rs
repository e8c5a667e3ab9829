//! Reading what TMDB answers, before anything else sees it: the body's size, its JSON, and
//! whether a details response is a movie Marquee can store. Hostile or broken answers end here,
//! each with its reason:
//!
//! - a body over [`MAX_BODY_BYTES`], or one that is not JSON at all (truncated, an HTML page,
//!   invalid UTF-8): [`Unreadable::Garbled`]. Such answers come from a proxy or a cut connection
//!   more often than from TMDB itself, so they are retried, at once like a 5xx, and later;
//! - JSON that is not what was asked for (the wrong shape, nesting deeper than the parser goes,
//!   values no column can hold, another movie's id): [`Unreadable::Unusable`]. TMDB would answer
//!   the same again, so it is not retried: the movie fails with the reason, and the changes feed
//!   queues it again once TMDB changes it.
//!
//! What can be mended is mended, the same way for every reader (the ingest, reprojection, the
//! audit): U+0000, which PostgreSQL refuses in `text` and `jsonb`, is removed from every string
//! (it carries nothing a title or a name could mean), and `null` counts as absent (TMDB nulls
//! fields freely, so every field of [`MovieDetails`] has a default).

use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::types::MovieDetails;

/// The largest body read as an answer. TMDB's largest details responses, with every part
/// appended, are well under 2 MiB; an answer four times that is not a movie.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// How deep JSON may nest. serde_json refuses deeper documents (its recursion limit, which
/// keeps the stack safe); TMDB's responses nest five levels.
pub const MAX_DEPTH: usize = 127;

/// The longest text that may land in an indexed column (a title, an IMDb id, a key such as a
/// credit id or an image path). PostgreSQL's btree refuses entries over 2704 bytes, and 1000
/// characters are at most 4000 bytes: the limit is on bytes.
pub const MAX_KEY_BYTES: usize = 2000;

/// Why an answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    /// Not JSON, or too large: perhaps not TMDB's doing; worth another try later.
    #[error("{0}")]
    Garbled(String),
    /// JSON, but not a usable answer: TMDB would send the same again.
    #[error("{0}")]
    Unusable(String),
}

/// The JSON of a body: size first, then depth (so nesting is never a stack's problem), then
/// the parse; U+0000 removed from every string and key.
pub fn decode(body: &[u8]) -> Result<Json, Unreadable> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Unreadable::Garbled(format!(
            "the body is {} bytes, more than the {MAX_BODY_BYTES} an answer may have",
            body.len()
        )));
    }
    let depth = nesting_depth(body);
    if depth > MAX_DEPTH {
        return Err(Unreadable::Unusable(format!("the JSON nests {depth} levels deep, more than {MAX_DEPTH}")));
    }
    let mut json: Json = serde_json::from_slice(body).map_err(|e| Unreadable::Garbled(e.to_string()))?;
    strip_nul(&mut json);
    Ok(json)
}

/// `json` as a `T`, `null` counting as absent everywhere.
pub fn shape<T: DeserializeOwned>(json: &Json) -> Result<T, Unreadable> {
    serde_json::from_value(without_nulls(json)).map_err(|e| Unreadable::Unusable(e.to_string()))
}

/// How deep the arrays and objects of a JSON text nest (strings skipped, escapes included); a
/// text that is not JSON gets some number, and the parser says what is wrong with it.
pub fn nesting_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Removes U+0000 from every string and object key.
pub fn strip_nul(json: &mut Json) {
    match json {
        Json::String(s) if s.contains('\0') => s.retain(|c| c != '\0'),
        Json::Array(items) => items.iter_mut().for_each(strip_nul),
        Json::Object(map) if map.keys().any(|k| k.contains('\0')) => {
            *map = std::mem::take(map)
                .into_iter()
                .map(|(k, mut v)| {
                    strip_nul(&mut v);
                    (k.replace('\0', ""), v)
                })
                .collect();
        }
        Json::Object(map) => map.values_mut().for_each(strip_nul),
        _ => {}
    }
}

/// `json` without its `null`s: object members and array elements that are `null` are left out,
/// so that every field takes its default.
fn without_nulls(json: &Json) -> Json {
    match json {
        Json::Array(items) => Json::Array(items.iter().filter(|v| !v.is_null()).map(without_nulls).collect()),
        Json::Object(map) => {
            Json::Object(map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect())
        }
        other => other.clone(),
    }
}

impl MovieDetails {
    /// A details response as a movie Marquee can store, or why it is not one. Every reader of a
    /// response (the ingest, reprojection, the change log, the audit) reads it through here.
    pub fn from_response(json: &Json) -> Result<MovieDetails, Unreadable> {
        if !json.is_object() {
            return Err(Unreadable::Unusable("the answer is not a JSON object".into()));
        }
        let details: MovieDetails = shape(json)?;
        storable(&details).map_err(Unreadable::Unusable)?;
        Ok(details)
    }
}

/// What the catalog's columns can hold: ids and counts that land in `int` columns, and texts
/// that land in indexed ones (see [`MAX_KEY_BYTES`]).
fn storable(d: &MovieDetails) -> Result<(), String> {
    let int = |what: &str, v: i64| {
        i32::try_from(v).map(drop).map_err(|_| format!("{what} {v} does not fit a 32-bit integer"))
    };
    let key = |what: &str, s: &str| {
        if s.len() > MAX_KEY_BYTES {
            Err(format!("{what} is {} bytes long, more than {MAX_KEY_BYTES}", s.len()))
        } else {
            Ok(())
        }
    };
    let opt_key = |what: &str, s: &Option<String>| s.as_deref().map_or(Ok(()), |s| key(what, s));
    if let Some(v) = d.vote_average.filter(|v| !(0.0..=10.0).contains(v)) {
        return Err(format!("the vote average {v} is not on TMDB's scale of 0 to 10"));
    }
    opt_key("the title", &d.title)?;
    opt_key("the IMDb id", &d.imdb_id)?;
    for g in &d.genres {
        int("a genre id", g.id)?;
    }
    for c in &d.credits.cast {
        key("a credit id", &c.credit_id)?;
    }
    for c in &d.credits.crew {
        key("a credit id", &c.credit_id)?;
    }
    for v in &d.videos.results {
        key("a video key", &v.key)?;
    }
    for i in d.images.backdrops.iter().chain(&d.images.posters).chain(&d.images.logos) {
        key("an image path", &i.file_path)?;
        int("an image's vote count", i.vote_count.unwrap_or(0))?;
    }
    for r in &d.release_dates.results {
        key("a release country", &r.iso_3166_1)?;
    }
    for country in d.watch_providers.results.keys() {
        key("a watch-provider country", country)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::tmdb::types::ImageConfiguration;

    /// Everything a details answer becomes, start to finish: decoded, read as a movie,
    /// normalised, scored, carded and made into the write's document. Never panics.
    fn read_all_the_way(body: &[u8]) {
        let Ok(json) = decode(body) else { return };
        let Ok(details) = MovieDetails::from_response(&json) else { return };
        let images = ImageConfiguration {
            secure_base_url: "https://image.tmdb.org/t/p/".into(),
            poster_sizes: vec!["w92".into(), "w500".into(), "original".into()],
            backdrop_sizes: vec!["w780".into(), "original".into()],
            profile_sizes: vec!["w45".into(), "original".into()],
        };
        let Ok(record) = crate::domain::movie::normalize(&details, &images) else { return };
        let (score, card) = crate::pipeline::ingest::derive(1, &record);
        let now = crate::ports::system_now();
        let document = crate::db::catalog::fingerprint_of(&crate::db::catalog::WriteMovie {
            work_id: 1,
            lease_owner: "",
            record: &record,
            raw: &json,
            score: &score,
            card: &card,
            changes: &serde_json::Map::new(),
            refreshed_at: now,
            next_refresh_at: now,
            function: "test",
        });
        assert!(document.is_object());
        assert!(!card.payload.to_string().contains('\0'), "no NUL reaches the card");
    }

    /// The names TMDB's details answers use, at any level, and others.
    fn tmdb_key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "id",
                "title",
                "original_title",
                "overview",
                "release_date",
                "runtime",
                "budget",
                "revenue",
                "popularity",
                "vote_average",
                "vote_count",
                "poster_path",
                "adult",
                "genres",
                "name",
                "credits",
                "cast",
                "crew",
                "character",
                "order",
                "credit_id",
                "job",
                "videos",
                "results",
                "key",
                "site",
                "type",
                "published_at",
                "images",
                "posters",
                "backdrops",
                "file_path",
                "vote_count",
                "width",
                "release_dates",
                "iso_3166_1",
                "certification",
                "keywords",
                "watch/providers",
                "flatrate",
                "provider_id",
                "similar",
                "belongs_to_collection",
                "production_companies",
                "status",
                "imdb_id",
            ])
            .prop_map(str::to_owned),
            ".{0,6}",
        ]
    }

    fn tmdb_like() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            any::<u64>().prop_map(Json::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
            (0i64..20).prop_map(Json::from),
            ".{0,16}".prop_map(Json::String),
            prop::sample::select(vec![
                "\u{0}",
                "1999-10-15",
                "0000-01-01",
                "2024-05-01T17:00:05.000Z",
                "YouTube",
                "Trailer",
                "US"
            ])
            .prop_map(|s| Json::String(s.to_owned())),
        ];
        leaf.prop_recursive(5, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
                prop::collection::btree_map(tmdb_key(), inner, 0..8)
                    .prop_map(|m| Json::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn any_tmdb_shaped_answer_is_read_or_refused_without_a_panic(
            fields in prop::collection::btree_map(tmdb_key(), tmdb_like(), 0..16),
            id in any::<i64>(),
        ) {
            let mut answer: serde_json::Map<String, Json> = fields.into_iter().collect();
            answer.insert("id".into(), json!(id));
            if !answer.get("title").is_some_and(Json::is_string) {
                answer.insert("title".into(), json!("T"));
            }
            read_all_the_way(Json::Object(answer).to_string().as_bytes());
        }

        #[test]
        fn any_json_or_bytes_are_read_or_refused_without_a_panic(
            value in tmdb_like(),
            bytes in prop::collection::vec(any::<u8>(), 0..128),
        ) {
            read_all_the_way(value.to_string().as_bytes());
            read_all_the_way(&bytes);
        }
    }

    #[test]
    fn nesting_is_measured_outside_strings() {
        assert_eq!(nesting_depth(br#"{"a": [1, {"b": "[[[{{{"}]}"#), 3);
        assert_eq!(nesting_depth(br#"["\"[[", ["\\"], [[]]]"#), 3);
        assert_eq!(nesting_depth(b"not json"), 0);
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(nesting_depth(deep.as_bytes()), 10_000);
        assert!(matches!(decode(deep.as_bytes()), Err(Unreadable::Unusable(m)) if m.contains("10000 levels")));
    }

    #[test]
    fn bodies_too_large_or_not_json_are_garbled() {
        assert!(matches!(decode(&vec![b' '; MAX_BODY_BYTES + 1]), Err(Unreadable::Garbled(m)) if m.contains("bytes")));
        for body in [&b"{\"id\": 1, \"title\": \"cut"[..], b"<!DOCTYPE html><html></html>", b"{\"t\": \"\xff\"}", b""] {
            assert!(matches!(decode(body), Err(Unreadable::Garbled(_))), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn nul_characters_are_removed_from_strings_and_keys() {
        let json = decode(br#"{"title": "A\u0000B", "a\u0000": ["\u0000", {"x": "\u0000y"}]}"#).unwrap();
        assert_eq!(json, json!({"title": "AB", "a": ["", {"x": "y"}]}));
    }

    #[test]
    fn nulls_count_as_absent_everywhere() {
        let raw = json!({"id": 5, "title": "T", "genres": [null, {"id": 1, "name": null}], "credits": null,
                         "images": {"posters": [{"file_path": null, "width": null}]}, "adult": null});
        let d = MovieDetails::from_response(&raw).unwrap();
        assert_eq!((d.id, d.genres.len(), d.genres[0].name.as_str(), d.adult), (5, 1, "", false));
        assert!(d.credits.cast.is_empty());
        assert_eq!(d.images.posters[0].file_path, "");
    }

    #[test]
    fn what_no_column_can_hold_is_unusable() {
        for (raw, why) in [
            (json!([1, 2]), "not a JSON object"),
            (json!({"id": "550"}), "invalid type"),
            (json!({"id": 1, "genres": [{"id": 3_000_000_000_i64, "name": "G"}]}), "genre id"),
            (json!({"id": 1, "title": "t".repeat(MAX_KEY_BYTES + 1)}), "the title"),
            (json!({"id": 1, "runtime": 1e10}), "invalid type"),
            (json!({"id": 1, "vote_average": 1e308}), "vote average"),
            (json!({"id": 1, "vote_average": -1}), "vote average"),
            (json!({"id": 1, "images": {"posters": [{"file_path": "/p", "vote_count": 1_i64 << 40}]}}), "vote count"),
        ] {
            match MovieDetails::from_response(&raw) {
                Err(Unreadable::Unusable(m)) => assert!(m.contains(why), "{m} (expected {why})"),
                other => panic!("{raw}: {other:?}"),
            }
        }
    }
}
