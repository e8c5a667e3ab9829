//! `marquee ingest movie|scheduled|batch`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use marquee::App;
use marquee::api::requests;
use marquee::config::Config;
use marquee::pipeline::ingest::{self, Outcome};
use marquee::pipeline::{batch, scheduled};
use marquee::ports::Clock;
use serde_json::{Map, Value as Json};

use super::app::{database_url, native_app, with_budget};
use super::output::{bar, print_json, run_and_print};
use crate::cli::IngestCommand;
use crate::native::{NativeDb, NativeHttp, NativeSettings, SystemClock};

pub async fn run(settings: NativeSettings, what: IngestCommand) -> anyhow::Result<()> {
    match what {
        IngestCommand::Movie { ids, force } => {
            let db = NativeDb::new(database_url(&settings).await?);
            ingest_and_print(&settings, db, &ids, force).await
        }
        IngestCommand::Scheduled { source, max_movies, pages_per_source, language, region, dry_run, budget_ms } => {
            let body = serde_json::json!({"source": source, "max_movies": max_movies, "pages_per_source": pages_per_source,
                "language": language, "region": region, "dry_run": dry_run, "budget_ms": budget_ms, "trigger_type": "manual"});
            scheduled_ingest(&with_budget(settings, budget_ms), body.as_object().cloned().unwrap_or_default()).await
        }
        IngestCommand::Batch { ids, mode, filter, cursor, limit, all_pages, budget_ms } => {
            let mut body = serde_json::json!({"mode": mode, "filter": filter, "cursor": cursor, "limit": limit, "budget_ms": budget_ms});
            if !ids.is_empty() {
                body["tmdb_ids"] = serde_json::json!(ids);
            }
            let body =
                body.as_object().cloned().unwrap_or_default().into_iter().filter(|(_, v)| !v.is_null()).collect();
            batch_ingest(&with_budget(settings, budget_ms), body, all_pages).await
        }
    }
}

/// Ingests `ids` one by one with a progress bar, then prints one line per movie; fails when
/// any movie did.
pub async fn ingest_and_print(settings: &NativeSettings, db: NativeDb, ids: &[i64], force: bool) -> anyhow::Result<()> {
    let config = Config::load(settings).await?;
    let app = App::new(db, NativeHttp::default(), SystemClock, config, "marquee-cli");
    let progress = ProgressBar::new(ids.len() as u64)
        .with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("template"));
    let mut failures = 0;
    let mut lines = Vec::new();
    let tmdb = app.tmdb(app.clock.now() + Duration::from_secs(24 * 3600));
    for &id in ids {
        progress.set_message(format!("movie {id}"));
        match ingest::ingest_movie(&app, &tmdb, id, force, None).await {
            Ok(outcome) => {
                let (how, card) = match &outcome {
                    Outcome::Cached { card, .. } => ("cached", card.clone()),
                    Outcome::Ingested { card, .. } => ("ingested", card.payload.clone()),
                };
                lines.push(describe(id, how, &card));
            }
            Err(e) => {
                failures += 1;
                lines.push(format!("{id:>8}  failed    {e}"));
            }
        }
        progress.inc(1);
    }
    tmdb.share_learned_rate().await;
    progress.finish_and_clear();
    for line in &lines {
        println!("{line}");
    }
    println!("{} movies: {} ok, {} failed", ids.len(), ids.len() - failures, failures);
    if failures > 0 { Err(anyhow::anyhow!("{failures} movie(s) failed")) } else { Ok(()) }
}

/// One line of a movie's card: its id, how it was obtained and the library's label (nothing
/// printed for what the card lacks).
fn describe(id: i64, how: &str, card: &Json) -> String {
    format!("{id:>8}  {how:<8}  {}", marquee::domain::card::label(card))
}

/// `marquee ingest scheduled`: the body is what the route would receive.
async fn scheduled_ingest(settings: &NativeSettings, body: Map<String, Json>) -> anyhow::Result<()> {
    let request = requests::scheduled(&body)?;
    let app = native_app(settings, "marquee-cli").await?;
    run_and_print("reading TMDB lists and ingesting", scheduled::scheduled_ingest(&app, &request)).await
}

/// `marquee ingest batch`: one request, or with `all_pages` every page of a reingest or
/// reprojection until the cursor runs out.
async fn batch_ingest(settings: &NativeSettings, mut body: Map<String, Json>, all_pages: bool) -> anyhow::Result<()> {
    let app = native_app(settings, "marquee-cli").await?;
    let progress = bar(0, "pages");
    loop {
        let request = requests::batch(&body)?;
        let report = batch::batch_ingest(&app, &request).await?;
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
