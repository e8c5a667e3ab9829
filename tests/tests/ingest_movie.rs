//! `POST /functions/v1/ingest-movie` end to end: real PostgreSQL, the fake TMDB, real HTTP.

use std::time::Duration;

use fake_tmdb::FakeTmdbConfig;
use marquee_tests::{ADMIN_TOKEN, TestApp, error_code};
use serde_json::json;

/// Ingests a movie other than the ones under test, so TMDB's `/configuration` is cached and
/// every later request to the fake is about the movie under test.
async fn warm_up(app: &TestApp) {
    let r = app.ingest(json!({"tmdb_id": 9000})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.fake.reset_counters();
}

#[tokio::test]
async fn a_movie_is_ingested_with_exactly_one_tmdb_request_and_every_table_written() {
    let app = TestApp::start().await;
    warm_up(&app).await;
    let r = app.ingest(json!({"tmdb_id": 550, "force_refresh": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "ingested");
    assert_eq!(app.fake.counters().total, 1, "one request for everything: {:?}", app.fake.counters());
    assert_eq!(app.movie_requests(), 1);

    let card = &r.body["card"];
    assert_eq!(card["tmdb_id"], 550);
    assert!(card["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        card["poster"]["medium"].as_str().is_some_and(|u| u.starts_with("https://image.tmdb.org/t/p/w342/")),
        "{card}"
    );
    let score = &card["score"];
    assert!(
        score["low"].as_f64().unwrap() <= score["value"].as_f64().unwrap()
            && score["value"].as_f64().unwrap() <= score["high"].as_f64().unwrap()
    );
    assert_eq!(r.headers["etag"].to_str().unwrap().len(), 34);

    let work = app.db.query_one("SELECT ingestion_status, lease_owner, next_refresh_at > now() AS scheduled, schema_version FROM works WHERE tmdb_id = 550", &[]).await.unwrap();
    assert_eq!(work.get::<_, String>(0), "complete");
    assert_eq!(work.get::<_, Option<String>>(1), None, "lease released");
    assert!(work.get::<_, bool>(2));
    assert_eq!(work.get::<_, i32>(3), marquee::domain::staleness::SCHEMA_VERSION);
    let w = "(SELECT work_id FROM works WHERE tmdb_id = 550)";
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM credits WHERE work_id = {w} AND credit_type = 'cast'")).await,
        25
    );
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM credits WHERE work_id = {w} AND credit_type = 'crew'")).await,
        5
    );
    assert_eq!(app.count(&format!("SELECT count(*) FROM work_keywords WHERE work_id = {w}")).await, 8);
    for table in [
        "works_meta",
        "works_raw",
        "work_genres",
        "images",
        "videos",
        "release_dates",
        "work_watch_providers",
        "similar_movies",
        "rating_sources",
        "aggregates",
        "work_cards_cache",
        "work_metrics_history",
    ] {
        assert!(app.count(&format!("SELECT count(*) FROM {table} WHERE work_id = {w}")).await > 0, "{table} is empty");
    }
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM work_change_log WHERE work_id = {w}")).await,
        0,
        "a first ingest is not a change"
    );
    let logged = app
        .db
        .query_one("SELECT endpoint, status_code, attempt, edge_function FROM tmdb_api_logs WHERE tmdb_id = 550", &[])
        .await
        .unwrap();
    assert_eq!(
        (
            logged.get::<_, String>(0),
            logged.get::<_, Option<i32>>(1),
            logged.get::<_, i32>(2),
            logged.get::<_, String>(3)
        ),
        ("/movie/{id}".to_owned(), Some(200), 1, "ingest-movie".to_owned())
    );
}

#[tokio::test]
async fn a_fresh_movie_is_served_from_the_cache_and_force_refresh_refetches() {
    let app = TestApp::start().await;
    warm_up(&app).await;
    let first = app.ingest(json!({"tmdb_id": 603})).await;
    assert_eq!(first.status, 200);
    app.fake.reset_counters();

    let cached = app.ingest(json!({"tmdb_id": 603})).await;
    assert_eq!(cached.status, 200, "{}", cached.text);
    assert_eq!(cached.body["status"], "cached");
    assert_eq!(cached.body["card"], first.body["card"]);
    assert_eq!(app.fake.counters().total, 0, "no TMDB request for a fresh movie");
    assert_eq!(
        app.count("SELECT request_count::int8 FROM works WHERE tmdb_id = 603").await,
        1,
        "a served cached card is counted"
    );

    let forced = app.ingest(json!({"tmdb_id": 603, "force_refresh": true})).await;
    assert_eq!(forced.body["status"], "ingested", "{}", forced.text);
    assert_eq!(app.movie_requests(), 1);
    assert_eq!(forced.headers["etag"], first.headers["etag"], "same data, same ETag");
    assert_eq!(app.count("SELECT count(*) FROM work_metrics_history").await, 3, "warm-up + ingest + refresh");
}

#[tokio::test]
async fn a_refresh_that_changed_data_logs_old_and_new_values_and_a_metrics_snapshot() {
    let app = TestApp::start().await;
    let first = app.ingest(json!({"tmdb_id": 77})).await;
    let old_title = first.body["card"]["title"].as_str().unwrap().to_owned();
    app.fake.faults().patch_movie(77, json!({"title": "A Brand New Title", "vote_count": 123456}));

    let refreshed = app.ingest(json!({"tmdb_id": 77, "force_refresh": true})).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_eq!(refreshed.body["changes"], json!({"title": [old_title, "A Brand New Title"]}));
    assert_ne!(refreshed.headers["etag"], first.headers["etag"]);
    let log = app.db.query_one("SELECT changes::text FROM work_change_log", &[]).await.unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&log.get::<_, String>(0)).unwrap(),
        json!({"title": [old_title, "A Brand New Title"]})
    );
    let votes: Vec<i32> = app
        .db
        .query("SELECT vote_count FROM work_metrics_history ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(votes.len(), 2);
    assert_eq!(votes[1], 123456);
    assert_ne!(votes[0], votes[1]);
}

#[tokio::test]
async fn rate_limited_then_success_honours_retry_after() {
    let app = TestApp::start().await;
    warm_up(&app).await;
    app.fake.faults().fail_next(1, 429, Some(1));
    let r = app.ingest(json!({"tmdb_id": 12})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.movie_requests(), 2);
    let attempts = app
        .db
        .query(
            "SELECT attempt, status_code, response_time_ms FROM tmdb_api_logs WHERE tmdb_id = 12 ORDER BY attempt",
            &[],
        )
        .await
        .unwrap();
    let seen: Vec<(i32, Option<i32>)> = attempts.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(seen, vec![(1, Some(429)), (2, Some(200))]);
    // The wait itself is tested exactly on the virtual clock (tmdb::timing_tests); here, that
    // the client read the header: the throttled attempt's log names the wait it chose.
    let throttled =
        app.db.query_one("SELECT error FROM tmdb_api_logs WHERE tmdb_id = 12 AND attempt = 1", &[]).await.unwrap();
    assert_eq!(throttled.get::<_, Option<String>>(0).as_deref(), Some("HTTP 429 rate limited (retry after 1000 ms)"));
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let app = TestApp::start().await;
    warm_up(&app).await;
    app.fake.faults().fail_next(2, 503, None);
    let r = app.ingest(json!({"tmdb_id": 13})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.movie_requests(), 3);
    assert_eq!(app.count("SELECT count(*) FROM tmdb_api_logs WHERE tmdb_id = 13 AND status_code = 503").await, 2);
}

#[tokio::test]
async fn persistent_server_errors_give_up_and_record_the_failure() {
    let app = TestApp::start_with(FakeTmdbConfig::default(), |s| s.with("tmdb_max_attempts", "2")).await;
    warm_up(&app).await;
    app.fake.faults().fail_next(5, 502, None);
    let r = app.ingest(json!({"tmdb_id": 14})).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(error_code(&r), "tmdb_unavailable");
    assert_eq!(app.movie_requests(), 2);
    let row = app.db.query_one("SELECT ingestion_status, last_error FROM works WHERE tmdb_id = 14", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(row.get::<_, String>(1).contains("HTTP 502"));
}

#[tokio::test]
async fn a_movie_tmdb_no_longer_has_is_marked_gone_and_rejected() {
    let app = TestApp::start().await;
    warm_up(&app).await;
    app.fake.faults().not_found(404);
    let r = app.ingest(json!({"tmdb_id": 404})).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(error_code(&r), "gone");
    assert_eq!(app.movie_requests(), 1, "404 is never retried");
    let status = app
        .db
        .query_one("SELECT ingestion_status, gone_at IS NOT NULL FROM works WHERE tmdb_id = 404", &[])
        .await
        .unwrap();
    assert_eq!((status.get::<_, String>(0), status.get::<_, bool>(1)), ("gone".to_owned(), true));
    assert_eq!(app.count("SELECT count(*) FROM rejected_works WHERE tmdb_id = 404 AND reason = 'not_found'").await, 1);
    let card = app.request(reqwest::Method::GET, "/api/works/404", None, None, &[]).await;
    assert_eq!(card.status, 404);
}

#[tokio::test]
async fn a_previously_ingested_movie_that_became_404_is_marked_gone() {
    let app = TestApp::start().await;
    assert_eq!(app.ingest(json!({"tmdb_id": 21})).await.status, 200);
    app.fake.faults().not_found(21);
    let r = app.ingest(json!({"tmdb_id": 21, "force_refresh": true})).await;
    assert_eq!(r.status, 404);
    assert_eq!(error_code(&r), "gone");
    let card = app.request(reqwest::Method::GET, "/api/works/21", None, None, &[]).await;
    assert_eq!((card.status, error_code(&card)), (404, "gone"));
}

#[tokio::test]
async fn adult_and_untitled_movies_are_rejected_with_their_reason() {
    let app = TestApp::start().await;
    app.fake.faults().patch_movie(31, json!({"adult": true}));
    app.fake.faults().patch_movie(32, json!({"title": null}));
    let adult = app.ingest(json!({"tmdb_id": 31})).await;
    let untitled = app.ingest(json!({"tmdb_id": 32})).await;
    assert_eq!((adult.status, error_code(&adult)), (422, "rejected"));
    assert_eq!((untitled.status, error_code(&untitled)), (422, "rejected"));
    let reasons: Vec<(i64, String)> = app
        .db
        .query("SELECT tmdb_id, reason FROM rejected_works ORDER BY tmdb_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(reasons, vec![(31, "adult".to_owned()), (32, "missing_title".to_owned())]);
    assert_eq!(app.count("SELECT count(*) FROM works_meta").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM works WHERE ingestion_status = 'rejected'").await, 2);
}

#[tokio::test]
async fn invalid_tmdb_credentials_stop_with_a_clear_error_and_write_nothing() {
    let secret = "definitely-wrong-token-123";
    let app = TestApp::start_with(FakeTmdbConfig::default(), |s| s.with("tmdb_token", secret)).await;
    let r = app.ingest(json!({"tmdb_id": 550})).await;
    assert_eq!(r.status, 502, "{}", r.text);
    assert_eq!(error_code(&r), "tmdb_unauthorized");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("401"));
    assert!(!r.text.contains(secret));
    assert_eq!(app.fake.counters().total, 1, "401 is never retried");
    for table in ["works", "works_meta", "works_raw", "credits", "rejected_works", "work_cards_cache"] {
        assert_eq!(app.count(&format!("SELECT count(*) FROM {table}")).await, 0, "{table} was written");
    }
    assert_eq!(app.count("SELECT count(*) FROM tmdb_api_logs WHERE status_code = 401").await, 1);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM tmdb_api_logs WHERE concat_ws(' ', endpoint, error) LIKE '%{secret}%'"
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn the_api_key_never_reaches_tmdb_api_logs_or_errors() {
    let key = "fake-tmdb-key";
    let app =
        TestApp::start_with(FakeTmdbConfig::default(), |s| s.with("tmdb_token", "").with("tmdb_api_key", key)).await;
    app.fake.faults().fail_next(1, 500, None);
    let r = app.ingest(json!({"tmdb_id": 42})).await;
    assert_eq!(r.status, 200, "api_key authentication works: {}", r.text);
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM tmdb_api_logs WHERE concat_ws(' ', endpoint, error) LIKE '%{key}%'"))
            .await,
        0
    );
    assert!(app.count("SELECT count(*) FROM tmdb_api_logs").await >= 3);
}

#[tokio::test]
async fn malformed_json_marks_the_movie_failed_with_no_partial_rows() {
    let app = TestApp::start().await;
    warm_up(&app).await;
    app.fake.faults().malformed(66);
    let r = app.ingest(json!({"tmdb_id": 66})).await;
    assert_eq!(r.status, 502, "{}", r.text);
    assert_eq!(error_code(&r), "tmdb_bad_response");
    let row = app
        .db
        .query_one("SELECT ingestion_status, last_error, lease_owner FROM works WHERE tmdb_id = 66", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(row.get::<_, String>(1).contains("malformed JSON"));
    assert_eq!(row.get::<_, Option<String>>(2), None);
    let w = "(SELECT work_id FROM works WHERE tmdb_id = 66)";
    for table in ["works_meta", "works_raw", "credits", "work_cards_cache", "work_metrics_history", "aggregates"] {
        assert_eq!(
            app.count(&format!("SELECT count(*) FROM {table} WHERE work_id = {w}")).await,
            0,
            "{table} half-written"
        );
    }
}

#[tokio::test]
async fn the_same_movie_ingested_twice_at_once_is_fetched_once_and_written_once() {
    let config = FakeTmdbConfig { latency: Duration::from_millis(300), ..FakeTmdbConfig::default() };
    let app = TestApp::start_with(config, |s| s).await;
    warm_up(&app).await;
    let (a, b) = futures::join!(app.ingest(json!({"tmdb_id": 550})), app.ingest(json!({"tmdb_id": 550})));
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.text, b.text);
    let mut statuses = [a.body["status"].as_str().unwrap(), b.body["status"].as_str().unwrap()];
    statuses.sort();
    assert_eq!(statuses, ["cached", "ingested"]);
    assert_eq!(a.body["card"], b.body["card"]);
    assert_eq!(app.movie_requests(), 1);
    assert_eq!(app.count("SELECT count(*) FROM works WHERE tmdb_id = 550").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM credits c JOIN works w USING (work_id) WHERE w.tmdb_id = 550").await,
        30
    );
    assert_eq!(
        app.count("SELECT count(*) FROM work_metrics_history m JOIN works w USING (work_id) WHERE w.tmdb_id = 550")
            .await,
        1
    );
}

#[tokio::test]
async fn a_live_lease_elsewhere_answers_busy_after_the_wait_and_an_expired_one_is_taken_over() {
    let app = TestApp::start_with(FakeTmdbConfig::default(), |s| s.with("ingest_wait_ms", "400")).await;
    app.db.execute("INSERT INTO works (tmdb_id, ingestion_status, lease_owner, lease_until) VALUES (88, 'ingesting', 'other', now() + interval '1 hour')", &[]).await.unwrap();
    let busy = app.ingest(json!({"tmdb_id": 88})).await;
    assert_eq!((busy.status, error_code(&busy)), (409, "ingest_in_progress"));
    assert!(busy.headers.contains_key("retry-after"));
    assert_eq!(app.movie_requests(), 0);

    app.db.execute("UPDATE works SET lease_until = now() - interval '1 second' WHERE tmdb_id = 88", &[]).await.unwrap();
    let taken = app.ingest(json!({"tmdb_id": 88})).await;
    assert_eq!(taken.status, 200, "{}", taken.text);
    assert_eq!(taken.body["status"], "ingested");
}

#[tokio::test]
async fn admin_token_is_required() {
    let app = TestApp::start().await;
    let body = Some(json!({"tmdb_id": 550}).to_string());
    let missing = app.request(reqwest::Method::POST, "/functions/v1/ingest-movie", None, body.clone(), &[]).await;
    let wrong = app
        .request(reqwest::Method::POST, "/functions/v1/ingest-movie", Some("not-the-token"), body.clone(), &[])
        .await;
    let prefix =
        app.request(reqwest::Method::POST, "/functions/v1/ingest-movie", Some(&ADMIN_TOKEN[..5]), body, &[]).await;
    for r in [&missing, &wrong, &prefix] {
        assert_eq!((r.status, error_code(r)), (401, "unauthorized"));
        assert!(!r.text.contains(ADMIN_TOKEN));
    }
    assert_eq!(app.fake.counters().total, 0);
    assert_eq!(app.count("SELECT count(*) FROM works").await, 0);
}

#[tokio::test]
async fn bad_bodies_get_400_with_a_json_error_and_write_nothing() {
    let app = TestApp::start().await;
    for body in [
        "{}",
        r#"{"tmdb_id": -5}"#,
        r#"{"tmdb_id": 0}"#,
        r#"{"tmdb_id": "abc"}"#,
        r#"{"tmdb_id": 1.5}"#,
        r#"{"tmdb_id": null}"#,
        r#"{"tmdb_id": 550, "force_refresh": "yes"}"#,
        "not json",
        r#"{"tmdb_id": 550"#,
        "[550]",
        "",
    ] {
        let r = app
            .request(reqwest::Method::POST, "/functions/v1/ingest-movie", Some(ADMIN_TOKEN), Some(body.to_owned()), &[])
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(error_code(&r), "invalid_request", "{body}");
    }
    let too_big = format!(r#"{{"tmdb_id": 550, "pad": "{}"}}"#, "x".repeat(1024 * 1024 + 1));
    let r =
        app.request(reqwest::Method::POST, "/functions/v1/ingest-movie", Some(ADMIN_TOKEN), Some(too_big), &[]).await;
    assert_eq!((r.status, error_code(&r)), (413, "payload_too_large"));
    let wrong_method =
        app.request(reqwest::Method::GET, "/functions/v1/ingest-movie", Some(ADMIN_TOKEN), None, &[]).await;
    assert_eq!((wrong_method.status, error_code(&wrong_method)), (405, "method_not_allowed"));
    assert_eq!(app.fake.counters().total, 0);
    assert_eq!(app.count("SELECT count(*) FROM works").await, 0);
}

#[tokio::test]
async fn shared_rows_follow_changes_and_unchanged_ones_are_left_alone() {
    let app = TestApp::start().await;
    assert_eq!(app.ingest(json!({"tmdb_id": 70})).await.status, 200);
    let credits = fake_tmdb::movie_details(app.fake.config(), 70, &["credits"]).unwrap()["credits"].clone();
    let first = credits["cast"][0]["id"].as_i64().unwrap();
    let second = credits["cast"][1]["id"].as_i64().unwrap();
    let xmin = |id: i64| {
        let db = &app.db;
        async move {
            db.query_one("SELECT xmin::text FROM people WHERE person_id = $1", &[&id])
                .await
                .unwrap()
                .get::<_, String>(0)
        }
    };
    let untouched_before = xmin(second).await;

    let mut renamed = credits.clone();
    renamed["cast"][0]["name"] = json!("Renamed Person");
    app.fake.faults().patch_movie(70, json!({"credits": renamed}));
    let r = app.ingest(json!({"tmdb_id": 70, "force_refresh": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let name: String =
        app.db.query_one("SELECT name FROM people WHERE person_id = $1", &[&first]).await.unwrap().get(0);
    assert_eq!(name, "Renamed Person");
    assert_eq!(xmin(second).await, untouched_before, "an unchanged person row is not rewritten");
}
