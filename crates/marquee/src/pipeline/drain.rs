//! Draining the work queue within a deadline: claim due rows (and rows whose runner's lease
//! expired), ingest them with bounded concurrency, then complete, back off, or declare them
//! dead — every write under this runner's lease. What did not start goes back untouched.

use chrono::{DateTime, Utc};

use super::ingest::{LEASE_MARGIN, lease_owner};
use super::runner::{JobResult, MovieJob, run_jobs, start_margin};
use crate::app::App;
use crate::db::queue::{self, Scope};
use crate::domain::backoff::Backoff;
use crate::error::{Disposition, Error, Result};
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
    let concurrency = app.config.tmdb.max_in_flight;
    let budget = (deadline - app.clock.now()).to_std().unwrap_or_default();
    let start_by = deadline - start_margin(budget);
    // A lease outlives the longest a claimed movie can take: the TMDB client stops at the
    // deadline, and the write that follows is short.
    let lease = budget + LEASE_MARGIN;
    let mut report = DrainReport::default();
    while report.fatal.is_none() && app.clock.now() < start_by {
        let claimed = queue::claim(&app.db.connect().await?, &owner, concurrency as i64, lease, scope).await?;
        if claimed.is_empty() {
            break;
        }
        report.claimed += claimed.len() as u64;
        report.suspects += claimed.iter().filter(|c| c.suspect).count() as u64;
        let jobs: Vec<MovieJob> =
            claimed.iter().map(|c| MovieJob { tmdb_id: c.tmdb_id, force: c.reason.forces_refresh() }).collect();
        let results = run_jobs(app, tmdb, &jobs, concurrency, start_by).await;
        let conn = app.db.connect().await?;
        let mut unstarted = Vec::new();
        for (row, result) in claimed.iter().zip(results) {
            let recorded = match result {
                JobResult::Ingested { title } => {
                    report.ingested += 1;
                    report.ingested_titles.push(title);
                    queue::complete(&conn, row.id, &owner).await?
                }
                JobResult::Fresh => {
                    report.fresh += 1;
                    queue::complete(&conn, row.id, &owner).await?
                }
                JobResult::NotStarted => {
                    unstarted.push(row.id);
                    true
                }
                JobResult::Failed(e) => match e.disposition() {
                    Disposition::Unfinished => {
                        unstarted.push(row.id);
                        true
                    }
                    Disposition::StopRun => {
                        unstarted.push(row.id);
                        report.fatal = Some(e);
                        true
                    }
                    disposition => {
                        let permanent = disposition == Disposition::Permanent;
                        report.failed += 1;
                        report.failed_titles.push(format!("TMDB {}: {e}", row.tmdb_id));
                        report.failures.push((row.tmdb_id, e.to_string()));
                        if permanent || row.attempts >= row.max_attempts {
                            report.dead += 1;
                        }
                        let retry_in = Backoff::QUEUE.delay(row.attempts.max(1) as u32, fastrand::f64());
                        queue::fail(&conn, row.id, &owner, &e.to_string(), retry_in, permanent).await?
                    }
                },
            };
            if !recorded {
                report.lease_lost += 1;
            }
        }
        report.released += queue::release(&conn, &unstarted, &owner).await?;
    }
    Ok(report)
}

/// Rows still waiting in the queue or held by a runner, for run reports; -1 when the database
/// cannot say (the report is still worth returning).
pub async fn backlog<D: Database, H: HttpClient, C: Clock>(app: &App<D, H, C>) -> i64 {
    match app.db.connect().await {
        Ok(conn) => queue::status(&conn).await.map(|s| s.queued + s.processing).unwrap_or(-1),
        Err(_) => -1,
    }
}
