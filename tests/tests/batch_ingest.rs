//! `POST /functions/v1/batch-ingest`: id lists, reingest by cursor, reprojection.

use marquee_tests::{ADMIN_TOKEN, TestApp, error_code};
use serde_json::json;

const ROUTE: &str = "/functions/v1/batch-ingest";

#[tokio::test]
async fn ids_are_deduped_queued_and_drained() {
    let app = TestApp::start().await;
    let r = app.post(ROUTE, json!({"tmdb_ids": [5, 6, 7, 5, "6"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["queued"], 3);
    assert_eq!(r.body["drain"]["ingested"], 3, "{}", r.text);
    assert_eq!(r.body["remaining"], 0);
    assert_eq!(r.body["status"], "succeeded");
    assert_eq!(app.fake.counters().by_endpoint.get("/movie/{id}"), Some(&3));
    let log = app
        .db
        .query_one("SELECT function, source, status, movies_ingested, movies_queued FROM scheduled_ingestion_log", &[])
        .await
        .unwrap();
    assert_eq!(
        (log.get::<_, String>(0), log.get::<_, String>(1), log.get::<_, String>(2)),
        ("batch-ingest".into(), "batch:ids".into(), "succeeded".into())
    );
    assert_eq!((log.get::<_, i32>(3), log.get::<_, i32>(4)), (3, 3));
}

#[tokio::test]
async fn reingest_pages_through_the_catalog_by_cursor() {
    let app = TestApp::start().await;
    let ids: Vec<i64> = (100..105).collect();
    assert_eq!(app.post(ROUTE, json!({"tmdb_ids": ids})).await.status, 200);
    app.fake.reset_counters();
    let first = app.post(ROUTE, json!({"mode": "reingest", "filter": "all", "limit": 3})).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["queued"], 3);
    let cursor = first.body["next_cursor"].as_i64().expect("more pages");
    let second = app.post(ROUTE, json!({"mode": "reingest", "filter": "all", "limit": 3, "cursor": cursor})).await;
    assert_eq!(second.body["queued"], 2);
    assert_eq!(second.body["next_cursor"], serde_json::Value::Null, "done");
    assert_eq!(app.fake.counters().by_endpoint.get("/movie/{id}"), Some(&5), "reingest refetches every movie once");
    let stale = app.post(ROUTE, json!({"mode": "reingest", "filter": "stale"})).await;
    assert_eq!(stale.body["queued"], 0, "nothing is stale right after a refresh");
}

#[tokio::test]
async fn reproject_rederives_from_stored_responses_without_tmdb() {
    let app = TestApp::start().await;
    assert_eq!(app.post(ROUTE, json!({"tmdb_ids": [1, 2, 3]})).await.status, 200);
    app.db.execute("UPDATE work_cards_cache SET payload = '{}'::jsonb, etag = '\"stale\"'", &[]).await.unwrap();
    app.db.execute("DELETE FROM credits", &[]).await.unwrap();
    app.fake.reset_counters();
    let r = app.post(ROUTE, json!({"mode": "reproject"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["reprojected"], 3);
    assert_eq!(app.fake.counters().total, 0, "no TMDB call");
    assert_eq!(app.count("SELECT count(*) FROM work_cards_cache WHERE etag = '\"stale\"'").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM credits").await, 3 * 30);
}

#[tokio::test]
async fn invalid_bodies_are_400() {
    let app = TestApp::start().await;
    let too_many: Vec<i64> = (1..=1001).collect();
    for body in [
        json!({"tmdb_ids": too_many}),
        json!({"tmdb_ids": [1, "x"]}),
        json!({"tmdb_ids": [1.5]}),
        json!({"tmdb_ids": [-3]}),
        json!({"tmdb_ids": []}),
        json!({"mode": "reingest", "filter": "newest"}),
        json!({"mode": "everything"}),
        json!({}),
    ] {
        let r = app.post(ROUTE, body.clone()).await;
        assert_eq!((r.status, error_code(&r)), (400, "invalid_request"), "{body}: {}", r.text);
    }
    let no_token = app.request(reqwest::Method::POST, ROUTE, Some("wrong"), Some("{}".into()), &[]).await;
    assert_eq!(no_token.status, 401);
    let _ = ADMIN_TOKEN;
    assert_eq!(app.count("SELECT count(*) FROM refresh_queue").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM scheduled_ingestion_log").await, 0);
}
