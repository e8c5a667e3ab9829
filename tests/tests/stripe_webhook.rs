//! `POST /functions/v1/stripe-webhook` end to end: real PostgreSQL, real HTTP, events signed
//! exactly as Stripe signs them (HMAC-SHA256 of "{t}.{body}" under the endpoint secret).

use fake_tmdb::FakeTmdbConfig;
use futures::future::join_all;
use marquee::billing::quota::{Increment, check_quota, increment_quota};
use marquee::billing::signature::{header_value, sign};
use marquee::ports::Database;
use marquee_cli::native::NativeDb;
use marquee_tests::{Response, TestApp, error_code};
use serde_json::{Value as Json, json};

const PATH: &str = "/functions/v1/stripe-webhook";
const SECRET_A: &str = "whsec_test_secret_aaaa";
const SECRET_B: &str = "whsec_test_secret_bbbb";

async fn app() -> TestApp {
    TestApp::start_with(FakeTmdbConfig::default(), |s| {
        s.with("stripe_webhook_secrets", format!("{SECRET_A}, {SECRET_B}"))
    })
    .await
}

fn now() -> i64 {
    marquee::ports::system_now().timestamp()
}

fn event(id: &str, kind: &str, created: i64, object: Json) -> String {
    json!({"id": id, "object": "event", "api_version": "2024-06-20", "type": kind, "created": created, "livemode": false,
           "pending_webhooks": 1, "data": {"object": object}})
    .to_string()
}

fn subscription(id: &str, customer: &str, status: &str, price: &str) -> Json {
    let start = now() - 86_400;
    json!({"id": id, "object": "subscription", "customer": customer, "status": status, "cancel_at_period_end": false,
           "current_period_start": start, "current_period_end": start + 30 * 86_400,
           "items": {"object": "list", "data": [{"id": format!("si_{id}"), "price": {"id": price, "object": "price"}}]}})
}

async fn deliver(app: &TestApp, body: &str, header: Option<&str>) -> Response {
    let headers: Vec<(&str, &str)> = header.map(|h| vec![("stripe-signature", h)]).unwrap_or_default();
    app.request(reqwest::Method::POST, PATH, None, Some(body.to_owned()), &headers).await
}

/// Delivers `body` signed with the first secret, now.
async fn send(app: &TestApp, body: &str) -> Response {
    deliver(app, body, Some(&header_value(SECRET_A, now(), body.as_bytes()))).await
}

async fn sub_state(app: &TestApp, id: &str) -> (String, Option<String>, String, bool) {
    let r = app
        .db
        .query_one("SELECT status, price_id, tier, deleted FROM subscriptions WHERE subscription_id = $1", &[&id])
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

fn assert_refused(r: &Response, code: &str) {
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(error_code(r), code, "{}", r.text);
    assert!(!r.text.contains("whsec_"), "a secret leaked: {}", r.text);
}

#[tokio::test]
async fn a_signed_event_is_stored_and_applied() {
    let app = app().await;
    let body = event(
        "evt_cus_1",
        "customer.created",
        now(),
        json!({"id": "cus_1", "object": "customer", "email": "a@example.com", "name": "Ada"}),
    );
    let r = send(&app, &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.body["status"].as_str(), r.body["applied"].as_bool()), (Some("processed"), Some(true)), "{}", r.text);
    let c =
        app.db.query_one("SELECT email, name, deleted FROM customers WHERE customer_id = 'cus_1'", &[]).await.unwrap();
    assert_eq!(
        (c.get::<_, String>(0), c.get::<_, String>(1), c.get::<_, bool>(2)),
        ("a@example.com".into(), "Ada".into(), false)
    );
    let e = app.db.query_one("SELECT type, status, applied, processed_at IS NOT NULL, payload->>'id' FROM stripe_webhook_events WHERE event_id = 'evt_cus_1'", &[]).await.unwrap();
    assert_eq!(
        (e.get::<_, String>(0), e.get::<_, String>(1), e.get::<_, bool>(2), e.get::<_, bool>(3), e.get::<_, String>(4)),
        ("customer.created".into(), "processed".into(), true, true, "evt_cus_1".into())
    );
}

#[tokio::test]
async fn any_of_several_v1_signatures_may_match() {
    let app = app().await;
    let body = event("evt_multi", "customer.created", now(), json!({"id": "cus_multi"}));
    let t = now();
    let header = format!(
        "t={t},v1={},v1={},v0={}",
        sign("whsec_not_ours", t, body.as_bytes()),
        sign(SECRET_A, t, body.as_bytes()),
        sign(SECRET_A, t, b"v0")
    );
    let r = deliver(&app, &body, Some(&header)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let other = event("evt_multi_2", "customer.created", now(), json!({"id": "cus_multi_2"}));
    let only_wrong =
        format!("t={t},v1={},v1={}", sign("whsec_not_ours", t, other.as_bytes()), sign(SECRET_A, t, body.as_bytes()));
    assert_refused(&deliver(&app, &other, Some(&only_wrong)).await, "invalid_signature");
}

#[tokio::test]
async fn every_configured_secret_is_accepted_and_no_other() {
    let app = app().await;
    for (i, secret) in [SECRET_A, SECRET_B].into_iter().enumerate() {
        let body =
            event(&format!("evt_secret_{i}"), "customer.created", now(), json!({"id": format!("cus_secret_{i}")}));
        let r = deliver(&app, &body, Some(&header_value(secret, now(), body.as_bytes()))).await;
        assert_eq!(r.status, 200, "{secret}: {}", r.text);
    }
    let body = event("evt_secret_x", "customer.created", now(), json!({"id": "cus_secret_x"}));
    assert_refused(
        &deliver(&app, &body, Some(&header_value("whsec_unknown", now(), body.as_bytes()))).await,
        "invalid_signature",
    );
    assert_eq!(app.count("SELECT count(*) FROM stripe_webhook_events").await, 2);
}

#[tokio::test]
async fn a_tampered_body_is_refused_and_nothing_is_stored() {
    let app = app().await;
    let body = event(
        "evt_tamper",
        "customer.subscription.created",
        now(),
        subscription("sub_t", "cus_t", "active", "price_basic"),
    );
    let header = header_value(SECRET_A, now(), body.as_bytes());
    let tampered = body.replace("price_basic", "price_premium");
    assert_refused(&deliver(&app, &tampered, Some(&header)).await, "invalid_signature");
    assert_eq!(app.count("SELECT count(*) FROM stripe_webhook_events").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM subscriptions").await, 0);
}

#[tokio::test]
async fn timestamps_more_than_five_minutes_away_are_refused_in_both_directions() {
    let app = app().await;
    let body = event("evt_time", "customer.created", now(), json!({"id": "cus_time"}));
    for t in [now() - 301, now() + 301, now() - 3600] {
        let r = deliver(&app, &body, Some(&header_value(SECRET_A, t, body.as_bytes()))).await;
        assert_refused(&r, "invalid_signature");
        assert!(r.text.contains("tolerance"), "{}", r.text);
    }
    assert_eq!(app.count("SELECT count(*) FROM stripe_webhook_events").await, 0);
    // Inside the window, either side.
    let r = deliver(&app, &body, Some(&header_value(SECRET_A, now() + 240, body.as_bytes()))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let again = event("evt_time_2", "customer.created", now(), json!({"id": "cus_time_2"}));
    assert_eq!(deliver(&app, &again, Some(&header_value(SECRET_A, now() - 240, again.as_bytes()))).await.status, 200);
}

#[tokio::test]
async fn missing_malformed_and_v1_less_headers_are_refused() {
    let app = app().await;
    let body = event("evt_hdr", "customer.created", now(), json!({"id": "cus_hdr"}));
    let t = now();
    let v0_only = format!("t={t},v0={}", sign(SECRET_A, t, body.as_bytes()));
    let no_timestamp = format!("v1={}", sign(SECRET_A, t, body.as_bytes()));
    for header in [
        None,
        Some(""),
        Some("garbage"),
        Some(v0_only.as_str()),
        Some(no_timestamp.as_str()),
        Some("t=abc,v1=00"),
        Some("t=1,t=2,v1=00"),
    ] {
        assert_refused(&deliver(&app, &body, header).await, "invalid_signature");
    }
    assert_eq!(app.count("SELECT count(*) FROM stripe_webhook_events").await, 0);
}

#[tokio::test]
async fn a_valid_signature_on_something_that_is_not_an_event_is_refused() {
    let app = app().await;
    for body in [
        "not json",
        "[1,2]",
        r#"{"id":"evt_x","type":"customer.created","created":1}"#,
        r#"{"object":"charge","id":"ch_1"}"#,
    ] {
        let r = deliver(&app, body, Some(&header_value(SECRET_A, now(), body.as_bytes()))).await;
        assert_refused(&r, "invalid_event");
    }
    assert_eq!(app.count("SELECT count(*) FROM stripe_webhook_events").await, 0);
}

#[tokio::test]
async fn a_body_over_one_mib_is_refused_with_413() {
    let app = app().await;
    let big =
        event("evt_big", "customer.created", now(), json!({"id": "cus_big", "description": "x".repeat(1024 * 1024)}));
    let r = send(&app, &big).await;
    assert_eq!(r.status, 413, "{}", &r.text[..r.text.len().min(300)]);
    assert_eq!(error_code(&r), "payload_too_large");
}

#[tokio::test]
async fn a_duplicate_delivery_is_acknowledged_and_not_applied_again() {
    let app = app().await;
    let body = event(
        "evt_dup",
        "customer.subscription.created",
        now(),
        subscription("sub_dup", "cus_dup", "active", "price_x"),
    );
    let first = send(&app, &body).await;
    assert_eq!((first.status, first.body["status"].as_str()), (200, Some("processed")), "{}", first.text);
    let second = send(&app, &body).await;
    assert_eq!(
        (second.status, second.body["status"].as_str(), second.body["applied"].as_bool()),
        (200, Some("duplicate"), Some(false)),
        "{}",
        second.text
    );
    assert_eq!(app.count("SELECT count(*) FROM stripe_webhook_events").await, 1);
}

#[tokio::test]
async fn twenty_concurrent_deliveries_of_one_event_apply_it_once() {
    let app = app().await;
    let body = event(
        "evt_twenty",
        "customer.subscription.created",
        now(),
        subscription("sub_20", "cus_20", "active", "price_x"),
    );
    let header = header_value(SECRET_A, now(), body.as_bytes());
    let responses = join_all((0..20).map(|_| deliver(&app, &body, Some(&header)))).await;
    assert!(responses.iter().all(|r| r.status == 200), "{:?}", responses.iter().map(|r| &r.text).collect::<Vec<_>>());
    let processed = responses.iter().filter(|r| r.body["status"] == "processed").count();
    let duplicates = responses.iter().filter(|r| r.body["status"] == "duplicate").count();
    assert_eq!((processed, duplicates), (1, 19));
    assert_eq!(app.count("SELECT count(*) FROM stripe_webhook_events").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM subscriptions").await, 1);
    let last: String = app.db.query_one("SELECT last_event_id FROM subscriptions", &[]).await.unwrap().get(0);
    assert_eq!(last, "evt_twenty");
}

#[tokio::test]
async fn an_update_delivered_before_its_create_is_not_overwritten_by_it() {
    let app = app().await;
    let t = now() - 60;
    let created =
        event("evt_c", "customer.subscription.created", t, subscription("sub_o", "cus_o", "incomplete", "price_x"));
    let updated =
        event("evt_u", "customer.subscription.updated", t + 5, subscription("sub_o", "cus_o", "active", "price_x"));
    assert_eq!(send(&app, &updated).await.body["applied"], true);
    let late = send(&app, &created).await;
    assert_eq!(
        (late.status, late.body["status"].as_str(), late.body["applied"].as_bool()),
        (200, Some("processed"), Some(false)),
        "{}",
        late.text
    );
    assert_eq!(sub_state(&app, "sub_o").await.0, "active");
    let e = app.db.query_one("SELECT last_event_created, last_event_id FROM subscriptions", &[]).await.unwrap();
    assert_eq!((e.get::<_, i64>(0), e.get::<_, String>(1)), (t + 5, "evt_u".to_owned()));
}

#[tokio::test]
async fn a_deleted_subscription_is_never_resurrected_by_a_late_update() {
    let app = app().await;
    let t = now() - 60;
    send(
        &app,
        &event("evt_d1", "customer.subscription.created", t, subscription("sub_d", "cus_d", "active", "price_x")),
    )
    .await;
    let deleted = send(
        &app,
        &event(
            "evt_d2",
            "customer.subscription.deleted",
            t + 10,
            subscription("sub_d", "cus_d", "canceled", "price_x"),
        ),
    )
    .await;
    assert_eq!(deleted.body["applied"], true, "{}", deleted.text);
    // Late: older than the deletion.
    let late = send(
        &app,
        &event("evt_d3", "customer.subscription.updated", t + 5, subscription("sub_d", "cus_d", "active", "price_x")),
    )
    .await;
    assert_eq!(late.body["applied"], false, "{}", late.text);
    // Even one claiming a later time does not bring it back.
    let later = send(
        &app,
        &event("evt_d4", "customer.subscription.updated", t + 20, subscription("sub_d", "cus_d", "active", "price_x")),
    )
    .await;
    assert_eq!(later.body["applied"], false, "{}", later.text);
    let (status, _, _, is_deleted) = sub_state(&app, "sub_d").await;
    assert_eq!((status.as_str(), is_deleted), ("canceled", true));
    assert_eq!(app.count("SELECT count(*) FROM subscriptions WHERE deleted_at IS NOT NULL").await, 1);
}

#[tokio::test]
async fn three_events_in_the_same_second_end_in_the_same_state_whatever_the_order() {
    let app = app().await;
    let t = now() - 30;
    let orders: [[usize; 3]; 6] = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    for (n, order) in orders.iter().enumerate() {
        let sub = format!("sub_same_{n}");
        let events = [
            event(
                &format!("evt_s{n}_a"),
                "customer.subscription.created",
                t,
                subscription(&sub, "cus_same", "incomplete", "price_x"),
            ),
            event(
                &format!("evt_s{n}_b"),
                "customer.subscription.updated",
                t,
                subscription(&sub, "cus_same", "active", "price_x"),
            ),
            event(
                &format!("evt_s{n}_c"),
                "customer.subscription.updated",
                t,
                json!({"id": sub, "customer": "cus_same", "status": "active",
                   "cancel_at_period_end": true, "items": {"data": [{"price": {"id": "price_x"}}]}, "current_period_start": t, "current_period_end": t + 100}),
            ),
        ];
        for &i in order {
            assert_eq!(send(&app, &events[i]).await.status, 200);
        }
    }
    // created < updated; the two updates share type and status, so the event id decides (`…_c`).
    let states: Vec<(String, bool, String)> = app
        .db
        .query("SELECT status, cancel_at_period_end, last_event_id FROM subscriptions ORDER BY subscription_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get::<_, String>(2).rsplit('_').next().unwrap().to_owned()))
        .collect();
    assert_eq!(states.len(), 6);
    assert!(states.iter().all(|s| s == &("active".to_owned(), true, "c".to_owned())), "{states:?}");

    // A deletion in the same second as an update wins, in either order.
    for (n, deleted_first) in [(0, true), (1, false)] {
        let sub = format!("sub_del_{n}");
        let update = event(
            &format!("evt_del{n}_u"),
            "customer.subscription.updated",
            t,
            subscription(&sub, "cus_same", "active", "price_x"),
        );
        let delete = event(
            &format!("evt_del{n}_d"),
            "customer.subscription.deleted",
            t,
            subscription(&sub, "cus_same", "canceled", "price_x"),
        );
        let pair = if deleted_first { [&delete, &update] } else { [&update, &delete] };
        for body in pair {
            send(&app, body).await;
        }
        assert!(sub_state(&app, &sub).await.3, "deleted_first = {deleted_first}");
    }
}

#[tokio::test]
async fn unknown_event_types_are_stored_as_ignored() {
    let app = app().await;
    let r =
        send(&app, &event("evt_charge", "charge.succeeded", now(), json!({"id": "ch_1", "object": "charge"}))).await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("ignored")), "{}", r.text);
    let status: String = app
        .db
        .query_one("SELECT status FROM stripe_webhook_events WHERE event_id = 'evt_charge'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "ignored");
}

#[tokio::test]
async fn the_tier_follows_the_price_and_sets_the_quota() {
    let app = app().await;
    app.db.execute("INSERT INTO stripe_prices (price_id, tier) VALUES ('price_basic_m', 'basic'), ('price_premium_m', 'premium')", &[]).await.unwrap();
    let t = now() - 60;
    send(
        &app,
        &event("evt_p1", "customer.subscription.created", t, subscription("sub_p", "cus_p", "active", "price_basic_m")),
    )
    .await;
    assert_eq!(sub_state(&app, "sub_p").await.2, "basic");
    let conn = NativeDb::new(&app.db_url).connect().await.unwrap();
    let q = check_quota(&conn, "cus_p", "api_requests", marquee::ports::system_now()).await.unwrap();
    assert_eq!((q.tier.as_str(), q.limit), ("basic", 50_000));

    send(
        &app,
        &event(
            "evt_p2",
            "customer.subscription.updated",
            t + 10,
            subscription("sub_p", "cus_p", "active", "price_premium_m"),
        ),
    )
    .await;
    assert_eq!(
        sub_state(&app, "sub_p").await,
        ("active".to_owned(), Some("price_premium_m".to_owned()), "premium".to_owned(), false)
    );
    let q = check_quota(&conn, "cus_p", "api_requests", marquee::ports::system_now()).await.unwrap();
    assert_eq!((q.tier.as_str(), q.limit), ("premium", 1_000_000));

    // A price nobody mapped sells nothing; a canceled subscription grants nothing either.
    send(
        &app,
        &event(
            "evt_p3",
            "customer.subscription.updated",
            t + 20,
            subscription("sub_p", "cus_p", "active", "price_unmapped"),
        ),
    )
    .await;
    assert_eq!(sub_state(&app, "sub_p").await.2, "free");
    send(
        &app,
        &event(
            "evt_p4",
            "customer.subscription.updated",
            t + 30,
            subscription("sub_p", "cus_p", "canceled", "price_premium_m"),
        ),
    )
    .await;
    assert_eq!(check_quota(&conn, "cus_p", "api_requests", marquee::ports::system_now()).await.unwrap().tier, "free");
}

#[tokio::test]
async fn concurrent_quota_increments_never_pass_the_limit() {
    let app = app().await;
    app.db
        .execute(
            "UPDATE subscription_tier_quota SET monthly_limit = 10 WHERE tier = 'free' AND quota = 'api_requests'",
            &[],
        )
        .await
        .unwrap();
    let db = NativeDb::new(&app.db_url);
    let mut conns = Vec::new();
    for _ in 0..50 {
        conns.push(db.connect().await.unwrap());
    }
    let at = marquee::ports::system_now();
    let outcomes = join_all(conns.iter().map(|c| increment_quota(c, "cus_q", "api_requests", 1, at))).await;
    let granted = outcomes.iter().filter(|o| matches!(o, Ok(Increment::Granted(_)))).count();
    let exceeded = outcomes.iter().filter(|o| matches!(o, Ok(Increment::Exceeded(_)))).count();
    assert_eq!((granted, exceeded), (10, 40), "{outcomes:?}");
    let status = check_quota(&conns[0], "cus_q", "api_requests", at).await.unwrap();
    assert_eq!((status.used, status.limit, status.remaining()), (10, 10, 0));
    assert_eq!(app.count("SELECT count(*) FROM quota_usage").await, 1);
    // An amount that does not fit is refused whole, and an unknown quota is an error.
    let conn = db.connect().await.unwrap();
    app.db
        .execute(
            "UPDATE subscription_tier_quota SET monthly_limit = 15 WHERE tier = 'free' AND quota = 'api_requests'",
            &[],
        )
        .await
        .unwrap();
    assert!(
        matches!(increment_quota(&conn, "cus_q", "api_requests", 6, at).await, Ok(Increment::Exceeded(s)) if s.used == 10)
    );
    assert!(
        matches!(increment_quota(&conn, "cus_q", "api_requests", 5, at).await, Ok(Increment::Granted(s)) if s.used == 15)
    );
    assert!(increment_quota(&conn, "cus_q", "no_such_quota", 1, at).await.is_err());
    assert!(increment_quota(&conn, "cus_q", "api_requests", 0, at).await.is_err());
}

#[tokio::test]
async fn customers_checkout_and_invoices_are_applied_and_a_deleted_customer_stays_deleted() {
    let app = app().await;
    let t = now() - 60;
    send(
        &app,
        &event(
            "evt_k1",
            "checkout.session.completed",
            t,
            json!({"id": "cs_1", "object": "checkout.session", "customer": "cus_k",
         "subscription": "sub_k", "client_reference_id": "account-42", "customer_details": {"email": "k@example.com"}}),
        ),
    )
    .await;
    send(
        &app,
        &event("evt_k2", "customer.updated", t + 1, json!({"id": "cus_k", "email": "new@example.com", "name": "K"})),
    )
    .await;
    let c = app
        .db
        .query_one("SELECT email, client_reference_id FROM customers WHERE customer_id = 'cus_k'", &[])
        .await
        .unwrap();
    assert_eq!((c.get::<_, String>(0), c.get::<_, String>(1)), ("new@example.com".into(), "account-42".into()));

    send(&app, &event("evt_k3", "invoice.payment_failed", t + 2, json!({"id": "in_1", "customer": "cus_k", "subscription": "sub_k", "amount_paid": 0, "amount_due": 900, "currency": "eur"}))).await;
    send(&app, &event("evt_k4", "invoice.paid", t + 3, json!({"id": "in_1", "customer": "cus_k", "subscription": "sub_k", "amount_paid": 900, "amount_due": 900, "currency": "eur"}))).await;
    let late = send(
        &app,
        &event(
            "evt_k5",
            "invoice.payment_failed",
            t + 2,
            json!({"id": "in_1", "customer": "cus_k", "subscription": "sub_k", "amount_paid": 0, "amount_due": 900}),
        ),
    )
    .await;
    assert_eq!(late.body["applied"], false);
    let i = app.db.query_one("SELECT status, amount_paid FROM invoices WHERE invoice_id = 'in_1'", &[]).await.unwrap();
    assert_eq!((i.get::<_, String>(0), i.get::<_, i64>(1)), ("paid".into(), 900));

    send(&app, &event("evt_k6", "customer.deleted", t + 10, json!({"id": "cus_k", "deleted": true}))).await;
    let late =
        send(&app, &event("evt_k7", "customer.updated", t + 5, json!({"id": "cus_k", "email": "late@example.com"})))
            .await;
    assert_eq!(late.body["applied"], false);
    let c = app.db.query_one("SELECT deleted, email FROM customers WHERE customer_id = 'cus_k'", &[]).await.unwrap();
    assert_eq!((c.get::<_, bool>(0), c.get::<_, Option<String>>(1)), (true, None));
}

#[tokio::test]
async fn an_unusable_event_is_stored_as_failed_and_stored_events_can_be_replayed() {
    let app = app().await;
    let r = send(
        &app,
        &event("evt_bad", "customer.subscription.updated", now(), json!({"id": "sub_bad", "status": "active"})),
    )
    .await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("failed")), "{}", r.text);
    let e = app
        .db
        .query_one("SELECT status, error FROM stripe_webhook_events WHERE event_id = 'evt_bad'", &[])
        .await
        .unwrap();
    assert_eq!(e.get::<_, String>(0), "failed");
    assert!(e.get::<_, String>(1).contains("customer"));

    send(
        &app,
        &event("evt_good", "customer.subscription.created", now(), subscription("sub_r", "cus_r", "active", "price_x")),
    )
    .await;
    let conn = NativeDb::new(&app.db_url).connect().await.unwrap();
    let again = marquee::billing::replay(&conn, "evt_good").await.unwrap();
    assert_eq!((again.status, again.applied), ("processed", false), "already applied: nothing changes");
    app.db.execute("DELETE FROM subscriptions", &[]).await.unwrap();
    let restored = marquee::billing::replay(&conn, "evt_good").await.unwrap();
    assert_eq!((restored.status, restored.applied), ("processed", true));
    assert_eq!(sub_state(&app, "sub_r").await.0, "active");
    assert_eq!(app.count("SELECT replays::int8 FROM stripe_webhook_events WHERE event_id = 'evt_good'").await, 2);
    assert!(marquee::billing::replay(&conn, "evt_missing").await.is_err());
}

#[tokio::test]
async fn without_configured_secrets_every_delivery_is_refused_and_nothing_leaks() {
    let app = TestApp::start().await;
    let body = event("evt_nosecret", "customer.created", now(), json!({"id": "cus_n"}));
    let r = deliver(&app, &body, Some(&header_value(SECRET_A, now(), body.as_bytes()))).await;
    assert_eq!(r.status, 500, "{}", r.text);
    assert_eq!(error_code(&r), "configuration_error");
    assert_eq!(app.count("SELECT count(*) FROM stripe_webhook_events").await, 0);

    // With secrets: no error body names one, whatever went wrong.
    let app = self::app().await;
    let t = now();
    let bodies = [
        deliver(&app, &body, None).await,
        deliver(&app, &body, Some("t=1,v1=00")).await,
        deliver(&app, &body, Some(&header_value(SECRET_A, t - 1000, body.as_bytes()))).await,
        deliver(&app, &body, Some(&header_value("whsec_wrong", t, body.as_bytes()))).await,
        deliver(&app, "{}", Some(&header_value(SECRET_B, t, b"{}"))).await,
    ];
    for r in bodies {
        assert_eq!(r.status, 400);
        for needle in [SECRET_A, SECRET_B, "secret_aaaa", "secret_bbbb", &sign(SECRET_A, t, body.as_bytes())] {
            assert!(!r.text.contains(needle), "{needle} in {}", r.text);
        }
    }
    assert_eq!(app.count("SELECT count(*) FROM stripe_webhook_events").await, 0);
    let stored: i64 = app.count("SELECT count(*) FROM stripe_webhook_events WHERE payload::text LIKE '%whsec%'").await;
    assert_eq!(stored, 0);
}
