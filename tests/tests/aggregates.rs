//! The aggregates of people, genres, keywords, companies and collections: kept by folding the
//! keys writes mark, equal to a full recompute after ingests, refreshes that change credits and
//! genres, movies going gone and reprojection; concurrent writers neither wait on them nor
//! leave them wrong; drift is found and a recompute mends it.

use std::time::Duration;

use marquee::db::aggregates::{self, AggregateKind, Drift};
use marquee::db::works;
use marquee::domain::movie;
use marquee::pipeline::ingest;
use marquee::ports::{Connection, Database, system_now};
use marquee_cli::native::{NativeDb, NativeHttp, SystemClock};
use marquee_tests::TestApp;
use serde_json::json;

const BATCH: &str = "/functions/v1/batch-ingest";

async fn fold_all(url: &str) {
    let conn = NativeDb::new(url).connect().await.unwrap();
    while aggregates::fold(&conn, 1_000).await.unwrap().expect("no other fold").marks > 0 {}
    assert_eq!(aggregates::pending(&conn).await.unwrap(), 0);
}

async fn drift(url: &str) -> Vec<Drift> {
    aggregates::drift(&NativeDb::new(url).connect().await.unwrap()).await.unwrap()
}

/// Genre counts computed here from the facts, independently of `compute_sql`.
async fn genre_works_by_hand(app: &TestApp) -> Vec<(i64, i32)> {
    app.db
        .query(
            "SELECT g.genre_id::int8, count(*)::int4 FROM work_genres g JOIN works w USING (work_id)
             WHERE w.ingestion_status = 'complete' GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn genre_works_stored(app: &TestApp) -> Vec<(i64, i32)> {
    app.db
        .query("SELECT key_id, works FROM catalog_aggregates WHERE kind = 'genre' ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn after_ingests_refreshes_gone_movies_and_reprojection_the_folded_aggregates_equal_a_recompute() {
    let app = TestApp::start().await;
    let ids: Vec<i64> = (1..=12).collect();
    let r = app.post(BATCH, json!({"tmdb_ids": ids})).await;
    assert_eq!(r.body["drain"]["ingested"], 12, "{}", r.text);
    // The run folded what it wrote: nothing pending, nothing drifted.
    let conn = NativeDb::new(&app.db_url).connect().await.unwrap();
    assert_eq!(aggregates::pending(&conn).await.unwrap(), 0);
    assert_eq!(drift(&app.db_url).await, vec![]);
    assert_eq!(genre_works_stored(&app).await, genre_works_by_hand(&app).await);

    // Refreshes that change genres and credits: movie 1 loses its cast and takes a genre of its own.
    app.fake
        .faults()
        .patch_movie(1, json!({"genres": [{"id": 990001, "name": "Test Genre"}], "credits": {"cast": [], "crew": []}}));
    // Movie 4 is gone from TMDB: its refresh marks it gone and it leaves every aggregate.
    app.fake.faults().not_found(4);
    let r = app.post(BATCH, json!({"mode": "reingest", "filter": "all"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let gone: Vec<i64> = app
        .db
        .query("SELECT tmdb_id FROM works WHERE ingestion_status = 'gone'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(gone, vec![4], "{}", r.text);
    fold_all(&app.db_url).await;
    assert_eq!(drift(&app.db_url).await, vec![]);
    assert_eq!(genre_works_stored(&app).await, genre_works_by_hand(&app).await);
    let test_genre = app
        .db
        .query_one("SELECT works FROM catalog_aggregates WHERE kind = 'genre' AND key_id = 990001", &[])
        .await
        .unwrap()
        .get::<_, i32>(0);
    assert_eq!(test_genre, 1);
    assert_eq!(app.count("SELECT count(*) FROM credits c JOIN works w USING (work_id) WHERE w.tmdb_id = 1").await, 0);
    // Nobody counts the gone movie: no person aggregate names it.
    let people_of_4 = app
        .count(
            "SELECT count(*) FROM catalog_aggregates g WHERE g.kind = 'person'
               AND g.key_id IN (SELECT person_id FROM credits c JOIN works w USING (work_id) WHERE w.tmdb_id = 4)
               AND g.works > (SELECT count(DISTINCT c.work_id) FROM credits c JOIN works w USING (work_id)
                              WHERE c.person_id = g.key_id AND w.ingestion_status = 'complete')",
        )
        .await;
    assert_eq!(people_of_4, 0);

    // Reprojection rewrites every movie from its stored response: still exact.
    let r = app.post(BATCH, json!({"mode": "reproject"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    fold_all(&app.db_url).await;
    assert_eq!(drift(&app.db_url).await, vec![]);
}

#[tokio::test]
async fn a_person_credited_twice_in_one_movie_counts_it_once_as_cast_and_as_crew() {
    let app = TestApp::start().await;
    let person = json!({"id": 77, "name": "Ada Vale", "character": "A", "order": 0, "profile_path": null,
                        "gender": 1, "known_for_department": "Acting", "popularity": 1.0, "credit_id": "c1"});
    let mut twice = person.clone();
    twice["credit_id"] = json!("c2");
    twice["character"] = json!("B");
    let crew = json!({"id": 77, "name": "Ada Vale", "job": "Director", "department": "Directing",
                      "profile_path": null, "credit_id": "c3"});
    app.fake.faults().patch_movie(5, json!({"credits": {"cast": [person, twice], "crew": [crew]}}));
    app.fake.faults().patch_movie(6, json!({"credits": {"cast": [person], "crew": []}}));
    let r = app.post(BATCH, json!({"tmdb_ids": [5, 6]})).await;
    assert_eq!(r.body["drain"]["ingested"], 2, "{}", r.text);
    let row = app
        .db
        .query_one(
            "SELECT works, cast_works, crew_works, total_votes = (SELECT sum(vote_count) FROM works WHERE tmdb_id IN (5, 6))
             FROM catalog_aggregates WHERE kind = 'person' AND key_id = 77",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i32>(0), row.get::<_, Option<i32>>(1), row.get::<_, Option<i32>>(2)),
        (2, Some(2), Some(1))
    );
    assert!(row.get::<_, bool>(3), "votes are counted once per work");
}

#[tokio::test]
async fn drift_is_found_and_a_recompute_mends_it() {
    let app = TestApp::start().await;
    let r = app.post(BATCH, json!({"tmdb_ids": [1, 2, 3]})).await;
    assert_eq!(r.body["drain"]["ingested"], 3, "{}", r.text);
    let genre: i64 =
        app.db.query_one("SELECT min(key_id) FROM catalog_aggregates WHERE kind = 'genre'", &[]).await.unwrap().get(0);
    app.db
        .execute("UPDATE catalog_aggregates SET works = works + 1 WHERE kind = 'genre' AND key_id = $1", &[&genre])
        .await
        .unwrap();
    app.db.execute("DELETE FROM catalog_aggregates WHERE kind = 'person' AND key_id = (SELECT min(key_id) FROM catalog_aggregates WHERE kind = 'person')", &[]).await.unwrap();
    app.db.execute("INSERT INTO catalog_aggregates (kind, key_id, works, scored_works, total_votes) VALUES ('keyword', 123456789, 1, 0, 0)", &[]).await.unwrap();
    let found = drift(&app.db_url).await;
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.contains(&Drift { kind: AggregateKind::Genre, key_id: genre }));
    assert!(found.contains(&Drift { kind: AggregateKind::Keyword, key_id: 123456789 }));
    // A key with marks not folded yet is pending, not drifted.
    app.db.execute("INSERT INTO aggregate_dirty (kind, key_id) VALUES ('genre', $1)", &[&genre]).await.unwrap();
    assert!(!drift(&app.db_url).await.contains(&Drift { kind: AggregateKind::Genre, key_id: genre }));
    let conn = NativeDb::new(&app.db_url).connect().await.unwrap();
    aggregates::recompute_all(&conn).await.unwrap();
    assert_eq!(drift(&app.db_url).await, vec![]);
    assert_eq!(aggregates::pending(&conn).await.unwrap(), 0, "a recompute takes every mark");
}

/// The aggregates do not serialise writers: a movie whose write sits in an open transaction does
/// not hold up the write of another movie with the same genre and people.
#[tokio::test]
async fn a_write_never_waits_for_another_writer_of_the_same_genres_and_people() {
    let app = TestApp::start().await;
    let cast: Vec<_> = [(71, "Ada Vale"), (72, "Bo Lund")]
        .iter()
        .enumerate()
        .map(|(i, (id, name))| {
            json!({"id": id, "name": name, "character": "X", "order": i, "profile_path": null, "gender": 1,
                   "known_for_department": "Acting", "popularity": 1.0, "credit_id": format!("c{id}")})
        })
        .collect();
    for id in [21, 22] {
        app.fake.faults().patch_movie(
            id,
            json!({"genres": [{"id": 18, "name": "Drama"}], "credits": {"cast": cast, "crew": []}, "keywords": {"keywords": []}}),
        );
    }
    // Written once, so that every shared row exists.
    let r = app.post(BATCH, json!({"tmdb_ids": [21, 22]})).await;
    assert_eq!(r.body["drain"]["ingested"], 2, "{}", r.text);

    // Movie 21 is written again, through the real write, in a transaction left open…
    let holder = NativeDb::new(&app.db_url).connect().await.unwrap();
    let claim = works::claim(&holder, 21, "holder", Duration::from_secs(60), true).await.unwrap().unwrap();
    let raw: serde_json::Value =
        app.db.query_one("SELECT payload FROM works_raw WHERE work_id = $1", &[&claim.work_id]).await.unwrap().get(0);
    let images = marquee::db::tmdb_config::cached(&holder, None).await.unwrap().unwrap().images;
    let record = movie::normalize(&serde_json::from_value(raw.clone()).unwrap(), &images).unwrap();
    holder.execute("BEGIN", &[]).await.unwrap();
    let store = ingest::Store { function: "test", now: system_now(), claim: &claim, owner: "holder", images: &images };
    ingest::store_record(&holder, &store, &record, &raw, Default::default()).await.unwrap();

    // …while movie 22 is refreshed through the real path on a connection that gives up on any
    // lock it would wait a second for: it needs none.
    let sep = if app.db_url.contains('?') { '&' } else { '?' };
    let impatient = format!("{}{sep}options=-c%20lock_timeout%3D1000", app.db_url);
    let config = marquee::config::Config::load(&app.settings).await.unwrap();
    let writer = marquee::App::new(NativeDb::new(&impatient), NativeHttp::default(), SystemClock, config, "test");
    let tmdb = writer.tmdb(system_now() + Duration::from_secs(20));
    let outcome = ingest::ingest_movie(&writer, &tmdb, 22, true, None).await;
    assert!(outcome.is_ok(), "{:?}", outcome.err());
    holder.execute("COMMIT", &[]).await.unwrap();
    fold_all(&app.db_url).await;
    assert_eq!(drift(&app.db_url).await, vec![]);
}

/// Concurrent ingests of movies that share people and genres (twenty at once on a pool of four
/// connections) leave the aggregates exact.
#[tokio::test]
async fn concurrent_ingests_of_movies_sharing_people_and_genres_leave_the_aggregates_exact() {
    let app = TestApp::start().await;
    let ids: Vec<i64> = (1..=60).collect();
    let (a, b) = ids.split_at(30);
    let (ra, rb) = tokio::join!(app.post(BATCH, json!({"tmdb_ids": a})), app.post(BATCH, json!({"tmdb_ids": b})));
    assert_eq!(ra.status, 200, "{}", ra.text);
    assert_eq!(rb.status, 200, "{}", rb.text);
    assert_eq!(app.count("SELECT count(*) FROM works WHERE ingestion_status = 'complete'").await, 60);
    let shared = app
        .count("SELECT count(*) FROM (SELECT person_id FROM credits GROUP BY 1 HAVING count(DISTINCT work_id) > 1) s")
        .await;
    assert!(shared > 0, "the movies must share people for this test to mean anything");
    fold_all(&app.db_url).await;
    assert_eq!(drift(&app.db_url).await, vec![]);
    assert_eq!(genre_works_stored(&app).await, genre_works_by_hand(&app).await);
}

#[tokio::test]
async fn only_one_fold_runs_at_a_time() {
    let app = TestApp::start().await;
    let r = app.post(BATCH, json!({"tmdb_ids": [1]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let holder = marquee_tests::connect(&app.db_url).await;
    holder.batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({})", aggregates::FOLD_LOCK)).await.unwrap();
    let conn = NativeDb::new(&app.db_url).connect().await.unwrap();
    assert_eq!(aggregates::fold(&conn, 10).await.unwrap(), None);
    holder.batch_execute("COMMIT").await.unwrap();
    assert!(aggregates::fold(&conn, 10).await.unwrap().is_some());
}
