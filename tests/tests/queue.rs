//! The work queue on real PostgreSQL: claims, leases, stale runners, backoff and dead rows.

use std::time::Duration;

use fake_tmdb::FakeTmdbConfig;
use marquee::db::queue::{self, Reason, Scope};
use marquee::ports::{Database, system_now};
use marquee_cli::native::NativeDb;
use marquee_tests::{TestApp, fresh_database};

#[tokio::test]
async fn a_movie_is_live_in_the_queue_at_most_once_and_claims_follow_priority() {
    let url = fresh_database().await;
    let conn = NativeDb::new(&url).connect().await.unwrap();
    assert_eq!(queue::enqueue(&conn, &[10, 11, 12], Reason::Batch, 0).await.unwrap(), 3);
    assert_eq!(queue::enqueue(&conn, &[11, 13], Reason::Changed, 9).await.unwrap(), 1, "11 is already live");
    assert_eq!(queue::status(&conn).await.unwrap().queued, 4);
    // 11 kept its row but took the higher priority; 13 is new with priority 9: both come first.
    let urgent = queue::claim(&conn, "runner", 2, Duration::from_secs(60), Scope::All).await.unwrap();
    assert_eq!(urgent.iter().map(|c| c.tmdb_id).collect::<Vec<_>>(), vec![11, 13]);
    assert_eq!(urgent[0].reason, Reason::Batch, "the kept row keeps its reason");
    let rest = queue::claim(&conn, "runner", 10, Duration::from_secs(60), Scope::All).await.unwrap();
    assert_eq!(rest.iter().map(|c| c.tmdb_id).collect::<Vec<_>>(), vec![10, 12]);
    let s = queue::status(&conn).await.unwrap();
    assert_eq!((s.queued, s.processing), (0, 4));
    let again = queue::claim(&conn, "other", 10, Duration::from_secs(60), Scope::All).await.unwrap();
    assert!(again.is_empty(), "rows under a live lease are not claimed twice");
}

#[tokio::test]
async fn claims_skip_locked_rows_so_concurrent_runners_split_the_work() {
    let url = fresh_database().await;
    let ids: Vec<i64> = (1..=40).collect();
    let setup = NativeDb::new(&url).connect().await.unwrap();
    queue::enqueue(&setup, &ids, Reason::Batch, 0).await.unwrap();
    let (a, b) = (NativeDb::new(&url).connect().await.unwrap(), NativeDb::new(&url).connect().await.unwrap());
    let (ra, rb) = futures::join!(
        queue::claim(&a, "a", 25, Duration::from_secs(60), Scope::All),
        queue::claim(&b, "b", 25, Duration::from_secs(60), Scope::All)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.len() + rb.len(), 40);
    assert!(ra.iter().all(|x| rb.iter().all(|y| x.id != y.id)), "a row was claimed twice");
}

#[tokio::test]
async fn a_stale_runner_cannot_overwrite_the_newer_result() {
    let url = fresh_database().await;
    let conn = NativeDb::new(&url).connect().await.unwrap();
    queue::enqueue(&conn, &[7], Reason::Batch, 0).await.unwrap();
    let old = queue::claim(&conn, "old-runner", 1, Duration::from_millis(1), Scope::All).await.unwrap();
    assert_eq!(old.len(), 1);
    // The old runner's lease expires (it looks crashed): a new runner takes the row over.
    tokio_postgres_expire_leases(&url).await;
    let new = queue::claim(&conn, "new-runner", 1, Duration::from_secs(60), Scope::All).await.unwrap();
    assert_eq!(new[0].id, old[0].id);
    assert_eq!(new[0].attempts, 2);
    assert!(queue::complete(&conn, new[0].id, "new-runner").await.unwrap());
    // The old runner wakes up and reports: nothing it says is recorded.
    assert!(!queue::fail(&conn, old[0].id, "old-runner", "late failure", Duration::ZERO, false).await.unwrap());
    assert!(!queue::complete(&conn, old[0].id, "old-runner").await.unwrap());
    let row = marquee_tests::connect(&url)
        .await
        .query_one("SELECT status, last_error FROM refresh_queue", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "completed");
    assert_eq!(row.get::<_, Option<String>>(1), None);
}

async fn tokio_postgres_expire_leases(url: &str) {
    marquee_tests::connect(url)
        .await
        .execute("UPDATE refresh_queue SET lease_until = now() - interval '1 second' WHERE status = 'processing'", &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_claimed_row_whose_runner_crashed_is_finished_by_the_next_drain() {
    let app = TestApp::start().await;
    app.db
        .execute(
            "INSERT INTO refresh_queue (tmdb_id, reason, status, attempts, locked_by, lease_until)
         VALUES (550, 'batch', 'processing', 1, 'crashed-runner', now() - interval '5 seconds')",
            &[],
        )
        .await
        .unwrap();
    let library = app.library("test-drain").await;
    let deadline = system_now() + Duration::from_secs(30);
    let report =
        marquee::pipeline::drain::drain(&library, &library.tmdb(deadline), deadline, Scope::All).await.unwrap();
    assert_eq!((report.claimed, report.ingested), (1, 1));
    let row = app.db.query_one("SELECT status, attempts, locked_by FROM refresh_queue", &[]).await.unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, i32>(1), row.get::<_, Option<String>>(2)),
        ("completed".into(), 2, None)
    );
    assert_eq!(app.count("SELECT count(*) FROM works WHERE tmdb_id = 550 AND ingestion_status = 'complete'").await, 1);
}

#[tokio::test]
async fn a_row_that_always_fails_is_dead_after_its_attempts_with_its_error_and_can_be_retried() {
    let app = TestApp::start_with(FakeTmdbConfig::default(), |s| s.with("tmdb_max_attempts", "1")).await;
    app.fake.faults().malformed(66);
    let setup = NativeDb::new(&app.db_url).connect().await.unwrap();
    queue::enqueue(&setup, &[66], Reason::Batch, 0).await.unwrap();
    let library = app.library("test-drain").await;
    for attempt in 1..=queue::MAX_ATTEMPTS {
        let deadline = system_now() + Duration::from_secs(30);
        let report =
            marquee::pipeline::drain::drain(&library, &library.tmdb(deadline), deadline, Scope::All).await.unwrap();
        assert_eq!((report.claimed, report.failed), (1, 1), "attempt {attempt}");
        let row = app
            .db
            .query_one(
                "SELECT status, attempts, next_attempt_at > now() + interval '10 seconds' FROM refresh_queue",
                &[],
            )
            .await
            .unwrap();
        let expected = if attempt == queue::MAX_ATTEMPTS { "failed" } else { "queued" };
        assert_eq!((row.get::<_, String>(0).as_str(), row.get::<_, i32>(1)), (expected, attempt));
        if attempt < queue::MAX_ATTEMPTS {
            assert!(row.get::<_, bool>(2), "a failed attempt backs off before the next one");
            // Time passes: the backoff is over.
            app.db.execute("UPDATE refresh_queue SET next_attempt_at = now()", &[]).await.unwrap();
        }
    }
    let dead = app.db.query_one("SELECT last_error, retry_count FROM refresh_queue", &[]).await.unwrap();
    assert!(dead.get::<_, String>(0).contains("malformed JSON"));
    assert_eq!(dead.get::<_, i32>(1), queue::MAX_ATTEMPTS - 1);
    let deadline = system_now() + Duration::from_secs(30);
    let idle = marquee::pipeline::drain::drain(&library, &library.tmdb(deadline), deadline, Scope::All).await.unwrap();
    assert_eq!(idle.claimed, 0, "dead rows are not retried on their own");
    assert_eq!(queue::retry_failed(&setup, None).await.unwrap(), 1);
    let row = app.db.query_one("SELECT status, attempts FROM refresh_queue", &[]).await.unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, i32>(1)), ("queued".into(), 0));
}

#[tokio::test]
async fn a_budget_that_runs_out_leaves_the_rest_queued_untouched() {
    let fake = FakeTmdbConfig { latency: Duration::from_millis(100), ..FakeTmdbConfig::default() };
    let app = TestApp::start_with(fake, |s| s.with("tmdb_rate_limit_rps", "10")).await;
    let setup = NativeDb::new(&app.db_url).connect().await.unwrap();
    let ids: Vec<i64> = (1..=60).collect();
    queue::enqueue(&setup, &ids, Reason::Batch, 0).await.unwrap();
    let library = app.library("test-drain").await;
    let deadline = system_now() + Duration::from_millis(1500);
    let report =
        marquee::pipeline::drain::drain(&library, &library.tmdb(deadline), deadline, Scope::All).await.unwrap();
    assert!(report.ingested > 0 && report.ingested < 60, "{report:?}");
    let status = queue::status(&setup).await.unwrap();
    assert_eq!(status.completed as u64, report.ingested);
    assert_eq!(status.queued as u64, 60 - report.ingested, "everything else is back in the queue");
    assert_eq!(status.processing, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM refresh_queue WHERE status = 'queued' AND attempts > 0").await,
        0,
        "unstarted rows keep their attempts"
    );
}
