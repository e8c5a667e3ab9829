//! The test harness: a real PostgreSQL (`DATABASE_URL`'s server, or a local one from the system
//! packages in `.marquee/test-pg`), one fresh migrated database per test, the fake TMDB and the
//! native server in-process, and a plain HTTP client.

pub mod seed;

use std::sync::OnceLock;

use fake_tmdb::{FakeTmdb, FakeTmdbConfig};
use marquee::ports::Database;
use marquee_cli::localpg::{test_server_url, with_database};
use marquee_cli::native::{NativeDb, NativeSettings};
use marquee_cli::server::Server;
use serde_json::Value as Json;

pub const ADMIN_TOKEN: &str = "test-admin-token-7f3a";

/// The URL of a maintenance database on the test server.
fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| test_server_url().unwrap_or_else(|e| panic!("cannot start a local PostgreSQL: {e}")))
}

/// Creates an empty database with a unique name; returns its URL.
pub async fn empty_database() -> String {
    let admin = connect(server_url()).await;
    let name = format!("marquee_test_{}_{}", std::process::id(), unique_suffix());
    admin.execute(&format!("CREATE DATABASE {name}"), &[]).await.expect("create test database");
    with_database(server_url(), &name)
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{}_{nanos}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A fresh, migrated database; returns its URL.
pub async fn fresh_database() -> String {
    let url = empty_database().await;
    let conn = NativeDb::new(&url).connect().await.expect("connect");
    marquee::db::migrate::migrate(&conn).await.expect("migrate");
    url
}

/// A plain tokio-postgres client, for assertions on what was written.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to test PostgreSQL");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// One test's world: its database, a fake TMDB and Marquee's native server.
pub struct TestApp {
    pub db_url: String,
    /// The settings the server runs with.
    pub settings: NativeSettings,
    pub fake: FakeTmdb,
    pub server: Server,
    pub http: reqwest::Client,
    pub db: tokio_postgres::Client,
}

pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Json,
    pub text: String,
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(FakeTmdbConfig::default(), |s| s).await
    }

    /// `settings` may override any setting (e.g. a wrong TMDB token, a short wait).
    pub async fn start_with(fake: FakeTmdbConfig, settings: impl FnOnce(NativeSettings) -> NativeSettings) -> TestApp {
        let db_url = fresh_database().await;
        let token = fake.bearer_token.clone();
        let fake = FakeTmdb::start(fake).expect("start fake TMDB");
        // The catalog is open without API keys here, so that tests about ingestion can read the
        // cards they wrote; tests of keys and quotas set `catalog_public` to false.
        let base = NativeSettings::default()
            .with("database_url", db_url.clone())
            .with("admin_token", ADMIN_TOKEN)
            .with("tmdb_base_url", fake.base_url())
            .with("tmdb_token", token)
            .with("catalog_public", "true");
        let settings = settings(base);
        let server = Server::start("127.0.0.1:0".parse().unwrap(), settings.clone()).expect("start server");
        let db = connect(&db_url).await;
        TestApp { db_url, settings, fake, server, http: reqwest::Client::new(), db }
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self.http.request(method, format!("{}{path}", self.server.url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.expect("request reaches the server");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Json::Null);
        Response { status, headers, body, text }
    }

    /// `POST /functions/v1/ingest-movie` with the admin token.
    pub async fn ingest(&self, body: Json) -> Response {
        self.request(
            reqwest::Method::POST,
            "/functions/v1/ingest-movie",
            Some(ADMIN_TOKEN),
            Some(body.to_string()),
            &[],
        )
        .await
    }

    /// The library itself, natively, with the server's settings: for steps no route exposes
    /// on its own (e.g. draining the queue).
    pub async fn library(
        &self,
        function: &'static str,
    ) -> marquee::App<NativeDb, marquee_cli::native::NativeHttp, marquee_cli::native::SystemClock> {
        let config = marquee::config::Config::load(&self.settings).await.expect("valid settings");
        marquee::App::new(
            NativeDb::new(&self.db_url),
            Default::default(),
            marquee_cli::native::SystemClock,
            config,
            function,
        )
    }

    /// `POST` a JSON body to a route with the admin token.
    pub async fn post(&self, path: &str, body: Json) -> Response {
        self.request(reqwest::Method::POST, path, Some(ADMIN_TOKEN), Some(body.to_string()), &[]).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.db.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get::<_, i64>(0)
    }

    pub fn movie_requests(&self) -> u64 {
        self.fake.counters().by_endpoint.get("/movie/{id}").copied().unwrap_or(0)
    }
}

/// Asserts the uniform JSON error shape and returns its code.
pub fn error_code(response: &Response) -> &str {
    let code =
        response.body["error"]["code"].as_str().unwrap_or_else(|| panic!("not a JSON error body: {}", response.text));
    assert!(
        response.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error without message: {}",
        response.text
    );
    code
}
