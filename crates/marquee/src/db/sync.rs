//! `sync_state` (the changes-feed cursor and its catch-up mark) and the counts `daily-refresh`
//! reports; queueing is `db::queue`'s.

use chrono::NaiveDate;

use super::predicates::{STALE, TRACKED};
use crate::ports::{Connection, DbError, Value};

pub const MOVIE_CHANGES: &str = "tmdb_movie_changes";

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SyncState {
    pub sync_type: String,
    pub cursor: Option<NaiveDate>,
    pub last_sync_at: Option<chrono::NaiveDateTime>,
    pub sync_count: i32,
    pub last_error: Option<String>,
    /// Works last refreshed before this instant count as stale (a gap in the feed).
    pub stale_before: Option<chrono::NaiveDateTime>,
}

pub async fn all(conn: &impl Connection) -> Result<Vec<SyncState>, DbError> {
    let rows = conn
        .query(
            "SELECT sync_type, last_sync_cursor, last_sync_at AT TIME ZONE 'UTC' AS last_sync_at, sync_count, last_error,
                    stale_before AT TIME ZONE 'UTC' AS stale_before
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
                stale_before: r.get("stale_before")?,
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

/// After a gap in the changes feed longer than TMDB's window: every work refreshed before now
/// may have missed changes, so it counts as stale (`predicates::NEEDS_REFRESH`) until it is
/// refreshed. One row written, whatever the catalog's size; the stale selection then works
/// through the backlog run by run.
pub async fn mark_all_stale(conn: &impl Connection, sync_type: &str) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO sync_state (sync_type, stale_before) VALUES ($1, now())
         ON CONFLICT (sync_type) DO UPDATE SET stale_before = now(), updated_at = now()",
        &[sync_type.into()],
    )
    .await?;
    Ok(())
}

/// How many movies are stale now (for dry runs and reports).
pub async fn count_stale(conn: &impl Connection) -> Result<i64, DbError> {
    let rows = conn.query(&format!("SELECT count(*) AS n FROM works w WHERE {}", *STALE), &[]).await?;
    rows[0].get("n")
}

/// Of `changed`, how many the catalog tracks (dry runs).
pub async fn count_tracked(conn: &impl Connection, changed: &[i64]) -> Result<i64, DbError> {
    let rows = conn
        .query(
            &format!("SELECT count(*) AS n FROM works w WHERE tmdb_id = ANY($1) AND {TRACKED}"),
            &[Value::ArrayInt64(changed.iter().map(|i| Some(*i)).collect())],
        )
        .await?;
    rows[0].get("n")
}

/// Stale works by the staleness tier they are in today: `(index in staleness::TIERS, works)`,
/// tiers without stale works left out. `stale_before` is the feed's gap mark as just read
/// ([`SyncState::stale_before`]), bound so that the plan counts only the stale works.
pub async fn stale_by_tier(
    conn: &impl Connection,
    stale_before: Option<chrono::NaiveDateTime>,
) -> Result<Vec<(usize, i64)>, DbError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {tier} AS tier, count(*) AS stale FROM works w WHERE {stale} GROUP BY 1 ORDER BY 1",
            tier = crate::domain::staleness::tier_index_sql(),
            stale = super::predicates::stale("($1::timestamp AT TIME ZONE 'UTC')")
        )
    });
    let rows = conn.query(&SQL, &[stale_before.into()]).await?;
    rows.iter().map(|r| Ok((r.get::<i32>("tier")?.max(0) as usize, r.get("stale")?))).collect()
}
