//! The dashboard in a real browser: headless Chromium from the distribution's packages, driven
//! through chromedriver (WebDriver, `fantoccini`), against `marquee serve`'s server on a seeded
//! database. One Chromium for the whole binary: the scenario is one test whose steps run in
//! order, each step named in its failures.
//!
//! Screenshots of every page at 375 px and 1440 px are saved under
//! `target/dashboard-screenshots/` (artifacts, for people; nothing compares pixels).
//!
//! Chromium and chromedriver come from `apt-get install chromium chromium-driver` (`.ci/run`
//! installs them); `MARQUEE_CHROME` and `MARQUEE_CHROMEDRIVER` name other binaries.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt as _;
use marquee_tests::seed::{SEEDED, seed_dashboard};
use marquee_tests::{ADMIN_TOKEN, TestApp};
use serde_json::{Value as Json, json};

/// The flags the machine needs: no sandbox as root, no GPU, and no background connections
/// (the network is closed: they would fail, and their failures are noise).
const CHROME_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

fn find_binary(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(|p| p.is_file())
}

/// The build's target directory, as an absolute path without `..` (Chromium does not find its
/// profile under a path with one).
fn target_dir() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::canonicalize(&dir).unwrap()
}

/// chromedriver, started on a free port; stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        let binary = find_binary("MARQUEE_CHROMEDRIVER", &["chromedriver"]).unwrap_or_else(|| {
            panic!("no chromedriver: install Chromium and its driver (apt-get install -y chromium chromium-driver; .ci/run does)")
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // Its log, with the browser's start, next to the screenshots: what to read when a
        // session cannot be created.
        let log = target_dir().join("dashboard-screenshots");
        std::fs::create_dir_all(&log).unwrap();
        let mut child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.join("chromedriver.log").display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        // It says when it listens: wait for that line, not for a while.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.by_ref().map_while(Result::ok).any(|l| l.contains("started successfully"));
        assert!(ready, "chromedriver stopped before listening");
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Driver { child, url: format!("http://127.0.0.1:{port}/") }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver's log of the browser's console (`goog:loggingPrefs`).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

struct Browser {
    client: Client,
    base: String,
    shots: PathBuf,
}

impl Browser {
    async fn open(driver: &Driver, base: String, profile: &Path) -> Browser {
        let chrome =
            find_binary("MARQUEE_CHROME", &["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"])
                .unwrap_or_else(|| panic!("no Chromium: apt-get install -y chromium chromium-driver (.ci/run does)"));
        let mut args: Vec<String> = CHROME_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push("--window-size=1440,1000".into());
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chrome, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&driver.url)
            .await
            .expect("a WebDriver session with headless Chromium");
        let shots = target_dir().join("dashboard-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Browser { client, base, shots }
    }

    async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    fn path(url: &url::Url) -> String {
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn current(&self) -> String {
        Self::path(&self.client.current_url().await.unwrap())
    }

    async fn text(&self, css: &str) -> String {
        let Ok(element) = self.client.find(Locator::Css(css)).await else {
            panic!("no {css} on {}", self.current().await);
        };
        element.text().await.unwrap().trim().to_owned()
    }

    async fn metric(&self, key: &str) -> String {
        self.text(&format!("[data-metric='{key}']")).await
    }

    /// The console's entries since the last call.
    async fn console(&self) -> Vec<Json> {
        match self.client.issue_cmd(BrowserLog).await.expect("the browser's console log") {
            Json::Array(entries) => entries,
            other => panic!("not a log: {other}"),
        }
    }

    /// No console errors since the last look (the step says where).
    async fn assert_no_console_errors(&self, step: &str) {
        let errors: Vec<Json> = self.console().await.into_iter().filter(|e| e["level"] == "SEVERE").collect();
        assert!(errors.is_empty(), "{step}: console errors {errors:#?}");
    }

    /// The console's errors since the last look are exactly the refusal of one request with
    /// `status` (a refused form is a network error to the console, and nothing else may be).
    async fn assert_only_refusal_in_console(&self, step: &str, status: u16) {
        for e in self.console().await.into_iter().filter(|e| e["level"] == "SEVERE") {
            let message = e["message"].as_str().unwrap_or_default();
            assert!(message.contains(&format!("status of {status}")), "{step}: unexpected console error {e}");
        }
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    async fn script(&self, js: &str) -> Json {
        self.client.execute(js, vec![]).await.unwrap_or_else(|e| panic!("{js}: {e}"))
    }

    async fn submit_sign_in(&self, token: &str) {
        let field = self.client.find(Locator::Css("input[name='token']")).await.expect("the token field");
        field.send_keys(token).await.unwrap();
        self.client
            .find(Locator::Css("form[action='/dashboard/sign-in'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
}

const PAGES: &[&str] = &[
    "/dashboard",
    "/dashboard/catalog",
    "/dashboard/freshness",
    "/dashboard/runs",
    "/dashboard/queue",
    "/dashboard/tmdb",
    "/dashboard/changes",
    "/dashboard/billing",
];

#[tokio::test]
async fn the_dashboard_in_headless_chromium() {
    let app = TestApp::start().await;
    seed_dashboard(&app.db_url, &app.db).await;
    let driver = Driver::start();
    let profile = target_dir().join(format!("chromium-profile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    let browser = Browser::open(&driver, app.server.url(), &profile).await;
    // Whatever happens in the steps, the session (and its Chromium) ends, then the driver.
    let outcome = std::panic::AssertUnwindSafe(scenario(&app, &browser)).catch_unwind().await;
    let _ = browser.client.close().await;
    drop(driver);
    let _ = std::fs::remove_dir_all(&profile);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn scenario(app: &TestApp, b: &Browser) {
    let s = &SEEDED;
    let failed_rows = "SELECT count(*) FROM refresh_queue WHERE status = 'failed'";

    // Pages without a session lead to the sign-in form, which remembers where they were going.
    b.goto("/dashboard/tmdb").await;
    assert_eq!(b.current().await, "/dashboard/sign-in?next=%2Fdashboard%2Ftmdb", "no session: the sign-in form");
    b.assert_no_console_errors("the sign-in form").await;

    // A wrong token is refused: the form again, with a message, and no cookie.
    b.submit_sign_in("not-the-admin-token").await;
    assert_eq!(b.text("p.error").await, "That is not the admin token.", "a wrong token");
    assert!(b.client.get_all_cookies().await.unwrap().is_empty(), "no cookie for a wrong token");
    b.assert_only_refusal_in_console("a wrong token", 401).await;

    // The right one signs in and goes where the visitor was going.
    b.submit_sign_in(ADMIN_TOKEN).await;
    b.client.wait().for_element(Locator::Css("#tmdb-hourly")).await.expect("the TMDB page after sign-in");
    assert_eq!(b.current().await, "/dashboard/tmdb");
    let cookie = b.client.get_named_cookie("marquee_session").await.expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true), "HttpOnly");
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)", "SameSite=Strict");
    assert_eq!(cookie.path(), Some("/dashboard"));
    assert_eq!(b.script("return document.cookie").await, json!(""), "scripts cannot read the session");
    b.assert_no_console_errors("signed in").await;

    // Every panel shows exactly the seeded numbers.
    b.goto("/dashboard").await;
    for (status, n) in s.works_by_status {
        assert_eq!(b.metric(&format!("catalog.status.{status}")).await, n.to_string(), "catalog: {status}");
    }
    assert_eq!(b.metric("catalog.servable").await, s.servable.to_string());
    assert_eq!(b.metric("catalog.added_this_week").await, s.added_this_week.to_string());
    assert_eq!(b.metric("catalog.gone").await, "2");
    assert_eq!(b.metric("catalog.rejected").await, "3");
    for (reason, n) in s.rejected_by_reason {
        assert_eq!(b.metric(&format!("catalog.rejected.{reason}")).await, n.to_string(), "rejected: {reason}");
    }
    assert_eq!(b.metric("freshness.stale").await, "3");
    for (tier, n) in s.stale_by_tier {
        assert_eq!(b.metric(&format!("freshness.tier.{tier}")).await, n.to_string(), "stale in tier {tier}");
    }
    assert_eq!(b.metric("freshness.cursor").await, s.changes_cursor);
    assert_eq!(b.metric("freshness.last_error").await, s.changes_feed_error);
    for (key, n) in ["queued", "due", "processing", "expired_leases", "failed"].iter().zip(s.queue) {
        assert_eq!(b.metric(&format!("queue.{key}")).await, n.to_string(), "queue: {key}");
    }
    for (status, n) in s.runs_30d {
        assert_eq!(b.metric(&format!("runs.30d.{status}")).await, n.to_string(), "runs: {status}");
    }
    for (function, trigger, status) in s.latest_runs {
        let shown = b.metric(&format!("runs.{function}.{trigger}.status")).await;
        assert!(shown.ends_with(status), "newest {function} {trigger}: {shown}");
    }
    assert_eq!(b.metric("tmdb.calls").await, s.tmdb_calls.to_string());
    assert_eq!(b.metric("tmdb.errors").await, s.tmdb_errors.to_string());
    for (status, n) in s.tmdb_by_status {
        assert_eq!(b.metric(&format!("tmdb.status.{status}")).await, n.to_string(), "TMDB status {status}");
    }
    assert_eq!(b.metric("tmdb.p50").await, s.tmdb_p50);
    assert_eq!(b.metric("tmdb.p95").await, s.tmdb_p95);
    assert_eq!(b.metric("tmdb.movie_fetches").await, s.tmdb_movie_fetches.to_string());
    assert_eq!(b.metric("tmdb.calls_per_movie").await, s.tmdb_calls_per_movie);
    assert_eq!(b.metric("changes.last_24h").await, s.changes_24h.to_string());
    for (tier, n) in s.customers_by_tier {
        assert_eq!(b.metric(&format!("billing.customers.{tier}")).await, n.to_string(), "customers: {tier}");
    }
    for (status, n) in s.subscriptions_by_status {
        assert_eq!(
            b.metric(&format!("billing.subscriptions.{status}")).await,
            n.to_string(),
            "subscriptions: {status}"
        );
    }
    for event in s.stripe_events {
        b.client
            .find(Locator::Css(&format!("tr[data-event='{event}']")))
            .await
            .unwrap_or_else(|_| panic!("event {event}"));
    }
    for (customer, quota, used) in s.quota_usage {
        let shown = b.metric(&format!("billing.quota.{customer}.{quota}")).await.replace(',', "");
        assert_eq!(shown, used.to_string(), "usage of {customer} {quota}");
    }
    assert!(b.text("footer").await.contains(marquee::domain::card::TMDB_ATTRIBUTION), "TMDB's attribution");
    b.assert_no_console_errors("the overview").await;

    // A run's own page.
    b.client.find(Locator::Css("tr[data-run] a[href^='/dashboard/runs/']")).await.unwrap().click().await.unwrap();
    b.client.wait().for_element(Locator::Css("[data-metric='run.status']")).await.expect("a run's page");
    assert!(b.current().await.starts_with("/dashboard/runs/"));
    b.assert_no_console_errors("a run's page").await;

    // Usable on a phone and on a desktop: every page at 375 px and 1440 px, without horizontal
    // scrolling on the phone.
    for (width, height) in [(375u32, 812u32), (1440, 1000)] {
        b.client.set_window_size(width, height).await.unwrap();
        for page in PAGES {
            b.goto(page).await;
            let viewport = b.script("return window.innerWidth").await;
            assert_eq!(viewport, json!(width), "the viewport is {width} px wide");
            let scroll = b.script("return document.documentElement.scrollWidth").await;
            assert!(
                scroll.as_u64().unwrap() <= u64::from(width),
                "{page} at {width} px scrolls sideways: {scroll} px wide"
            );
            let name = if page == &"/dashboard" {
                "overview".to_owned()
            } else {
                page.trim_start_matches("/dashboard/").to_owned()
            };
            b.screenshot(&format!("{name}-{width}")).await;
            b.assert_no_console_errors(&format!("{page} at {width} px")).await;
        }
    }
    // The whole overview at 1440 px, for the README.
    b.goto("/dashboard").await;
    let full = b.script("return document.documentElement.scrollHeight").await.as_u64().unwrap();
    b.client.set_window_size(1440, full as u32).await.unwrap();
    b.screenshot("overview-1440-full").await;
    b.client.set_window_size(1440, 1000).await.unwrap();

    // A forged POST: the signed-in browser sends the retry form without the CSRF token.
    b.goto("/dashboard/queue").await;
    b.script(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '/dashboard/queue/retry';
         const i = document.createElement('input'); i.type = 'hidden'; i.name = 'all'; i.value = '1';
         f.appendChild(i); document.body.appendChild(f); f.submit(); return null;",
    )
    .await;
    b.client.wait().for_element(Locator::XPath("//h1[starts-with(., '403')]")).await.expect("a refusal page");
    assert_eq!(app.count(failed_rows).await, 3, "a forged POST changes nothing");
    b.assert_only_refusal_in_console("a forged POST", 403).await;

    // Retry one failed row, then all: the database shows them queued again.
    b.goto("/dashboard/queue").await;
    b.client.find(Locator::Css("tr[data-failed-tmdb-id='601'] button")).await.unwrap().click().await.unwrap();
    b.client.wait().for_element(Locator::Css("p.notice")).await.expect("the retry's notice");
    assert_eq!(b.text("p.notice").await, "1 failed row queued again.");
    assert_eq!(app.count("SELECT count(*) FROM refresh_queue WHERE tmdb_id = 601 AND status = 'queued'").await, 1);
    assert_eq!(app.count(failed_rows).await, 2);
    assert_eq!(b.metric("queue.failed").await, "2");
    b.client.find(Locator::XPath("//button[starts-with(., 'Retry all')]")).await.unwrap().click().await.unwrap();
    b.client
        .wait()
        .for_element(Locator::XPath("//p[@class='notice' and . = '2 failed rows queued again.']"))
        .await
        .unwrap();
    assert_eq!(app.count(failed_rows).await, 0);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM refresh_queue WHERE tmdb_id IN (101, 601, 602) AND status = 'queued' AND attempts = 0"
        )
        .await,
        3
    );
    b.assert_no_console_errors("the retries").await;

    // Sign out: the cookie is gone, and the pages lead to the form again.
    b.client.find(Locator::XPath("//header//button[. = 'Sign out']")).await.unwrap().click().await.unwrap();
    b.client.wait().for_element(Locator::Css("input[name='token']")).await.expect("the sign-in form after sign-out");
    assert!(b.client.get_all_cookies().await.unwrap().is_empty(), "the cookie is removed");
    b.goto("/dashboard").await;
    assert_eq!(b.current().await, "/dashboard/sign-in?next=%2Fdashboard");
    b.assert_no_console_errors("signed out").await;
}
