//! `marquee sync status`.

use marquee::db::{queue, sync};
use marquee::ports::Database;

use super::app::native_app;
use super::output::print_json;
use crate::cli::SyncCommand;
use crate::native::NativeSettings;

pub async fn run(settings: &NativeSettings, what: SyncCommand) -> anyhow::Result<()> {
    match what {
        SyncCommand::Status => status(settings).await,
    }
}

/// The changes-feed cursor, how many movies are stale, and the queue.
async fn status(settings: &NativeSettings) -> anyhow::Result<()> {
    let app = native_app(settings, "marquee-cli").await?;
    let conn = app.db.connect().await?;
    let states = sync::all(&conn).await?;
    let stale = sync::count_stale(&conn).await?;
    print_json(&serde_json::json!({"sync_state": states, "stale_movies": stale, "queue": queue::status(&conn).await?}));
    Ok(())
}
