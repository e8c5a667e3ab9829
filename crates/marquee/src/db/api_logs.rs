//! `tmdb_api_logs`: every TMDB call attempt, written in batches (one statement per batch).

use serde_json::{Value as Json, json};

use crate::ports::{Connection, DbError};
use crate::tmdb::ApiCall;

pub async fn insert_batch(conn: &impl Connection, function: &str, calls: &[ApiCall]) -> Result<(), DbError> {
    if calls.is_empty() {
        return Ok(());
    }
    let rows: Vec<Json> = calls
        .iter()
        .map(|c| json!({"endpoint": c.endpoint, "tmdb_id": c.tmdb_id, "status_code": c.status, "response_time_ms": c.latency_ms,
                        "attempt": c.attempt, "error": c.error, "created_at": c.at.naive_utc()}))
        .collect();
    conn.execute(
        "INSERT INTO tmdb_api_logs (endpoint, tmdb_id, status_code, response_time_ms, attempt, edge_function, error, created_at)
         SELECT endpoint, tmdb_id, status_code, response_time_ms, attempt, $2, error, created_at AT TIME ZONE 'UTC'
         FROM jsonb_to_recordset($1::jsonb) AS x(endpoint text, tmdb_id bigint, status_code int, response_time_ms int,
                                                 attempt int, error text, created_at timestamp)",
        &[Json::Array(rows).into(), function.into()],
    )
    .await?;
    Ok(())
}
