//! The operator dashboard over real HTTP and a real PostgreSQL: sign-in, the session cookie and
//! its signature, CSRF, the sign-in throttle shared through the database, the pages' figures
//! against a seeded catalog, and the same figures as JSON and Prometheus metrics. (The browser
//! tests, `dashboard_browser.rs`, drive the same pages in Chromium.)

use marquee::ports::Database as _;
use marquee_cli::native::NativeDb;
use marquee_tests::seed::{SEEDED, seed_dashboard};
use marquee_tests::{ADMIN_TOKEN, TestApp};
use serde_json::json;

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The text of the element marked `data-metric="<key>"` (tags inside it removed).
    fn metric(&self, key: &str) -> String {
        let marker = format!("data-metric=\"{key}\"");
        let at = self.body.find(&marker).unwrap_or_else(|| panic!("no {marker} on the page"));
        let start = at + self.body[at..].find('>').unwrap() + 1;
        let inner = &self.body[start..];
        strip_tags(&inner[..closing_of(inner)]).trim().to_owned()
    }

    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form with a CSRF token");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

/// Where the element whose content starts `inner` ends: its own closing tag.
fn closing_of(inner: &str) -> usize {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(at) = inner[i..].find('<') {
        let tag = &inner[i + at..];
        if tag.starts_with("</") {
            if depth == 0 {
                return i + at;
            }
            depth -= 1;
        } else {
            depth += 1;
        }
        i += at + 1;
    }
    inner.len()
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")
}

/// A client that shows redirects instead of following them, so that each step is seen.
fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    let mut request = client().get(format!("{}{path}", app.server.url()));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    page(request.send().await.expect("the server answers")).await
}

async fn post(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Page {
    let mut request = client().post(format!("{}{path}", app.server.url())).form(form);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    page(request.send().await.expect("the server answers")).await
}

async fn page(response: reqwest::Response) -> Page {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Page { status, headers, body: response.text().await.unwrap() }
}

/// Signs in with the admin token; returns the `Cookie` header value of the session.
async fn sign_in(app: &TestApp) -> String {
    let signed = post(app, "/dashboard/sign-in", None, &[("token", ADMIN_TOKEN), ("next", "/dashboard")], &[]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let set = signed.headers.get("set-cookie").expect("a session cookie").to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn pages_need_a_session_and_the_sign_in_form_opens_one() {
    let app = TestApp::start().await;
    seed_dashboard(&app.db_url, &app.db).await;

    let anonymous = get(&app, "/dashboard/queue", None).await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.location(), "/dashboard/sign-in?next=%2Fdashboard%2Fqueue");
    let form = get(&app, "/dashboard/sign-in?next=%2Fdashboard%2Fqueue", None).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("name=\"token\"") && form.body.contains("value=\"/dashboard/queue\""));
    assert!(
        form.headers["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'; style-src 'sha256-")
    );

    let wrong =
        post(&app, "/dashboard/sign-in", None, &[("token", "not-the-token"), ("next", "/dashboard/queue")], &[]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("That is not the admin token."), "{}", wrong.body);
    assert!(wrong.headers.get("set-cookie").is_none());
    assert_eq!(app.count("SELECT failures::int8 FROM dashboard_sign_in_throttle").await, 1);

    let signed =
        post(&app, "/dashboard/sign-in", None, &[("token", ADMIN_TOKEN), ("next", "/dashboard/queue")], &[]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location(), "/dashboard/queue");
    let set = signed.headers["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("marquee_session="), "{set}");
    for attribute in ["Path=/dashboard", "Max-Age=43200", "HttpOnly", "SameSite=Strict"] {
        assert!(set.contains(attribute), "{set} lacks {attribute}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert_eq!(
        app.count("SELECT failures::int8 FROM dashboard_sign_in_throttle").await,
        0,
        "a success clears failures"
    );
    let cookie = set.split(';').next().unwrap();

    let queue = get(&app, "/dashboard/queue", Some(cookie)).await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert_eq!(queue.metric("queue.failed"), "3");
    assert!(!queue.body.contains(ADMIN_TOKEN), "the admin token never reaches a page");
    assert_eq!(queue.headers["cache-control"], "no-store");

    // Behind a TLS proxy, the cookie is Secure.
    let over_tls =
        post(&app, "/dashboard/sign-in", None, &[("token", ADMIN_TOKEN)], &[("x-forwarded-proto", "https")]).await;
    assert!(over_tls.headers["set-cookie"].to_str().unwrap().ends_with("; Secure"));
    // A signed-in visit to the form goes on to the dashboard; a foreign `next` is ignored.
    let again = get(&app, "/dashboard/sign-in?next=https%3A%2F%2Fevil.example%2F", Some(cookie)).await;
    assert_eq!((again.status, again.location()), (303, "/dashboard"));
}

#[tokio::test]
async fn a_forged_or_signed_out_cookie_opens_nothing_and_a_new_admin_token_signs_everyone_out() {
    let app = TestApp::start().await;
    let cookie = sign_in(&app).await;
    assert_eq!(get(&app, "/dashboard", Some(&cookie)).await.status, 200);

    // Another session id with the same signature, or another signature: refused.
    let (name_and_id, rest) = cookie.split_once('.').unwrap();
    let forged_id = format!("{}0.{rest}", &name_and_id[..name_and_id.len() - 1]);
    let forged_signature = format!("{}{}", &cookie[..cookie.len() - 1], if cookie.ends_with('0') { '1' } else { '0' });
    for forged in [forged_id, forged_signature, "marquee_session=".to_owned()] {
        let page = get(&app, "/dashboard", Some(&forged)).await;
        assert_eq!((page.status, page.location()), (303, "/dashboard/sign-in?next=%2Fdashboard"), "{forged}");
    }

    // The same cookie under another admin token (the server restarted with a new one): refused.
    let rotated = marquee_cli::server::Server::start(
        "127.0.0.1:0".parse().unwrap(),
        app.settings.clone().with("admin_token", "a-new-admin-token"),
    )
    .unwrap();
    let response = client().get(format!("{}/dashboard", rotated.url())).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(response.status(), 303, "a cookie signed under the old admin token");

    // Sign-out ends the session in the database: the same cookie is refused afterwards.
    let overview = get(&app, "/dashboard", Some(&cookie)).await;
    let out = post(&app, "/dashboard/sign-out", Some(&cookie), &[("csrf", &overview.csrf())], &[]).await;
    assert_eq!((out.status, out.location()), (303, "/dashboard/sign-in"));
    assert!(out.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(app.count("SELECT count(*) FROM dashboard_sessions WHERE signed_out_at IS NOT NULL").await, 1);
    assert_eq!(get(&app, "/dashboard", Some(&cookie)).await.status, 303, "a signed-out cookie");
}

#[tokio::test]
async fn forms_need_the_sessions_csrf_token_and_must_come_from_the_dashboard() {
    let app = TestApp::start().await;
    seed_dashboard(&app.db_url, &app.db).await;
    let cookie = sign_in(&app).await;
    let other = sign_in(&app).await;
    let csrf = get(&app, "/dashboard/queue", Some(&cookie)).await.csrf();
    let others_csrf = get(&app, "/dashboard/queue", Some(&other)).await.csrf();
    assert_ne!(csrf, others_csrf);
    let failed = "SELECT count(*) FROM refresh_queue WHERE status = 'failed'";

    for (form, headers, why) in [
        (vec![("all", "1")], vec![], "no CSRF token"),
        (vec![("all", "1"), ("csrf", others_csrf.as_str())], vec![], "another session's token"),
        (vec![("all", "1"), ("csrf", "")], vec![], "an empty token"),
        (vec![("all", "1"), ("csrf", csrf.as_str())], vec![("sec-fetch-site", "cross-site")], "sent by another site"),
    ] {
        let refused = post(&app, "/dashboard/queue/retry", Some(&cookie), &form, &headers).await;
        assert_eq!(refused.status, 403, "{why}: {}", refused.body);
        assert!(refused.body.contains("<!DOCTYPE html>"), "an error page");
        assert_eq!(app.count(failed).await, 3, "{why}: nothing retried");
    }
    // Without a session, a form leads to the sign-in page and changes nothing either.
    let anonymous = post(&app, "/dashboard/queue/retry", None, &[("all", "1"), ("csrf", &csrf)], &[]).await;
    assert_eq!((anonymous.status, anonymous.location()), (303, "/dashboard/sign-in"));
    assert_eq!(app.count(failed).await, 3);

    // With it: one row, then the rest.
    let one = post(&app, "/dashboard/queue/retry", Some(&cookie), &[("tmdb_id", "601"), ("csrf", &csrf)], &[]).await;
    assert_eq!((one.status, one.location()), (303, "/dashboard/queue?retried=1"));
    assert_eq!(
        app.count("SELECT count(*) FROM refresh_queue WHERE tmdb_id = 601 AND status = 'queued' AND attempts = 0")
            .await,
        1
    );
    let shown = get(&app, one.location(), Some(&cookie)).await;
    assert!(shown.body.contains("1 failed row queued again."));
    let all = post(&app, "/dashboard/queue/retry", Some(&cookie), &[("all", "1"), ("csrf", &csrf)], &[]).await;
    assert_eq!(all.location(), "/dashboard/queue?retried=2");
    assert_eq!(app.count(failed).await, 0);
    let bad = post(&app, "/dashboard/queue/retry", Some(&cookie), &[("tmdb_id", "x"), ("csrf", &csrf)], &[]).await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn the_sign_in_throttle_is_shared_through_the_database_and_never_waits_past_the_deadline() {
    // A short budget: a slot further away than it allows is refused at once.
    let app = TestApp::start_with(Default::default(), |s| s.with("time_budget_ms", "3000")).await;
    for _ in 0..2 {
        let wrong = post(&app, "/dashboard/sign-in", None, &[("token", "guess")], &[]).await;
        assert_eq!(wrong.status, 401);
    }
    // Two failures: the next slot is kept about two seconds away (SPACING_MS), for every
    // invocation alike, since it is a row.
    assert_eq!(app.count("SELECT failures::int8 FROM dashboard_sign_in_throttle WHERE scope = 'admin_token'").await, 2);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM dashboard_sign_in_throttle
             WHERE next_attempt_at > now() + interval '1 second' AND next_attempt_at <= now() + interval '2 seconds'"
        )
        .await,
        1
    );

    // Another instance's failures (the row) make even the right token wait; a wait past this
    // invocation's deadline is refused at once, with the time to wait.
    app.db
        .execute(
            "UPDATE dashboard_sign_in_throttle SET failures = 9, last_failure_at = now(), next_attempt_at = now() + interval '60 seconds'",
            &[],
        )
        .await
        .unwrap();
    let throttled = post(&app, "/dashboard/sign-in", None, &[("token", ADMIN_TOKEN)], &[]).await;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert!(throttled.body.contains("Too many failed sign-ins"), "{}", throttled.body);
    let retry_after: u64 = throttled.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((55..=60).contains(&retry_after), "{retry_after}");
    assert!(throttled.headers.get("set-cookie").is_none());
    assert_eq!(app.count("SELECT count(*) FROM dashboard_sessions").await, 0);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM dashboard_sign_in_throttle WHERE next_attempt_at > now() + interval '50 seconds'"
        )
        .await,
        1,
        "a refused attempt takes no slot"
    );
}

#[tokio::test]
async fn every_page_shows_the_seeded_figures() {
    let app = TestApp::start().await;
    seed_dashboard(&app.db_url, &app.db).await;
    let cookie = sign_in(&app).await;
    let s = &SEEDED;
    let overview = get(&app, "/dashboard", Some(&cookie)).await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    for (status, n) in s.works_by_status {
        assert_eq!(overview.metric(&format!("catalog.status.{status}")), n.to_string(), "{status}");
    }
    assert_eq!(overview.metric("catalog.servable"), s.servable.to_string());
    assert_eq!(overview.metric("catalog.added_this_week"), s.added_this_week.to_string());
    assert_eq!(overview.metric("catalog.gone"), "2");
    assert_eq!(overview.metric("catalog.rejected"), "3");
    for (reason, n) in s.rejected_by_reason {
        assert_eq!(overview.metric(&format!("catalog.rejected.{reason}")), n.to_string());
    }
    assert_eq!(overview.metric("freshness.stale"), "3");
    for (tier, n) in s.stale_by_tier {
        assert_eq!(overview.metric(&format!("freshness.tier.{tier}")), n.to_string(), "tier {tier}");
    }
    assert_eq!(overview.metric("freshness.tier.0"), "0");
    assert_eq!(overview.metric("freshness.cursor"), s.changes_cursor);
    assert_eq!(overview.metric("freshness.last_error"), s.changes_feed_error);
    for (key, n) in ["queued", "due", "processing", "expired_leases", "failed"].iter().zip(s.queue) {
        assert_eq!(overview.metric(&format!("queue.{key}")), n.to_string(), "{key}");
    }
    for (status, n) in s.runs_30d {
        assert_eq!(overview.metric(&format!("runs.30d.{status}")), n.to_string(), "{status}");
    }
    for (function, trigger, status) in s.latest_runs {
        assert!(
            overview.metric(&format!("runs.{function}.{trigger}.status")).ends_with(status),
            "{function} {trigger}"
        );
    }
    assert_eq!(overview.metric("tmdb.calls"), s.tmdb_calls.to_string());
    assert_eq!(overview.metric("tmdb.errors"), s.tmdb_errors.to_string());
    for (status, n) in s.tmdb_by_status {
        assert_eq!(overview.metric(&format!("tmdb.status.{status}")), n.to_string());
    }
    assert_eq!(overview.metric("tmdb.p50"), s.tmdb_p50);
    assert_eq!(overview.metric("tmdb.p95"), s.tmdb_p95);
    assert_eq!(overview.metric("tmdb.movie_fetches"), s.tmdb_movie_fetches.to_string());
    assert_eq!(overview.metric("tmdb.calls_per_movie"), s.tmdb_calls_per_movie);
    assert_eq!(overview.metric("changes.last_24h"), s.changes_24h.to_string());
    for (tier, n) in s.customers_by_tier {
        assert_eq!(overview.metric(&format!("billing.customers.{tier}")), n.to_string());
    }
    for (status, n) in s.subscriptions_by_status {
        assert_eq!(overview.metric(&format!("billing.subscriptions.{status}")), n.to_string());
    }
    for event in s.stripe_events {
        assert!(overview.body.contains(&format!("data-event=\"{event}\"")), "{event}");
    }
    for (customer, quota, used) in s.quota_usage {
        assert_eq!(overview.metric(&format!("billing.quota.{customer}.{quota}")), marquee_fmt(used));
    }

    // Each panel's own page.
    for path in ["catalog", "freshness", "runs", "queue", "tmdb", "changes", "billing"] {
        let page = get(&app, &format!("/dashboard/{path}"), Some(&cookie)).await;
        assert_eq!(page.status, 200, "/dashboard/{path}: {}", page.body);
        assert!(page.body.contains("aria-current=\"page\""), "/dashboard/{path} is marked in the navigation");
    }
    let queue = get(&app, "/dashboard/queue", Some(&cookie)).await;
    for id in s.failed_tmdb_ids {
        assert!(queue.body.contains(&format!("data-failed-tmdb-id=\"{id}\"")), "failed row {id}");
    }
    assert!(queue.body.contains("TMDB answered 400: invalid id") && queue.body.contains("Alpha"));
    let changes = get(&app, "/dashboard/changes", Some(&cookie)).await;
    assert!(changes.body.contains("<strong>title</strong>: Alfa → Alpha"), "the field-level diff");
    let run_id = app.count("SELECT id FROM scheduled_ingestion_log WHERE run_id = 'run-b'").await;
    let run = get(&app, &format!("/dashboard/runs/{run_id}"), Some(&cookie)).await;
    assert_eq!(run.status, 200);
    assert!(run.metric("run.status").ends_with("partial"));
    assert_eq!(
        (run.metric("run.checked"), run.metric("run.ingested"), run.metric("run.failed")),
        ("40".into(), "30".into(), "2".into())
    );
    assert!(run.body.contains("Gamma: TMDB answered 500") && run.body.contains("the time budget ran out"));
    assert_eq!(get(&app, "/dashboard/runs/999999", Some(&cookie)).await.status, 404);
    assert_eq!(get(&app, "/dashboard/nothing-here", Some(&cookie)).await.status, 404);
}

fn marquee_fmt(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[tokio::test]
async fn the_json_and_the_metrics_are_the_dashboards_figures() {
    let app = TestApp::start_with(Default::default(), |s| s.with("metrics_token", "scrape-token-5b1e")).await;
    seed_dashboard(&app.db_url, &app.db).await;

    let anonymous = app.request(reqwest::Method::GET, "/api/admin/stats", None, None, &[]).await;
    assert_eq!(anonymous.status, 401);
    let by_metrics_token =
        app.request(reqwest::Method::GET, "/api/admin/stats", Some("scrape-token-5b1e"), None, &[]).await;
    assert_eq!(by_metrics_token.status, 401, "the metrics token opens the metrics only");
    let stats = app.request(reqwest::Method::GET, "/api/admin/stats", Some(ADMIN_TOKEN), None, &[]).await;
    assert_eq!(stats.status, 200, "{}", stats.text);
    let j = &stats.body;
    assert_eq!(j["catalog"]["works_by_status"]["complete"], 6);
    assert_eq!(j["catalog"]["added_this_week"], SEEDED.added_this_week);
    assert_eq!(
        j["catalog"]["rejected_by_reason"],
        json!([{"name": "adult", "count": 2}, {"name": "missing_title", "count": 1}])
    );
    assert_eq!(j["freshness"]["stale"], 3);
    assert_eq!(j["freshness"]["changes_feed"]["last_error"], SEEDED.changes_feed_error);
    assert_eq!(j["queue"]["counts"], json!({"queued": 3, "due": 2, "processing": 2, "expired_leases": 1, "failed": 3}));
    assert_eq!(j["runs"]["latest"].as_array().unwrap().len(), 4);
    assert_eq!(j["runs"]["days"].as_array().unwrap().len(), 30);
    assert_eq!(j["tmdb"]["calls"], SEEDED.tmdb_calls);
    assert_eq!(j["tmdb"]["hourly"].as_array().unwrap().len(), 48);
    assert_eq!(j["tmdb"]["latency_p95_le_ms"], 300);
    assert_eq!(j["tmdb"]["calls_per_movie"], 1.25);
    assert_eq!(j["changes"]["last_24h"], 3);
    assert_eq!(j["billing"]["quota_usage"][0]["customer_id"], "cus_c");
    assert!(!stats.text.contains(ADMIN_TOKEN) && !stats.text.contains("scrape-token-5b1e"));

    assert_eq!(app.request(reqwest::Method::GET, "/metrics", None, None, &[]).await.status, 401);
    assert_eq!(app.request(reqwest::Method::GET, "/metrics", Some("wrong"), None, &[]).await.status, 401);
    for token in [ADMIN_TOKEN, "scrape-token-5b1e"] {
        let metrics = app.request(reqwest::Method::GET, "/metrics", Some(token), None, &[]).await;
        assert_eq!(metrics.status, 200);
        assert_eq!(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
        for line in [
            "marquee_works{status=\"complete\"} 6",
            "marquee_works_added_7d 4",
            "marquee_works_rejected{reason=\"adult\"} 2",
            "marquee_works_stale{tier=\"1\",holds=\"released ≤ 30 days ago, or dated in the future\",every_days=\"2\"} 1",
            "marquee_changes_feed_error 1",
            "marquee_queue_rows{state=\"failed\"} 3",
            "marquee_queue_rows{state=\"expired_lease\"} 1",
            "marquee_runs_30d{status=\"succeeded\"} 2",
            "marquee_tmdb_calls_48h{status=\"429\"} 2",
            "marquee_tmdb_latency_p95_le_ms_48h 300",
            "marquee_tmdb_calls_per_movie_48h 1.25",
            "marquee_work_changes_24h 3",
            "marquee_customers{tier=\"free\"} 2",
            "marquee_subscriptions{status=\"deleted\"} 1",
        ] {
            assert!(metrics.text.lines().any(|l| l == line), "no `{line}` in\n{}", metrics.text);
        }
        assert!(metrics.text.contains("# TYPE marquee_works gauge"));
        assert!(!metrics.text.contains(ADMIN_TOKEN) && !metrics.text.contains("scrape-token-5b1e"));
    }

    // A customer Stripe does not know, holding an API key, is a free customer.
    let free = |j: &serde_json::Value| {
        j["billing"]["customers_by_tier"].as_array().unwrap().iter().find(|c| c["name"] == "free").unwrap()["count"]
            .as_i64()
            .unwrap()
    };
    let free_before =
        free(&app.request(reqwest::Method::GET, "/api/admin/stats", Some(ADMIN_TOKEN), None, &[]).await.body);
    let body = json!({"customer": "cus_keys_only"}).to_string();
    let made = app.request(reqwest::Method::POST, "/api/admin/keys", Some(ADMIN_TOKEN), Some(body), &[]).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let after = app.request(reqwest::Method::GET, "/api/admin/stats", Some(ADMIN_TOKEN), None, &[]).await;
    assert_eq!(free(&after.body), free_before + 1);
}

#[tokio::test]
async fn real_ingests_and_runs_show_up_in_the_figures() {
    let app = TestApp::start().await;
    for id in [550, 603, 680] {
        assert_eq!(app.ingest(json!({"tmdb_id": id})).await.status, 200);
    }
    let batch = app.post("/functions/v1/batch-ingest", json!({"tmdb_ids": [13, 155]})).await;
    assert_eq!(batch.status, 200, "{}", batch.text);
    let stats = app.request(reqwest::Method::GET, "/api/admin/stats", Some(ADMIN_TOKEN), None, &[]).await;
    let j = &stats.body;
    assert_eq!(j["catalog"]["works_by_status"]["complete"], 5);
    // Every logged call is in the summary, whether the run's fold took it or not.
    let logged = app.count("SELECT count(*) FROM tmdb_api_logs").await;
    assert!(logged >= 5);
    assert_eq!(j["tmdb"]["calls"], logged);
    assert_eq!(j["tmdb"]["movie_fetches"], 5);
    assert_eq!(
        app.count("SELECT count(*) FROM tmdb_api_call_deltas").await,
        0,
        "the batch run folded the deltas at its end"
    );
    let latest = j["runs"]["latest"].as_array().unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(
        (latest[0]["function"].as_str(), latest[0]["status"].as_str()),
        (Some("batch-ingest"), Some("succeeded"))
    );
    assert_eq!(latest[0]["movies_ingested"], 2);
}

#[tokio::test]
async fn the_call_summary_counts_every_call_once_however_many_folds_run_at_once() {
    let app = TestApp::start().await;
    app.db
        .batch_execute(
            "INSERT INTO tmdb_api_logs (endpoint, tmdb_id, status_code, response_time_ms, attempt, edge_function, created_at)
               SELECT '/movie/{id}', g, CASE WHEN g % 10 = 0 THEN 429 ELSE 200 END, g % 700, 1 + g % 3, 'test',
                      now() - make_interval(mins => g % 3000)
               FROM generate_series(1, 5000) g;
             INSERT INTO tmdb_api_logs (endpoint, tmdb_id, status_code, response_time_ms, attempt, edge_function, created_at)
               SELECT '/movie/popular', NULL, NULL, 10000 + g, 1, 'test', now() - make_interval(mins => g)
               FROM generate_series(1, 50) g;",
        )
        .await
        .unwrap();
    // Three folds at once, each on its own connection, in small batches.
    let fold = || async {
        let conn = NativeDb::new(&app.db_url).connect().await.unwrap();
        let mut total = 0;
        loop {
            let n = marquee::db::api_logs::fold_summary(&conn, 7).await.unwrap();
            if n == 0 {
                return total;
            }
            total += n;
        }
    };
    let (a, b, c) = tokio::join!(fold(), fold(), fold());
    let deltas_before = a + b + c;
    assert!(deltas_before > 0);
    assert_eq!(app.count("SELECT count(*) FROM tmdb_api_call_deltas").await, 0);
    let mismatches = app
        .count(
            "WITH raw AS (
                SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, endpoint, coalesce(status_code, 0) AS status_code,
                       attempt <= 1 AS first_attempt, marquee_latency_le_ms(response_time_ms) AS le, count(*) AS calls, sum(response_time_ms) AS ms
                FROM tmdb_api_logs GROUP BY 1, 2, 3, 4, 5)
             SELECT count(*) FROM raw FULL JOIN tmdb_api_calls_hourly h
               ON (h.hour, h.endpoint, h.status_code, h.first_attempt, h.latency_le_ms) = (raw.hour, raw.endpoint, raw.status_code, raw.first_attempt, raw.le)
             WHERE h.calls IS DISTINCT FROM raw.calls OR h.latency_ms_sum IS DISTINCT FROM raw.ms",
        )
        .await;
    assert_eq!(mismatches, 0, "the hourly summary is the log, grouped");
}

#[tokio::test]
async fn the_works_counts_follow_every_change_of_status_folded_or_not() {
    let app = TestApp::start().await;
    let conn = NativeDb::new(&app.db_url).connect().await.unwrap();
    let agree = |why: &'static str| {
        let conn = &conn;
        async move {
            let exact = marquee::db::works::catalog_counts(conn).await.unwrap();
            let summarised = marquee::db::works::summarised_counts(conn).await.unwrap();
            assert_eq!(summarised, exact, "{why}");
            exact
        }
    };
    agree("empty").await;
    // First ingests and a refresh through the route (no run: the deltas stay unfolded).
    for id in [550, 603] {
        assert_eq!(app.ingest(json!({"tmdb_id": id})).await.status, 200);
    }
    assert_eq!(app.ingest(json!({"tmdb_id": 550, "force_refresh": true})).await.status, 200);
    app.fake.faults().not_found(404);
    assert_eq!(app.ingest(json!({"tmdb_id": 404})).await.status, 404);
    assert!(app.count("SELECT count(*) FROM works_count_deltas").await > 0);
    let counts = agree("ingests, a refresh and a gone movie, unfolded").await;
    assert_eq!((counts.by_status["complete"], counts.by_status["gone"], counts.servable), (2, 1, 2));
    // A refresh in flight (servable), a first ingest in flight (not), a deleted row.
    app.db
        .batch_execute(
            "UPDATE works SET ingestion_status = 'ingesting', lease_owner = 'x', lease_until = now() + interval '1 minute'
               WHERE tmdb_id = 550;
             INSERT INTO works (tmdb_id, ingestion_status, lease_owner, lease_until) VALUES (680, 'ingesting', 'y', now() + interval '1 minute');
             INSERT INTO works (tmdb_id) SELECT g FROM generate_series(9000, 9009) g;
             DELETE FROM works WHERE tmdb_id BETWEEN 9005 AND 9009;",
        )
        .await
        .unwrap();
    let counts = agree("leases, bulk inserts and deletes").await;
    assert_eq!((counts.by_status["ingesting"], counts.by_status["pending"], counts.servable), (2, 5, 2));
    // Folded, in small steps, by two folds at once: the same figures.
    let fold = || async {
        let conn = NativeDb::new(&app.db_url).connect().await.unwrap();
        while marquee::db::works::fold_counts(&conn, 3).await.unwrap() > 0 {}
    };
    tokio::join!(fold(), fold());
    assert_eq!(app.count("SELECT count(*) FROM works_count_deltas").await, 0);
    agree("folded").await;
}
