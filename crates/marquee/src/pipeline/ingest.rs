//! `ingest-movie`: ingest or refresh one movie and return its card.
//!
//! Fresh and complete → the stored card, no TMDB call. Being ingested elsewhere → wait (up to
//! `ingest_wait`) for that result. Otherwise take the lease, make one TMDB request, and write
//! everything in one transaction.

use std::time::Duration;

use serde_json::Value as Json;

use crate::app::App;
use crate::db::catalog::{AlsoRecord, QueueRow};
use crate::db::{api_logs, cards, catalog, tmdb_config, works};
use crate::domain::card::{self, Card};
use crate::domain::movie::{self, MovieRecord};
use crate::domain::score::{self, RatingInput};
use crate::domain::staleness;
use crate::domain::states::WorkStatus;
use crate::error::{Disposition, Error, Result};
use crate::log;
use crate::pipeline::persist::persist;
use crate::ports::{Clock, Connection, Database, HttpClient};
use crate::tmdb::types::{ImageConfiguration, MovieDetails};
use crate::tmdb::{TmdbClient, TmdbError};

/// How often a waiting invocation looks at the other one's progress.
const WAIT_POLL: Duration = Duration::from_millis(200);
/// How often a movie's write transaction is tried when PostgreSQL aborts it for a deadlock or a
/// serialization failure.
const WRITE_TRIES: u32 = 3;
/// A lease outlives the invocation's budget by this much, so a slow but live ingest keeps it.
pub(crate) const LEASE_MARGIN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Served from `work_cards_cache` without calling TMDB.
    Cached { work_id: i64, card: Json, etag: String },
    /// Fetched and written now. `changes` is the change-log entry (empty on a first ingest or
    /// when nothing tracked changed). `queue_completed`: the queue row given to the ingest was
    /// completed by the movie's own write.
    Ingested { work_id: i64, card: Card, changes: serde_json::Map<String, Json>, queue_completed: bool },
}

/// Ingests one movie asked for on its own (the `ingest-movie` route, a customer's on-demand
/// ingest): with a TMDB client of its own for the invocation's budget from `started`, whose
/// learned rate is then shared with the other invocations.
pub async fn ingest_requested<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    started: chrono::DateTime<chrono::Utc>,
    tmdb_id: i64,
    force: bool,
) -> Result<Outcome> {
    let tmdb = app.tmdb(app.deadline(started));
    let ingested = ingest_movie(app, &tmdb, tmdb_id, force, None).await;
    tmdb.share_learned_rate().await;
    ingested
}

/// Ingests one movie with `tmdb`, the invocation's TMDB client (one rate limiter for every
/// movie of the invocation). The movie's write also records the client's pending call log and
/// completes `queue_row` when given (a drain's claimed row); whatever is left of the call log is
/// written when done. Holds a database connection only while it talks to the database, never
/// while it waits for TMDB.
pub async fn ingest_movie<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    tmdb: &TmdbClient<'_, H, C>,
    tmdb_id: i64,
    force: bool,
    queue_row: Option<QueueRow<'_>>,
) -> Result<Outcome> {
    let started = app.clock.now();
    // Someone asking for one movie expects the cache to answer: read the card first. A queued
    // movie was queued to be fetched: the claim below refuses a fresh movie by itself, so the
    // card is read only when the claim is refused.
    if !force
        && queue_row.is_none()
        && let Some(cached) = fresh_card(&app.db.connect().await?, tmdb_id).await?
    {
        return Ok(cached);
    }
    let owner = lease_owner();
    // Wait for another invocation's result, but never past this invocation's deadline.
    let wait_until =
        tmdb.deadline().map_or(started + app.config.ingest_wait, |d| d.min(started + app.config.ingest_wait));
    let claim = loop {
        {
            let conn = app.db.connect().await?;
            if let Some(claim) =
                works::claim(&conn, tmdb_id, &owner, app.config.time_budget + LEASE_MARGIN, force).await?
            {
                break claim;
            }
            // Not claimed: either it is fresh now (another invocation just finished) or someone
            // holds a live lease.
            if let Some(cached) = fresh_card(&conn, tmdb_id).await? {
                return Ok(cached);
            }
            if let Some(state) = works::lookup(&conn, tmdb_id).await?
                && state.status == WorkStatus::Gone
                && !state.lease_live
            {
                return Err(Error::Gone { tmdb_id });
            }
        }
        if app.clock.now() >= wait_until {
            let waited_ms = (app.clock.now() - started).num_milliseconds().max(0) as u128;
            return Err(Error::Busy { tmdb_id, waited_ms });
        }
        app.clock.sleep(WAIT_POLL).await;
    };

    if app.config.tmdb.auth.is_none() {
        works::abandon(&app.db.connect().await?, &claim, &owner).await?;
        return Err(crate::config::ConfigError::Missing {
            setting: "tmdb_token",
            consequence: "set it (preferred) or `tmdb_api_key` to call TMDB",
        }
        .into());
    }
    let result = fetch_and_store(app, tmdb, &claim, &owner, tmdb_id, queue_row).await;
    flush_api_logs(app, tmdb).await;
    result
}

/// Writes the TMDB calls logged so far to `tmdb_api_logs`, in one statement. A failure here is
/// logged, never fatal: the catalog matters more than its call log.
pub async fn flush_api_logs<D: Database, H: HttpClient, C: Clock>(app: &App<D, H, C>, tmdb: &TmdbClient<'_, H, C>) {
    let calls = tmdb.take_calls();
    if calls.is_empty() {
        return;
    }
    let written = match app.db.connect().await {
        Ok(conn) => api_logs::insert_batch(&conn, app.function, &calls).await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        log::event(
            "warn",
            app.function,
            "could not write tmdb_api_logs",
            serde_json::json!({"error": e.to_string(), "calls": calls.len()}),
        );
    }
}

/// The stored card when the movie is complete and not stale.
async fn fresh_card(conn: &impl Connection, tmdb_id: i64) -> Result<Option<Outcome>> {
    let served = cards::serve_if_fresh(conn, tmdb_id).await?;
    Ok(served.map(|c| Outcome::Cached { work_id: c.work_id, card: c.payload, etag: c.etag }))
}

/// Records under the lease that the catalog refuses the movie (gone or rejected); a writer that
/// lost its lease records nothing and learns it.
pub(crate) async fn refuse(
    conn: &impl Connection,
    work_id: i64,
    owner: &str,
    refusal: &works::Refusal<'_>,
) -> Result<()> {
    if works::refuse(conn, work_id, owner, refusal).await? {
        Ok(())
    } else {
        Err(Error::LeaseLost { tmdb_id: refusal.tmdb_id })
    }
}

async fn fetch_and_store<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    tmdb: &TmdbClient<'_, H, C>,
    claim: &works::Claim,
    owner: &str,
    tmdb_id: i64,
    queue_row: Option<QueueRow<'_>>,
) -> Result<Outcome> {
    let fetched = async {
        let images = image_configuration(app, tmdb).await?;
        let (details, raw) = tmdb.movie(tmdb_id).await?;
        Ok::<_, Error>((images, details, raw))
    }
    .await;
    // What ends the claim is recorded whatever the database is going through (`persist`), each
    // time on a session of its own: a lease left held would keep the movie from every runner
    // until it runs out (the budget + 30 s).
    let refusal = |status, reason, detail| works::Refusal { status, tmdb_id, reason, detail, function: app.function };
    let refuse = async |refusal: works::Refusal<'_>| {
        let refused =
            persist(&app.clock, async || works::refuse(&app.db.connect().await?, claim.work_id, owner, &refusal).await);
        if refused.await? { Ok(()) } else { Err(Error::LeaseLost { tmdb_id }) }
    };
    let mark_failed = async |e: &Error| {
        persist(&app.clock, async || {
            works::mark_failed(&app.db.connect().await?, claim.work_id, owner, &e.to_string()).await
        })
        .await
    };
    let (images, details, raw) = match fetched {
        Ok(f) => f,
        Err(Error::Tmdb(TmdbError::NotFound)) => {
            refuse(refusal(WorkStatus::Gone, "not_found", "TMDB answered 404")).await?;
            return Err(Error::Gone { tmdb_id });
        }
        Err(e) if matches!(e.disposition(), Disposition::StopRun | Disposition::Unfinished) => {
            // Nothing was learnt about the movie (our credentials are wrong, or time ran out):
            // nothing is written, and the movie is as it was.
            persist(&app.clock, async || works::abandon(&app.db.connect().await?, claim, owner).await).await?;
            return Err(e);
        }
        Err(e) => {
            mark_failed(&e).await?;
            return Err(e);
        }
    };
    let record = match movie::normalize(&details, &images) {
        Ok(record) => record,
        Err(rejection) => {
            let reason = rejection.reason();
            refuse(refusal(WorkStatus::Rejected, reason, "refused by the catalog policy")).await?;
            return Err(Error::Rejected { tmdb_id, reason });
        }
    };
    let store = Store { function: app.function, now: app.clock.now(), claim, owner, images: &images };
    let calls = tmdb.take_calls();
    let also = AlsoRecord { queue_row, calls: &calls };
    let written = async { store_record(&app.db.connect().await?, &store, &record, &raw, also).await }.await;
    match written {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            // Nothing of the statement was written: the calls go back to be logged later.
            tmdb.restore_calls(calls);
            if !matches!(e, Error::LeaseLost { .. }) {
                // The failure may have been the session's (terminated, or the server restarted).
                let _ = mark_failed(&e).await;
            }
            Err(e)
        }
    }
}

/// Who writes a fetched movie, and under which claim.
pub struct Store<'a> {
    pub function: &'a str,
    pub now: chrono::DateTime<chrono::Utc>,
    pub claim: &'a works::Claim,
    /// The ingest lease the claim took.
    pub owner: &'a str,
    /// To normalise the previous response the same way, for the change log.
    pub images: &'a ImageConfiguration,
}

/// Writes a fetched, admitted movie: score, card, staleness and the change-log entry, in one
/// statement that first proves the lease is still ours (see `catalog::write_movie`), along with
/// what `also` records.
pub async fn store_record(
    conn: &impl Connection,
    store: &Store<'_>,
    record: &MovieRecord,
    raw: &Json,
    also: AlsoRecord<'_>,
) -> Result<Outcome> {
    let work_id = store.claim.work_id;
    let (score, card) = derive(work_id, record);
    let next_refresh_at = staleness::next_refresh_at(record.release_date, record.release_status, store.now);
    // A first ingest has nothing to compare with: no change-log entry.
    let changes = match store.claim.previous_raw.as_ref().and_then(|raw| MovieDetails::from_response(raw).ok()) {
        Some(old) => movie::normalize(&old, store.images)
            .map(|old| movie::changes(&old.tracked, &record.tracked))
            .unwrap_or_default(),
        None => serde_json::Map::new(),
    };
    let write = catalog::WriteMovie {
        work_id,
        lease_owner: store.owner,
        record,
        raw,
        score: &score,
        card: &card,
        changes: &changes,
        refreshed_at: store.now,
        next_refresh_at,
        function: store.function,
    };
    // PostgreSQL may pick the statement as a deadlock victim when concurrent movies share
    // people or genres; it is then rolled back whole and, as PostgreSQL expects, retried. So is
    // a foreign-key failure: a fold removed a shared row no movie named just before this movie
    // named it again (`db::aggregates::fold`); written again, the movie inserts it anew.
    let mut tries = 0;
    let written = loop {
        tries += 1;
        match catalog::write_movie(conn, &write, also).await {
            Err(e) if tries < WRITE_TRIES && matches!(e.sqlstate(), Some("40P01" | "40001" | "23503")) => continue,
            other => break other?,
        }
    };
    if !written.lease_held {
        return Err(Error::LeaseLost { tmdb_id: record.tmdb_id });
    }
    Ok(Outcome::Ingested { work_id, card, changes, queue_completed: written.queue_completed })
}

/// What a movie's record makes of it: its aggregate score and its card.
pub fn derive(work_id: i64, record: &MovieRecord) -> (score::Aggregate, Card) {
    let rating = RatingInput {
        source: "TMDB",
        value_0_100: record.vote_average.unwrap_or(0.0) * 10.0,
        votes: record.vote_count,
    };
    let score = score::aggregate(&[rating]);
    let card = card::build(work_id, record, &score);
    (score, card)
}

/// TMDB's image configuration: known to this invocation, else from the database cache, else
/// one `/configuration` call. Runs that ingest concurrently ask once before they start, so
/// their movies do not each fetch it.
pub async fn image_configuration<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    tmdb: &TmdbClient<'_, H, C>,
) -> Result<ImageConfiguration> {
    if let Some(known) = tmdb.known_images() {
        return Ok(known);
    }
    let cached = tmdb_config::cached(&app.db.connect().await?, Some(tmdb_config::MAX_AGE_DAYS)).await?;
    let images = match cached {
        Some(cached) => cached.images,
        None => {
            let fresh = tmdb.configuration().await?;
            tmdb_config::store(&app.db.connect().await?, &fresh).await?;
            fresh.images
        }
    };
    tmdb.remember_images(images.clone());
    Ok(images)
}

/// A random id for this invocation's leases.
pub fn lease_owner() -> String {
    let mut rng = fastrand::Rng::new();
    (0..16).map(|_| rng.alphanumeric()).collect()
}
