//! `scheduled_ingestion_log` (the seed's name; it logs every run of every function): one row per
//! run, opened with its deadline when the run starts and closed with its counts when it ends,
//! also when it fails. A row its invocation never closed is marked `abandoned` by a later run.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::states::RunStatus;
use crate::ports::{Connection, DbError, Value};
use crate::tmdb::ApiCall;

/// A run still `running` this long after its deadline was killed: no live invocation can hold
/// it (the platform stops every invocation at its limit, and a run's budget never exceeds it).
pub const ABANDONED_AFTER: Duration = Duration::from_secs(60);

/// A run its invocation never closed: still `running` [`ABANDONED_AFTER`] past its deadline
/// (runs from before deadlines were recorded: an hour after they started). A condition on a
/// `scheduled_ingestion_log` row.
pub static ABANDONED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "(status = 'running' AND coalesce(deadline_at, started_at + interval '1 hour') < now() - interval '{} seconds')",
        ABANDONED_AFTER.as_secs()
    )
});

/// Closes the [`ABANDONED`] runs, with the reason; `RETURNING 1` per run.
pub(crate) fn close_abandoned_sql() -> String {
    format!(
        "UPDATE scheduled_ingestion_log SET status = 'abandoned', finished_at = now(),
                duration_ms = least(extract(epoch FROM now() - started_at) * 1000, 2147483647)::int,
                error = 'no result {} s after its deadline: its invocation was killed or crashed before closing the run'
         WHERE {} RETURNING 1",
        ABANDONED_AFTER.as_secs(),
        *ABANDONED
    )
}

/// What opening a run cleaned up after invocations that died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// Runs closed as `abandoned` (see [`ABANDONED`]).
    pub abandoned: i64,
    /// Interrupted ingests queued again (see `queue::recover_interrupted_ctes`).
    pub recovered: i64,
}

/// Opens a run, in one statement that first cleans up after invocations that died: the runs
/// they never closed are closed as `abandoned` ([`close_abandoned_sql`]), and their interrupted
/// ingests are queued again. (The new row is not in the statement's snapshot, so it is never
/// among the abandoned.)
pub async fn open(
    conn: &impl Connection,
    run_id: &str,
    function: &str,
    source: &str,
    trigger_type: &str,
    deadline: DateTime<Utc>,
) -> Result<Opened, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH abandoned AS ({close}), {recover}, started AS (
                INSERT INTO scheduled_ingestion_log (run_id, function, source, trigger_type, deadline_at)
                VALUES ($1, $2, $3, $4, ($5::timestamp AT TIME ZONE 'UTC'))
             )
             SELECT (SELECT count(*) FROM abandoned) AS abandoned, (SELECT count(*) FROM released) AS recovered",
            close = close_abandoned_sql(),
            recover = super::queue::recover_interrupted_ctes()
        )
    });
    let rows = conn
        .query(&SQL, &[run_id.into(), function.into(), source.into(), trigger_type.into(), deadline.into()])
        .await?;
    let row = rows.first().ok_or_else(|| DbError::MissingColumn("abandoned".into()))?;
    Ok(Opened { abandoned: row.get("abandoned")?, recovered: row.get("recovered")? })
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

/// Closes a run with its counts, writing the TMDB calls not yet logged in the same statement.
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    conn: &impl Connection,
    run_id: &str,
    function: &str,
    status: RunStatus,
    counts: &RunCounts,
    duration_ms: i64,
    error: Option<&str>,
    calls: &[ApiCall],
) -> Result<(), DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH logged AS ({})
             UPDATE scheduled_ingestion_log SET status = $2, movies_checked = $3, movies_skipped = $4, movies_ingested = $5,
                    movies_failed = $6, movies_queued = $7, tmdb_calls = $8, ingested_titles = $9, failed_titles = $10,
                    duration_ms = $11, error = $12, finished_at = now()
             WHERE run_id = $1",
            super::api_logs::insert_sql("$13", "$14")
        )
    });
    let int = |n: i64| Value::Int32(n.clamp(0, i32::MAX as i64) as i32);
    let texts = |v: &[String]| Value::ArrayText(v.iter().cloned().map(Some).collect());
    conn.execute(
        &SQL,
        &[
            run_id.into(),
            status.into(),
            int(counts.movies_checked),
            int(counts.movies_skipped),
            int(counts.movies_ingested),
            int(counts.movies_failed),
            int(counts.movies_queued),
            int(counts.tmdb_calls),
            texts(&counts.ingested_titles),
            texts(&counts.failed_titles),
            int(duration_ms),
            error.map(str::to_owned).into(),
            super::api_logs::rows(calls).into(),
            function.into(),
        ],
    )
    .await?;
    Ok(())
}
