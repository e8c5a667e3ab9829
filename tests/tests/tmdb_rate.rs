//! The TMDB rate learned from 429s, shared between invocations through PostgreSQL (`tmdb_rate`):
//! written when a 429 lowers an invocation's rate, read once before the next invocation's
//! first request, never per request, and harmless when missing.

use std::time::Duration;

use fake_tmdb::FakeTmdbConfig;
use futures::future::join_all;
use marquee::db::tmdb_rate;
use marquee::ports::{Database, MeteredDatabase, system_now};
use marquee::tmdb::{FLOOR_RPS, SharedLesson};
use marquee_cli::native::{NativeDb, NativeHttp, SystemClock};
use marquee_tests::{TestApp, fresh_database};
use serde_json::json;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// An invocation of the library over `app`'s database, counting its statements.
async fn invocation(app: &TestApp) -> marquee::App<MeteredDatabase<NativeDb>, NativeHttp, SystemClock> {
    let config = marquee::config::Config::load(&app.settings).await.unwrap();
    marquee::App::new(
        MeteredDatabase::new(NativeDb::new(&app.db_url)),
        NativeHttp::default(),
        SystemClock,
        config,
        "test",
    )
}

#[tokio::test]
async fn a_429_lowers_the_shared_rate_and_the_next_invocation_starts_from_it() {
    let app = TestApp::start().await;
    app.fake.faults().fail_next(1, 429, Some(1));
    let response = app.ingest(json!({"tmdb_id": 550})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    // Nothing was accepted before the 429: the rate (40) is cut to a quarter, and shared.
    let row = app.db.query_one("SELECT rate_rps, lowered_by FROM tmdb_rate", &[]).await.unwrap();
    assert_eq!((row.get::<_, f64>(0), row.get::<_, String>(1)), (10.0, "ingest-movie".to_owned()));

    // A lesson 10.5 s old: the next invocation starts where it has climbed to, 8 x 1.3.
    app.db
        .execute("UPDATE tmdb_rate SET rate_rps = 8, lowered_at = now() - interval '10.5 seconds'", &[])
        .await
        .unwrap();
    let library = invocation(&app).await;
    let tmdb = library.tmdb(system_now() + Duration::from_secs(60));
    assert_eq!(tmdb.rate_now(), 40.0, "nothing is read before the first request");
    tmdb.movie(603).await.unwrap();
    assert!((tmdb.rate_now() - 10.4).abs() < 1e-9, "started from the shared lesson: {}", tmdb.rate_now());
}

#[tokio::test]
async fn the_shared_rate_is_read_once_per_invocation_not_per_request() {
    let app = TestApp::start().await;
    let library = invocation(&app).await;
    let tmdb = library.tmdb(system_now() + Duration::from_secs(60));
    let fetched = join_all((1..=8).map(|id| tmdb.movie(id))).await;
    assert!(fetched.iter().all(Result::is_ok));
    tmdb.movie(9).await.unwrap();
    assert_eq!(library.db.inner().meter().statements(), 1, "one read for nine requests");
    assert_eq!(tmdb.rate_now(), 40.0, "no lesson stored: the configured rate");
}

#[tokio::test]
async fn without_the_row_or_even_the_table_tmdb_work_goes_on_at_the_configured_rate() {
    let app = TestApp::start_with(FakeTmdbConfig::default(), |s| s.with("tmdb_rate_limit_rps", "25")).await;
    app.db.execute("DROP TABLE tmdb_rate", &[]).await.unwrap();
    let library = invocation(&app).await;
    let tmdb = library.tmdb(system_now() + Duration::from_secs(60));
    tmdb.movie(550).await.unwrap();
    assert_eq!(tmdb.rate_now(), 25.0);
    // A lesson that cannot be written is kept, and the run still ends.
    app.fake.faults().fail_next(1, 429, Some(1));
    tmdb.movie(551).await.unwrap();
    tmdb.share_learned_rate().await;
    assert!(tmdb.rate_now() < 25.0, "learned locally all the same");
}

#[tokio::test]
async fn concurrent_writers_leave_the_newest_lesson_and_an_older_one_never_replaces_it() {
    let url = fresh_database().await;
    let db = NativeDb::new(&url);
    assert_eq!(tmdb_rate::read(&db.connect().await.unwrap()).await.unwrap(), None, "no lesson yet");
    let lessons = [(5.0, 3.0), (7.0, 1.0), (6.0, 2.0), (9.0, 2.5)];
    let writes = lessons.iter().map(|(rps, age)| {
        let db = &db;
        async move {
            let conn = db.connect().await.unwrap();
            tmdb_rate::write(&conn, SharedLesson { rps: *rps, age: secs(*age) }, "test").await.unwrap()
        }
    });
    join_all(writes).await;
    let conn = db.connect().await.unwrap();
    let stored = tmdb_rate::read(&conn).await.unwrap().unwrap();
    assert_eq!(stored.rps, 7.0, "the lesson learned 1 s ago is the newest");
    assert!(stored.age >= secs(1.0) && stored.age < secs(60.0), "{stored:?}");
    let older = SharedLesson { rps: 3.0, age: secs(30.0) };
    assert!(!tmdb_rate::write(&conn, older, "test").await.unwrap(), "an older lesson is not stored");
    assert_eq!(tmdb_rate::read(&conn).await.unwrap().unwrap().rps, 7.0);
    let newer = SharedLesson { rps: FLOOR_RPS, age: Duration::ZERO };
    assert!(tmdb_rate::write(&conn, newer, "test").await.unwrap());
    assert_eq!(tmdb_rate::read(&conn).await.unwrap().unwrap().rps, FLOOR_RPS);
}
