//! Draining the work queue within a deadline: claim due rows (and rows whose runner's lease
//! expired), ingest them with bounded concurrency, then complete, back off, or declare them
//! dead — every write under this runner's lease. What did not start goes back untouched.

use chrono::{DateTime, Utc};

use super::batch_work::{Job, JobResult, is_fatal, run_jobs, start_margin};
use super::ingest::lease_owner;
use crate::app::App;
use crate::db::queue;
use crate::domain::backoff::Backoff;
use crate::error::{Error, Result};
use crate::ports::{Clock, Database, HttpClient};
use crate::tmdb::{TmdbClient, TmdbError};

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
    pub ingested_titles: Vec<String>,
    pub failed_titles: Vec<String>,
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
    pub fn counts(&self) -> crate::db::runs::RunCounts {
        crate::db::runs::RunCounts {
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

pub async fn drain<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    tmdb: &TmdbClient<'_, H, C>,
    deadline: DateTime<Utc>,
) -> Result<DrainReport> {
    let conn = app.db.connect().await?;
    let owner = lease_owner();
    let concurrency = app.config.tmdb.max_in_flight;
    let budget = (deadline - app.clock.now()).to_std().unwrap_or_default();
    let start_by = deadline - start_margin(budget);
    // A lease outlives the longest a claimed movie can take: the budget plus one request.
    let lease = budget + app.config.tmdb.request_timeout * 2;
    let mut report = DrainReport::default();
    while report.fatal.is_none() && app.clock.now() < start_by {
        let claimed = queue::claim(&conn, &owner, concurrency as i64, lease).await?;
        if claimed.is_empty() {
            break;
        }
        report.claimed += claimed.len() as u64;
        let jobs: Vec<Job> =
            claimed.iter().map(|c| Job { tmdb_id: c.tmdb_id, force: c.reason.forces_refresh(), label: None }).collect();
        let results = run_jobs(app, tmdb, &jobs, concurrency, start_by).await;
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
                JobResult::Failed(e) if is_fatal(&e) => {
                    unstarted.push(row.id);
                    report.fatal = Some(e);
                    true
                }
                JobResult::Failed(e) => {
                    report.failed += 1;
                    report.failed_titles.push(format!("TMDB {}: {e}", row.tmdb_id));
                    // A movie TMDB no longer has, or that the catalog refuses, will not improve.
                    let permanent =
                        matches!(e, Error::Gone { .. } | Error::Rejected { .. } | Error::Tmdb(TmdbError::NotFound));
                    if permanent || row.attempts >= row.max_attempts {
                        report.dead += 1;
                    }
                    let retry_in = Backoff::QUEUE.delay(row.attempts.max(1) as u32, fastrand::f64());
                    queue::fail(&conn, row.id, &owner, &e.to_string(), retry_in, permanent).await?
                }
            };
            if !recorded {
                report.lease_lost += 1;
            }
        }
        report.released += queue::release(&conn, &unstarted, &owner).await?;
    }
    Ok(report)
}
