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
