//! Hostile TMDB answers, served by the fake TMDB byte for byte and ingested through the real
//! route into a real PostgreSQL: U+0000 (which PostgreSQL refuses in `text` and `jsonb`), nulls
//! everywhere, unknown fields, numbers at every extreme, texts longer than an index entry,
//! dates PostgreSQL has no day for, JSON nested 10,000 deep, invalid UTF-8, another movie's id.
//!
//! Every answer ends one of two ways: the movie is stored whole (what can be mended is: NULs
//! removed, nulls taken as absent), or it fails with its reason and nothing of it is stored.
//! Never a 5xx of our own, never a panic; the audit (deep: every stored response projected
//! again) passes after all of them. The cases found by the generated answers are kept below as
//! regressions, each with the answer that found it.

use marquee::pipeline::audit::{self, AuditOptions};
use marquee::tmdb::response::MAX_KEY_BYTES;
use marquee::tmdb::types::APPENDED_PARTS;
use marquee_tests::{TestApp, error_code};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value as Json, json};

fn small() -> fake_tmdb::FakeTmdbConfig {
    fake_tmdb::FakeTmdbConfig {
        catalog_size: 2_000,
        cast_per_movie: 4,
        crew_per_movie: 2,
        keywords_per_movie: 3,
        ..Default::default()
    }
}

/// A whole details answer of the fake catalog, as TMDB gives it.
fn details(id: u64) -> Json {
    let parts: Vec<&str> = APPENDED_PARTS.split(',').collect();
    fake_tmdb::movie_details(&small(), id, &parts).expect("in the catalog")
}

/// How one answer ended.
#[derive(Debug, PartialEq)]
enum Ended {
    Stored,
    /// `502 tmdb_bad_response`, the reason in `works.last_error`.
    Failed(String),
    /// `422 rejected` (adult, untitled).
    Refused,
}

/// Serves `body` for `id` and ingests it; checks that a failure left nothing of the movie.
async fn ingest(app: &TestApp, id: u64, body: Vec<u8>) -> Ended {
    app.fake.faults().serve_raw(id, body);
    let r = app.ingest(json!({"tmdb_id": id, "force_refresh": true})).await;
    match r.status {
        200 => Ended::Stored,
        422 => {
            assert_eq!(error_code(&r), "rejected");
            Ended::Refused
        }
        502 => {
            assert_eq!(error_code(&r), "tmdb_bad_response", "{}", r.text);
            let row = app
                .db
                .query_one(
                    "SELECT ingestion_status, last_error, lease_owner FROM works WHERE tmdb_id = $1",
                    &[&(id as i64)],
                )
                .await
                .unwrap();
            assert_eq!(row.get::<_, String>(0), "failed", "{}", r.text);
            assert_eq!(row.get::<_, Option<String>>(2), None, "no lease left held");
            let w = format!("(SELECT work_id FROM works WHERE tmdb_id = {id})");
            for table in ["works_meta", "works_raw", "credits", "work_cards_cache", "aggregates", "images", "videos"] {
                let n = app.count(&format!("SELECT count(*) FROM {table} WHERE work_id = {w}")).await;
                assert_eq!(n, 0, "{table} holds rows of a movie that failed: {}", r.text);
            }
            Ended::Failed(row.get(1))
        }
        other => panic!("HTTP {other} for a hostile answer: {}", r.text),
    }
}

async fn assert_audit_passes(app: &TestApp) {
    let report = audit::audit(&app.library("marquee-audit").await, AuditOptions { fix: false, deep: true })
        .await
        .expect("the audit runs");
    let findings: Vec<_> = report.checks.iter().flat_map(|c| &c.findings).collect();
    assert!(findings.is_empty(), "{findings:#?}");
}

/// The answers each case starts from are the fake catalog's; the first ingest caches TMDB's
/// image configuration.
async fn app() -> TestApp {
    let app = TestApp::start_with(small(), |s| s).await;
    assert_eq!(app.ingest(json!({"tmdb_id": 1})).await.status, 200);
    app
}

#[tokio::test]
async fn hostile_answers_are_stored_whole_or_fail_with_their_reason() {
    let app = app().await;
    let with = |id: u64, edit: &dyn Fn(&mut Json)| {
        let mut d = details(id);
        edit(&mut d);
        serde_json::to_vec(&d).unwrap()
    };
    let long = "x".repeat(MAX_KEY_BYTES + 1);
    let cases: Vec<(u64, Vec<u8>, &str)> = vec![
        // Mended, then stored.
        (10, with(10, &|d| d["title"] = json!("Null\u{0}Title")), "stored"),
        (11, with(11, &|d| d["credits"]["cast"][0]["name"] = json!("\u{0}\u{0}")), "stored"),
        (12, with(12, &|d| d["overview"] = json!("a\u{0}b")), "stored"),
        (
            13,
            with(13, &|d| {
                for key in [
                    "credits",
                    "videos",
                    "images",
                    "genres",
                    "keywords",
                    "release_dates",
                    "similar",
                    "imdb_id",
                    "runtime",
                ] {
                    d[key] = Json::Null;
                }
            }),
            "stored",
        ),
        (14, with(14, &|d| d["genres"] = json!([null, {"id": null, "name": null}])), "stored"),
        (
            15,
            with(15, &|d| {
                d["unknown"] = json!({"deep": [1, {"x": null}], "n": 1e300});
                d["credits"]["cast"][0]["extra"] = json!("field");
            }),
            "stored",
        ),
        (16, with(16, &|d| d["release_date"] = json!("0000-01-01")), "stored"),
        (
            17,
            with(
                17,
                &|d| d["videos"]["results"] = json!([{"key": "k", "site": "YouTube", "type": "Trailer", "published_at": "garbage, not a time at all"}]),
            ),
            "stored",
        ),
        (
            18,
            with(18, &|d| {
                d["popularity"] = json!(1e308);
                d["budget"] = json!(i64::MAX);
                d["revenue"] = json!(-1);
            }),
            "stored",
        ),
        (19, with(19, &|d| d["overview"] = json!("o".repeat(100_000))), "stored"),
        (
            20,
            with(20, &|d| {
                d["keywords"]["keywords"] = json!([{"id": i64::MAX, "name": "max"}, {"id": i64::MIN, "name": "min"}])
            }),
            "stored",
        ),
        // Unusable: failed with the reason, nothing stored.
        (30, with(30, &|d| d["id"] = json!(31)), "about movie 31"),
        (32, with(32, &|d| d["title"] = json!(long.clone())), "the title"),
        (33, with(33, &|d| d["genres"] = json!([{"id": 3_000_000_000_i64, "name": "G"}])), "genre id"),
        (34, with(34, &|d| d["vote_average"] = json!(1e308)), "vote average"),
        (35, with(35, &|d| d["runtime"] = json!("120")), "invalid type"),
        (36, with(36, &|d| d["images"]["posters"] = json!([{"file_path": long.clone()}])), "image path"),
        (
            37,
            format!("{{\"id\": 37, \"x\": {}1{}}}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            "nests 10001 levels",
        ),
        (38, b"[1, 2, 3]".to_vec(), "not a JSON object"),
        // Not JSON: failed with the reason (retried later, as an outage is).
        (40, b"{\"id\": 40, \"title\": \"\xff\xfe\"}".to_vec(), "malformed JSON"),
        (41, b"{\"id\": 41, \"budget\": 1e400}".to_vec(), "malformed JSON"),
        (42, Vec::new(), "malformed JSON"),
        (43, b"<!DOCTYPE html><html></html>".to_vec(), "malformed JSON"),
    ];
    for (id, body, expected) in cases {
        let ended = ingest(&app, id, body).await;
        match (&ended, expected) {
            (Ended::Stored, "stored") => {}
            (Ended::Failed(reason), why) if why != "stored" && reason.contains(why) => {}
            other => panic!("movie {id}: {other:?}"),
        }
    }
    // What was mended is what is stored.
    let title: String = app.db.query_one("SELECT title FROM works WHERE tmdb_id = 10", &[]).await.unwrap().get(0);
    assert_eq!(title, "NullTitle");
    let card: Json = app
        .db
        .query_one("SELECT c.payload FROM work_cards_cache c JOIN works w USING (work_id) WHERE w.tmdb_id = 10", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(card["title"], "NullTitle");
    let stored_null: i64 = app.count("SELECT count(*) FROM works_raw WHERE payload::text LIKE '%\\\\u0000%'").await;
    assert_eq!(stored_null, 0);
    let date: Option<chrono::NaiveDate> =
        app.db.query_one("SELECT release_date FROM works WHERE tmdb_id = 16", &[]).await.unwrap().get(0);
    assert_eq!(date, None, "a year PostgreSQL does not have is no date");
    assert_audit_passes(&app).await;
}

/// Numbers at their extremes.
fn hostile_number() -> impl Strategy<Value = Json> {
    prop::sample::select(vec![
        json!(0),
        json!(-1),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(i32::MAX as i64 + 1),
        json!(1e308),
        json!(-1e308),
        json!(5e-324),
        json!(0.1),
        json!(9007199254740993_i64),
        json!(-0.0),
        json!(7),
    ])
}

/// Texts no column expects.
fn hostile_text() -> impl Strategy<Value = Json> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            " ",
            "\u{0}",
            "a\u{0}b",
            "\u{0}\u{0}\u{0}",
            "'; DROP TABLE works; --",
            "\\",
            "\"quoted\"",
            "\u{202e}rtl",
            "日本語のタイトル",
            "👩‍👩‍👧‍👦",
            "\u{feff}bom",
            "0000-00-00",
            "2024-02-30",
            "9999-12-31",
            "10000-01-01",
            "1999-10-15T00:00:00.000Z",
            "0000-01-01T00:00:00.000Z",
            "null",
            "[]",
            "{}",
        ])
        .prop_map(|s| Json::String(s.to_owned())),
        "[^\u{0}]{0,40}".prop_map(Json::String),
        (2500usize..3500).prop_map(|n| Json::String("é".repeat(n))),
    ]
}

/// Any leaf at all.
fn hostile_leaf() -> impl Strategy<Value = Json> {
    prop_oneof![Just(Json::Null), any::<bool>().prop_map(Json::Bool), hostile_number(), hostile_text()]
}

/// One edit of an answer: the `pick`-th node (pre-order, modulo their number) gets a hostile
/// value of its own type (most often), `null`, or any leaf; or an object gets an unknown field
/// or loses a key; or the movie is made one the catalog refuses.
#[derive(Debug, Clone)]
enum Edit {
    SameType(usize, Json, Json),
    Replace(usize, Json),
    AddField(usize, String, Json),
    Remove(usize),
    Refusable(&'static str, Json),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        8 => (any::<usize>(), hostile_number(), hostile_text()).prop_map(|(p, n, t)| Edit::SameType(p, n, t)),
        2 => (any::<usize>(), Just(Json::Null)).prop_map(|(p, v)| Edit::Replace(p, v)),
        1 => (any::<usize>(), hostile_leaf()).prop_map(|(p, v)| Edit::Replace(p, v)),
        2 => (any::<usize>(), "[a-z_]{1,10}", hostile_leaf()).prop_map(|(p, k, v)| Edit::AddField(p, k, v)),
        1 => any::<usize>().prop_map(Edit::Remove),
        1 => prop::sample::select(vec![("adult", json!(true)), ("title", json!("  ")), ("title", Json::Null)])
            .prop_map(|(k, v)| Edit::Refusable(k, v)),
    ]
}

fn count_nodes(v: &Json) -> usize {
    1 + match v {
        Json::Array(items) => items.iter().map(count_nodes).sum(),
        Json::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// The node at pre-order position `*at` (counting down), or the last one reached.
fn node_at<'a>(v: &'a mut Json, at: &mut usize) -> Option<&'a mut Json> {
    if *at == 0 {
        return Some(v);
    }
    *at -= 1;
    match v {
        Json::Array(items) => items.iter_mut().find_map(|c| node_at(c, at)),
        Json::Object(map) => map.values_mut().find_map(|c| node_at(c, at)),
        _ => None,
    }
}

fn apply(doc: &mut Json, edit: &Edit) {
    let n = count_nodes(doc);
    // The root stays an object (its id is set again after the edits: the answers must be
    // about the movie asked).
    let below_root = |p: &usize| 1 + p % (n - 1).max(1);
    match edit {
        Edit::SameType(p, number, text) => {
            if let Some(node) = node_at(doc, &mut below_root(p)) {
                match node {
                    Json::Number(_) => *node = number.clone(),
                    Json::String(_) => *node = text.clone(),
                    Json::Bool(b) => *b = !*b,
                    _ => {}
                }
            }
        }
        Edit::Replace(p, v) => {
            if let Some(node) = node_at(doc, &mut below_root(p)) {
                *node = v.clone();
            }
        }
        Edit::Refusable(key, v) => doc[*key] = v.clone(),
        Edit::AddField(p, k, v) => {
            if let Some(Json::Object(map)) = node_at(doc, &mut (p % n)) {
                map.insert(k.clone(), v.clone());
            }
        }
        Edit::Remove(p) => {
            if let Some(Json::Object(map)) = node_at(doc, &mut (p % n))
                && let Some(key) = map.keys().nth(p % map.len().max(1)).cloned()
                && key != "id"
            {
                map.remove(&key);
            }
        }
    }
}

#[test]
fn generated_hostile_answers_never_half_write_a_movie() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let app = runtime.block_on(app());
    let mut runner = TestRunner::new(Config { cases: 160, failure_persistence: None, ..Config::default() });
    let next_id = std::cell::Cell::new(100u64);
    let endings = std::cell::RefCell::new(std::collections::BTreeMap::<&str, u32>::new());
    let outcome = runner.run(&prop::collection::vec(edit(), 1..12), |edits| {
        let id = next_id.get();
        next_id.set(id + 1);
        let mut doc = details(id);
        for e in &edits {
            apply(&mut doc, e);
        }
        doc["id"] = json!(id);
        let body = serde_json::to_vec(&doc).unwrap();
        // Panics (a 5xx, a half-written movie) are the property's failures.
        let ended = match runtime.block_on(ingest(&app, id, body)) {
            Ended::Stored => "stored",
            Ended::Failed(_) => "failed",
            Ended::Refused => "refused",
        };
        *endings.borrow_mut().entry(ended).or_default() += 1;
        Ok(())
    });
    outcome.unwrap();
    runtime.block_on(assert_audit_passes(&app));
    // The edits reach every ending, so each path is exercised.
    let endings = endings.into_inner();
    eprintln!("endings: {endings:?}");
    for ending in ["stored", "failed", "refused"] {
        assert!(endings.get(ending).is_some_and(|n| *n >= 5), "{endings:?}");
    }
}
