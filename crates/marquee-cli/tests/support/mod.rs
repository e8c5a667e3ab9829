//! What the tests that run the `marquee` binary share: a database of their own, and the binary
//! run with nothing but `PATH` and `DATABASE_URL` from the environment.

use std::process::{Command, Output};

use marquee::ports::{Connection, Database};
use marquee_cli::localpg::{test_server_url, with_database};
use marquee_cli::native::NativeDb;

/// A fresh, migrated database named `name` on the test server; returns its URL.
pub async fn fresh_database(name: &str) -> String {
    let server = test_server_url().expect("test PostgreSQL");
    let admin = NativeDb::new(&server).connect().await.unwrap();
    admin.execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[]).await.unwrap();
    admin.execute(&format!("CREATE DATABASE {name}"), &[]).await.unwrap();
    let url = with_database(&server, name);
    marquee::db::migrate::migrate(&NativeDb::new(&url).connect().await.unwrap()).await.unwrap();
    url
}

/// `marquee args…` against the database at `database_url`.
pub fn marquee(args: &[&str], database_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .output()
        .expect("run marquee")
}
