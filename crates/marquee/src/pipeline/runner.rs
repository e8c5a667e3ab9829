//! One queued movie, start to finish: its ingest (which completes the queue row in the movie's
//! own write), then whatever else its queue row needs (completed when the movie was already
//! fresh, failed with a backoff) — every queue write under the drain's lease. The drain
//! (`pipeline::drain`) runs many of these at once.

use chrono::{DateTime, Utc};

use super::ingest::{self, Outcome};
use super::persist::persist;
use crate::app::App;
use crate::db::catalog::QueueRow;
use crate::db::queue::{self, Claimed};
use crate::domain::backoff::Backoff;
use crate::domain::card::title_year_of;
use crate::error::{Disposition, Error};
use crate::ports::{Clock, Database, DbError, HttpClient};
use crate::tmdb::TmdbClient;

#[derive(Debug)]
pub enum JobResult {
    /// Fetched and written now; "Title (Year)".
    Ingested { title: String },
    /// Already fresh when its turn came (e.g. another run just ingested it).
    Fresh,
    /// The attempt failed; `dead`: the row is now `failed` for good (attempts used up, or the
    /// failure is permanent).
    Failed { error: Error, dead: bool },
    /// Not started (the deadline came), or started but its TMDB fetch ran out of budget: back to
    /// the queue, the attempt not counted.
    NotStarted,
    /// An error that stops the run (TMDB 401, missing configuration): the row goes back like
    /// [`JobResult::NotStarted`], and nothing else starts.
    Stop(Error),
}

/// A finished queued movie: its row, what happened, and whether its queue row was recorded under
/// our lease (`Ok(false)`: another runner took the row over after our lease expired; `Err`: the
/// database could not take the record, and the row stays with our lease until it expires).
pub struct Finished {
    pub row: Claimed,
    pub result: JobResult,
    pub recorded: Result<bool, DbError>,
}

/// How soon a movie is tried again when the database, not the movie, failed its attempt
/// ([`Disposition::RetrySoon`]).
pub const RETRY_SOON: std::time::Duration = std::time::Duration::from_secs(1);

/// Leaves this much of the budget unused when deciding whether to start one more movie: one
/// ingest is a TMDB request plus a write, normally well under a second.
pub fn start_margin(budget: std::time::Duration) -> std::time::Duration {
    (budget / 10).clamp(std::time::Duration::from_millis(200), std::time::Duration::from_secs(3))
}

/// Ingests the movie of a claimed queue row and records the outcome on the row, unless the
/// deadline (`start_by`) has come. Rows that go back to the queue untouched are left to the
/// caller, which gives them back together.
pub async fn run_queued<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    tmdb: &TmdbClient<'_, H, C>,
    row: Claimed,
    owner: &str,
    start_by: DateTime<Utc>,
) -> Finished {
    if app.clock.now() >= start_by {
        return Finished { row, result: JobResult::NotStarted, recorded: Ok(true) };
    }
    let queue_row = QueueRow { id: row.id, owner };
    let outcome = ingest::ingest_movie(app, tmdb, row.tmdb_id, row.reason.forces_refresh(), Some(queue_row)).await;
    let (result, recorded) = match outcome {
        Ok(Outcome::Ingested { card, queue_completed, .. }) => {
            (JobResult::Ingested { title: title_year_of(&card.payload) }, Ok(queue_completed))
        }
        Ok(Outcome::Cached { .. }) => {
            let completed =
                persist(&app.clock, async || queue::complete(&app.db.connect().await?, row.id, owner).await).await;
            (JobResult::Fresh, completed)
        }
        Err(error) => match error.disposition() {
            Disposition::Unfinished => (JobResult::NotStarted, Ok(true)),
            Disposition::StopRun => (JobResult::Stop(error), Ok(true)),
            disposition => {
                let permanent = disposition == Disposition::Permanent;
                let dead = permanent || row.attempts >= row.max_attempts;
                let retry_in = match disposition {
                    Disposition::RetrySoon => RETRY_SOON,
                    _ => Backoff::QUEUE.delay(row.attempts.max(1) as u32, fastrand::f64()),
                };
                let message = error.to_string();
                let failed = persist(&app.clock, async || {
                    queue::fail(&app.db.connect().await?, row.id, owner, &message, retry_in, permanent).await
                })
                .await;
                (JobResult::Failed { error, dead }, failed)
            }
        },
    };
    Finished { row, result, recorded }
}
