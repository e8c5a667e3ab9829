//! Writing one movie: every table, in one statement, whatever the number of credits, images or
//! providers the movie has.
//!
//! With the database across a network, round trips are what a write costs: each statement is
//! two (the Spin host and tokio-postgres both prepare, then execute it). So the movie's rows go
//! to the server as one JSON document, and `marquee_write_movie` (migration 0007) writes every
//! table from it in the statement that calls it: one statement, one transaction, one lease check,
//! and the shared rows' locking rules (new rows inserted without locking existing ones, changed
//! rows updated in key order) kept in that function. The same statement can also complete the
//! movie's queue row and write the invocation's pending TMDB call log, so a queued movie costs
//! its claim and this statement.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use super::{api_logs, fingerprint, queue};
use crate::domain::card::Card;
use crate::domain::movie::MovieRecord;
use crate::domain::score::{Aggregate, METHOD_VERSION};
use crate::domain::staleness::SCHEMA_VERSION;
use crate::ports::{Connection, DbError, Value};
use crate::tmdb::ApiCall;

/// What the write needs beyond the record itself.
pub struct WriteMovie<'a> {
    pub work_id: i64,
    pub lease_owner: &'a str,
    pub record: &'a MovieRecord,
    pub raw: &'a Json,
    pub score: &'a Aggregate,
    pub card: &'a Card,
    pub changes: &'a serde_json::Map<String, Json>,
    pub refreshed_at: DateTime<Utc>,
    pub next_refresh_at: DateTime<Utc>,
    pub function: &'a str,
}

/// The queue row a drain claimed for this movie, completed by the movie's own statement.
#[derive(Debug, Clone, Copy)]
pub struct QueueRow<'a> {
    pub id: i64,
    /// The drain's queue lease (not the movie's ingest lease).
    pub owner: &'a str,
}

/// What the movie's statement records besides the movie.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlsoRecord<'a> {
    pub queue_row: Option<QueueRow<'a>>,
    /// TMDB calls not yet in `tmdb_api_logs` (written even when the lease was lost).
    pub calls: &'a [ApiCall],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// False: another invocation took the movie over, and nothing of the movie was written.
    pub lease_held: bool,
    /// The queue row was completed (under its lease) along with the movie.
    pub queue_completed: bool,
}

/// The statement: the movie, then its queue row (only when the movie was written), and the call
/// log. Data-modifying CTEs all run once; `completed` reads `written`, so the movie is written
/// first.
static WRITE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH written AS (SELECT marquee_write_movie($1, $2, $3) AS held),
              completed AS ({complete} AND (SELECT held FROM written) RETURNING id),
              logged AS ({log})
         SELECT (SELECT held FROM written) AS held, EXISTS (SELECT 1 FROM completed) AS completed",
        complete = queue::complete_sql("$4", "$5"),
        log = api_logs::insert_sql("$6", "$7"),
    )
});

/// Writes everything about the movie in one statement, under the lease `w.lease_owner` must
/// still hold. A deadlock or serialization failure aborts the whole statement (nothing is
/// written); the caller may try again.
pub async fn write_movie(conn: &impl Connection, w: &WriteMovie<'_>, also: AlsoRecord<'_>) -> Result<Written, DbError> {
    let (queue_id, queue_owner) = also.queue_row.map_or((Value::Null, Value::Null), |q| (q.id.into(), q.owner.into()));
    let rows = conn
        .query(
            &WRITE,
            &[
                w.work_id.into(),
                w.lease_owner.into(),
                Value::Jsonb(document(w)),
                queue_id,
                queue_owner,
                Value::Jsonb(api_logs::rows(also.calls)),
                w.function.into(),
            ],
        )
        .await?;
    let row = rows.first().ok_or_else(|| DbError::MissingColumn("held".into()))?;
    Ok(Written {
        lease_held: row.get::<Option<bool>>("held")?.unwrap_or(false),
        queue_completed: row.get("completed")?,
    })
}

fn int32(n: i64) -> i64 {
    n.clamp(0, i32::MAX as i64)
}

/// A UTC instant as `timestamp` text, for `::timestamp AT TIME ZONE 'UTC'`.
fn utc_timestamp(at: DateTime<Utc>) -> String {
    at.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// The document `marquee_write_movie` reads (its keys are described in migration 0007).
fn document(w: &WriteMovie<'_>) -> Json {
    let mut doc = projection(w);
    doc["fingerprint"] = fingerprint::of_document(&doc);
    doc["raw"] = w.raw.clone();
    doc["raw_sha256"] = Json::String(hex::encode(Sha256::digest(w.raw.to_string())));
    doc
}

/// The fingerprint the write of `w` records (the audit's deep mode projects stored responses
/// again with it).
pub fn fingerprint_of(w: &WriteMovie<'_>) -> Json {
    fingerprint::of_document(&projection(w))
}

/// What the movie's rows are made of: the document without the response it came from.
fn projection(w: &WriteMovie<'_>) -> Json {
    let r = w.record;
    let f = &r.facts;
    let vote_count = int32(r.vote_count);
    let vote_average = r.vote_average.unwrap_or(0.0);
    json!({
        "work": {
            "imdb_id": r.imdb_id, "title": r.title, "original_title": r.original_title, "year": r.year,
            "release_date": r.release_date, "popularity": r.popularity, "vote_average": r.vote_average,
            "vote_count": vote_count, "schema_version": SCHEMA_VERSION,
            "refreshed_at": utc_timestamp(w.refreshed_at), "next_refresh_at": utc_timestamp(w.next_refresh_at),
        },
        "meta": r.meta,
        "facts": {
            "people": f.people, "credits": f.credits, "genres": f.genres, "keywords": f.keywords,
            "companies": f.companies, "collection": f.collection, "release_dates": f.release_dates,
            "videos": f.videos, "images": f.images, "providers": f.providers,
            "provider_offers": f.provider_offers, "similar": f.similar,
        },
        "rating": {
            "source_name": "TMDB", "scale_type": "0-10", "value_raw": vote_average,
            "value_0_100": vote_average * 10.0, "votes_count": vote_count,
        },
        "score": {
            "method_version": METHOD_VERSION, "ai_score": w.score.score, "ai_score_low": w.score.low,
            "ai_score_high": w.score.high, "votes_count": int32(w.score.votes), "source_scores": w.score.source_scores,
        },
        "card": {"payload": w.card.payload, "payload_short": w.card.short, "etag": w.card.etag},
        "changes": w.changes,
        "function": w.function,
    })
}
