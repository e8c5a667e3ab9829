//! One movie's writes are one statement, however many credits it has, and that statement keeps
//! the write's guarantees: the leases, the queue row, the call log, concurrent writers.

use std::time::Duration;

use fake_tmdb::FakeTmdbConfig;
use marquee::db::catalog::{AlsoRecord, QueueRow};
use marquee::db::queue::{self, Reason, Scope};
use marquee::db::works;
use marquee::domain::movie::{self, MovieRecord};
use marquee::pipeline::ingest::{self, Outcome};
use marquee::ports::{Connection, Database, MeteredConnection, system_now};
use marquee::tmdb::ApiCall;
use marquee::tmdb::types::{APPENDED_PARTS, ImageConfiguration, MovieDetails};
use marquee_cli::native::NativeDb;
use marquee_tests::{connect, fresh_database};

async fn statements_for(url: &str, id: u64, cast: usize, crew: usize) -> u64 {
    let config = FakeTmdbConfig { cast_per_movie: cast, crew_per_movie: crew, ..FakeTmdbConfig::default() };
    let parts: Vec<&str> = APPENDED_PARTS.split(',').collect();
    let raw = fake_tmdb::movie_details(&config, id, &parts).unwrap();
    let details: MovieDetails = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(details.credits.cast.len(), cast);
    let images = ImageConfiguration { secure_base_url: "https://image.tmdb.org/t/p/".into(), ..Default::default() };
    let record = movie::normalize(&details, &images).unwrap();
    let conn = MeteredConnection::new(NativeDb::new(url).connect().await.unwrap());
    let claim = works::claim(&conn, id as i64, "test", Duration::from_secs(60), true).await.unwrap().unwrap();
    conn.meter().reset();
    let store = ingest::Store { function: "test", now: system_now(), claim: &claim, owner: "test", images: &images };
    let outcome = ingest::store_record(&conn, &store, &record, &raw, Default::default()).await.unwrap();
    assert!(matches!(outcome, Outcome::Ingested { .. }));
    conn.meter().statements()
}

#[tokio::test]
async fn a_movie_is_written_in_one_statement_whatever_its_number_of_credits() {
    let url = fresh_database().await;
    let small = statements_for(&url, 1, 2, 1).await;
    let large = statements_for(&url, 2, 150, 60).await;
    let refresh = statements_for(&url, 2, 150, 60).await;
    // One statement (two round trips: prepare, execute), no BEGIN/COMMIT: the statement is the
    // transaction.
    assert_eq!((small, large, refresh), (1, 1, 1));
    let credits: i64 = connect(&url).await.query_one("SELECT count(*) FROM credits", &[]).await.unwrap().get(0);
    assert_eq!(credits, 2 + 1 + 150 + 60);
}

fn record_of(id: u64) -> (MovieRecord, serde_json::Value) {
    let parts: Vec<&str> = APPENDED_PARTS.split(',').collect();
    let raw = fake_tmdb::movie_details(&FakeTmdbConfig::default(), id, &parts).unwrap();
    let details: MovieDetails = serde_json::from_value(raw.clone()).unwrap();
    (movie::normalize(&details, &images()).unwrap(), raw)
}

fn images() -> ImageConfiguration {
    ImageConfiguration { secure_base_url: "https://image.tmdb.org/t/p/".into(), ..Default::default() }
}

fn call(tmdb_id: i64) -> ApiCall {
    ApiCall {
        endpoint: "/movie/{id}",
        tmdb_id: Some(tmdb_id),
        status: Some(200),
        latency_ms: 30,
        attempt: 1,
        error: None,
        at: system_now(),
    }
}

/// The queue row is completed by the movie's statement only while the drain still holds it, and
/// the pending call log is written with it whatever became of the movie.
#[tokio::test]
async fn the_movie_statement_completes_its_queue_row_under_the_drains_lease_and_logs_the_calls() {
    let url = fresh_database().await;
    let conn = NativeDb::new(&url).connect().await.unwrap();
    let db = connect(&url).await;
    queue::enqueue(&conn, &[1, 2, 3], Reason::Batch, 0).await.unwrap();
    let rows = queue::claim(&conn, "drain", 3, Duration::from_secs(60), Scope::All).await.unwrap();
    let row_of = |tmdb_id: i64| rows.iter().find(|r| r.tmdb_id == tmdb_id).unwrap().id;
    let write = async |tmdb_id: i64, owner: &str, queue_owner: &str| {
        let (record, raw) = record_of(tmdb_id as u64);
        let claim = works::claim(&conn, tmdb_id, "ingest", Duration::from_secs(60), true).await.unwrap().unwrap();
        let store = ingest::Store { function: "test", now: system_now(), claim: &claim, owner, images: &images() };
        let calls = [call(tmdb_id)];
        let also = AlsoRecord { queue_row: Some(QueueRow { id: row_of(tmdb_id), owner: queue_owner }), calls: &calls };
        ingest::store_record(&conn, &store, &record, &raw, also).await
    };
    let status = async |tmdb_id: i64| -> (String, i64, i64) {
        let r = db
            .query_one(
                "SELECT q.status, (SELECT count(*) FROM works_raw r JOIN works w USING (work_id) WHERE w.tmdb_id = $1),
                        (SELECT count(*) FROM tmdb_api_logs l WHERE l.tmdb_id = $1)
                 FROM refresh_queue q WHERE q.tmdb_id = $1",
                &[&tmdb_id],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };

    // Both leases held: movie, queue row and call log in one statement.
    let written = write(1, "ingest", "drain").await.unwrap();
    assert!(matches!(written, Outcome::Ingested { queue_completed: true, .. }));
    assert_eq!(status(1).await, ("completed".into(), 1, 1));

    // Another runner took the queue row over: the movie is written, the row is left to its new owner.
    let written = write(2, "ingest", "a-runner-whose-lease-expired").await.unwrap();
    assert!(matches!(written, Outcome::Ingested { queue_completed: false, .. }));
    assert_eq!(status(2).await, ("processing".into(), 1, 1));

    // The movie's ingest lease is someone else's: nothing of the movie, the row untouched, the calls logged.
    let lost = write(3, "an-ingest-that-was-taken-over", "drain").await.unwrap_err();
    assert!(matches!(lost, marquee::Error::LeaseLost { tmdb_id: 3 }), "{lost}");
    assert_eq!(status(3).await, ("processing".into(), 0, 1));
}

/// Movies that share people, genres and companies, written at the same time on separate
/// connections, first ingest and refresh: every write lands, none deadlocks for good.
#[tokio::test]
async fn concurrent_writes_of_movies_sharing_rows_all_land() {
    let url = fresh_database().await;
    for pass in 0..2 {
        let writers = (1..=16_i64).map(|tmdb_id| {
            let url = url.clone();
            async move {
                let conn = NativeDb::new(&url).connect().await.unwrap();
                let (record, raw) = record_of(tmdb_id as u64);
                let owner = format!("writer-{tmdb_id}-{pass}");
                let claim = works::claim(&conn, tmdb_id, &owner, Duration::from_secs(60), true).await.unwrap().unwrap();
                let store = ingest::Store {
                    function: "test",
                    now: system_now(),
                    claim: &claim,
                    owner: &owner,
                    images: &images(),
                };
                ingest::store_record(&conn, &store, &record, &raw, AlsoRecord::default()).await.unwrap();
                record.facts.credits.as_array().unwrap().len() as i64
            }
        });
        let credits: i64 = futures::future::join_all(writers).await.into_iter().sum();
        let db = connect(&url).await;
        let stored: i64 = db.query_one("SELECT count(*) FROM credits", &[]).await.unwrap().get(0);
        assert_eq!(stored, credits, "pass {pass}");
        let shared: i64 = db
            .query_one(
                "SELECT count(*) FROM (SELECT person_id FROM credits GROUP BY 1 HAVING count(DISTINCT work_id) > 1) s",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(shared > 0, "the movies must share people for this test to mean anything");
        let ingested: i64 = db.query_one("SELECT sum(ingest_count)::int8 FROM works", &[]).await.unwrap().get(0);
        assert_eq!(ingested, 16 * (pass + 1));
    }
}

/// What a crew credit does not say about a person (gender, department, popularity: the contract's
/// crew entries lack them) is unknown: writing such a movie neither erases what a cast credit
/// said nor rewrites the person's row.
#[tokio::test]
async fn a_crew_credit_does_not_erase_or_rewrite_what_a_cast_credit_said_about_a_person() {
    let url = fresh_database().await;
    let conn = NativeDb::new(&url).connect().await.unwrap();
    let db = connect(&url).await;
    let movie = |id: i64, credits: serde_json::Value| serde_json::json!({"id": id, "title": format!("Movie {id}"), "release_date": "2020-01-01", "credits": credits});
    let write = async |raw: serde_json::Value| {
        let details: MovieDetails = serde_json::from_value(raw.clone()).unwrap();
        let record = movie::normalize(&details, &images()).unwrap();
        let claim = works::claim(&conn, details.id, "w", Duration::from_secs(60), true).await.unwrap().unwrap();
        let store = ingest::Store { function: "test", now: system_now(), claim: &claim, owner: "w", images: &images() };
        ingest::store_record(&conn, &store, &record, &raw, AlsoRecord::default()).await.unwrap();
    };
    let person = async || -> (Option<i32>, Option<String>, Option<f64>, String) {
        let r = db
            .query_one(
                "SELECT gender, known_for_department, popularity, xmin::text FROM people WHERE person_id = 77",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1), r.get(2), r.get(3))
    };
    let cast = serde_json::json!({"cast": [{"id": 77, "name": "Ada Vale", "character": "Herself", "order": 0,
        "profile_path": "/ada.jpg", "gender": 1, "known_for_department": "Acting", "popularity": 12.5,
        "credit_id": "c1"}], "crew": []});
    let crew = serde_json::json!({"cast": [], "crew": [{"id": 77, "name": "Ada Vale", "job": "Director",
        "department": "Directing", "profile_path": "/ada.jpg", "credit_id": "c2"}]});

    // First named by a crew credit: what is unknown stays unknown.
    write(movie(1, crew.clone())).await;
    assert_eq!(person().await.0, None);
    // A cast credit then says more: the row learns it.
    write(movie(2, cast)).await;
    let learnt = person().await;
    assert_eq!((learnt.0, learnt.1.as_deref(), learnt.2), (Some(1), Some("Acting"), Some(12.5)));
    // The crew movie written again: nothing is erased, and the row is not even rewritten.
    write(movie(1, crew)).await;
    assert_eq!(person().await, learnt);
}

/// The write's statements keep their plans for the session. Plans made while the catalog was
/// empty must stay index lookups once the tables have grown (a fresh catalog being backfilled),
/// not turn into scans of every person on every movie.
#[tokio::test]
async fn a_session_that_started_on_an_empty_catalog_never_scans_a_grown_table() {
    let url = fresh_database().await;
    let conn = NativeDb::new(&url).connect().await.unwrap();
    let db = connect(&url).await;
    let write = async |tmdb_id: i64| {
        let (record, raw) = record_of(tmdb_id as u64);
        let claim = works::claim(&conn, tmdb_id, "w", Duration::from_secs(60), true).await.unwrap().unwrap();
        let store = ingest::Store { function: "test", now: system_now(), claim: &claim, owner: "w", images: &images() };
        ingest::store_record(&conn, &store, &record, &raw, AlsoRecord::default()).await.unwrap();
        // Our session's table statistics, visible to others now rather than within a second.
        conn.query("SELECT pg_stat_force_next_flush()", &[]).await.unwrap();
    };
    let scans = async || -> i64 {
        db.execute("SELECT pg_stat_clear_snapshot()", &[]).await.unwrap();
        db.query_one(
            "SELECT sum(seq_scan)::int8 FROM pg_stat_user_tables
             WHERE relname IN ('people', 'genres', 'keywords', 'companies', 'collections', 'watch_providers', 'credits',
                               'works_meta', 'works_raw', 'images', 'videos', 'release_dates', 'similar_movies')",
            &[],
        )
        .await
        .unwrap()
        .get(0)
    };
    // Plans made on empty tables, five times over (PL/pgSQL's plan cache settles after five).
    for tmdb_id in 1..=6 {
        write(tmdb_id).await;
    }
    db.batch_execute(
        "INSERT INTO people (person_id, name) SELECT g, 'Extra ' || g FROM generate_series(10000000, 10050000) g;
         INSERT INTO keywords (keyword_id, name) SELECT g, 'k' || g FROM generate_series(10000000, 10020000) g;",
    )
    .await
    .unwrap();
    let before = scans().await;
    for tmdb_id in 7..=9 {
        write(tmdb_id).await;
    }
    assert_eq!(scans().await, before, "a write scanned a whole table");
}
