//! `marquee queue status|drain|retry-failed`.

use std::time::Duration;

use marquee::db::queue;
use marquee::pipeline::drain;
use marquee::ports::{Clock, Database};

use super::app::native_app;
use super::output::{bar, print_json};
use crate::cli::QueueCommand;
use crate::native::NativeSettings;

pub async fn run(settings: &NativeSettings, what: QueueCommand) -> anyhow::Result<()> {
    match what {
        QueueCommand::Status => status(settings).await,
        QueueCommand::Drain { budget_secs } => drain(settings, Duration::from_secs(budget_secs)).await,
        QueueCommand::RetryFailed { ids } => retry_failed(settings, &ids).await,
    }
}

async fn status(settings: &NativeSettings) -> anyhow::Result<()> {
    let app = native_app(settings, "marquee-cli").await?;
    let conn = app.db.connect().await?;
    print_json(&queue::status(&conn).await?);
    Ok(())
}

/// Drains due rows for up to `budget`, in slices of the configured invocation budget, with a
/// progress bar over the rows that were due at the start.
async fn drain(settings: &NativeSettings, budget: Duration) -> anyhow::Result<()> {
    let app = native_app(settings, "marquee-cli").await?;
    let due = queue::status(&app.db.connect().await?).await?.due;
    let progress = bar(due.max(0) as u64, "rows");
    let ends = app.clock.now() + budget;
    let (mut ingested, mut failed, mut fresh) = (0, 0, 0);
    while app.clock.now() < ends {
        let deadline = (app.clock.now() + app.config.time_budget).min(ends);
        let tmdb = app.tmdb(deadline);
        let report = drain::drain(&app, &tmdb, deadline, queue::Scope::All).await;
        tmdb.share_learned_rate().await;
        let report = report?;
        ingested += report.ingested;
        failed += report.failed;
        fresh += report.fresh;
        progress.inc(report.ingested + report.failed + report.fresh);
        if let Some(fatal) = report.fatal {
            progress.finish_and_clear();
            return Err(fatal.into());
        }
        if report.claimed == 0 {
            break;
        }
    }
    progress.finish_and_clear();
    let status = queue::status(&app.db.connect().await?).await?;
    println!(
        "drained: {ingested} ingested, {fresh} already fresh, {failed} failed attempts; queue now: {} queued ({} due), {} failed",
        status.queued, status.due, status.failed
    );
    Ok(())
}

async fn retry_failed(settings: &NativeSettings, ids: &[i64]) -> anyhow::Result<()> {
    let app = native_app(settings, "marquee-cli").await?;
    let conn = app.db.connect().await?;
    let n = queue::retry_failed(&conn, if ids.is_empty() { None } else { Some(ids) }).await?;
    println!("requeued {n} failed row(s)");
    Ok(())
}
