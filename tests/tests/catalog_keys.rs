//! The catalog API's keys and quotas, end to end: real PostgreSQL, real HTTP, Stripe events
//! signed as Stripe signs them. 401 for missing, unknown and revoked keys; 429 after exactly the
//! limit, with the rate-limit headers, also under 50 concurrent requests; a tier change applies
//! to the very next request; keys are stored only as hashes; one statement per request.

mod catalog_support;

use catalog_support::*;
use futures::future::join_all;
use marquee::billing::signature::header_value;
use marquee_tests::{ADMIN_TOKEN, TestApp, error_code};
use reqwest::Method;
use serde_json::json;

const STRIPE_SECRET: &str = "whsec_catalog_test";

async fn app() -> TestApp {
    let app = keyed_app_with(|s| s.with("stripe_webhook_secrets", STRIPE_SECRET)).await;
    ingest(&app, [550]).await;
    app
}

fn now() -> i64 {
    marquee::ports::system_now().timestamp()
}

/// Delivers a subscription event for `customer`, signed as Stripe signs it.
async fn subscription_event(app: &TestApp, event_id: &str, created: i64, customer: &str, status: &str, price: &str) {
    let start = now() - 86_400;
    let body = json!({"id": event_id, "object": "event", "type": "customer.subscription.updated", "created": created,
        "livemode": false, "data": {"object": {"id": format!("sub_{customer}"), "object": "subscription", "customer": customer,
        "status": status, "cancel_at_period_end": false, "current_period_start": start, "current_period_end": start + 30 * 86_400,
        "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": price, "object": "price"}}]}}}})
    .to_string();
    let signature = header_value(STRIPE_SECRET, now(), body.as_bytes());
    let r = app
        .request(Method::POST, "/functions/v1/stripe-webhook", None, Some(body), &[("stripe-signature", &signature)])
        .await;
    assert_eq!((r.status, r.body["applied"].as_bool()), (200, Some(true)), "{}", r.text);
}

#[tokio::test]
async fn missing_malformed_unknown_and_revoked_keys_get_401() {
    let app = app().await;
    let key = new_key(&app, "cus_alice").await;
    assert_eq!(get(&app, "/api/works/550", &key).await.status, 200);

    let missing = app.request(Method::GET, "/api/works/550", None, None, &[]).await;
    assert_eq!((missing.status, error_code(&missing)), (401, "missing_api_key"));
    assert!(header(&missing, "www-authenticate").is_some_and(|h| h.starts_with("Bearer")));
    let unknown = get(&app, "/api/works/550", &marquee::domain::api_key::generate().unwrap()).await;
    assert_eq!((unknown.status, error_code(&unknown)), (401, "invalid_api_key"));
    let malformed = get(&app, "/api/works/550", "not-a-key").await;
    assert_eq!((malformed.status, error_code(&malformed)), (401, "invalid_api_key"));
    let as_header = app.request(Method::GET, "/api/works/550", None, None, &[("x-api-key", &key)]).await;
    assert_eq!(as_header.status, 200, "X-API-Key works too: {}", as_header.text);

    let key_id = app.db.query_one("SELECT key_id FROM api_keys", &[]).await.unwrap().get::<_, i64>(0);
    let revoked = app.request(Method::DELETE, &format!("/api/admin/keys/{key_id}"), Some(ADMIN_TOKEN), None, &[]).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert!(revoked.body["revoked_at"].is_string());
    let after = get(&app, "/api/works/550", &key).await;
    assert_eq!((after.status, error_code(&after)), (401, "invalid_api_key"));
    assert!(header(&after, "ratelimit-limit").is_none(), "nothing is said about an unknown caller's quota");
    // None of these were charged to anyone.
    assert_eq!(app.count("SELECT coalesce(sum(used), 0)::int8 FROM quota_usage").await, 2);
    // Admin routes take the admin token, not a key.
    let not_admin = app.request(Method::GET, "/api/admin/keys", Some(&key), None, &[]).await;
    assert_eq!((not_admin.status, error_code(&not_admin)), (401, "unauthorized"));
}

#[tokio::test]
async fn a_free_key_gets_429_after_exactly_its_limit_with_the_headers() {
    let app = app().await;
    set_limit(&app, "free", 5).await;
    let key = new_key(&app, "cus_free").await;
    for n in 1..=5 {
        let r = get(&app, "/api/works/550", &key).await;
        assert_eq!(r.status, 200, "request {n}: {}", r.text);
        assert_eq!(header_i64(&r, "ratelimit-limit"), 5);
        assert_eq!(header_i64(&r, "ratelimit-remaining"), 5 - n);
        let reset = header_i64(&r, "ratelimit-reset");
        assert!(reset > 0 && reset <= 31 * 86_400, "until the end of the calendar month: {reset}");
    }
    let over = get(&app, "/api/works/550", &key).await;
    assert_eq!((over.status, error_code(&over)), (429, "quota_exceeded"));
    assert_eq!(header_i64(&over, "ratelimit-remaining"), 0);
    assert_eq!(header_i64(&over, "ratelimit-limit"), 5);
    assert_eq!(header_i64(&over, "retry-after"), header_i64(&over, "ratelimit-reset"));
    assert_eq!(app.count("SELECT used FROM quota_usage WHERE customer_id = 'cus_free'").await, 5, "nothing counted");
    // Every route is charged; one's own usage is free and answers over the limit too.
    assert_eq!(get(&app, "/api/search?q=anything", &key).await.status, 429);
    let usage = get(&app, "/api/usage", &key).await;
    assert_eq!(usage.status, 200, "{}", usage.text);
    assert_eq!(usage.body["tier"], "free");
    assert_eq!(usage.body["quotas"]["api_requests"]["used"], 5);
    assert_eq!(usage.body["quotas"]["api_requests"]["remaining"], 0);
    assert_eq!(header_i64(&usage, "ratelimit-remaining"), 0);
}

#[tokio::test]
async fn fifty_concurrent_requests_around_the_limit_never_pass_it() {
    let app = app().await;
    set_limit(&app, "free", 30).await;
    let key = new_key(&app, "cus_busy").await;
    let answers = join_all((0..50).map(|_| get(&app, "/api/works/550", &key))).await;
    let ok = answers.iter().filter(|r| r.status == 200).count();
    let refused = answers.iter().filter(|r| r.status == 429).count();
    assert_eq!((ok, refused), (30, 20), "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(app.count("SELECT used FROM quota_usage WHERE customer_id = 'cus_busy'").await, 30);
    let remaining: Vec<i64> =
        answers.iter().filter(|r| r.status == 200).map(|r| header_i64(r, "ratelimit-remaining")).collect();
    let mut sorted = remaining.clone();
    sorted.sort();
    assert_eq!(sorted, (0..30).collect::<Vec<_>>(), "each granted request saw its own count");
}

#[tokio::test]
async fn a_tier_change_from_a_signed_stripe_event_applies_to_the_next_request() {
    let app = app().await;
    app.db.execute("INSERT INTO stripe_prices (price_id, tier) VALUES ('price_basic', 'basic')", &[]).await.unwrap();
    set_limit(&app, "free", 3).await;
    set_limit(&app, "basic", 10).await;
    let key = new_key(&app, "cus_up").await;
    for _ in 0..3 {
        assert_eq!(get(&app, "/api/works/550", &key).await.status, 200);
    }
    assert_eq!(get(&app, "/api/works/550", &key).await.status, 429);

    // Upgrade: the subscription's billing period is a new usage period, with the basic limit.
    subscription_event(&app, "evt_up_1", now() - 30, "cus_up", "active", "price_basic").await;
    let upgraded = get(&app, "/api/works/550", &key).await;
    assert_eq!(upgraded.status, 200, "{}", upgraded.text);
    assert_eq!((header_i64(&upgraded, "ratelimit-limit"), header_i64(&upgraded, "ratelimit-remaining")), (10, 9));
    assert_eq!(get(&app, "/api/usage", &key).await.body["tier"], "basic");

    // Downgrade to a price that sells nothing: free limits within the same period (1 used of 3).
    subscription_event(&app, "evt_up_2", now() - 20, "cus_up", "active", "price_unmapped").await;
    let downgraded = get(&app, "/api/works/550", &key).await;
    assert_eq!((downgraded.status, header_i64(&downgraded, "ratelimit-limit")), (200, 3));
    assert_eq!(header_i64(&downgraded, "ratelimit-remaining"), 1);
    assert_eq!(get(&app, "/api/works/550", &key).await.status, 200);
    assert_eq!(get(&app, "/api/works/550", &key).await.status, 429);

    // Back to basic, then canceled: the free tier and its calendar month, used up earlier.
    subscription_event(&app, "evt_up_3", now() - 10, "cus_up", "active", "price_basic").await;
    assert_eq!(get(&app, "/api/works/550", &key).await.status, 200);
    subscription_event(&app, "evt_up_4", now() - 5, "cus_up", "canceled", "price_basic").await;
    let canceled = get(&app, "/api/works/550", &key).await;
    assert_eq!((canceled.status, header_i64(&canceled, "ratelimit-limit")), (429, 3));
}

#[tokio::test]
async fn keys_are_listed_never_shown_again_and_stored_only_as_hashes() {
    let app = app().await;
    let key = new_key(&app, "cus_listed").await;
    assert!(key.starts_with("mq_live_") && key.len() == "mq_live_".len() + 32, "{key}");
    let hash = marquee::domain::api_key::hash(&key);

    let list = app.request(Method::GET, "/api/admin/keys?customer=cus_listed", Some(ADMIN_TOKEN), None, &[]).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["keys"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["keys"][0]["customer_id"], "cus_listed");
    assert!(!list.text.contains(&key) && !list.text.contains(&hash), "{}", list.text);
    assert_eq!(get(&app, "/api/works/550", &key).await.status, 200);
    let usage = app.request(Method::GET, "/api/admin/usage?customer=cus_listed", Some(ADMIN_TOKEN), None, &[]).await;
    let requests = usage.body["usage"].as_array().unwrap().iter().find(|u| u["quota"] == "api_requests").cloned();
    assert_eq!(requests.map(|u| (u["tier"].clone(), u["used"].clone())), Some((json!("free"), json!(1))));

    // Nothing in the database holds the key: every text of every row of every table.
    let tables: Vec<String> = app
        .db
        .query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for table in tables {
        let text: String = app
            .db
            .query_one(&format!("SELECT coalesce(string_agg(t::text, ' '), '') FROM {table} t"), &[])
            .await
            .unwrap()
            .get(0);
        assert!(!text.contains(&key), "{table} holds the key");
        assert!(!text.contains(&key["mq_live_".len()..]), "{table} holds the key's random part");
        if table != "api_keys" {
            assert!(!text.contains(&hash), "{table} holds the key's hash");
        }
    }
    let stored: String = app.db.query_one("SELECT key_sha256 FROM api_keys", &[]).await.unwrap().get(0);
    assert_eq!(stored, hash);

    // Bad requests to the admin routes.
    for (body, code) in [
        (json!({"customer": "alice"}), 400),
        (json!({}), 400),
        (json!({"customer": "cus_x", "name": 5}), 400),
        (json!({"customer": "cus_x", "extra": 1}), 400),
    ] {
        let r = app.request(Method::POST, "/api/admin/keys", Some(ADMIN_TOKEN), Some(body.to_string()), &[]).await;
        assert_eq!((r.status, error_code(&r)), (code, "invalid_request"), "{body}");
    }
    let unknown = app.request(Method::DELETE, "/api/admin/keys/999999", Some(ADMIN_TOKEN), None, &[]).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn catalog_public_opens_reads_without_a_key_and_a_key_is_still_checked() {
    let app = keyed_app_with(|s| s.with("catalog_public", "true")).await;
    ingest(&app, [550]).await;
    let open = app.request(Method::GET, "/api/works/550", None, None, &[]).await;
    assert_eq!(open.status, 200, "{}", open.text);
    assert!(header(&open, "ratelimit-limit").is_none());
    assert!(header(&open, "cache-control").is_some_and(|c| c.starts_with("public")));
    let malformed = get(&app, "/api/works/550", "mq_live_0000000000000000000000000000000").await;
    assert_eq!(malformed.status, 401, "a key given is a key checked");
    // Well formed, so only the database can tell it is nobody's.
    let unknown = get(&app, "/api/works/550", "mq_live_00000000000000000000000000000000").await;
    assert_eq!((unknown.status, error_code(&unknown)), (401, "invalid_api_key"), "{}", unknown.text);
    let key = new_key(&app, "cus_pub").await;
    let keyed = get(&app, "/api/works/550", &key).await;
    assert_eq!((keyed.status, header_i64(&keyed, "ratelimit-remaining")), (200, 999));
    assert!(header(&keyed, "cache-control").is_some_and(|c| c.starts_with("private")));
    assert_eq!(app.request(Method::GET, "/api/usage", None, None, &[]).await.status, 401, "usage is a key's");
}

/// Each API request is one statement: the key check, the charge and the read together.
#[tokio::test]
async fn an_api_request_is_one_statement() {
    use marquee::ports::MeteredDatabase;
    use marquee_cli::native::{NativeDb, NativeHttp, SystemClock};
    let app = app().await;
    let key = new_key(&app, "cus_one").await;
    let db = std::rc::Rc::new(MeteredDatabase::new(NativeDb::new(&app.db_url)));
    struct Shared(std::rc::Rc<MeteredDatabase<NativeDb>>);
    impl marquee::ports::Database for Shared {
        type Conn = <MeteredDatabase<NativeDb> as marquee::ports::Database>::Conn;
        async fn connect(&self) -> Result<Self::Conn, marquee::ports::DbError> {
            self.0.connect().await
        }
    }
    for path in [
        "/api/works/550",
        "/api/works/550/similar",
        "/api/works?sort=score&limit=5",
        "/api/search?q=harbor",
        "/api/genres",
        "/api/usage",
        "/api/works/999999",
    ] {
        db.meter().reset();
        let request =
            http::Request::get(path).header("authorization", format!("Bearer {key}")).body(Vec::new()).unwrap();
        let response = marquee::api::serve(
            &app.settings,
            |_: &str| Shared(db.clone()),
            NativeHttp::default(),
            SystemClock,
            None,
            request,
        )
        .await;
        assert!(response.status().as_u16() < 500, "{path}: {}", String::from_utf8_lossy(response.body()));
        assert_eq!(db.meter().statements(), 1, "{path}");
    }
}
