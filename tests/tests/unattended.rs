//! Running unattended: what happens when invocations die, overrun, are refused or crowd the
//! database. One test per way work used to get stuck, loop or be lost.

use std::time::Duration;

use fake_tmdb::FakeTmdbConfig;
use marquee::db::queue::{self, Reason, Scope};
use marquee::db::works;
use marquee::domain::states::WorkStatus;
use marquee::ports::{Connection, Database, MeteredDatabase, system_now};
use marquee_cli::native::NativeDb;
use marquee_tests::{TestApp, error_code};
use serde_json::json;

fn small_catalog() -> FakeTmdbConfig {
    FakeTmdbConfig {
        catalog_size: 500,
        cast_per_movie: 3,
        crew_per_movie: 1,
        keywords_per_movie: 2,
        ..Default::default()
    }
}

/// The leases of every `processing` queue row and every work being ingested run out, as they do
/// once their runner has died.
async fn runner_dies(app: &TestApp) {
    // A dropped future's last statement may still be running on the server (a kill does not
    // cancel it either): the runner is dead once nothing of it is left running.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app
        .count(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'",
        )
        .await
        > 0
    {
        assert!(std::time::Instant::now() < deadline, "the dead runner's statements never ended");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    app.db
        .batch_execute(
            "UPDATE refresh_queue SET lease_until = now() - interval '1 second' WHERE status = 'processing';
             UPDATE works SET lease_until = now() - interval '1 second' WHERE lease_until IS NOT NULL",
        )
        .await
        .unwrap();
}

async fn drain_all(app: &TestApp, scope: Scope<'_>) -> marquee::pipeline::drain::DrainReport {
    let library = app.library("test-drain").await;
    let deadline = system_now() + Duration::from_secs(30);
    marquee::pipeline::drain::drain(&library, &library.tmdb(deadline), deadline, scope).await.unwrap()
}

#[tokio::test]
async fn a_movie_that_kills_its_runner_ends_failed_after_its_attempts_and_the_rest_of_its_batch_completes() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    let conn = NativeDb::new(&app.db_url).connect().await.unwrap();
    let (poison, others) = (7, [8, 9, 10]);
    queue::enqueue(&conn, &[poison, 8, 9, 10], Reason::Batch, 0).await.unwrap();

    // A runner claims the four together and dies with them.
    let batch = queue::claim(&conn, "doomed", 20, Duration::from_secs(60), Scope::All).await.unwrap();
    assert_eq!(batch.len(), 4);
    assert!(batch.iter().all(|c| !c.suspect));
    runner_dies(&app).await;

    // The others are retried one at a time (their runner died once), and complete.
    let report = drain_all(&app, Scope::Only(&others)).await;
    assert_eq!((report.claimed, report.suspects, report.ingested), (3, 3, 3));

    // The poison movie kills every runner that takes it: each time it is claimed alone.
    for attempt in 2..=queue::MAX_ATTEMPTS {
        let alone = queue::claim(&conn, "doomed", 20, Duration::from_secs(60), Scope::All).await.unwrap();
        assert_eq!(alone.len(), 1, "a suspect runs alone (attempt {attempt})");
        assert_eq!((alone[0].tmdb_id, alone[0].attempts, alone[0].suspect), (poison, attempt, true));
        runner_dies(&app).await;
    }
    // After its last attempt, the next claim declares it dead instead of claiming it again.
    assert!(queue::claim(&conn, "next", 20, Duration::from_secs(60), Scope::All).await.unwrap().is_empty());
    let row =
        app.db.query_one("SELECT status, last_error FROM refresh_queue WHERE tmdb_id = $1", &[&poison]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    let error: String = row.get(1);
    assert!(error.contains("runner stopped without a result 5 times"), "{error}");
    let done = app
        .db
        .query("SELECT attempts FROM refresh_queue WHERE status = 'completed' ORDER BY tmdb_id", &[])
        .await
        .unwrap();
    assert_eq!(done.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>(), vec![2, 2, 2]);
    assert_eq!(app.count("SELECT count(*) FROM refresh_queue WHERE lease_until IS NOT NULL").await, 0);
}

#[tokio::test]
async fn a_run_left_running_past_its_deadline_is_closed_as_abandoned_by_the_next_run() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    app.db
        .execute(
            "INSERT INTO scheduled_ingestion_log (run_id, function, source, status, started_at, deadline_at) VALUES
                ('killed', 'daily-refresh', 'changes+stale', 'running', now() - interval '10 minutes', now() - interval '9 minutes'),
                ('old-killed', 'scheduled-ingest', 'mixed', 'running', now() - interval '2 hours', NULL),
                ('live', 'batch-ingest', 'batch:ids', 'running', now(), now() + interval '20 seconds')",
            &[],
        )
        .await
        .unwrap();
    // Any run of any kind cleans up.
    let r = app.post("/functions/v1/batch-ingest", json!({"tmdb_ids": [3]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rows = app
        .db
        .query(
            "SELECT run_id, status, error, finished_at IS NOT NULL FROM scheduled_ingestion_log
             WHERE run_id IN ('killed', 'old-killed', 'live') ORDER BY started_at DESC",
            &[],
        )
        .await
        .unwrap();
    let states: Vec<(String, String, Option<String>, bool)> =
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    assert_eq!((states[0].0.as_str(), states[0].1.as_str(), states[0].3), ("live", "running", false));
    assert_eq!((states[1].0.as_str(), states[1].1.as_str()), ("killed", "abandoned"));
    assert!(states[1].2.as_deref().is_some_and(|e| e.contains("killed or crashed")), "{:?}", states[1]);
    assert!(states[1].3);
    assert_eq!((states[2].0.as_str(), states[2].1.as_str()), ("old-killed", "abandoned"));
}

#[tokio::test]
async fn a_scheduled_run_killed_mid_flight_has_queued_every_candidate() {
    // Slow answers keep the run in flight; dropping its future is the kill.
    let fake = FakeTmdbConfig { latency: Duration::from_millis(200), ..small_catalog() };
    let app = TestApp::start_with(fake, |s| s).await;
    let library = app.library("scheduled-ingest").await;
    let request = marquee::pipeline::scheduled::ScheduledRequest {
        source: marquee::pipeline::scheduled::Source::Popular,
        max_movies: 12,
        trigger_type: "scheduled".into(),
        pages_per_source: 1,
        language: None,
        region: None,
        dry_run: false,
        budget: None,
    };
    let run = marquee::pipeline::scheduled::scheduled_ingest(&library, &request);
    let first_movie_requested = async {
        while app.movie_requests() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        r = run => panic!("the run was meant to be killed in flight, but it finished: {:?}", r.map(|r| r.counts)),
        () = first_movie_requested => {}
    }
    // Killed: every candidate is in the queue (waiting, or held under a lease that will expire).
    assert_eq!(app.count("SELECT count(*) FROM refresh_queue WHERE reason = 'scheduled'").await, 12);
    runner_dies(&app).await;
    let report = drain_all(&app, Scope::All).await;
    assert_eq!(report.ingested + report.fresh, 12, "{report:?}");
    assert_eq!(app.count("SELECT count(*) FROM refresh_queue WHERE status <> 'completed'").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM works WHERE ingestion_status = 'complete'").await, 12);
}

#[tokio::test]
async fn a_scheduled_run_queues_its_failures_for_a_retry() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    let r = app
        .post(
            "/functions/v1/scheduled-ingest",
            json!({"source": "popular", "max_movies": 5, "pages_per_source": 1, "dry_run": true}),
        )
        .await;
    let first = r.body["would_ingest"][0]["tmdb_id"].as_i64().unwrap();
    app.fake.faults().malformed(first as u64);
    let r = app
        .post("/functions/v1/scheduled-ingest", json!({"source": "popular", "max_movies": 5, "pages_per_source": 1}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.body["movies_failed"].as_i64(), r.body["movies_queued"].as_i64()), (Some(1), Some(1)), "{}", r.text);
    let row = app
        .db
        .query_one("SELECT status, next_attempt_at > now() FROM refresh_queue WHERE tmdb_id = $1", &[&first])
        .await
        .unwrap();
    assert_eq!((row.get::<_, String>(0).as_str(), row.get::<_, bool>(1)), ("queued", true), "retried after a backoff");
}

#[tokio::test]
async fn a_changes_feed_gap_leaves_every_tracked_movie_stale_until_refreshed_not_only_one_batch() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    let ids: Vec<i64> = (1..=30).collect();
    let r = app.post("/functions/v1/batch-ingest", json!({"tmdb_ids": ids})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.db
        .execute(
            "INSERT INTO sync_state (sync_type, last_sync_cursor) VALUES ('tmdb_movie_changes', (current_date - 30)::text)",
            &[],
        )
        .await
        .unwrap();
    let stale_now = || {
        app.count("SELECT count(*) FROM works w WHERE w.ingestion_status = 'complete' AND w.last_refreshed_at < (SELECT stale_before FROM sync_state)")
    };

    // The gap: every tracked movie becomes stale, and one run refreshes a batch of 10 of them.
    let r = app.post("/functions/v1/daily-refresh", json!({"batch_size": 10})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["changes"]["clamped"], true);
    assert_eq!(r.body["stale_queued"], 10, "{}", r.text);
    let left = stale_now().await;
    assert!((10..=20).contains(&left), "30 stale, at least 10 refreshed: {left} left");
    // Later runs keep going through the backlog until none is left.
    let mut runs = 0;
    while stale_now().await > 0 {
        runs += 1;
        assert!(runs <= 3, "the backlog does not shrink");
        let r = app.post("/functions/v1/daily-refresh", json!({"batch_size": 10, "read_changes": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(app.count("SELECT count(*) FROM refresh_queue WHERE status <> 'completed'").await, 0);
}

#[tokio::test]
async fn a_movie_refused_on_refresh_is_no_longer_served() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    assert_eq!(app.ingest(json!({"tmdb_id": 42})).await.status, 200);
    assert_eq!(app.request(reqwest::Method::GET, "/api/works/42", None, None, &[]).await.status, 200);
    app.fake.faults().patch_movie(42, json!({"adult": true}));
    let r = app.ingest(json!({"tmdb_id": 42, "force_refresh": true})).await;
    assert_eq!((r.status, error_code(&r)), (422, "rejected"));
    let r = app.request(reqwest::Method::GET, "/api/works/42", None, None, &[]).await;
    assert_eq!((r.status, error_code(&r)), (404, "not_found"), "{}", r.text);
    assert_eq!(app.count("SELECT count(*) FROM work_cards_cache").await, 0);

    // Reprojection refuses from the stored response the same way.
    assert_eq!(app.ingest(json!({"tmdb_id": 43})).await.status, 200);
    app.db.execute("UPDATE works_raw SET payload = payload || '{\"adult\": true}'", &[]).await.unwrap();
    let r = app.post("/functions/v1/batch-ingest", json!({"mode": "reproject"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.request(reqwest::Method::GET, "/api/works/43", None, None, &[]).await.status, 404);
    assert_eq!(app.count("SELECT count(*) FROM work_cards_cache").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM works WHERE ingestion_status = 'rejected'").await, 2);
}

#[tokio::test]
async fn request_fields_with_multibyte_characters_are_refused_with_400() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    for language in ["a€b", "€€", "e\u{301}n", "en-€S", "ünUS"] {
        let r = app.post("/functions/v1/scheduled-ingest", json!({"language": language, "dry_run": true})).await;
        assert_eq!((r.status, error_code(&r)), (400, "invalid_request"), "{language}: {}", r.text);
    }
}

#[tokio::test]
async fn an_ingest_interrupted_by_a_dying_invocation_is_queued_again_by_the_next_run() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    let conn = NativeDb::new(&app.db_url).connect().await.unwrap();
    // A first ingest claims movie 11 and its invocation dies; so does a refresh of movie 12.
    assert_eq!(app.ingest(json!({"tmdb_id": 12})).await.status, 200);
    works::claim(&conn, 11, "dead", Duration::from_secs(60), false).await.unwrap().expect("claimed");
    works::claim(&conn, 12, "dead", Duration::from_secs(60), true).await.unwrap().expect("claimed");
    app.db
        .execute("UPDATE works SET lease_until = now() - interval '1 second' WHERE lease_owner = 'dead'", &[])
        .await
        .unwrap();

    let r = app.post("/functions/v1/daily-refresh", json!({"read_changes": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rows = app
        .db
        .query(
            "SELECT w.tmdb_id, w.ingestion_status, q.reason, q.status FROM works w
             JOIN refresh_queue q ON q.tmdb_id = w.tmdb_id WHERE w.tmdb_id IN (11, 12) ORDER BY w.tmdb_id",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(i64, String, String, String)> =
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    assert_eq!(
        got,
        vec![
            (11, "complete".into(), "recover".into(), "completed".into()),
            (12, "complete".into(), "recover".into(), "completed".into()),
        ]
    );
    assert_eq!(app.count("SELECT count(*) FROM works WHERE ingestion_status = 'ingesting'").await, 0);
}

#[tokio::test]
async fn a_writer_that_lost_its_lease_records_no_refusal() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    let conn = NativeDb::new(&app.db_url).connect().await.unwrap();
    let old = works::claim(&conn, 21, "old", Duration::from_secs(60), false).await.unwrap().unwrap();
    app.db.execute("UPDATE works SET lease_until = now() - interval '1 second'", &[]).await.unwrap();
    works::claim(&conn, 21, "new", Duration::from_secs(60), false)
        .await
        .unwrap()
        .expect("the expired lease is taken over");
    let refusal =
        works::Refusal { status: WorkStatus::Gone, tmdb_id: 21, reason: "not_found", detail: "late", function: "test" };
    assert!(!works::refuse(&conn, old.work_id, "old", &refusal).await.unwrap());
    assert_eq!(app.count("SELECT count(*) FROM rejected_works").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM works WHERE ingestion_status = 'ingesting' AND lease_owner = 'new'").await,
        1
    );
}

#[tokio::test]
async fn an_invocation_holds_at_most_its_pool_of_connections() {
    let app = TestApp::start_with(small_catalog(), |s| s.with("db_max_connections", "3")).await;
    let config = marquee::config::Config::load(&app.settings).await.unwrap();
    let library = marquee::App::new(
        MeteredDatabase::new(NativeDb::new(&app.db_url)),
        marquee_cli::native::NativeHttp::default(),
        marquee_cli::native::SystemClock,
        config,
        "batch-ingest",
    );
    let ids: Vec<i64> = (100..140).collect();
    let request = marquee::pipeline::batch::BatchRequest {
        mode: marquee::pipeline::batch::BatchMode::Ids(ids),
        trigger_type: "manual".into(),
        budget: None,
    };
    let report = marquee::pipeline::batch::batch_ingest(&library, &request).await.unwrap();
    assert_eq!(report.drain.as_ref().unwrap().ingested, 40);
    let peak = library.db.inner().meter().peak_connections();
    assert!((1..=3).contains(&peak), "20 movies in flight share 3 connections, not {peak}");
    assert_eq!(library.db.opened(), peak, "sessions are reused, not reopened");
}

#[tokio::test]
async fn a_pooled_connection_dropped_inside_a_transaction_is_never_reused() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    let pool = marquee::ports::Pool::new(NativeDb::new(&app.db_url), 1);
    let pid = |rows: Vec<marquee::ports::Row>| rows[0].get::<i32>("pid").unwrap();
    let first = {
        let conn = pool.connect().await.unwrap();
        let pid = pid(conn.query("SELECT pg_backend_pid() AS pid", &[]).await.unwrap());
        conn.execute("BEGIN", &[]).await.unwrap();
        pid
        // Dropped here, inside the transaction (as a cancelled task would).
    };
    let conn = pool.connect().await.unwrap();
    let rows =
        conn.query("SELECT pg_backend_pid() AS pid, txid_current_if_assigned() IS NULL AS idle", &[]).await.unwrap();
    assert!(rows[0].get::<bool>("idle").unwrap());
    assert_ne!(pid(rows), first, "a new session, not the one left in a transaction");
    // A clean connection is reused.
    let again = pid(conn.query("SELECT pg_backend_pid() AS pid", &[]).await.unwrap());
    drop(conn);
    let reused = pid(pool.connect().await.unwrap().query("SELECT pg_backend_pid() AS pid", &[]).await.unwrap());
    assert_eq!(reused, again);
    assert_eq!(pool.opened(), 2);
}

#[tokio::test]
async fn sync_status_says_whether_the_shipped_schedule_keeps_up_with_a_million_movies() {
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    // 1,000,000 complete works: 1% in the 2-day tier, 5% in the 7-day, 5% in the 14-day, the
    // rest in the 30-day tier, refreshed at spread-out times.
    app.db
        .execute(
            "INSERT INTO works (tmdb_id, title, ingestion_status, schema_version, last_refreshed_at, next_refresh_at)
             SELECT g, 'Movie ' || g, 'complete', 1, t.refreshed,
                    t.refreshed + make_interval(days => CASE WHEN g % 100 < 1 THEN 2 WHEN g % 100 < 6 THEN 7
                                                             WHEN g % 100 < 11 THEN 14 ELSE 30 END)
             FROM generate_series(1, 1000000) AS g,
                  LATERAL (SELECT now() - make_interval(hours => (g % 24)::int)) AS t(refreshed)",
            &[],
        )
        .await
        .unwrap();
    let library = app.library("marquee-cli").await;
    let shipped = marquee_cli::schedule::parse_manifest(marquee_cli::schedule::SHIPPED_MANIFEST).unwrap();
    let report = marquee_cli::commands::sync::sync_report(&library, &shipped).await.unwrap();
    let schedule = &report["schedule"];
    let need = schedule["needed_per_day"].as_f64().unwrap();
    let expected = 10_000.0 / 2.0 + 50_000.0 / 7.0 + 50_000.0 / 14.0 + 890_000.0 / 30.0;
    assert!((need - expected).abs() < 1e-6, "need {need}, expected {expected}");
    let tiers: Vec<(i64, i64)> = schedule["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["every_days"].as_i64().unwrap(), t["works"].as_i64().unwrap()))
        .collect();
    assert_eq!(tiers, vec![(2, 10_000), (7, 50_000), (14, 50_000), (30, 890_000)]);
    // The daily refresh (1 run) and the drain every 5 minutes (288 runs), each 18 s × 40 rps.
    assert_eq!(schedule["capacity_per_day"].as_f64().unwrap(), 289.0 * 720.0);
    assert_eq!(schedule["keeps_up"], true, "{schedule}");
    assert!(schedule["verdict"].as_str().unwrap().starts_with("The schedule keeps up"), "{schedule}");

    // The old schedule (one daily refresh) could not, and says so.
    let mut daily_only = shipped.clone();
    daily_only.calls.retain(|c| c.component != "cron-refresh-drain");
    let report = marquee_cli::commands::sync::sync_report(&library, &daily_only).await.unwrap();
    assert_eq!(report["schedule"]["keeps_up"], false);
    assert!(report["schedule"]["verdict"].as_str().unwrap().contains("cannot keep up"), "{report}");
}

/// Serves one request through the library's routing on a virtual clock, with a TMDB that answers
/// only after `tmdb_latency`; returns the response and the virtual time it took.
async fn serve_on_virtual_time(
    app: &TestApp,
    clock: &marquee::testing::VirtualClock,
    http: &marquee::testing::ScriptedHttp,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value, Duration) {
    use marquee::testing::HeldDb;
    let request = http::Request::post(path)
        .header("authorization", format!("Bearer {}", marquee_tests::ADMIN_TOKEN))
        .body(body.to_string().into_bytes())
        .unwrap();
    let settings = app.settings.clone().with("tmdb_base_url", "http://tmdb.test/3");
    let started = clock.elapsed();
    let open_db = |url: &str| HeldDb::new(NativeDb::new(url), clock);
    let response = marquee::api::serve(&settings, open_db, http.clone(), clock.clone(), None, request).await;
    let json = serde_json::from_slice(response.body()).unwrap_or(serde_json::Value::Null);
    (response.status().as_u16(), json, clock.elapsed() - started)
}

#[tokio::test]
async fn with_a_tmdb_slower_than_the_budget_every_route_returns_within_it_and_queues_what_did_not_fit() {
    use marquee::testing::{Reply, ScriptedHttp, VirtualClock};
    let app = TestApp::start_with(small_catalog(), |s| s).await;
    // The clock starts at the database's "now", so leases and deadlines agree.
    let clock = VirtualClock::starting_at(system_now());
    let http = ScriptedHttp::new(&clock);
    // Slower than the request timeout (10 s) and than the whole budget (20 s).
    http.always("*", Reply::json(json!({})).after(Duration::from_secs(25)));
    let budget = Duration::from_secs(20);
    let margin = Duration::from_secs(1);

    for (path, body) in [
        ("/functions/v1/ingest-movie", json!({"tmdb_id": 5})),
        ("/functions/v1/scheduled-ingest", json!({"source": "popular", "pages_per_source": 3})),
        ("/functions/v1/batch-ingest", json!({"tmdb_ids": [1, 2, 3, 4, 5, 6]})),
        ("/functions/v1/daily-refresh", json!({})),
    ] {
        let (status, body, took) = serve_on_virtual_time(&app, &clock, &http, path, body).await;
        assert!(took <= budget + margin, "{path} took {took:?} of virtual time: {status} {body}");
        assert!(status == 200 || status == 503, "{path}: {status} {body}");
    }
    // Nothing was lost or marked failed for lack of time: the batch's movies wait in the queue,
    // their attempts not counted, and no movie is left claimed.
    let queued = app
        .db
        .query("SELECT tmdb_id, status, attempts FROM refresh_queue WHERE reason = 'batch' ORDER BY tmdb_id", &[])
        .await
        .unwrap();
    let rows: Vec<(i64, String, i32)> = queued.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(rows, (1..=6).map(|id| (id, "queued".to_owned(), 0)).collect::<Vec<_>>());
    assert_eq!(app.count("SELECT count(*) FROM works WHERE ingestion_status IN ('failed', 'ingesting')").await, 0);
}
