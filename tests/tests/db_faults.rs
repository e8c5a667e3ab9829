//! PostgreSQL ending a session under Marquee's feet (`pg_terminate_backend`, which is also what
//! a fast shutdown or restart does to every session): the pool never hands the dead session out
//! again, and a movie whose write died with its session leaves no lease behind. Each test ends
//! sessions of its own database only; the shared test cluster itself is left alone.

use std::time::Duration;

use marquee::ports::{Connection, Database, Pool};
use marquee_cli::native::NativeDb;
use marquee_tests::{TestApp, connect, error_code, fresh_database};
use serde_json::json;

/// Waits (at most 30 s) until a backend of this database runs a statement matching `pattern`
/// in `state`/`wait` (`None`: any), and returns its pid.
async fn backend_running(admin: &tokio_postgres::Client, pattern: &str, wait_event_type: Option<&str>) -> i32 {
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = admin
            .query(
                "SELECT pid FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
                   AND query LIKE $1 AND ($2::text IS NULL OR wait_event_type = $2)",
                &[&pattern, &wait_event_type],
            )
            .await
            .unwrap();
        if let Some(row) = rows.first() {
            return row.get(0);
        }
        assert!(std::time::Instant::now() < until, "no backend ran {pattern} within 30 s");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_session_the_server_ended_is_never_handed_out_again() {
    let url = fresh_database().await;
    let admin = connect(&url).await;
    let pool = Pool::new(NativeDb::new(&url), 1);
    let conn = pool.connect().await.unwrap();
    let pid: i32 = conn.query("SELECT pg_backend_pid() AS pid", &[]).await.unwrap()[0].get("pid").unwrap();

    let sleeping = conn.query("SELECT pg_sleep(60)", &[]);
    let terminate = async {
        let running = backend_running(&admin, "SELECT pg_sleep(60)", None).await;
        assert_eq!(running, pid);
        admin.execute("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap();
    };
    let (slept, ()) = futures::join!(sleeping, terminate);
    let error = slept.unwrap_err();
    assert_eq!(error.sqlstate(), Some("57P01"), "{error}");
    assert!(error.session_lost());
    drop(conn);

    // The one slot of the pool gets a new session, not the dead one.
    let conn = pool.connect().await.unwrap();
    let again: i32 =
        conn.query("SELECT pg_backend_pid() AS pid", &[]).await.expect("a live session").remove(0).get("pid").unwrap();
    assert_ne!(again, pid);
    assert_eq!(pool.opened(), 2);
}

#[tokio::test]
async fn a_movie_whose_write_died_with_its_session_leaves_no_lease_and_can_be_ingested_at_once() {
    let app = TestApp::start_with(Default::default(), |s| s.with("ingest_wait_ms", "1000")).await;
    assert_eq!(app.ingest(json!({"tmdb_id": 1})).await.status, 200, "TMDB's image configuration is cached");
    let admin = connect(&app.db_url).await;

    // The write waits on a lock; its session is ended while it waits.
    admin.batch_execute("BEGIN; LOCK TABLE genres IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let ingest = app.ingest(json!({"tmdb_id": 2}));
    let terminate = async {
        let pid = backend_running(&app.db, "%marquee_write_movie%", Some("Lock")).await;
        app.db.execute("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap();
        admin.batch_execute("COMMIT").await.unwrap();
    };
    let (r, ()) = futures::join!(ingest, terminate);
    assert_eq!((r.status, error_code(&r)), (500, "database_error"), "{}", r.text);

    let row = app
        .db
        .query_one("SELECT ingestion_status, lease_owner IS NULL, last_error FROM works WHERE tmdb_id = 2", &[])
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0).as_str(), row.get::<_, bool>(1)),
        ("failed", true),
        "{:?}",
        row.get::<_, Option<String>>(2)
    );
    for table in ["works_meta", "works_raw", "credits", "work_cards_cache"] {
        let n = app
            .count(&format!(
                "SELECT count(*) FROM {table} WHERE work_id = (SELECT work_id FROM works WHERE tmdb_id = 2)"
            ))
            .await;
        assert_eq!(n, 0, "{table}: the statement was rolled back whole");
    }
    // No lease to wait out: the next ingest takes the movie at once.
    let r = app.ingest(json!({"tmdb_id": 2})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn an_idle_pooled_session_the_server_closed_is_dropped_not_handed_out() {
    let url = fresh_database().await;
    let admin = connect(&url).await;
    let pool = Pool::new(NativeDb::new(&url), 1);
    let pid: i32 = {
        let conn = pool.connect().await.unwrap();
        conn.query("SELECT pg_backend_pid() AS pid", &[]).await.unwrap()[0].get("pid").unwrap()
    };
    // Idle in the pool now; the server ends it (a restart does the same to every session).
    admin.execute("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&pid]).await.unwrap().len() == 1 {
        assert!(std::time::Instant::now() < until, "the session outlived pg_terminate_backend");
        tokio::task::yield_now().await;
    }
    // The client side reads the server's goodbye as soon as the runtime polls it.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let conn = pool.connect().await.unwrap();
    let again: i32 =
        conn.query("SELECT pg_backend_pid() AS pid", &[]).await.expect("a live session").remove(0).get("pid").unwrap();
    assert_ne!(again, pid);
}
