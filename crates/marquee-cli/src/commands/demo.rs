//! `marquee demo`: the quick start.

use anyhow::Context as _;
use fake_tmdb::{FakeTmdb, FakeTmdbConfig};
use marquee::ports::{Connection, Database};

use super::app::{database_url, run_migrations};
use super::ingest::ingest_and_print;
use crate::localpg::LocalPostgres;
use crate::native::{NativeDb, NativeSettings};

/// A database (DATABASE_URL, or a local PostgreSQL of this checkout), migrations, the fake TMDB
/// unless a TMDB credential is set, then `ids` ingested and printed.
pub async fn run(settings: NativeSettings, ids: &[i64]) -> anyhow::Result<()> {
    let mut settings = settings;
    if settings.value("database_url").is_none() {
        let pg = LocalPostgres::demo().map_err(anyhow::Error::msg)?;
        let admin = NativeDb::new(pg.url("postgres")).connect().await?;
        let exists = admin.query("SELECT 1 FROM pg_database WHERE datname = 'marquee'", &[]).await?;
        if exists.is_empty() {
            admin.execute("CREATE DATABASE marquee", &[]).await.context("cannot create the database `marquee`")?;
        }
        eprintln!("local PostgreSQL in {} (DATABASE_URL={})", pg.dir.display(), pg.url("marquee"));
        settings = settings.with("database_url", pg.url("marquee"));
    }
    let url = database_url(&settings).await?;
    let applied = run_migrations(&url).await?;
    eprintln!(
        "migrations: {}",
        if applied.is_empty() { "up to date".to_owned() } else { format!("applied {applied:?}") }
    );
    let _fake = if settings.value("tmdb_token").is_none() && settings.value("tmdb_api_key").is_none() {
        let fake = FakeTmdb::start(FakeTmdbConfig::default()).context("cannot start the fake TMDB")?;
        eprintln!("no TMDB_TOKEN set: using the fake TMDB at {}", fake.base_url());
        settings =
            settings.with("tmdb_base_url", fake.base_url()).with("tmdb_token", FakeTmdbConfig::default().bearer_token);
        Some(fake)
    } else {
        None
    };
    ingest_and_print(&settings, NativeDb::new(url), ids, false).await?;
    // The catalog API answers to keys; `catalog_public` opens it for local development.
    eprintln!(
        "read them through the catalog API (with DATABASE_URL set as above):\n  \
         KEY=$(marquee keys create --customer cus_local) && marquee serve &\n  \
         curl -H \"Authorization: Bearer $KEY\" localhost:3000/api/works/{}\n  \
         or, without keys (local development only): CATALOG_PUBLIC=true marquee serve",
        ids.first().copied().unwrap_or(550)
    );
    Ok(())
}
