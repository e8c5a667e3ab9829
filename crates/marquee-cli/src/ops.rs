//! Operator commands over the library, natively: scheduled and batch ingest, and the queue.
//! Requests go through the same validation as the HTTP routes.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use marquee::App;
use marquee::api::requests;
use marquee::config::Config;
use marquee::db::queue::{self, Scope};
use marquee::db::sync;
use marquee::pipeline::{batch, drain, refresh, scheduled};
use marquee::ports::{Clock, Database};
use serde_json::{Map, Value as Json};

use crate::native::{NativeDb, NativeHttp, NativeSettings, SystemClock};

pub type NativeApp = App<NativeDb, NativeHttp, SystemClock>;

pub fn database_url(settings: &NativeSettings) -> Result<String, String> {
    settings.value("database_url").map(str::to_owned).ok_or_else(|| "DATABASE_URL is not set".into())
}

pub async fn native_app(settings: &NativeSettings, function: &'static str) -> Result<NativeApp, String> {
    let url = database_url(settings)?;
    let config = Config::load(settings).await.map_err(|e| e.to_string())?;
    Ok(App::new(NativeDb::new(url), NativeHttp::default(), SystemClock, config, function))
}

fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(value).expect("reports serialise"));
}

fn bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len)
        .with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed}]").expect("template"));
    bar.set_message(message.to_owned());
    bar
}

/// Runs `work` with a spinner on stderr, then prints its report as JSON on stdout.
async fn run_and_print<T: serde::Serialize, E: std::fmt::Display>(
    message: &'static str,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<(), String> {
    let spinner = ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(Duration::from_millis(200));
    let report = work.await;
    spinner.finish_and_clear();
    print_json(&report.map_err(|e| e.to_string())?);
    Ok(())
}

/// `marquee ingest scheduled`: the body is what the route would receive.
pub async fn scheduled_ingest(settings: &NativeSettings, body: Map<String, Json>) -> Result<(), String> {
    let request = requests::scheduled(&body).map_err(|e| e.to_string())?;
    let app = native_app(settings, "marquee-cli").await?;
    run_and_print("reading TMDB lists and ingesting", scheduled::scheduled_ingest(&app, &request)).await
}

/// `marquee ingest batch`: one request, or with `all_pages` every page of a reingest or
/// reprojection until the cursor runs out.
pub async fn batch_ingest(
    settings: &NativeSettings,
    mut body: Map<String, Json>,
    all_pages: bool,
) -> Result<(), String> {
    let app = native_app(settings, "marquee-cli").await?;
    let progress = bar(0, "pages");
    loop {
        let request = requests::batch(&body).map_err(|e| e.to_string())?;
        let report = batch::batch_ingest(&app, &request).await.map_err(|e| e.to_string())?;
        progress.inc_length(1);
        progress.inc(1);
        let next = report.next_cursor;
        progress.suspend(|| print_json(&report));
        match next {
            Some(cursor) if all_pages => {
                body.insert("cursor".into(), cursor.into());
            }
            _ => break,
        }
    }
    progress.finish_and_clear();
    Ok(())
}

pub async fn queue_status(settings: &NativeSettings) -> Result<(), String> {
    let app = native_app(settings, "marquee-cli").await?;
    let conn = app.db.connect().await.map_err(|e| e.to_string())?;
    print_json(&queue::status(&conn).await.map_err(|e| e.to_string())?);
    Ok(())
}

/// Drains due rows for up to `budget`, in slices of the configured invocation budget, with a
/// progress bar over the rows that were due at the start.
pub async fn queue_drain(settings: &NativeSettings, budget: Duration) -> Result<(), String> {
    let app = native_app(settings, "marquee-cli").await?;
    let due = queue::status(&app.db.connect().await.map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?.due;
    let progress = bar(due.max(0) as u64, "rows");
    let ends = app.clock.now() + budget;
    let (mut ingested, mut failed, mut fresh) = (0, 0, 0);
    while app.clock.now() < ends {
        let deadline = (app.clock.now() + app.config.time_budget).min(ends);
        let tmdb = app.tmdb(deadline);
        let report = drain::drain(&app, &tmdb, deadline, Scope::All).await.map_err(|e| e.to_string())?;
        ingested += report.ingested;
        failed += report.failed;
        fresh += report.fresh;
        progress.inc(report.ingested + report.failed + report.fresh);
        if let Some(fatal) = report.fatal {
            progress.finish_and_clear();
            return Err(fatal.to_string());
        }
        if report.claimed == 0 {
            break;
        }
    }
    progress.finish_and_clear();
    let status = queue::status(&app.db.connect().await.map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?;
    println!(
        "drained: {ingested} ingested, {fresh} already fresh, {failed} failed attempts; queue now: {} queued ({} due), {} failed",
        status.queued, status.due, status.failed
    );
    Ok(())
}

pub async fn retry_failed(settings: &NativeSettings, ids: &[i64]) -> Result<(), String> {
    let app = native_app(settings, "marquee-cli").await?;
    let conn = app.db.connect().await.map_err(|e| e.to_string())?;
    let n =
        queue::retry_failed(&conn, if ids.is_empty() { None } else { Some(ids) }).await.map_err(|e| e.to_string())?;
    println!("requeued {n} failed row(s)");
    Ok(())
}

/// `marquee refresh`: what `POST /functions/v1/daily-refresh` does.
pub async fn daily_refresh(settings: &NativeSettings, body: Map<String, Json>) -> Result<(), String> {
    let request = requests::refresh(&body).map_err(|e| e.to_string())?;
    let app = native_app(settings, "marquee-cli").await?;
    run_and_print("reading the changes feed, queueing and draining", refresh::daily_refresh(&app, &request)).await
}

pub async fn sync_status(settings: &NativeSettings, manifest: &std::path::Path) -> Result<(), String> {
    let app = native_app(settings, "marquee-cli").await?;
    let schedule = crate::schedule::read_or_shipped(manifest)?;
    let report = sync_report(&app, &schedule).await.map_err(|e| e.to_string())?;
    eprintln!("{}", report["schedule"]["verdict"].as_str().unwrap_or_default());
    print_json(&report);
    Ok(())
}

/// What `marquee sync status` prints: the cursors, the stale count, the queue, and the
/// schedule's capacity against the catalog's need.
pub async fn sync_report(app: &NativeApp, schedule: &crate::schedule::Schedule) -> marquee::Result<Json> {
    let refresh_route = marquee::api::ROUTES.iter().find(|r| r.handler == marquee::api::Handler::DailyRefresh);
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
