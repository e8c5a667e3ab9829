//! `GET /api/works/{tmdb_id}`: the stored card with an ETag, and 304 on `If-None-Match`.

use marquee_tests::{TestApp, error_code};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_card_has_an_etag_and_if_none_match_gives_304() {
    let app = TestApp::start().await;
    let ingested = app.ingest(json!({"tmdb_id": 550})).await;
    assert_eq!(ingested.status, 200);

    let card = app.request(Method::GET, "/api/works/550", None, None, &[]).await;
    assert_eq!(card.status, 200, "{}", card.text);
    assert_eq!(card.body, ingested.body["card"]);
    let etag = card.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, ingested.headers["etag"].to_str().unwrap());
    assert!(card.body["attribution"][0].as_str().unwrap().contains("TMDB"));

    let not_modified = app.request(Method::GET, "/api/works/550", None, None, &[("if-none-match", &etag)]).await;
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.text.is_empty());
    assert_eq!(not_modified.headers["etag"].to_str().unwrap(), etag);

    // The database leaves the body out by the same rule the 304 is decided by: lists, weak
    // tags and `*` are 304s; a list without the card's tag is the whole card.
    let weak_in_a_list = format!("\"0000\", W/{etag}");
    for header in [weak_in_a_list.as_str(), "*"] {
        let r = app.request(Method::GET, "/api/works/550", None, None, &[("if-none-match", header)]).await;
        assert_eq!((r.status, r.text.as_str()), (304, ""), "{header}");
    }
    let other =
        app.request(Method::GET, "/api/works/550", None, None, &[("if-none-match", "\"0000\", W/\"1111\"")]).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.body, card.body, "the whole card");
    assert_eq!(app.fake.counters().by_endpoint.get("/movie/{id}"), Some(&1), "reading cards never calls TMDB");
}

#[tokio::test]
async fn unknown_and_invalid_ids_are_json_errors() {
    let app = TestApp::start().await;
    let missing = app.request(Method::GET, "/api/works/12345", None, None, &[]).await;
    assert_eq!((missing.status, error_code(&missing)), (404, "not_found"));
    let invalid = app.request(Method::GET, "/api/works/abc", None, None, &[]).await;
    assert_eq!((invalid.status, error_code(&invalid)), (400, "invalid_request"));
    let nowhere = app.request(Method::GET, "/nowhere", None, None, &[]).await;
    assert_eq!((nowhere.status, error_code(&nowhere)), (404, "not_found"));
}

/// A movie being refreshed is still the catalog's: its card is served from the data it has until
/// the refresh writes new data; a movie whose first ingest is in flight has no card yet.
#[tokio::test]
async fn a_card_stays_served_while_its_movie_is_refreshed() {
    use marquee::ports::Database;
    let app = TestApp::start().await;
    assert_eq!(app.ingest(json!({"tmdb_id": 550})).await.status, 200);
    let conn = marquee_cli::native::NativeDb::new(&app.db_url).connect().await.unwrap();
    let lease = std::time::Duration::from_secs(60);
    marquee::db::works::claim(&conn, 550, "refresher", lease, true).await.unwrap().expect("claimed");
    marquee::db::works::claim(&conn, 603, "first-ingest", lease, true).await.unwrap().expect("claimed");
    assert_eq!(app.count("SELECT count(*) FROM works WHERE ingestion_status = 'ingesting'").await, 2);
    let refreshing = app.request(Method::GET, "/api/works/550", None, None, &[]).await;
    assert_eq!(refreshing.status, 200, "{}", refreshing.text);
    assert_eq!(refreshing.body["tmdb_id"], 550);
    let first = app.request(Method::GET, "/api/works/603", None, None, &[]).await;
    assert_eq!((first.status, error_code(&first)), (404, "not_found"), "{}", first.text);
}
