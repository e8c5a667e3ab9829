//! Draining the work queue within a deadline: claim due rows (and rows whose runner's lease
//! expired), ingest them with bounded concurrency, then complete, back off, or declare them
//! dead — every write under this runner's lease. What did not start goes back untouched.
//!
//! The pipe is kept full: movies start as soon as a slot frees, and the next rows are claimed
//! while half the slots are still busy, so TMDB's rate limit, not the claim-then-wait rhythm of
//! batches, bounds the drain. A movie's queue row is completed by the movie's own write.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::future::LocalBoxFuture;
use futures::stream::FuturesUnordered;

use super::ingest::{self, LEASE_MARGIN, lease_owner};
use super::persist::persist;
use super::runner::{Finished, JobResult, run_queued, start_margin};
use crate::app::App;
use crate::db::queue::{self, Claimed, Scope};
use crate::error::{Error, Result};
use crate::ports::{Clock, Database, HttpClient};
use crate::tmdb::TmdbClient;

#[derive(Debug, Default, serde::Serialize)]
pub struct DrainReport {
    pub claimed: u64,
    pub ingested: u64,
    pub fresh: u64,
    /// Attempts that failed (the row is retried later or, at its last attempt, dead).
    pub failed: u64,
    /// Rows that became `failed` now: attempts used up, or the movie is gone or rejected.
    pub dead: u64,
    /// Claimed but not started (budget, or a fatal error): back in the queue, attempt not counted.
    pub released: u64,
    /// Rows another runner took over after our lease expired: our result was not recorded.
    pub lease_lost: u64,
    /// Rows whose previous runner died with them, each run alone.
    pub suspects: u64,
    pub ingested_titles: Vec<String>,
    /// "TMDB <id>: <error>" per failed attempt.
    pub failed_titles: Vec<String>,
    /// `(tmdb_id, error)` per failed attempt, for callers that label movies their own way.
    #[serde(skip)]
    pub failures: Vec<(i64, String)>,
    #[serde(skip)]
    pub fatal: Option<Error>,
}

impl DrainReport {
    /// The error that stopped the drain (TMDB 401, missing configuration), taken out so the
    /// caller can fail the run with it while keeping the counts.
    pub fn take_fatal(&mut self) -> Result<()> {
        self.fatal.take().map_or(Ok(()), Err)
    }

    /// The run-log counts of what the drain did.
    pub fn counts(&self) -> crate::db::run_log::RunCounts {
        crate::db::run_log::RunCounts {
            movies_checked: self.claimed as i64,
            movies_skipped: self.fresh as i64,
            movies_ingested: self.ingested as i64,
            movies_failed: self.failed as i64,
            ingested_titles: self.ingested_titles.clone(),
            failed_titles: self.failed_titles.clone(),
            ..Default::default()
        }
    }
}

/// What the drain waits for: a claim, or a movie.
enum Step {
    Claimed(Result<Vec<Claimed>>),
    Finished(Box<Finished>),
}

/// Works the queue (or the part of it in `scope`) until it is empty or the deadline is near.
/// Every row is queued before it is worked, so an invocation killed at any point loses nothing:
/// its leases expire and a later drain takes the rows over.
pub async fn drain<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    tmdb: &TmdbClient<'_, H, C>,
    deadline: DateTime<Utc>,
    scope: Scope<'_>,
) -> Result<DrainReport> {
    let owner = lease_owner();
    let owner = owner.as_str();
    let concurrency = app.config.tmdb.max_in_flight.max(1);
    let budget = (deadline - app.clock.now()).to_std().unwrap_or_default();
    let start_by = deadline - start_margin(budget);
    // A lease outlives the longest a claimed movie can take: the TMDB client stops at the
    // deadline, and the write that follows is short.
    let lease = budget + LEASE_MARGIN;
    let mut report = DrainReport::default();
    let mut steps: FuturesUnordered<LocalBoxFuture<'_, Step>> = FuturesUnordered::new();
    // Claimed, not started yet.
    let mut ready: VecDeque<Claimed> = VecDeque::new();
    // Claimed, to give back untouched when the drain ends.
    let mut unstarted: Vec<i64> = Vec::new();
    let (mut running, mut claiming, mut queue_empty, mut alone) = (0, false, false, false);
    // A database error ends the drain (after the movies in flight finish) and is its result.
    let mut failure: Option<Error> = None;
    loop {
        let accepting = failure.is_none() && report.fatal.is_none() && app.clock.now() < start_by;
        // Start what is ready while slots are free. A suspect row (its previous runner died with
        // it) runs alone, so that a movie that kills its runner cannot take others down with it.
        while accepting && !alone && running < concurrency {
            let Some(next) = ready.front() else { break };
            if next.suspect && running > 0 {
                break;
            }
            let row = ready.pop_front().expect("front exists");
            alone = row.suspect;
            running += 1;
            steps.push(Box::pin(
                async move { Step::Finished(Box::new(run_queued(app, tmdb, row, owner, start_by).await)) },
            ));
        }
        // Claim the next rows while half the slots are still busy, so the pipe never runs dry.
        if accepting && !claiming && !queue_empty && !alone && ready.is_empty() && running <= concurrency / 2 {
            claiming = true;
            let limit = (concurrency - running) as i64;
            steps.push(Box::pin(async move {
                let claimed = async {
                    let rows = queue::claim(&app.db.connect().await?, owner, limit, lease, scope).await?;
                    if !rows.is_empty() {
                        // Known before the movies start, so they do not each fetch it. A failure
                        // here (e.g. 401) is reported by the movies themselves.
                        let _ = ingest::image_configuration(app, tmdb).await;
                    }
                    Ok(rows)
                }
                .await;
                Step::Claimed(claimed)
            }));
        }
        let Some(step) = steps.next().await else { break };
        match step {
            Step::Claimed(Ok(rows)) => {
                claiming = false;
                queue_empty = rows.is_empty();
                report.claimed += rows.len() as u64;
                report.suspects += rows.iter().filter(|r| r.suspect).count() as u64;
                ready.extend(rows);
            }
            Step::Claimed(Err(e)) => {
                claiming = false;
                failure.get_or_insert(e);
            }
            Step::Finished(finished) => {
                running -= 1;
                alone = false;
                let Finished { row, result, recorded } = *finished;
                match recorded {
                    Ok(true) => {}
                    Ok(false) => report.lease_lost += 1,
                    Err(e) => {
                        failure.get_or_insert(e.into());
                    }
                }
                report.record(&row, result, &mut unstarted);
            }
        }
        if !accepting {
            unstarted.extend(ready.drain(..).map(|r| r.id));
        }
    }
    unstarted.extend(ready.drain(..).map(|r| r.id));
    report.released +=
        persist(&app.clock, async || queue::release(&app.db.connect().await?, &unstarted, owner).await).await?;
    failure.map_or(Ok(report), Err)
}

impl DrainReport {
    /// Counts a finished movie; rows to give back go to `unstarted`.
    fn record(&mut self, row: &Claimed, result: JobResult, unstarted: &mut Vec<i64>) {
        match result {
            JobResult::Ingested { title } => {
                self.ingested += 1;
                self.ingested_titles.push(title);
            }
            JobResult::Fresh => self.fresh += 1,
            JobResult::NotStarted => unstarted.push(row.id),
            JobResult::Stop(e) => {
                unstarted.push(row.id);
                self.fatal.get_or_insert(e);
            }
            JobResult::Failed { error, dead } => {
                self.failed += 1;
                self.dead += u64::from(dead);
                self.failed_titles.push(format!("TMDB {}: {error}", row.tmdb_id));
                self.failures.push((row.tmdb_id, error.to_string()));
            }
        }
    }
}

/// Rows still waiting in the queue or held by a runner, for run reports; -1 when the database
/// cannot say (the report is still worth returning).
pub async fn backlog<D: Database, H: HttpClient, C: Clock>(app: &App<D, H, C>) -> i64 {
    match app.db.connect().await {
        Ok(conn) => queue::status(&conn).await.map(|s| s.queued + s.processing).unwrap_or(-1),
        Err(_) => -1,
    }
}
