//! The real `marquee serve` process, given secrets in its environment, is driven through the
//! paths that log (bad admin token, TMDB 401, bad Stripe signature, a stored Stripe event, a
//! failed scheduled run); then everything it wrote is searched for the secrets.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use fake_tmdb::{FakeTmdb, FakeTmdbConfig};
use marquee::billing::signature::header_value;
use marquee::ports::{Connection, Database};
use marquee_cli::localpg::{test_server_url, with_database};
use marquee_cli::native::NativeDb;

const ADMIN_TOKEN: &str = "admin-secret-7Hq2";
const TMDB_TOKEN: &str = "tmdb-secret-Zp93"; // wrong on purpose: TMDB answers 401
const DB_PASSWORD: &str = "db-secret-Kw41"; // the test cluster trusts local connections, so any password works
const STRIPE_SECRET: &str = "whsec_stripe-secret-Yx55";

async fn fresh_database() -> String {
    let server = test_server_url().expect("test PostgreSQL");
    let admin = NativeDb::new(&server).connect().await.unwrap();
    let name = format!("marquee_logs_{}", std::process::id());
    admin.execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[]).await.unwrap();
    admin.execute(&format!("CREATE DATABASE {name}"), &[]).await.unwrap();
    let url = with_database(&server, &name);
    marquee::db::migrate::migrate(&NativeDb::new(&url).connect().await.unwrap()).await.unwrap();
    // The same URL with a password, as a production DATABASE_URL would have.
    url.replacen("postgres://postgres@", &format!("postgres://postgres:{DB_PASSWORD}@"), 1)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn no_secret_reaches_the_logs_or_the_responses() {
    let db_url = fresh_database().await;
    let fake = FakeTmdb::start(FakeTmdbConfig::default()).unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db_url)
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env("TMDB_TOKEN", TMDB_TOKEN)
        .env("TMDB_BASE_URL", fake.base_url())
        .env("STRIPE_WEBHOOK_SECRETS", STRIPE_SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run marquee serve");
    // Collect stderr on a thread; the "serving" line says the server is ready.
    let (ready_tx, ready_rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
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

    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut bodies = Vec::new();
    let mut post = async |path: &str, token: Option<&str>, headers: &[(&str, String)], body: String| {
        let mut request = http.post(format!("{base}{path}")).body(body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        bodies.push(response.text().await.unwrap());
        status
    };
    assert_eq!(post("/functions/v1/ingest-movie", Some("wrong-token"), &[], r#"{"tmdb_id": 550}"#.into()).await, 401);
    assert_eq!(
        post("/functions/v1/ingest-movie", Some(ADMIN_TOKEN), &[], r#"{"tmdb_id": 550}"#.into()).await,
        502,
        "TMDB 401"
    );
    assert_eq!(post("/functions/v1/scheduled-ingest", Some(ADMIN_TOKEN), &[], "{}".into()).await, 502);
    let event = r#"{"id":"evt_logs_1","object":"event","type":"customer.created","created":1700000000,"livemode":false,"data":{"object":{"id":"cus_1","object":"customer","email":"a@example.com"}}}"#;
    let now = chrono::Utc::now().timestamp();
    let forged = format!("t={now},v1={}", "0".repeat(64));
    assert_eq!(post("/functions/v1/stripe-webhook", None, &[("stripe-signature", forged)], event.into()).await, 400);
    let signed = header_value(STRIPE_SECRET, now, event.as_bytes());
    assert_eq!(post("/functions/v1/stripe-webhook", None, &[("stripe-signature", signed)], event.into()).await, 200);

    child.kill().unwrap();
    child.wait().unwrap();
    let logs = reader.join().unwrap();
    let json_lines = logs.iter().filter(|l| l.starts_with('{')).count();
    assert!(json_lines >= 3, "the paths above log structured lines: {logs:#?}");
    for secret in [ADMIN_TOKEN, TMDB_TOKEN, DB_PASSWORD, STRIPE_SECRET] {
        for line in &logs {
            assert!(!line.contains(secret), "a secret reached the log: {line}");
        }
        for body in &bodies {
            assert!(!body.contains(secret), "a secret reached a response: {body}");
        }
    }
    // And nothing in the database either.
    let conn = NativeDb::new(db_url.replacen(&format!(":{DB_PASSWORD}"), "", 1)).connect().await.unwrap();
    let rows = conn
        .query("SELECT coalesce(string_agg(concat_ws(' ', endpoint, error), ' '), '') AS text FROM tmdb_api_logs", &[])
        .await
        .unwrap();
    let logged: String = rows[0].get("text").unwrap();
    assert!(!logged.is_empty());
    for secret in [ADMIN_TOKEN, TMDB_TOKEN, DB_PASSWORD, STRIPE_SECRET] {
        assert!(!logged.contains(secret));
    }
}
