//! What most commands start from: the database URL, the migrations, the library's `App`.

use anyhow::Context as _;
use marquee::App;
use marquee::config::Config;
use marquee::db::migrate;
use marquee::ports::Database;

use crate::native::{NativeDb, NativeHttp, NativeSettings, SystemClock};

pub type NativeApp = App<NativeDb, NativeHttp, SystemClock>;

/// The database URL, by the library's configuration rule.
pub async fn database_url(settings: &NativeSettings) -> anyhow::Result<String> {
    Ok(marquee::config::database_url(settings).await?.expose().to_owned())
}

/// The library's `App` with the configuration's database (one typed configuration, as the
/// routes have).
pub async fn native_app(settings: &NativeSettings, function: &'static str) -> anyhow::Result<NativeApp> {
    let db = NativeDb::new(database_url(settings).await?);
    let config = Config::load(settings).await?;
    Ok(App::new(db, NativeHttp::default(), SystemClock, config, function))
}

/// Applies the pending migrations to the database at `url`; returns the versions applied.
pub async fn run_migrations(url: &str) -> anyhow::Result<Vec<i64>> {
    // The URL stays out of the messages: it may hold a password.
    let conn = NativeDb::new(url).connect().await?;
    migrate::migrate(&conn).await.context("cannot apply the migrations")
}

/// An explicit `--budget-ms` on the command line also lifts the configured invocation budget:
/// a command-line run is not bound by the platform's request limit.
pub fn with_budget(settings: NativeSettings, budget_ms: Option<i64>) -> NativeSettings {
    match budget_ms {
        Some(ms) => settings.with("time_budget_ms", ms.to_string()),
        None => settings,
    }
}
