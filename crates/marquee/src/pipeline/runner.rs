//! The concurrent runner of queued movies: bounded concurrency, one shared TMDB client, and a
//! deadline after which nothing new starts (what did not start is reported, to go back to the
//! queue). An error that stops the run (TMDB 401) stops everything that has not started yet.

use std::cell::Cell;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::ingest::{self, Outcome};
use crate::app::App;
use crate::domain::card::title_year;
use crate::error::Error;
use crate::ports::{Clock, Database, HttpClient};
use crate::tmdb::TmdbClient;

/// One movie to ingest.
#[derive(Debug, Clone, PartialEq)]
pub struct MovieJob {
    pub tmdb_id: i64,
    /// Refetch even when the stored movie looks fresh.
    pub force: bool,
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

/// Runs `jobs` with at most `concurrency` at once; results are in the jobs' order.
pub async fn run_jobs<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    tmdb: &TmdbClient<'_, H, C>,
    jobs: &[MovieJob],
    concurrency: usize,
    start_by: DateTime<Utc>,
) -> Vec<JobResult> {
    if jobs.len() > 1 {
        // Known before the jobs start, so they do not each fetch it. A failure here (e.g. 401)
        // is reported by the jobs themselves.
        let _ = ingest::image_configuration(app, tmdb).await;
    }
    let stopped = Cell::new(false);
    let stopped = &stopped;
    let mut results: Vec<(usize, JobResult)> = futures::stream::iter(jobs.iter().enumerate())
        .map(|(i, job)| async move {
            if stopped.get() || app.clock.now() >= start_by {
                return (i, JobResult::NotStarted);
            }
            let result = match ingest::ingest_movie(app, tmdb, job.tmdb_id, job.force).await {
                Ok(Outcome::Ingested { card, .. }) => JobResult::Ingested { title: card_label(&card.payload) },
                Ok(Outcome::Cached { .. }) => JobResult::Fresh,
                Err(e) => {
                    if e.stops_run() {
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

/// The run log's label of an ingested movie, from its card.
fn card_label(card: &serde_json::Value) -> String {
    title_year(card["title"].as_str(), card["year"].as_i64())
}
