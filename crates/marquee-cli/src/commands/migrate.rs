//! `marquee migrate`.

use marquee::db::migrate;

use super::app::{database_url, run_migrations};
use crate::native::NativeSettings;

pub async fn run(settings: &NativeSettings) -> anyhow::Result<()> {
    let applied = run_migrations(&database_url(settings).await?).await?;
    if applied.is_empty() {
        println!("database is up to date ({} migrations)", migrate::MIGRATIONS.len());
    } else {
        println!("applied migrations {applied:?}");
    }
    Ok(())
}
