//! `marquee::testing`'s virtual clock under tokio and over the native database adapter: the
//! same exact, instant rules of time as in the library's unit tests, with real PostgreSQL.

use std::time::Duration;

use marquee::config::{Secret, TmdbAuth, TmdbConfig};
use marquee::ports::{Clock, Connection, Database, system_now};
use marquee::testing::{HeldDb, Reply, ScriptedHttp, VirtualClock};
use marquee::tmdb::{Call, TmdbClient, TmdbError};
use marquee_cli::native::NativeDb;
use marquee_tests::fresh_database;

#[tokio::test]
async fn real_statements_hold_virtual_time_and_sleepers_still_wake_at_their_instants() {
    let clock = VirtualClock::starting_at(system_now());
    let db = HeldDb::new(NativeDb::new(fresh_database().await), &clock);
    let sleeper = async {
        clock.sleep(Duration::from_secs(1)).await;
        clock.elapsed()
    };
    let worker = async {
        let conn = db.connect().await.unwrap();
        for _ in 0..20 {
            conn.query("SELECT count(*) AS n FROM works", &[]).await.unwrap();
        }
        let after_statements = clock.elapsed();
        clock.sleep(Duration::from_secs(2)).await;
        (after_statements, clock.elapsed())
    };
    let (slept, worked) = futures::join!(sleeper, worker);
    assert_eq!(slept, Duration::from_secs(1));
    assert_eq!(worked, (Duration::ZERO, Duration::from_secs(2)), "time stood still while PostgreSQL worked");
}

#[tokio::test]
async fn under_tokio_a_tmdb_slower_than_the_budget_ends_every_call_at_the_deadline() {
    let clock = VirtualClock::default();
    let http = ScriptedHttp::new(&clock);
    http.always("*", Reply::json(serde_json::json!({})).after(Duration::from_secs(3600)));
    let config = TmdbConfig {
        base_url: "http://tmdb.test/3".into(),
        auth: Some(TmdbAuth::Bearer(Secret::new("token"))),
        language: "en-US".into(),
        rate_limit_rps: 40,
        max_in_flight: 20,
        request_timeout: Duration::from_secs(10),
        max_attempts: 5,
    };
    let deadline = clock.now() + Duration::from_secs(20);
    let client = TmdbClient::new(&http, &clock, &config).with_deadline(deadline);
    let calls = (1..=30).map(|id| {
        let client = &client;
        async move {
            let call = Call { endpoint: "/movie/{id}", path: format!("/movie/{id}"), query: vec![], tmdb_id: Some(id) };
            client.get_json(&call).await
        }
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(|r| matches!(r, Err(TmdbError::OutOfTime { .. }))), "{results:?}");
    assert_eq!(clock.now(), deadline);
    assert!(http.sent().iter().all(|s| s.at < deadline));
}

/// `ingest-movie`'s wait for another invocation's live lease, on virtual time over real
/// PostgreSQL: it answers Busy after exactly the configured wait, or the budget if shorter, and
/// never calls TMDB.
#[tokio::test]
async fn a_live_lease_elsewhere_answers_busy_after_exactly_the_wait_or_the_budget() {
    use marquee::error::Error;
    let test = marquee_tests::TestApp::start().await;
    test.db
        .execute(
            "INSERT INTO works (tmdb_id, ingestion_status, lease_owner, lease_until)
             VALUES (88, 'ingesting', 'other', now() + interval '1 hour')",
            &[],
        )
        .await
        .unwrap();
    for (wait, budget, expected) in [(5, 20, 5), (30, 2, 2)] {
        let clock = VirtualClock::starting_at(system_now());
        let http = ScriptedHttp::new(&clock);
        let mut config = marquee::config::Config::load(&test.settings).await.unwrap();
        config.ingest_wait = Duration::from_secs(wait);
        let app = marquee::App::new(
            HeldDb::new(NativeDb::new(&test.db_url), &clock),
            http.clone(),
            clock.clone(),
            config,
            "test",
        );
        let tmdb = app.tmdb(clock.now() + Duration::from_secs(budget));
        let err = marquee::pipeline::ingest::ingest_movie(&app, &tmdb, 88, false, None).await.unwrap_err();
        assert!(matches!(err, Error::Busy { tmdb_id: 88, .. }), "{err:?}");
        assert_eq!(clock.elapsed(), Duration::from_secs(expected), "wait {wait} s, budget {budget} s");
        assert!(http.sent().is_empty(), "TMDB is not called while another invocation holds the movie");
    }
}
