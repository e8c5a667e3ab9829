//! `POST /functions/v1/scheduled-ingest`: lists, dedupe, skip fresh, `max_movies`, budget
//! overflow into the queue, the run log, and concurrent runs.

use marquee::db::queue::Scope;
use std::collections::BTreeSet;
use std::time::Duration;

use fake_tmdb::FakeTmdbConfig;
use marquee_tests::{TestApp, error_code};
use serde_json::{Value, json};

const ROUTE: &str = "/functions/v1/scheduled-ingest";

/// A 30-movie catalog: every list covers most of it, so the lists overlap.
fn small_catalog() -> FakeTmdbConfig {
    FakeTmdbConfig { catalog_size: 30, ..FakeTmdbConfig::default() }
}

/// The union of ids the fake's lists return for `pages` pages each (read from the fake itself).
async fn ids_in_lists(app: &TestApp, pages: u32) -> BTreeSet<i64> {
    let mut ids = BTreeSet::new();
    for list in ["movie/popular", "movie/now_playing", "trending/movie/week"] {
        for page in 1..=pages {
            let url = format!("{}/{list}?page={page}", app.fake.base_url());
            let body: Value = reqwest::Client::new()
                .get(url)
                .bearer_auth(&app.fake.config().bearer_token)
                .send()
                .await
                .unwrap()
                .json_value()
                .await;
            ids.extend(body["results"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()));
        }
    }
    app.fake.reset_counters();
    ids
}

trait JsonValue {
    async fn json_value(self) -> Value;
}
impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        serde_json::from_slice(&self.bytes().await.unwrap()).unwrap()
    }
}

fn movie_ids_fetched(app: &TestApp) -> Vec<u64> {
    app.fake.counters().by_movie.keys().copied().collect()
}

#[tokio::test]
async fn lists_are_paged_deduped_across_sources_and_capped_by_max_movies() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    let union = ids_in_lists(&app, 2).await;
    let r = app
        .post(ROUTE, json!({"source": "all", "max_movies": 7, "pages_per_source": 2, "trigger_type": "scheduled"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let counters = app.fake.counters();
    for list in ["/movie/popular", "/movie/now_playing", "/trending/movie/{window}"] {
        assert_eq!(counters.by_endpoint.get(list), Some(&2), "{list}: two pages each");
    }
    assert_eq!(r.body["movies_checked"], union.len() as i64, "every movie counted once across the lists");
    assert!(union.len() < 60, "the lists overlap, so dedupe is exercised");
    assert_eq!(r.body["movies_ingested"], 7);
    assert_eq!(counters.by_endpoint.get("/movie/{id}"), Some(&7));
    assert!(counters.by_movie.values().all(|n| *n == 1), "no movie fetched twice: {:?}", counters.by_movie);
    assert_eq!(r.body["status"], "succeeded");
    assert_eq!(r.body["source"], "mixed");
}

#[tokio::test]
async fn fresh_movies_are_skipped_without_a_tmdb_request() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    let union: Vec<i64> = ids_in_lists(&app, 2).await.into_iter().collect();
    for id in &union[..5] {
        assert_eq!(app.ingest(json!({"tmdb_id": id})).await.status, 200);
    }
    app.fake.reset_counters();
    let r = app.post(ROUTE, json!({"max_movies": 1000, "pages_per_source": 2})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["movies_skipped"], 5);
    assert_eq!(r.body["movies_ingested"], union.len() as i64 - 5, "{}", r.text);
    let fetched = movie_ids_fetched(&app);
    assert!(union[..5].iter().all(|id| !fetched.contains(&(*id as u64))), "a fresh movie was fetched");
}

#[tokio::test]
async fn dry_run_reports_and_writes_nothing() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    let r = app.post(ROUTE, json!({"max_movies": 4, "dry_run": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["dry_run"], true);
    assert_eq!(r.body["would_ingest"].as_array().unwrap().len(), 4);
    assert!(r.body["would_ingest"][0]["title"].as_str().is_some());
    assert_eq!(app.fake.counters().by_endpoint.get("/movie/{id}"), None);
    for table in ["works", "scheduled_ingestion_log", "tmdb_api_logs", "refresh_queue"] {
        assert_eq!(app.count(&format!("SELECT count(*) FROM {table}")).await, 0, "{table} written by a dry run");
    }
}

#[tokio::test]
async fn what_does_not_fit_the_budget_is_queued_and_a_later_drain_finishes_it() {
    // 10 requests per second and 1 s of budget: only a few movies can start.
    let fake = FakeTmdbConfig { latency: Duration::from_millis(100), ..small_catalog() };
    let app = TestApp::start_with(fake, |s| s.with("tmdb_rate_limit_rps", "10")).await;
    let r =
        app.post(ROUTE, json!({"source": "popular", "max_movies": 30, "pages_per_source": 2, "budget_ms": 1000})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (ingested, queued) = (r.body["movies_ingested"].as_i64().unwrap(), r.body["movies_queued"].as_i64().unwrap());
    assert!(queued > 0, "the budget was too short for 30 movies: {}", r.text);
    assert_eq!(r.body["status"], "partial");
    assert_eq!(ingested + queued + r.body["movies_failed"].as_i64().unwrap(), 30, "{}", r.text);
    assert_eq!(app.count("SELECT count(*) FROM works WHERE ingestion_status = 'complete'").await, ingested);
    assert_eq!(
        app.count("SELECT count(*) FROM refresh_queue WHERE status = 'queued' AND reason = 'scheduled'").await,
        queued
    );

    let library = app.library("test-drain").await;
    let tmdb = library.tmdb(marquee::ports::system_now() + Duration::from_secs(60));
    let deadline = marquee::ports::system_now() + Duration::from_secs(60);
    let drained = marquee::pipeline::drain::drain(&library, &tmdb, deadline, Scope::All).await.unwrap();
    assert_eq!(drained.ingested as i64, queued);
    assert_eq!(app.count("SELECT count(*) FROM works WHERE ingestion_status = 'complete'").await, 30);
    assert_eq!(app.count("SELECT count(*) FROM refresh_queue WHERE status <> 'completed'").await, 0);
}

#[tokio::test]
async fn two_runs_at_the_same_moment_ingest_each_movie_once() {
    let fake = FakeTmdbConfig { latency: Duration::from_millis(150), ..small_catalog() };
    let app = TestApp::start_with(fake, |s| s).await;
    let body = json!({"source": "popular", "max_movies": 12, "pages_per_source": 1});
    let (a, b) = futures::join!(app.post(ROUTE, body.clone()), app.post(ROUTE, body));
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.text, b.text);
    let counters = app.fake.counters();
    assert_eq!(counters.by_endpoint.get("/movie/{id}"), Some(&12));
    assert!(counters.by_movie.values().all(|n| *n == 1), "{:?}", counters.by_movie);
    assert_eq!(app.count("SELECT count(*) FROM works WHERE ingestion_status = 'complete'").await, 12);
    assert_eq!(a.body["movies_ingested"].as_i64().unwrap() + b.body["movies_ingested"].as_i64().unwrap(), 12);
    assert_eq!(app.count("SELECT count(*) FROM work_metrics_history").await, 12);
}

#[tokio::test]
async fn the_run_log_row_matches_what_happened() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    app.fake.faults().malformed(3);
    let r = app
        .post(ROUTE, json!({"source": "popular", "max_movies": 30, "pages_per_source": 2, "trigger_type": "scheduled"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let row = app
        .db
        .query_one(
            "SELECT run_id, function, source, status, movies_checked, movies_skipped, movies_ingested, movies_failed, movies_queued,
                    tmdb_calls, ingested_titles, failed_titles, duration_ms, trigger_type, error, finished_at IS NOT NULL
             FROM scheduled_ingestion_log",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), r.body["run_id"].as_str().unwrap());
    assert_eq!(row.get::<_, String>(1), "scheduled-ingest");
    assert_eq!(row.get::<_, String>(2), "popular");
    assert_eq!(row.get::<_, String>(3), "partial", "one movie failed");
    assert_eq!(row.get::<_, i32>(4), 30);
    assert_eq!(row.get::<_, i32>(5), 0);
    assert_eq!(row.get::<_, i32>(6), 29);
    assert_eq!(row.get::<_, i32>(7), 1);
    assert_eq!(row.get::<_, i32>(8), 1, "the failed movie is queued for a retry");
    assert_eq!(row.get::<_, i32>(9) as u64, app.fake.counters().total, "tmdb_calls = requests the fake saw");
    let ingested: Vec<String> = row.get(10);
    let failed: Vec<String> = row.get(11);
    assert_eq!(ingested.len(), 29);
    assert!(ingested.iter().all(|t| t.ends_with(')') && t.contains(" (")), "\"Title (Year)\": {ingested:?}");
    assert_eq!(failed.len(), 1);
    assert!(failed[0].contains(": ") && failed[0].contains("malformed JSON"), "{failed:?}");
    assert!(row.get::<_, i32>(12) >= 0);
    assert_eq!(row.get::<_, String>(13), "scheduled");
    assert_eq!(row.get::<_, Option<String>>(14), None);
    assert!(row.get::<_, bool>(15));
}

#[tokio::test]
async fn a_run_stopped_by_tmdb_401_is_logged_as_failed_with_its_error() {
    let app = TestApp::start_with(small_catalog(), |s| s.with("tmdb_token", "revoked-token")).await;
    let r = app.post(ROUTE, json!({"trigger_type": "scheduled"})).await;
    assert_eq!((r.status, error_code(&r)), (502, "tmdb_unauthorized"));
    let row = app
        .db
        .query_one("SELECT status, error, movies_ingested, finished_at IS NOT NULL FROM scheduled_ingestion_log", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(row.get::<_, Option<String>>(1).is_some_and(|e| e.contains("401")));
    assert_eq!(row.get::<_, i32>(2), 0);
    assert!(row.get::<_, bool>(3));
    assert!(!r.text.contains("revoked-token"));
    assert_eq!(app.count("SELECT count(*) FROM works").await, 0);
}

#[tokio::test]
async fn invalid_bodies_are_400_and_start_no_run() {
    let app = TestApp::start().await;
    for body in [
        json!({"source": "upcoming"}),
        json!({"max_movies": -1}),
        json!({"max_movies": 100000}),
        json!({"max_movies": 2.5}),
        json!({"pages_per_source": 0}),
        json!({"trigger_type": 5}),
        json!({"dry_run": 1}),
    ] {
        let r = app.post(ROUTE, body.clone()).await;
        assert_eq!((r.status, error_code(&r)), (400, "invalid_request"), "{body}: {}", r.text);
    }
    let not_json =
        app.request(reqwest::Method::POST, ROUTE, Some(marquee_tests::ADMIN_TOKEN), Some("{".into()), &[]).await;
    assert_eq!(not_json.status, 400);
    let no_token = app.request(reqwest::Method::POST, ROUTE, None, Some("{}".into()), &[]).await;
    assert_eq!(no_token.status, 401);
    assert_eq!(app.count("SELECT count(*) FROM scheduled_ingestion_log").await, 0);
    assert_eq!(app.fake.counters().total, 0);
}
