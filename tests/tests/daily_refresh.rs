//! `POST /functions/v1/daily-refresh`: the changes feed and its cursor, stale tiers, refresh
//! effects, concurrency, the budget and dry runs.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use fake_tmdb::FakeTmdbConfig;
use marquee::domain::staleness;
use marquee::domain::states::ReleaseStatus;
use marquee_tests::{TestApp, error_code};
use serde_json::json;

const ROUTE: &str = "/functions/v1/daily-refresh";

/// "Today" as the fake TMDB's catalog and changes feed see it: fixed when the test's fake
/// started, so one test never sees two different days.
fn today(app: &TestApp) -> NaiveDate {
    app.fake.config().reference_date
}

/// The ids the fake's feed reports for `day` (read from the fake itself, counters reset after).
async fn changed_on(app: &TestApp, day: NaiveDate) -> std::collections::BTreeSet<i64> {
    let mut ids = std::collections::BTreeSet::new();
    let mut page = 1;
    loop {
        let url = format!("{}/movie/changes?start_date={day}&end_date={day}&page={page}", app.fake.base_url());
        let body: serde_json::Value = serde_json::from_slice(
            &reqwest::Client::new()
                .get(url)
                .bearer_auth(&app.fake.config().bearer_token)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        ids.extend(body["results"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()));
        if page >= body["total_pages"].as_i64().unwrap_or(1) {
            break;
        }
        page += 1;
    }
    app.fake.reset_counters();
    ids
}

async fn app_with(
    settings: impl FnOnce(marquee_cli::native::NativeSettings) -> marquee_cli::native::NativeSettings,
) -> TestApp {
    TestApp::start_with(FakeTmdbConfig::default(), settings).await
}

async fn set_cursor(app: &TestApp, day: NaiveDate) {
    app.db
        .execute(
            "INSERT INTO sync_state (sync_type, last_sync_cursor) VALUES ('tmdb_movie_changes', $1)
                  ON CONFLICT (sync_type) DO UPDATE SET last_sync_cursor = EXCLUDED.last_sync_cursor",
            &[&day.to_string()],
        )
        .await
        .unwrap();
}

async fn cursor(app: &TestApp) -> Option<String> {
    app.db
        .query_opt("SELECT last_sync_cursor FROM sync_state WHERE sync_type = 'tmdb_movie_changes'", &[])
        .await
        .unwrap()
        .and_then(|r| r.get(0))
}

async fn ingest_all(app: &TestApp, ids: &[i64]) {
    let r = app.post("/functions/v1/batch-ingest", json!({"tmdb_ids": ids})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.db.execute("DELETE FROM refresh_queue", &[]).await.unwrap();
    app.fake.reset_counters();
}

#[tokio::test]
async fn only_tracked_changed_movies_are_queued_and_refreshed_and_the_cursor_advances() {
    let app = app_with(|s| s).await;
    ingest_all(&app, &[11, 12, 13]).await;
    let yesterday = today(&app) - chrono::Duration::days(1);
    set_cursor(&app, yesterday - chrono::Duration::days(1)).await;
    app.fake.faults().mark_changed(11, yesterday);
    app.fake.faults().mark_changed(13, today(&app));
    app.fake.faults().mark_changed(9999, yesterday); // not in the catalog

    let (on_yesterday, on_today) = (changed_on(&app, yesterday).await, changed_on(&app, today(&app)).await);
    let mut changed = on_yesterday.clone();
    changed.extend(on_today.iter().copied());
    let tracked: Vec<i64> = [11, 12, 13].into_iter().filter(|id| changed.contains(id)).collect();
    assert!(tracked.contains(&11) && tracked.contains(&13));

    let r = app.post(ROUTE, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let changes = &r.body["changes"];
    assert_eq!(changes["days_read"], 2);
    assert_eq!(changes["changed"], on_yesterday.len() + on_today.len(), "ids reported, day by day");
    assert_eq!(changes["tracked"], tracked.len(), "{}", r.text);
    assert_eq!(changes["queued"], tracked.len());
    assert_eq!(cursor(&app).await, Some(yesterday.to_string()), "the cursor stops at the last complete day");
    let counters = app.fake.counters();
    for id in [11, 12, 13] {
        let expected = if tracked.contains(&id) { Some(&1) } else { None };
        assert_eq!(counters.by_movie.get(&(id as u64)), expected, "movie {id}");
    }
    assert_eq!(counters.by_movie.get(&9999), None, "untracked");
    assert_eq!(
        app.count("SELECT count(*) FROM refresh_queue WHERE reason = 'changed' AND status = 'completed'").await,
        tracked.len() as i64
    );
    assert_eq!(app.count("SELECT count(*) FROM refresh_queue WHERE tmdb_id = 9999").await, 0);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM scheduled_ingestion_log WHERE function = 'daily-refresh' AND status = 'succeeded'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_failed_changes_page_keeps_the_cursor_and_marks_the_run_partial() {
    let app = app_with(|s| s.with("tmdb_max_attempts", "1")).await;
    let cursor_day = today(&app) - chrono::Duration::days(3);
    set_cursor(&app, cursor_day).await;
    app.fake.faults().fail_next(1, 503, None);
    let r = app.post(ROUTE, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "partial");
    assert_eq!(r.body["changes"]["days_read"], 0);
    assert!(r.body["changes"]["error"].as_str().unwrap().contains("503"));
    assert_eq!(cursor(&app).await, Some(cursor_day.to_string()), "not advanced");
    let state = app.db.query_one("SELECT last_error FROM sync_state", &[]).await.unwrap();
    assert!(state.get::<_, Option<String>>(0).is_some());
    // The next run reads the same days again and moves on.
    let again = app.post(ROUTE, json!({})).await;
    assert_eq!(again.body["changes"]["days_read"], 3, "the two days after the cursor, and today");
    assert_eq!(cursor(&app).await, Some((today(&app) - chrono::Duration::days(1)).to_string()));
}

#[tokio::test]
async fn a_twenty_day_gap_is_clamped_and_every_tracked_movie_is_treated_as_stale() {
    let app = app_with(|s| s).await;
    ingest_all(&app, &[21, 22]).await;
    set_cursor(&app, today(&app) - chrono::Duration::days(20)).await;
    let r = app.post(ROUTE, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["changes"]["clamped"], true);
    assert_eq!(r.body["changes"]["days_read"], 14);
    assert_eq!(r.body["status"], "partial");
    let queued = r.body["changes"]["queued"].as_i64().unwrap() + r.body["stale_queued"].as_i64().unwrap();
    assert_eq!(queued, 2, "every tracked movie is queued, by the feed or as stale: {}", r.text);
    assert_eq!(app.fake.counters().by_movie.get(&21), Some(&1), "fresh but tracked: refreshed anyway");
    assert_eq!(app.fake.counters().by_movie.get(&22), Some(&1));
    let pages = app.fake.counters().by_endpoint.get("/movie/changes").copied().unwrap_or(0);
    assert_eq!(
        pages,
        r.body["changes"]["pages_read"].as_u64().unwrap(),
        "every request was a page of a one-day window, none refused"
    );
    assert_eq!(app.count("SELECT count(*) FROM scheduled_ingestion_log WHERE status = 'partial'").await, 1);
}

#[tokio::test]
async fn stale_tiers_select_exactly_the_rows_past_their_boundaries() {
    let app = app_with(|s| s).await;
    set_cursor(&app, today(&app)).await;
    // (release age in days, refreshed this many days ago, stale?)
    let cases = [
        (10, 1, false),
        (10, 2, true),
        (100, 6, false),
        (100, 7, true),
        (200, 13, false),
        (200, 14, true),
        (1000, 29, false),
        (1000, 30, true),
    ];
    let now = Utc::now();
    for (i, (age, refreshed_days, _)) in cases.iter().enumerate() {
        let release = today(&app) - chrono::Duration::days(*age);
        // A few minutes' margin on each side of the boundary, so the test cannot race the clock.
        let margin = if cases[i].2 { chrono::Duration::minutes(5) } else { -chrono::Duration::minutes(5) };
        let refreshed = now - chrono::Duration::days(*refreshed_days) - margin;
        let next = staleness::next_refresh_at(Some(release), Some(ReleaseStatus::Released), refreshed);
        app.db
            .execute(
                "INSERT INTO works (tmdb_id, title, release_date, ingestion_status, schema_version, last_refreshed_at, next_refresh_at)
                 VALUES ($1, 'T', $2, 'complete', $3, $4, $5)",
                &[&(i as i64 + 1), &release, &staleness::SCHEMA_VERSION, &refreshed, &next],
            )
            .await
            .unwrap();
    }
    app.db.execute("INSERT INTO works (tmdb_id, title, ingestion_status, schema_version, next_refresh_at) VALUES (100, 'old schema', 'complete', 0, now() + interval '20 days')", &[]).await.unwrap();
    let r = app.post(ROUTE, json!({"dry_run": true})).await;
    let expected: Vec<i64> =
        cases.iter().enumerate().filter(|(_, c)| c.2).map(|(i, _)| i as i64 + 1).chain([100]).collect();
    assert_eq!(r.body["stale_queued"], expected.len(), "{}", r.text);
    let queued_run = app.post(ROUTE, json!({"budget_ms": 1})).await;
    assert_eq!(queued_run.body["stale_queued"], expected.len());
    let mut queued: Vec<i64> =
        app.db.query("SELECT tmdb_id FROM refresh_queue", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    queued.sort();
    assert_eq!(queued, expected);
}

#[tokio::test]
async fn a_refresh_without_changes_snapshots_metrics_but_logs_no_change_and_a_title_change_is_logged() {
    let app = app_with(|s| s).await;
    ingest_all(&app, &[31, 32]).await;
    let before = app.db.query_one("SELECT title FROM works WHERE tmdb_id = 32", &[]).await.unwrap().get::<_, String>(0);
    app.fake.faults().patch_movie(32, json!({"title": "Renamed"}));
    set_cursor(&app, today(&app) - chrono::Duration::days(1)).await;
    app.fake.faults().mark_changed(31, today(&app));
    app.fake.faults().mark_changed(32, today(&app));
    let r = app.post(ROUTE, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["drain"]["ingested"], 2);
    assert_eq!(
        app.count("SELECT count(*) FROM work_metrics_history m JOIN works w USING (work_id) WHERE w.tmdb_id = 31")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM work_change_log c JOIN works w USING (work_id) WHERE w.tmdb_id = 31").await,
        0
    );
    let log = app
        .db
        .query_one(
            "SELECT c.changes::text FROM work_change_log c JOIN works w USING (work_id) WHERE w.tmdb_id = 32",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&log.get::<_, String>(0)).unwrap(),
        json!({"title": [before, "Renamed"]})
    );
}

#[tokio::test]
async fn a_movie_that_became_404_is_marked_gone() {
    let app = app_with(|s| s).await;
    ingest_all(&app, &[41]).await;
    app.fake.faults().not_found(41);
    set_cursor(&app, today(&app) - chrono::Duration::days(1)).await;
    app.fake.faults().mark_changed(41, today(&app));
    let r = app.post(ROUTE, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.count("SELECT count(*) FROM works WHERE tmdb_id = 41 AND ingestion_status = 'gone'").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM rejected_works WHERE tmdb_id = 41 AND reason = 'not_found'").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM refresh_queue WHERE tmdb_id = 41 AND status = 'failed'").await,
        1,
        "not retried"
    );
}

#[tokio::test]
async fn two_refreshes_at_once_never_process_the_same_movie_twice() {
    let fake = FakeTmdbConfig { latency: Duration::from_millis(50), ..FakeTmdbConfig::default() };
    let app = TestApp::start_with(fake, |s| s).await;
    let ids: Vec<i64> = (51..=80).collect();
    ingest_all(&app, &ids).await;
    app.db.execute("UPDATE works SET next_refresh_at = now() - interval '1 minute'", &[]).await.unwrap();
    set_cursor(&app, today(&app)).await;
    let (a, b) = futures::join!(app.post(ROUTE, json!({})), app.post(ROUTE, json!({})));
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.text, b.text);
    let counters = app.fake.counters();
    assert_eq!(counters.by_endpoint.get("/movie/{id}"), Some(&30));
    assert!(counters.by_movie.values().all(|n| *n == 1), "{:?}", counters.by_movie);
    assert_eq!(
        app.count("SELECT count(*) FROM work_metrics_history").await,
        60,
        "one snapshot per ingest and per refresh"
    );
}

#[tokio::test]
async fn a_one_second_budget_on_a_large_backlog_stops_on_time_and_leaves_the_rest_queued() {
    let fake = FakeTmdbConfig { latency: Duration::from_millis(50), ..FakeTmdbConfig::default() };
    let app = TestApp::start_with(fake, |s| s.with("tmdb_rate_limit_rps", "20")).await;
    set_cursor(&app, today(&app)).await;
    app.db
        .execute(
            "INSERT INTO works (tmdb_id, title, ingestion_status, schema_version, next_refresh_at)
                  SELECT g, 'M' || g, 'complete', $1, now() - interval '1 day' FROM generate_series(1, 500) g",
            &[&staleness::SCHEMA_VERSION],
        )
        .await
        .unwrap();
    let r = app.post(ROUTE, json!({"budget_ms": 1000, "batch_size": 500})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["stale_queued"], 500);
    let refreshed = r.body["drain"]["ingested"].as_i64().unwrap();
    assert!(refreshed > 0 && refreshed < 500, "{}", r.text);
    assert_eq!(r.body["remaining"], 500 - refreshed);
    assert_eq!(r.body["status"], "partial");
    assert_eq!(app.count("SELECT count(*) FROM refresh_queue WHERE status = 'queued'").await, 500 - refreshed);
    assert_eq!(app.count("SELECT count(*) FROM refresh_queue WHERE status = 'processing'").await, 0);
    // The deadline contract, from the recorded instants (not a performance figure): every TMDB
    // attempt started within the run's 1 s budget. Ending by the deadline is tested exactly on
    // the virtual clock (tmdb::timing_tests).
    let spread = app
        .db
        .query_one("SELECT EXTRACT(EPOCH FROM max(created_at) - min(created_at))::float8 FROM tmdb_api_logs", &[])
        .await
        .unwrap()
        .get::<_, f64>(0);
    assert!(spread < 1.0, "TMDB attempts started {spread} s apart in a 1 s budget");
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let app = app_with(|s| s).await;
    ingest_all(&app, &[61]).await;
    app.db.execute("UPDATE works SET next_refresh_at = now() - interval '1 minute'", &[]).await.unwrap();
    app.db.execute("DELETE FROM tmdb_api_logs", &[]).await.unwrap();
    app.db.execute("DELETE FROM scheduled_ingestion_log", &[]).await.unwrap();
    app.fake.faults().mark_changed(61, today(&app));
    let r = app.post(ROUTE, json!({"dry_run": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["stale_queued"], 1);
    assert_eq!(r.body["changes"]["tracked"], 1);
    for table in ["sync_state", "refresh_queue", "scheduled_ingestion_log", "tmdb_api_logs"] {
        assert_eq!(app.count(&format!("SELECT count(*) FROM {table}")).await, 0, "{table} written by a dry run");
    }
    assert_eq!(app.fake.counters().by_endpoint.get("/movie/{id}"), None);
}

#[tokio::test]
async fn invalid_bodies_are_400() {
    let app = app_with(|s| s).await;
    for body in [json!({"batch_size": 0}), json!({"budget_ms": "1s"}), json!({"dry_run": 1})] {
        let r = app.post(ROUTE, body.clone()).await;
        assert_eq!((r.status, error_code(&r)), (400, "invalid_request"), "{body}");
    }
    assert_eq!(app.count("SELECT count(*) FROM scheduled_ingestion_log").await, 0);
}
