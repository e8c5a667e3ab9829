//! What the catalog API's tests share: an app whose catalog needs keys, keys made through the
//! admin route, keyed requests, movies ingested and refreshed with patched values.

#![allow(dead_code)]

use fake_tmdb::FakeTmdbConfig;
use marquee_tests::{ADMIN_TOKEN, Response, TestApp};
use reqwest::Method;
use serde_json::{Value as Json, json};

/// An app whose catalog answers only to keys (`catalog_public` false, as in production).
pub async fn keyed_app() -> TestApp {
    keyed_app_with(|s| s).await
}

pub async fn keyed_app_with(
    settings: impl FnOnce(marquee_cli::native::NativeSettings) -> marquee_cli::native::NativeSettings,
) -> TestApp {
    TestApp::start_with(FakeTmdbConfig::default(), |s| settings(s.with("catalog_public", "false"))).await
}

/// A new key for `customer`, made through `POST /api/admin/keys`.
pub async fn new_key(app: &TestApp, customer: &str) -> String {
    let r = app
        .request(
            Method::POST,
            "/api/admin/keys",
            Some(ADMIN_TOKEN),
            Some(json!({"customer": customer, "name": "test"}).to_string()),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["key"].as_str().expect("the key, shown once").to_owned()
}

/// `GET path` with `key` (as a bearer token).
pub async fn get(app: &TestApp, path: &str, key: &str) -> Response {
    app.request(Method::GET, path, Some(key), None, &[]).await
}

pub async fn get_with(app: &TestApp, path: &str, key: &str, headers: &[(&str, &str)]) -> Response {
    app.request(Method::GET, path, Some(key), None, headers).await
}

/// Ingests movies through `batch-ingest` (a run: the aggregates are folded at its end).
pub async fn ingest(app: &TestApp, ids: impl IntoIterator<Item = i64>) {
    let ids: Vec<i64> = ids.into_iter().collect();
    for chunk in ids.chunks(500) {
        let r = app.post("/functions/v1/batch-ingest", json!({"tmdb_ids": chunk})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["remaining"], 0, "{}", r.text);
    }
}

/// Refreshes a movie after patching what TMDB says of it.
pub async fn refresh_with(app: &TestApp, tmdb_id: i64, patch: Json) {
    app.fake.faults().patch_movie(tmdb_id as u64, patch);
    let r = app.ingest(json!({"tmdb_id": tmdb_id, "force_refresh": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Makes a movie gone: TMDB answers 404 to its refresh.
pub async fn make_gone(app: &TestApp, tmdb_id: i64) {
    app.fake.faults().not_found(tmdb_id as u64);
    let r = app.ingest(json!({"tmdb_id": tmdb_id, "force_refresh": true})).await;
    assert_eq!(r.status, 404, "{}", r.text);
}

/// The `tmdb_id`s of a list of short cards.
pub fn ids(results: &Json) -> Vec<i64> {
    results.as_array().expect("results").iter().map(|c| c["tmdb_id"].as_i64().expect("tmdb_id")).collect()
}

pub fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn header_i64(r: &Response, name: &str) -> i64 {
    header(r, name).unwrap_or_else(|| panic!("no {name}: {:?}", r.headers)).parse().unwrap()
}

/// Sets a tier's monthly limit of `api_requests` (tests use small ones).
pub async fn set_limit(app: &TestApp, tier: &str, limit: i64) {
    set_quota_limit(app, tier, "api_requests", limit).await;
}

pub async fn set_quota_limit(app: &TestApp, tier: &str, quota: &str, limit: i64) {
    let changed = app
        .db
        .execute(
            "UPDATE subscription_tier_quota SET monthly_limit = $3 WHERE tier = $1 AND quota = $2",
            &[&tier, &quota, &limit],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1, "{tier} has a {quota} quota");
}
