//! `batch-ingest`: queue a list of ids, or page through the catalog (reingest), then drain the
//! queue within the budget; or only drain it (drain: what scheduled calls use to work through a
//! backlog, e.g. an imported TMDB export); or re-derive everything from stored raw responses
//! (reproject) without calling TMDB.

use std::time::Duration;

use serde::Serialize;

use super::drain::{DrainReport, backlog, drain};
use super::ingest::{self, lease_owner};
use super::run::{Run, RunOutcome};
use crate::app::App;
use crate::db::{queue, run_log, tmdb_config, works};
use crate::domain::movie;
use crate::domain::states::WorkStatus;
use crate::error::{Error, Result};
use crate::ports::{Clock, Database, HttpClient};
use crate::tmdb::types::MovieDetails;

/// Most ids one request may name.
pub const MAX_IDS: usize = 1000;
/// Most catalog rows one reingest/reproject page may cover.
pub const MAX_PAGE: i64 = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub enum BatchMode {
    Ids(Vec<i64>),
    Reingest {
        filter: works::Filter,
        cursor: i64,
        limit: i64,
    },
    /// Queue nothing: drain the queue within the budget.
    Drain,
    Reproject {
        cursor: i64,
        limit: i64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchRequest {
    pub mode: BatchMode,
    pub trigger_type: String,
    pub budget: Option<Duration>,
}

#[derive(Debug, Serialize)]
pub struct BatchReport {
    #[serde(flatten)]
    pub run: RunOutcome,
    pub mode: &'static str,
    /// Rows newly added to the queue by this request.
    pub queued: u64,
    /// Reingest/reproject: pass this back as `cursor` for the next page; `null` when done.
    pub next_cursor: Option<i64>,
    /// Reproject: movies re-derived from their stored response.
    pub reprojected: u64,
    pub drain: Option<DrainReport>,
    /// Rows still waiting in the queue after this request.
    pub remaining: i64,
    pub tmdb_calls: u64,
}

pub async fn batch_ingest<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    request: &BatchRequest,
) -> Result<BatchReport> {
    let mode = match request.mode {
        BatchMode::Ids(_) => "ids",
        BatchMode::Reingest { .. } => "reingest",
        BatchMode::Drain => "drain",
        BatchMode::Reproject { .. } => "reproject",
    };
    let run = Run::open(app, &format!("batch:{mode}"), &request.trigger_type, request.budget, false).await?;
    let deadline = run.deadline;
    let tmdb = app.tmdb(deadline);
    let mut report = BatchReport {
        run: run.pending(),
        mode,
        queued: 0,
        next_cursor: None,
        reprojected: 0,
        drain: None,
        remaining: 0,
        tmdb_calls: 0,
    };

    let result: Result<()> = async {
        match &request.mode {
            BatchMode::Ids(ids) => {
                report.queued = queue::enqueue(&app.db.connect().await?, ids, queue::Reason::Batch, 5).await?;
            }
            BatchMode::Reingest { filter, cursor, limit } => {
                let conn = app.db.connect().await?;
                let page = works::page(&conn, *filter, *cursor, *limit).await?;
                report.next_cursor = (page.len() as i64 == *limit).then(|| page.last().map(|(w, _)| *w)).flatten();
                let ids: Vec<i64> = page.iter().map(|(_, t)| *t).collect();
                let reason = if *filter == works::Filter::Stale { queue::Reason::Stale } else { queue::Reason::Manual };
                report.queued = queue::enqueue(&conn, &ids, reason, 1).await?;
            }
            BatchMode::Drain => {}
            BatchMode::Reproject { cursor, limit } => {
                let (done, next) = reproject(app, *cursor, *limit, deadline).await?;
                report.reprojected = done;
                report.next_cursor = next;
                return Ok(());
            }
        }
        let drained = report.drain.insert(drain(app, &tmdb, deadline, queue::Scope::All).await?);
        drained.take_fatal()
    }
    .await;

    report.remaining = backlog(app).await;
    let mut counts = counts_of(&report);
    let partial = counts.movies_failed > 0 || report.remaining > 0 || report.next_cursor.is_some();
    report.run = run.close(app, &tmdb, &result, partial, None, &mut counts).await?;
    report.tmdb_calls = counts.tmdb_calls as u64;
    result.map(|()| report)
}

fn counts_of(report: &BatchReport) -> run_log::RunCounts {
    let reprojected = report.reprojected as i64;
    let base = report.drain.as_ref().map_or(
        run_log::RunCounts { movies_checked: reprojected, movies_ingested: reprojected, ..Default::default() },
        DrainReport::counts,
    );
    run_log::RunCounts { movies_queued: report.queued as i64, ..base }
}

/// Re-derives meta, facts, score and card from each stored raw response (no TMDB call), under
/// the same lease and transaction as an ingest. Needs TMDB's image configuration in the cache.
async fn reproject<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    cursor: i64,
    limit: i64,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Result<(u64, Option<i64>)> {
    let conn = &app.db.connect().await?;
    let images = cached_images(conn).await?;
    let page = works::raw_page(conn, cursor, limit).await?;
    let owner = lease_owner();
    let mut done = 0;
    let mut last = None;
    for (work_id, tmdb_id, raw) in &page {
        if app.clock.now() >= deadline {
            return Ok((done, last));
        }
        if reproject_work(app, conn, &images, &owner, *tmdb_id, raw).await? == Reprojected::Written {
            done += 1;
        }
        last = Some(*work_id);
    }
    Ok((done, if page.len() as i64 == limit { last } else { None }))
}

/// TMDB's image configuration from the cache, which reprojection needs.
pub async fn cached_images(conn: &impl crate::ports::Connection) -> Result<crate::tmdb::types::ImageConfiguration> {
    Ok(tmdb_config::cached(conn, None)
        .await?
        .ok_or_else(|| Error::BadRequest("no TMDB image configuration is cached yet: ingest one movie first".into()))?
        .images)
}

/// What reprojecting one movie did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reprojected {
    Written,
    /// The catalog refuses what the stored response says (adult, untitled): marked rejected.
    Refused,
    /// The stored response cannot be read as a movie: marked failed.
    Unreadable,
    /// Another invocation holds the movie's lease: left alone.
    Busy,
}

/// Re-derives one movie from its stored response `raw`, under its ingest lease.
pub async fn reproject_work<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    conn: &impl crate::ports::Connection,
    images: &crate::tmdb::types::ImageConfiguration,
    owner: &str,
    tmdb_id: i64,
    raw: &serde_json::Value,
) -> Result<Reprojected> {
    let Some(claim) = works::claim(conn, tmdb_id, owner, app.config.time_budget, true).await? else {
        return Ok(Reprojected::Busy);
    };
    let stored = MovieDetails::from_response(raw).map_err(|e| e.to_string());
    match stored.map(|d| movie::normalize(&d, images)) {
        Ok(Ok(record)) => {
            let store = ingest::Store { function: app.function, now: app.clock.now(), claim: &claim, owner, images };
            ingest::store_record(conn, &store, &record, raw, Default::default()).await?;
            Ok(Reprojected::Written)
        }
        Ok(Err(rejection)) => {
            let refusal = works::Refusal {
                status: WorkStatus::Rejected,
                tmdb_id,
                reason: rejection.reason(),
                detail: "refused on reprojection",
                function: app.function,
            };
            ingest::refuse(conn, claim.work_id, owner, &refusal).await?;
            Ok(Reprojected::Refused)
        }
        Err(e) => {
            works::mark_failed(conn, claim.work_id, owner, &format!("stored response unreadable: {e}")).await?;
            Ok(Reprojected::Unreadable)
        }
    }
}
