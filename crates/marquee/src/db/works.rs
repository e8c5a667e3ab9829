//! `works` status and leases: who is ingesting a movie, and what became of it.

use std::time::Duration;

use crate::domain::staleness::SCHEMA_VERSION;
use crate::ports::{Connection, DbError};

#[derive(Debug, Clone, PartialEq)]
pub struct WorkState {
    pub work_id: i64,
    pub status: String,
    /// Past `next_refresh_at`, never refreshed, or written by an older schema version.
    pub stale: bool,
    /// Another invocation holds an unexpired lease.
    pub lease_live: bool,
}

pub async fn lookup(conn: &impl Connection, tmdb_id: i64) -> Result<Option<WorkState>, DbError> {
    let rows = conn
        .query(
            "SELECT work_id, ingestion_status,
                    (next_refresh_at IS NULL OR next_refresh_at <= now() OR schema_version < $2) AS stale,
                    (lease_until IS NOT NULL AND lease_until > now()) AS lease_live
             FROM works WHERE tmdb_id = $1",
            &[tmdb_id.into(), SCHEMA_VERSION.into()],
        )
        .await?;
    rows.first()
        .map(|r| {
            Ok(WorkState {
                work_id: r.get("work_id")?,
                status: r.get("ingestion_status")?,
                stale: r.get("stale")?,
                lease_live: r.get("lease_live")?,
            })
        })
        .transpose()
}

/// A lease on one movie's ingest.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub work_id: i64,
    /// The row did not exist before this claim.
    pub created: bool,
    /// Status before the claim (to restore it if the ingest is abandoned).
    pub previous_status: Option<String>,
}

/// Takes the ingest lease unless another invocation holds a live one, or (when not `force`d) the
/// movie is already complete and fresh; `None` then. Atomic: of two concurrent claims exactly one
/// succeeds, and one that waited on the winner's row lock sees its result; an expired lease is
/// taken over.
pub async fn claim(
    conn: &impl Connection,
    tmdb_id: i64,
    owner: &str,
    lease: Duration,
    force: bool,
) -> Result<Option<Claim>, DbError> {
    let rows = conn
        .query(
            "WITH previous AS (SELECT ingestion_status FROM works WHERE tmdb_id = $1 FOR UPDATE)
             INSERT INTO works (tmdb_id, ingestion_status, lease_owner, lease_until)
             VALUES ($1, 'ingesting', $2, now() + make_interval(secs => $3))
             ON CONFLICT (tmdb_id) DO UPDATE
                SET ingestion_status = 'ingesting', lease_owner = EXCLUDED.lease_owner,
                    lease_until = EXCLUDED.lease_until, updated_at = now()
                WHERE (works.ingestion_status <> 'ingesting' OR works.lease_until IS NULL OR works.lease_until <= now())
                  AND ($4 OR works.ingestion_status <> 'complete' OR works.next_refresh_at IS NULL
                       OR works.next_refresh_at <= now() OR works.schema_version < $5)
             RETURNING work_id, (xmax = 0) AS created, (SELECT ingestion_status FROM previous) AS previous_status",
            &[tmdb_id.into(), owner.into(), lease.as_secs_f64().into(), force.into(), SCHEMA_VERSION.into()],
        )
        .await?;
    rows.first()
        .map(|r| {
            Ok(Claim {
                work_id: r.get("work_id")?,
                created: r.get("created")?,
                previous_status: r.get("previous_status")?,
            })
        })
        .transpose()
}

/// Gives up a claim without having written anything (e.g. TMDB said 401): a row this claim
/// created disappears, an existing row gets its previous status back.
pub async fn abandon(conn: &impl Connection, claim: &Claim, owner: &str) -> Result<(), DbError> {
    if claim.created {
        conn.execute(
            "DELETE FROM works WHERE work_id = $1 AND lease_owner = $2",
            &[claim.work_id.into(), owner.into()],
        )
        .await?;
    } else {
        conn.execute(
            "UPDATE works SET ingestion_status = $3, lease_owner = NULL, lease_until = NULL, updated_at = now()
             WHERE work_id = $1 AND lease_owner = $2",
            &[
                claim.work_id.into(),
                owner.into(),
                claim.previous_status.clone().unwrap_or_else(|| "pending".into()).into(),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Records a failed ingest. A movie that was ingested before keeps its data and stays
/// `complete` (the error is kept in `last_error`); a first ingest becomes `failed`.
pub async fn mark_failed(conn: &impl Connection, work_id: i64, owner: &str, error: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE works SET
            ingestion_status = CASE WHEN EXISTS (SELECT 1 FROM works_raw r WHERE r.work_id = $1) THEN 'complete' ELSE 'failed' END,
            last_error = $3, lease_owner = NULL, lease_until = NULL, updated_at = now()
         WHERE work_id = $1 AND lease_owner = $2",
        &[work_id.into(), owner.into(), error.into()],
    )
    .await?;
    Ok(())
}

/// Why a movie is refused: the status it gets and what `rejected_works` records.
pub struct Refusal<'a> {
    /// `gone` (TMDB 404) or `rejected` (adult, untitled).
    pub status: &'static str,
    pub tmdb_id: i64,
    pub reason: &'a str,
    pub detail: &'a str,
    pub function: &'a str,
}

/// Marks the movie `gone` or `rejected` and records why in `rejected_works`; call inside a
/// transaction.
pub async fn mark_refused(
    conn: &impl Connection,
    work_id: i64,
    owner: &str,
    refusal: &Refusal<'_>,
) -> Result<(), DbError> {
    let Refusal { status, tmdb_id, reason, detail, function } = *refusal;
    conn.execute(
        "UPDATE works SET ingestion_status = $3, gone_at = CASE WHEN $3 = 'gone' THEN now() ELSE gone_at END,
                last_error = NULL, lease_owner = NULL, lease_until = NULL, updated_at = now()
         WHERE work_id = $1 AND lease_owner = $2",
        &[work_id.into(), owner.into(), status.into()],
    )
    .await?;
    conn.execute(
        "INSERT INTO rejected_works (tmdb_id, reason, detail, function) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tmdb_id, reason) DO UPDATE
            SET detail = EXCLUDED.detail, function = EXCLUDED.function,
                occurrences = rejected_works.occurrences + 1, last_seen_at = now()",
        &[tmdb_id.into(), reason.into(), detail.into(), function.into()],
    )
    .await?;
    Ok(())
}

/// Of `tmdb_ids`, those that need no ingest now: complete and fresh (current schema), or known
/// to be gone or rejected. One query for the whole candidate list.
pub async fn settled_among(
    conn: &impl Connection,
    tmdb_ids: &[i64],
) -> Result<std::collections::HashSet<i64>, DbError> {
    let rows = conn
        .query(
            "SELECT tmdb_id FROM works
             WHERE tmdb_id = ANY($1)
               AND ((ingestion_status = 'complete' AND next_refresh_at > now() AND schema_version >= $2)
                    OR ingestion_status IN ('gone', 'rejected'))",
            &[crate::ports::Value::ArrayInt64(tmdb_ids.iter().map(|i| Some(*i)).collect()), SCHEMA_VERSION.into()],
        )
        .await?;
    rows.iter().map(|r| r.get::<i64>("tmdb_id")).collect()
}

/// Which catalog rows `batch-ingest`'s reingest mode pages through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    All,
    Stale,
    Failed,
    SchemaOutdated,
}

impl Filter {
    pub fn parse(s: &str) -> Option<Filter> {
        match s {
            "all" => Some(Filter::All),
            "stale" => Some(Filter::Stale),
            "failed" => Some(Filter::Failed),
            "schema_outdated" => Some(Filter::SchemaOutdated),
            _ => None,
        }
    }
}

/// One page of `(work_id, tmdb_id)` after `cursor` (a `work_id`: stable while rows are added).
pub async fn page(conn: &impl Connection, filter: Filter, cursor: i64, limit: i64) -> Result<Vec<(i64, i64)>, DbError> {
    let rows = conn
        .query(
            "SELECT work_id, tmdb_id FROM works
             WHERE work_id > $1 AND CASE $3
                WHEN 'all' THEN ingestion_status IN ('complete', 'failed')
                WHEN 'stale' THEN ingestion_status = 'complete' AND (next_refresh_at <= now() OR schema_version < $4)
                WHEN 'failed' THEN ingestion_status = 'failed'
                ELSE ingestion_status = 'complete' AND schema_version < $4 END
             ORDER BY work_id LIMIT $2",
            &[
                cursor.into(),
                limit.into(),
                format!("{filter:?}").to_lowercase().replace("schemaoutdated", "schema_outdated").into(),
                SCHEMA_VERSION.into(),
            ],
        )
        .await?;
    rows.iter().map(|r| Ok((r.get("work_id")?, r.get("tmdb_id")?))).collect()
}

/// One page of stored raw responses after `cursor`, for re-deriving without TMDB.
pub async fn raw_page(
    conn: &impl Connection,
    cursor: i64,
    limit: i64,
) -> Result<Vec<(i64, i64, serde_json::Value)>, DbError> {
    let rows = conn
        .query(
            "SELECT w.work_id, w.tmdb_id, r.payload FROM works w JOIN works_raw r ON r.work_id = w.work_id
             WHERE w.work_id > $1 AND w.ingestion_status = 'complete' ORDER BY w.work_id LIMIT $2",
            &[cursor.into(), limit.into()],
        )
        .await?;
    rows.iter().map(|r| Ok((r.get("work_id")?, r.get("tmdb_id")?, r.get("payload")?))).collect()
}
