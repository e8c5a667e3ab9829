//! The real `marquee serve` process, given secrets in its environment, is driven through the
//! paths that log (bad admin token, TMDB 401, bad Stripe signature, a stored Stripe event, a
//! failed scheduled run, a database it cannot connect to); then everything it wrote is searched
//! for the secrets.
//!
//! The database URL always carries a password: the test logs in as a role of its own, created
//! with that password (a server that checks passwords checks it; the local test cluster trusts
//! local connections and ignores it, which changes nothing about where the URL may leak).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::thread::JoinHandle;

use fake_tmdb::{FakeTmdb, FakeTmdbConfig};
use marquee::billing::signature::header_value;
use marquee::ports::{Connection, Database};
use marquee_cli::localpg::{test_server_url, with_database};
use marquee_cli::native::NativeDb;

const ADMIN_TOKEN: &str = "admin-secret-7Hq2";
const TMDB_TOKEN: &str = "tmdb-secret-Zp93"; // wrong on purpose: TMDB answers 401
const DB_PASSWORD: &str = "db-secret-Kw41";
const STRIPE_SECRET: &str = "whsec_stripe-secret-Yx55";
const SECRETS: [&str; 4] = [ADMIN_TOKEN, TMDB_TOKEN, DB_PASSWORD, STRIPE_SECRET];

/// `url` logging in as `user` with `password` (`postgres://old@h/db` → `postgres://user:password@h/db`).
fn with_login(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host_start = rest[..authority_end].rfind('@').map_or(0, |at| at + 1);
    format!("{scheme}://{user}:{password}@{}", &rest[host_start..])
}

/// A migrated database owned by a role with [`DB_PASSWORD`], both named `name`, on the test
/// server; returns its URL with the password, as a production `DATABASE_URL` would have it.
async fn database_with_password(name: &str) -> String {
    let admin = NativeDb::new(server()).connect().await.unwrap();
    admin.execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[]).await.unwrap();
    admin.execute(&format!("DROP ROLE IF EXISTS {name}"), &[]).await.unwrap();
    // DDL takes no parameters; the password is this file's constant.
    admin.execute(&format!("CREATE ROLE {name} LOGIN PASSWORD '{DB_PASSWORD}'"), &[]).await.unwrap();
    admin.execute(&format!("CREATE DATABASE {name} OWNER {name}"), &[]).await.unwrap();
    let url = with_login(&with_database(server(), name), name, DB_PASSWORD);
    marquee::db::migrate::migrate(&NativeDb::new(&url).connect().await.unwrap()).await.unwrap();
    url
}

async fn drop_database(name: &str) {
    let admin = NativeDb::new(server()).connect().await.unwrap();
    admin.execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[]).await.unwrap();
    admin.execute(&format!("DROP ROLE IF EXISTS {name}"), &[]).await.unwrap();
}

/// The test server, started (when local) once for both tests of this file.
fn server() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| test_server_url().expect("test PostgreSQL"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `marquee serve` with every secret in its environment, and what it answered.
struct Serve {
    child: Child,
    stderr: JoinHandle<Vec<String>>,
    base: String,
    http: reqwest::Client,
    bodies: Vec<String>,
}

impl Serve {
    fn start(db_url: &str, tmdb_base_url: &str) -> Serve {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_marquee"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", db_url)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("TMDB_TOKEN", TMDB_TOKEN)
            .env("TMDB_BASE_URL", tmdb_base_url)
            .env("STRIPE_WEBHOOK_SECRETS", STRIPE_SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run marquee serve");
        // Collect stderr on a thread; the "serving" line says the server is ready.
        let (ready_tx, ready_rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("marquee serving on") {
                    let _ = ready_tx.send(());
                }
                lines.push(line);
            }
            lines
        });
        ready_rx.recv_timeout(std::time::Duration::from_secs(60)).expect("marquee serve did not start");
        Serve {
            child,
            stderr,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            bodies: Vec::new(),
        }
    }

    /// Sends a request and keeps the response body; returns the status.
    async fn send(&mut self, request: reqwest::RequestBuilder) -> u16 {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        self.bodies.push(response.text().await.unwrap());
        status
    }

    async fn post(&mut self, path: &str, token: Option<&str>, headers: &[(&str, String)], body: String) -> u16 {
        let mut request = self.http.post(format!("{}{path}", self.base)).body(body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        self.send(request).await
    }

    async fn get(&mut self, path: &str, key: Option<&str>) -> u16 {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        self.send(request).await
    }

    /// Stops the server: its stderr lines and the bodies it answered.
    fn stop(mut self) -> (Vec<String>, Vec<String>) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        (self.stderr.join().unwrap(), self.bodies)
    }
}

/// No secret in any line or body.
fn assert_no_secret(logs: &[String], bodies: &[String]) {
    for secret in SECRETS {
        for line in logs {
            assert!(!line.contains(secret), "a secret reached the log: {line}");
        }
        for body in bodies {
            assert!(!body.contains(secret), "a secret reached a response: {body}");
        }
    }
}

#[tokio::test]
async fn no_secret_reaches_the_logs_or_the_responses() {
    let name = format!("marquee_logs_{}", std::process::id());
    let db_url = database_with_password(&name).await;
    let fake = FakeTmdb::start(FakeTmdbConfig::default()).unwrap();
    let mut serve = Serve::start(&db_url, &fake.base_url());

    assert_eq!(
        serve.post("/functions/v1/ingest-movie", Some("wrong-token"), &[], r#"{"tmdb_id": 550}"#.into()).await,
        401
    );
    assert_eq!(
        serve.post("/functions/v1/ingest-movie", Some(ADMIN_TOKEN), &[], r#"{"tmdb_id": 550}"#.into()).await,
        502,
        "TMDB 401"
    );
    assert_eq!(serve.post("/functions/v1/scheduled-ingest", Some(ADMIN_TOKEN), &[], "{}".into()).await, 502);
    let event = r#"{"id":"evt_logs_1","object":"event","type":"customer.created","created":1700000000,"livemode":false,"data":{"object":{"id":"cus_1","object":"customer","email":"a@example.com"}}}"#;
    let now = chrono::Utc::now().timestamp();
    let forged = format!("t={now},v1={}", "0".repeat(64));
    assert_eq!(
        serve.post("/functions/v1/stripe-webhook", None, &[("stripe-signature", forged)], event.into()).await,
        400
    );
    let signed = header_value(STRIPE_SECRET, now, event.as_bytes());
    assert_eq!(
        serve.post("/functions/v1/stripe-webhook", None, &[("stripe-signature", signed)], event.into()).await,
        200
    );

    let (logs, bodies) = serve.stop();
    let json_lines = logs.iter().filter(|l| l.starts_with('{')).count();
    assert!(json_lines >= 3, "the paths above log structured lines: {logs:#?}");
    assert_no_secret(&logs, &bodies);
    // And nothing in the database either.
    let conn = NativeDb::new(&db_url).connect().await.unwrap();
    let rows = conn
        .query("SELECT coalesce(string_agg(concat_ws(' ', endpoint, error), ' '), '') AS text FROM tmdb_api_logs", &[])
        .await
        .unwrap();
    let logged: String = rows[0].get("text").unwrap();
    assert!(!logged.is_empty());
    for secret in SECRETS {
        assert!(!logged.contains(secret));
    }
    drop(conn);
    drop_database(&name).await;
}

/// The catalog API's keys: made by `marquee keys create` (printed once, on stdout alone), used,
/// refused when wrong, revoked, listed; neither a key nor its hash nor the admin token reaches
/// a log line, an answer, `keys list`, or the database in clear.
#[tokio::test]
async fn api_keys_and_their_hashes_reach_no_log_and_no_answer() {
    let name = format!("marquee_logs_keys_{}", std::process::id());
    let db_url = database_with_password(&name).await;
    let fake = FakeTmdb::start(FakeTmdbConfig::default()).unwrap();
    let marquee = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_marquee"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db_url)
            .output()
            .expect("run marquee");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (stdout, stderr) = marquee(&["keys", "create", "--customer", "cus_logs", "--name", "ci"]);
    let key = stdout.trim().to_owned();
    assert!(marquee::domain::api_key::is_well_formed(&key), "the key alone on stdout: {stdout:?}");
    assert!(!stderr.contains(&key));
    let hash = marquee::domain::api_key::hash(&key);
    let mut printed = vec![stderr];

    let mut serve = Serve::start(&db_url, &fake.base_url());
    assert_eq!(serve.get("/api/genres", Some(&key)).await, 200);
    assert_eq!(serve.get("/api/works/550", Some(&key)).await, 404);
    assert_eq!(serve.get("/api/genres", Some(&format!("{key}x"))).await, 401, "malformed");
    assert_eq!(serve.get("/api/genres", Some(&marquee::domain::api_key::generate().unwrap())).await, 401);
    assert_eq!(serve.get("/api/admin/keys", Some(&key)).await, 401, "a key is not the admin token");
    assert_eq!(serve.get("/api/admin/keys", Some(ADMIN_TOKEN)).await, 200);
    assert_eq!(serve.get("/api/admin/usage", Some(ADMIN_TOKEN)).await, 200);
    let (listed, _) = marquee(&["keys", "list", "--json"]);
    let key_id = serde_json::from_str::<serde_json::Value>(&listed).unwrap()[0]["key_id"].to_string();
    printed.push(listed);
    printed.push(marquee(&["keys", "usage"]).0);
    printed.push(marquee(&["keys", "revoke", &key_id]).0);
    assert_eq!(serve.get("/api/genres", Some(&key)).await, 401, "revoked");
    let (logs, bodies) = serve.stop();

    for secret in [key.as_str(), &key["mq_live_".len()..], hash.as_str(), ADMIN_TOKEN, DB_PASSWORD] {
        for text in logs.iter().chain(&bodies).chain(&printed) {
            assert!(!text.contains(secret), "{secret} reached {text}");
        }
    }
    let conn = NativeDb::new(&db_url).connect().await.unwrap();
    let rows = conn
        .query(
            "SELECT (SELECT string_agg(k::text, ' ') FROM api_keys k) AS keys,
                    (SELECT coalesce(string_agg(q::text, ' '), '') FROM quota_usage q) AS usage",
            &[],
        )
        .await
        .unwrap();
    let stored: String = rows[0].get("keys").unwrap();
    assert!(!stored.contains(&key) && !stored.contains(&key["mq_live_".len()..]), "the key is stored only hashed");
    assert!(stored.contains(&hash));
    assert!(!rows[0].get::<String>("usage").unwrap().contains(&hash));
    drop(conn);
    drop_database(&name).await;
}

/// Where a URL most likely leaks: the database refuses the connection. Once with the real
/// password and a database that does not exist (the server answers, after authentication), once
/// with a port where nothing listens, and twice with TLS settings the adapter refuses (an
/// unknown `sslmode`, a root certificate file that is not there); `serve` answers and logs,
/// `migrate` prints its error.
#[tokio::test]
async fn a_failed_database_connection_reveals_no_password() {
    let name = format!("marquee_logs_fail_{}", std::process::id());
    let db_url = database_with_password(&name).await;
    let missing_database = with_database(&db_url, &format!("{name}_missing"));
    let port = db_url.rsplit_once(':').and_then(|(_, rest)| rest.split('/').next()).expect("a port in the URL");
    let closed_port = db_url.replacen(&format!(":{port}/"), &format!(":{}/", free_port()), 1);
    assert_ne!(closed_port, db_url, "the URL names a port: {db_url}");
    let with_param = |param: &str| format!("{db_url}{}{param}", if db_url.contains('?') { '&' } else { '?' });
    let unknown_sslmode = with_param("sslmode=verify-fulll");
    let missing_root_cert = with_param("sslmode=verify-full&sslrootcert=/nonexistent/marquee-ca.pem");
    let fake = FakeTmdb::start(FakeTmdbConfig::default()).unwrap();

    for url in [missing_database, closed_port, unknown_sslmode, missing_root_cert] {
        assert!(url.contains(DB_PASSWORD));
        let mut serve = Serve::start(&url, &fake.base_url());
        let ingest =
            serve.post("/functions/v1/ingest-movie", Some(ADMIN_TOKEN), &[], r#"{"tmdb_id": 550}"#.into()).await;
        // A well-formed key, so that the request reaches the database.
        let card = serve.get("/api/works/550", Some(&marquee::domain::api_key::generate().unwrap())).await;
        let (logs, bodies) = serve.stop();
        assert!(ingest >= 500 && card >= 500, "no database: {ingest}, {card}; {bodies:#?}");
        assert!(!logs.is_empty(), "the failures are logged");
        assert_no_secret(&logs, &bodies);

        let migrate = Command::new(env!("CARGO_BIN_EXE_marquee"))
            .arg("migrate")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &url)
            .output()
            .expect("run marquee migrate");
        assert!(!migrate.status.success(), "migrate cannot connect");
        let output = [migrate.stdout, migrate.stderr].map(|b| String::from_utf8_lossy(&b).into_owned());
        assert!(!output[1].trim().is_empty(), "migrate says why it failed");
        assert_no_secret(&output, &[]);
    }
    drop_database(&name).await;
}
