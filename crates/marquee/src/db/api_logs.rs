//! `tmdb_api_logs`: every TMDB call attempt, written in batches (one statement per batch, or as
//! part of a movie's own statement: see `catalog::write_movie`).

use std::sync::LazyLock;

use serde_json::{Value as Json, json};

use crate::ports::{Connection, DbError};
use crate::tmdb::ApiCall;

/// The calls as the JSON rows [`insert_sql`] reads.
pub fn rows(calls: &[ApiCall]) -> Json {
    calls
        .iter()
        .map(|c| json!({"endpoint": c.endpoint, "tmdb_id": c.tmdb_id, "status_code": c.status, "response_time_ms": c.latency_ms,
                        "attempt": c.attempt, "error": c.error, "created_at": c.at.naive_utc()}))
        .collect()
}

/// Inserts the JSON rows of parameter `rows` (see [`rows`]) for the function named by parameter
/// `function`; an empty array inserts nothing.
pub(crate) fn insert_sql(rows: &str, function: &str) -> String {
    format!(
        "INSERT INTO tmdb_api_logs (endpoint, tmdb_id, status_code, response_time_ms, attempt, edge_function, error, created_at)
         SELECT endpoint, tmdb_id, status_code, response_time_ms, attempt, {function}, error, created_at AT TIME ZONE 'UTC'
         FROM jsonb_to_recordset({rows}::jsonb) AS x(endpoint text, tmdb_id bigint, status_code int, response_time_ms int,
                                                     attempt int, error text, created_at timestamp)"
    )
}

pub async fn insert_batch(conn: &impl Connection, function: &str, calls: &[ApiCall]) -> Result<(), DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| insert_sql("$1", "$2"));
    if calls.is_empty() {
        return Ok(());
    }
    conn.execute(&SQL, &[rows(calls).into(), function.into()]).await?;
    Ok(())
}

/// The summary deltas one fold moves at most: a statement well under a second. What is left
/// waits for the next fold (readers add the deltas up anyway).
pub const FOLD_DELTAS_AT_MOST: i64 = 50_000;

/// Moves summary deltas (appended by the insert trigger of migration 20) into
/// `tmdb_api_calls_hourly`, at most `limit` of them, in one statement: each delta is deleted
/// and added exactly once, whatever runs at the same time (a concurrent fold waits for the rows
/// this one locked, then skips them as deleted). Returns how many deltas were folded.
pub async fn fold_summary(conn: &impl Connection, limit: i64) -> Result<i64, DbError> {
    let rows = conn
        .query(
            "WITH moved AS (
                DELETE FROM tmdb_api_call_deltas
                WHERE ctid IN (SELECT ctid FROM tmdb_api_call_deltas LIMIT $1)
                RETURNING hour, endpoint, status_code, first_attempt, latency_le_ms, calls, latency_ms_sum
             ), summed AS (
                SELECT hour, endpoint, status_code, first_attempt, latency_le_ms,
                       sum(calls)::int8 AS calls, sum(latency_ms_sum)::int8 AS latency_ms_sum, count(*) AS deltas
                FROM moved GROUP BY 1, 2, 3, 4, 5
             ), added AS (
                INSERT INTO tmdb_api_calls_hourly AS h (hour, endpoint, status_code, first_attempt, latency_le_ms, calls, latency_ms_sum)
                SELECT hour, endpoint, status_code, first_attempt, latency_le_ms, calls, latency_ms_sum FROM summed
                ORDER BY 1, 2, 3, 4, 5
                ON CONFLICT (hour, endpoint, status_code, first_attempt, latency_le_ms) DO UPDATE
                   SET calls = h.calls + EXCLUDED.calls, latency_ms_sum = h.latency_ms_sum + EXCLUDED.latency_ms_sum
             )
             SELECT coalesce(sum(deltas), 0)::int8 AS folded FROM summed",
            &[limit.into()],
        )
        .await?;
    rows.first().map_or(Ok(0), |r| r.get("folded"))
}

/// One row of the call summary: the calls of one hour (UTC), endpoint, status (0: no
/// response), first attempt or retry, and latency bucket.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SummaryRow {
    pub hour: chrono::NaiveDateTime,
    pub endpoint: String,
    pub status_code: i32,
    pub first_attempt: bool,
    /// The latency bucket's upper bound (ms); `i32::MAX`: above the last bound.
    pub latency_le_ms: i32,
    pub calls: i64,
    pub latency_ms_sum: i64,
}

/// The call summary of the last `hours` hours (UTC; the current hour included): the folded
/// summary and the deltas not folded yet, added up.
pub async fn summary_window(conn: &impl Connection, hours: i32) -> Result<Vec<SummaryRow>, DbError> {
    let rows = conn
        .query(
            "WITH since AS (SELECT (date_trunc('hour', now() AT TIME ZONE 'UTC') - make_interval(hours => $1 - 1)) AT TIME ZONE 'UTC' AS t)
             SELECT hour AT TIME ZONE 'UTC' AS hour, endpoint, status_code, first_attempt, latency_le_ms,
                    sum(calls)::int8 AS calls, sum(latency_ms_sum)::int8 AS latency_ms_sum
             FROM (SELECT * FROM tmdb_api_calls_hourly WHERE hour >= (SELECT t FROM since)
                   UNION ALL
                   SELECT * FROM tmdb_api_call_deltas WHERE hour >= (SELECT t FROM since)) s
             GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
            &[hours.into()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(SummaryRow {
                hour: r.get("hour")?,
                endpoint: r.get("endpoint")?,
                status_code: r.get("status_code")?,
                first_attempt: r.get("first_attempt")?,
                latency_le_ms: r.get("latency_le_ms")?,
                calls: r.get("calls")?,
                latency_ms_sum: r.get("latency_ms_sum")?,
            })
        })
        .collect()
}
