//! Ingesting many movies in one invocation: bounded concurrency, one shared TMDB client, and a
//! deadline after which nothing new starts (what did not start is reported, to be queued).
//! A TMDB 401 stops everything that has not started yet.

use std::cell::Cell;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::ingest::{self, Outcome};
use crate::app::App;
use crate::error::Error;
use crate::ports::{Clock, Database, HttpClient};
use crate::tmdb::{TmdbClient, TmdbError};

/// One movie to ingest, with a label for the run log when it is known (from a TMDB list).
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub tmdb_id: i64,
    pub force: bool,
    pub label: Option<String>,
}

#[derive(Debug)]
pub enum JobResult {
    /// Fetched and written now; "Title (Year)".
    Ingested {
        title: String,
    },
    /// Already fresh when its turn came (e.g. another run just ingested it).
    Fresh,
    Failed(Error),
    /// Not started (the budget ran out, or the run stopped on a fatal error), or started but
    /// its TMDB fetch ran out of budget: either way, work to queue for a later run.
    NotStarted,
}

/// Leaves this much of the budget unused when deciding whether to start one more movie: one
/// ingest is a TMDB request plus a write, normally well under a second.
pub fn start_margin(budget: Duration) -> Duration {
    (budget / 10).clamp(Duration::from_millis(200), Duration::from_secs(3))
}

/// Whether an error must stop the whole run (our credentials are wrong: every call would fail).
pub fn is_fatal(error: &Error) -> bool {
    matches!(error, Error::Tmdb(TmdbError::Unauthorized { .. }) | Error::Config(_))
}

/// Runs `jobs` with at most `concurrency` at once; results are in the jobs' order.
pub async fn run_jobs<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    tmdb: &TmdbClient<'_, H, C>,
    jobs: &[Job],
    concurrency: usize,
    start_by: DateTime<Utc>,
) -> Vec<JobResult> {
    if jobs.len() > 1 {
        // Known before the jobs start, so they do not each fetch it. A failure here (e.g. 401)
        // is reported by the jobs themselves.
        if let Ok(conn) = app.db.connect().await {
            let _ = ingest::image_configuration(&conn, tmdb).await;
        }
    }
    let stopped = Cell::new(false);
    let stopped = &stopped;
    let mut results: Vec<(usize, JobResult)> = futures::stream::iter(jobs.iter().enumerate())
        .map(|(i, job)| async move {
            if stopped.get() || app.clock.now() >= start_by {
                return (i, JobResult::NotStarted);
            }
            let result = match ingest::ingest_movie(app, tmdb, job.tmdb_id, job.force).await {
                Ok(Outcome::Ingested { card, .. }) => JobResult::Ingested { title: title_year(&card.payload) },
                Ok(Outcome::Cached { .. }) => JobResult::Fresh,
                // The budget ran out before TMDB answered: not the movie's failure, left to queue.
                Err(Error::Tmdb(TmdbError::OutOfTime { .. })) => JobResult::NotStarted,
                Err(e) => {
                    if is_fatal(&e) {
                        stopped.set(true);
                    }
                    JobResult::Failed(e)
                }
            };
            (i, result)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// "Title (Year)", as the old run log wrote it.
pub fn title_year(card: &serde_json::Value) -> String {
    let title = card["title"].as_str().unwrap_or("?");
    match card["year"].as_i64() {
        Some(year) => format!("{title} ({year})"),
        None => title.to_owned(),
    }
}
