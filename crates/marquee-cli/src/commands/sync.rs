//! `marquee sync status`.

use std::path::Path;

use marquee::db::{queue, sync};
use marquee::ports::Database;
use serde_json::Value as Json;

use super::app::{NativeApp, native_app};
use super::output::print_json;
use crate::cli::SyncCommand;
use crate::native::NativeSettings;
use crate::schedule::{Schedule, read_or_shipped};

pub async fn run(settings: &NativeSettings, what: SyncCommand) -> anyhow::Result<()> {
    match what {
        SyncCommand::Status { manifest } => status(settings, &manifest).await,
    }
}

/// The report on stdout (JSON); on stderr, whether the schedule keeps up, in plain words.
async fn status(settings: &NativeSettings, manifest: &Path) -> anyhow::Result<()> {
    let app = native_app(settings, "marquee-cli").await?;
    let schedule = read_or_shipped(manifest)?;
    let report = sync_report(&app, &schedule).await?;
    eprintln!("{}", report["schedule"]["verdict"].as_str().unwrap_or_default());
    print_json(&report);
    Ok(())
}

/// What `marquee sync status` prints: the changes-feed cursor, how many movies are stale, the
/// queue, and the schedule's refresh capacity against the catalog's daily need.
pub async fn sync_report(app: &NativeApp, schedule: &Schedule) -> marquee::Result<Json> {
    let refresh_route = marquee::api::ROUTES.iter().find(|r| r.id == marquee::api::RouteId::DailyRefresh);
    let refresh_runs: Vec<(String, String)> = schedule
        .calls
        .iter()
        .filter(|c| refresh_route.is_some_and(|r| r.path == c.path))
        .map(|c| (c.component.clone(), c.cron.clone()))
        .collect();
    let capacity = marquee::pipeline::capacity::assess(app, &refresh_runs).await?;
    let conn = app.db.connect().await?;
    Ok(serde_json::json!({
        "sync_state": sync::all(&conn).await?,
        "stale_movies": capacity.stale_now,
        "queue": queue::status(&conn).await?,
        "schedule": capacity,
    }))
}
