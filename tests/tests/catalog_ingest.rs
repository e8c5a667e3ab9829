//! `POST /api/works/{tmdb_id}/ingest`, end to end (real PostgreSQL, real HTTP, the fake TMDB):
//! a customer's key fetches a movie the catalog lacks, once, charged to its `ingests` quota; a
//! movie already served costs no TMDB request and no ingest; an ingest that fetched nothing new
//! (TMDB lacks the movie or fails, or the catalog's policy refuses it) is given back; the quota
//! is never passed, also by concurrent requests; bad requests are refused before anything.

mod catalog_support;

use catalog_support::*;
use futures::future::join_all;
use marquee_tests::{TestApp, error_code};
use reqwest::Method;
use serde_json::json;

async fn post_ingest(app: &TestApp, tmdb_id: &str, key: Option<&str>) -> marquee_tests::Response {
    app.request(Method::POST, &format!("/api/works/{tmdb_id}/ingest"), key, None, &[]).await
}

async fn ingests_used(app: &TestApp, customer: &str) -> i64 {
    app.db
        .query_one(
            "SELECT coalesce(sum(used), 0)::int8 FROM quota_usage WHERE customer_id = $1 AND quota = 'ingests'",
            &[&customer],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_customer_fetches_a_missing_movie_once_and_pays_one_ingest() {
    let app = keyed_app().await;
    let key = new_key(&app, "cus_demand").await;

    // Refused before anything is fetched or charged.
    let keyless = post_ingest(&app, "603", None).await;
    assert_eq!((keyless.status, error_code(&keyless)), (401, "missing_api_key"));
    let bad_id = post_ingest(&app, "six", Some(&key)).await;
    assert_eq!((bad_id.status, error_code(&bad_id)), (400, "invalid_request"));
    let with_body = app
        .request(
            Method::POST,
            "/api/works/603/ingest",
            Some(&key),
            Some(json!({"force_refresh": true}).to_string()),
            &[],
        )
        .await;
    assert_eq!((with_body.status, error_code(&with_body)), (400, "invalid_request"), "{}", with_body.text);
    let wrong_method = get(&app, "/api/works/603/ingest", &key).await;
    assert_eq!((wrong_method.status, error_code(&wrong_method)), (405, "method_not_allowed"));
    assert_eq!(app.movie_requests(), 0);
    assert_eq!(ingests_used(&app, "cus_demand").await, 0);

    // Missing: fetched now, one TMDB request, one ingest charged.
    let missing = get_with(&app, "/api/works/603", &key, &[]).await;
    assert_eq!(missing.status, 404, "{}", missing.text);
    let created = post_ingest(&app, "603", Some(&key)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["status"], "ingested");
    assert_eq!(created.body["card"]["tmdb_id"], 603);
    assert_eq!(created.body["ingests"], json!({"limit": 10, "used": 1, "remaining": 9}));
    assert_eq!(header(&created, "location"), Some("/api/works/603"));
    assert!(header(&created, "ratelimit-remaining").is_some(), "the request is an API request too");
    assert_eq!(app.movie_requests(), 1);
    let card = get_with(&app, "/api/works/603", &key, &[]).await;
    assert_eq!(card.status, 200, "{}", card.text);
    assert_eq!(header(&card, "etag"), header(&created, "etag"), "the card served is the one ingested");
    assert_eq!(card.body, created.body["card"]);

    // Served already: answered as it is, no TMDB request, no ingest charged.
    let again = post_ingest(&app, "603", Some(&key)).await;
    assert_eq!((again.status, again.body["status"].as_str()), (200, Some("cached")), "{}", again.text);
    assert_eq!(again.body["card"], created.body["card"]);
    assert!(again.body.get("ingests").is_none());
    assert_eq!(app.movie_requests(), 1);
    assert_eq!(ingests_used(&app, "cus_demand").await, 1);

    // TMDB does not have it: 404, and the ingest is given back.
    app.fake.faults().not_found(777);
    let unknown = post_ingest(&app, "777", Some(&key)).await;
    assert_eq!((unknown.status, error_code(&unknown)), (404, "gone"), "{}", unknown.text);
    assert_eq!(ingests_used(&app, "cus_demand").await, 1, "a failed ingest costs nothing");
    // Now known as gone: answered without asking TMDB again.
    let asked = app.movie_requests();
    let gone = post_ingest(&app, "777", Some(&key)).await;
    assert_eq!((gone.status, error_code(&gone)), (404, "gone"), "{}", gone.text);
    assert_eq!(app.movie_requests(), asked);

    // Refused by the catalog's policy: 422, given back; then known, answered without TMDB.
    app.fake.faults().patch_movie(604, json!({"adult": true}));
    let asked = app.movie_requests();
    let adult = post_ingest(&app, "604", Some(&key)).await;
    assert_eq!((adult.status, error_code(&adult)), (422, "rejected"), "{}", adult.text);
    assert_eq!(app.movie_requests(), asked + 1);
    let refused = post_ingest(&app, "604", Some(&key)).await;
    assert_eq!((refused.status, error_code(&refused)), (422, "rejected"), "{}", refused.text);
    assert_eq!(app.movie_requests(), asked + 1);
    assert_eq!(ingests_used(&app, "cus_demand").await, 1);

    // TMDB failing: 503, given back.
    app.fake.faults().fail_next(100, 503, None);
    let failing = post_ingest(&app, "605", Some(&key)).await;
    assert_eq!((failing.status, error_code(&failing)), (503, "tmdb_unavailable"), "{}", failing.text);
    assert_eq!(ingests_used(&app, "cus_demand").await, 1, "a failed fetch costs nothing");
    app.fake.faults().clear();

    // The key's usage says so; every one of these requests but the refused ones was an API request.
    let usage = get(&app, "/api/usage", &key).await;
    assert_eq!(usage.body["quotas"]["ingests"]["used"], 1, "{}", usage.text);
    assert_eq!(usage.body["quotas"]["api_requests"]["used"], 9, "{}", usage.text);
}

#[tokio::test]
async fn concurrent_ingests_never_pass_the_ingests_quota_and_a_public_catalog_still_wants_a_key() {
    let app = keyed_app_with(|s| s.with("catalog_public", "true")).await;
    set_quota_limit(&app, "free", "ingests", 3).await;
    let key = new_key(&app, "cus_eager").await;

    let keyless = post_ingest(&app, "601", None).await;
    assert_eq!((keyless.status, error_code(&keyless)), (401, "missing_api_key"), "reads are open, ingests are not");

    let ids: Vec<String> = (601..=608).map(|id| id.to_string()).collect();
    let answers = join_all(ids.iter().map(|id| post_ingest(&app, id, Some(&key)))).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 5, "{statuses:?}");
    for refused in answers.iter().filter(|r| r.status == 429) {
        assert_eq!(error_code(refused), "quota_exceeded");
        assert!(
            refused.body["error"]["message"].as_str().unwrap().contains("quota `ingests` of 3"),
            "{}",
            refused.text
        );
        let retry = header_i64(refused, "retry-after");
        assert!(retry > 0 && retry <= 31 * 86_400, "until the period ends: {retry}");
    }
    assert_eq!(app.movie_requests(), 3, "nothing fetched over the quota");
    assert_eq!(ingests_used(&app, "cus_eager").await, 3);
    assert_eq!(app.count("SELECT count(*) FROM works WHERE ingestion_status = 'complete'").await, 3);
}

#[tokio::test]
async fn a_failed_ingest_at_the_limit_is_given_back_so_the_next_one_fits() {
    let app = keyed_app().await;
    set_quota_limit(&app, "free", "ingests", 1).await;
    let key = new_key(&app, "cus_last").await;
    app.fake.faults().not_found(777);
    let unknown = post_ingest(&app, "777", Some(&key)).await;
    assert_eq!((unknown.status, error_code(&unknown)), (404, "gone"), "{}", unknown.text);
    // Had the failed one kept its charge, this one would be over the limit.
    let created = post_ingest(&app, "603", Some(&key)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["ingests"], json!({"limit": 1, "used": 1, "remaining": 0}));
    let over = post_ingest(&app, "604", Some(&key)).await;
    assert_eq!((over.status, error_code(&over)), (429, "quota_exceeded"), "{}", over.text);
    assert_eq!(app.movie_requests(), 2, "777 asked once, 603 once, 604 never");
}
