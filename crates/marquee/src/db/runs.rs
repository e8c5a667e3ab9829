//! `scheduled_ingestion_log`: one row per function run, opened when the run starts and closed
//! with its counts when it ends, also when it fails.

use crate::ports::{Connection, DbError, Value};

pub async fn start(
    conn: &impl Connection,
    run_id: &str,
    function: &str,
    source: &str,
    trigger_type: &str,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO scheduled_ingestion_log (run_id, function, source, trigger_type) VALUES ($1, $2, $3, $4)",
        &[run_id.into(), function.into(), source.into(), trigger_type.into()],
    )
    .await?;
    Ok(())
}

/// The counts of a finished run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RunCounts {
    pub movies_checked: i64,
    pub movies_skipped: i64,
    pub movies_ingested: i64,
    pub movies_failed: i64,
    pub movies_queued: i64,
    pub tmdb_calls: i64,
    pub ingested_titles: Vec<String>,
    pub failed_titles: Vec<String>,
}

pub async fn finish(
    conn: &impl Connection,
    run_id: &str,
    status: &str,
    counts: &RunCounts,
    duration_ms: i64,
    error: Option<&str>,
) -> Result<(), DbError> {
    let int = |n: i64| Value::Int32(n.clamp(0, i32::MAX as i64) as i32);
    let texts = |v: &[String]| Value::ArrayText(v.iter().cloned().map(Some).collect());
    conn.execute(
        "UPDATE scheduled_ingestion_log SET status = $2, movies_checked = $3, movies_skipped = $4, movies_ingested = $5,
                movies_failed = $6, movies_queued = $7, tmdb_calls = $8, ingested_titles = $9, failed_titles = $10,
                duration_ms = $11, error = $12, finished_at = now()
         WHERE run_id = $1",
        &[
            run_id.into(), status.into(), int(counts.movies_checked), int(counts.movies_skipped), int(counts.movies_ingested),
            int(counts.movies_failed), int(counts.movies_queued), int(counts.tmdb_calls), texts(&counts.ingested_titles),
            texts(&counts.failed_titles), int(duration_ms), error.map(str::to_owned).into(),
        ],
    )
    .await?;
    Ok(())
}
