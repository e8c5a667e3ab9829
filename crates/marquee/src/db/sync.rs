//! `sync_state` (the changes-feed cursor) and the refresh selections of `daily-refresh`.

use chrono::NaiveDate;

use crate::domain::staleness::SCHEMA_VERSION;
use crate::ports::{Connection, DbError, Value};

pub const MOVIE_CHANGES: &str = "tmdb_movie_changes";

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SyncState {
    pub sync_type: String,
    pub cursor: Option<NaiveDate>,
    pub last_sync_at: Option<chrono::NaiveDateTime>,
    pub sync_count: i32,
    pub last_error: Option<String>,
}

pub async fn all(conn: &impl Connection) -> Result<Vec<SyncState>, DbError> {
    let rows = conn
        .query(
            "SELECT sync_type, last_sync_cursor, last_sync_at AT TIME ZONE 'UTC' AS last_sync_at, sync_count, last_error
             FROM sync_state ORDER BY sync_type",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(SyncState {
                sync_type: r.get("sync_type")?,
                cursor: r.get::<Option<String>>("last_sync_cursor")?.and_then(|c| c.parse().ok()),
                last_sync_at: r.get("last_sync_at")?,
                sync_count: r.get("sync_count")?,
                last_error: r.get("last_error")?,
            })
        })
        .collect()
}

pub async fn cursor(conn: &impl Connection, sync_type: &str) -> Result<Option<NaiveDate>, DbError> {
    Ok(all(conn).await?.into_iter().find(|s| s.sync_type == sync_type).and_then(|s| s.cursor))
}

/// Moves the cursor forward (never back: a slower concurrent run cannot rewind it).
pub async fn advance(conn: &impl Connection, sync_type: &str, day: NaiveDate) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO sync_state (sync_type, last_sync_at, last_sync_cursor, sync_count) VALUES ($1, now(), $2, 1)
         ON CONFLICT (sync_type) DO UPDATE SET
            last_sync_cursor = greatest(sync_state.last_sync_cursor, EXCLUDED.last_sync_cursor),
            last_sync_at = now(), sync_count = sync_state.sync_count + 1, last_error = NULL, updated_at = now()",
        &[sync_type.into(), day.to_string().into()],
    )
    .await?;
    Ok(())
}

pub async fn record_error(conn: &impl Connection, sync_type: &str, error: &str) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO sync_state (sync_type, last_error) VALUES ($1, $2)
         ON CONFLICT (sync_type) DO UPDATE SET last_error = EXCLUDED.last_error, updated_at = now()",
        &[sync_type.into(), error.into()],
    )
    .await?;
    Ok(())
}

/// Of the changed ids, those the catalog tracks, queued at high priority (reason `changed`).
/// Returns (tracked, newly queued).
pub async fn queue_tracked_changes(
    conn: &impl Connection,
    changed: &[i64],
    priority: i32,
) -> Result<(u64, u64), DbError> {
    let rows = conn
        .query(
            "WITH tracked AS (
                SELECT work_id, tmdb_id FROM works
                WHERE tmdb_id = ANY($1) AND ingestion_status IN ('complete', 'failed')
             ), queued AS (
                INSERT INTO refresh_queue (tmdb_id, work_id, reason, priority)
                SELECT tmdb_id, work_id, 'changed', $2 FROM tracked ORDER BY tmdb_id
                ON CONFLICT (tmdb_id) WHERE status IN ('queued', 'processing')
                DO UPDATE SET priority = greatest(refresh_queue.priority, EXCLUDED.priority)
                RETURNING (xmax = 0) AS inserted
             )
             SELECT (SELECT count(*) FROM tracked) AS tracked, (SELECT count(*) FROM queued WHERE inserted) AS inserted",
            &[Value::ArrayInt64(changed.iter().map(|i| Some(*i)).collect()), priority.into()],
        )
        .await?;
    Ok((rows[0].get::<i64>("tracked")? as u64, rows[0].get::<i64>("inserted")? as u64))
}

/// The stale-selection predicate: past `next_refresh_at` or written by an older schema.
/// Two indexed halves (`idx_works_next_refresh`, `idx_works_schema_version`), so PostgreSQL can
/// combine them instead of scanning the catalog.
const STALE: &str = "ingestion_status = 'complete' AND (next_refresh_at <= now() OR schema_version < $1)";

/// Queues up to `limit` stale movies, newest releases first (and at a higher priority: the
/// tiers refresh them more often too). `all_tracked`: every complete movie counts as stale
/// (the changes feed had a gap). Returns how many rows are new in the queue.
pub async fn queue_stale(conn: &impl Connection, limit: i64, all_tracked: bool) -> Result<u64, DbError> {
    let sql = format!(
        "INSERT INTO refresh_queue (tmdb_id, work_id, reason, priority)
         SELECT tmdb_id, work_id, 'stale',
                CASE WHEN release_date >= current_date - 30 THEN 3 WHEN release_date >= current_date - 180 THEN 2
                     WHEN release_date >= current_date - 365 THEN 1 ELSE 0 END
         FROM works WHERE {}
         ORDER BY release_date DESC NULLS LAST, work_id
         LIMIT $2
         ON CONFLICT (tmdb_id) WHERE status IN ('queued', 'processing') DO NOTHING",
        if all_tracked { "ingestion_status = 'complete' AND $1::int4 IS NOT NULL" } else { STALE }
    );
    conn.execute(&sql, &[SCHEMA_VERSION.into(), limit.into()]).await
}

/// How many movies are stale now (for dry runs and reports).
pub async fn count_stale(conn: &impl Connection) -> Result<i64, DbError> {
    let rows = conn.query(&format!("SELECT count(*) AS n FROM works WHERE {STALE}"), &[SCHEMA_VERSION.into()]).await?;
    rows[0].get("n")
}

/// Of `changed`, how many the catalog tracks (dry runs).
pub async fn count_tracked(conn: &impl Connection, changed: &[i64]) -> Result<i64, DbError> {
    let rows = conn
        .query(
            "SELECT count(*) AS n FROM works WHERE tmdb_id = ANY($1) AND ingestion_status IN ('complete', 'failed')",
            &[Value::ArrayInt64(changed.iter().map(|i| Some(*i)).collect())],
        )
        .await?;
    rows[0].get("n")
}
