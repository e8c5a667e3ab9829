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

/// A run as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRow {
    pub id: i64,
    pub run_id: String,
    pub function: String,
    pub source: String,
    pub trigger_type: String,
    pub status: RunStatus,
    pub started_at: chrono::NaiveDateTime,
    pub finished_at: Option<chrono::NaiveDateTime>,
    pub deadline_at: Option<chrono::NaiveDateTime>,
    pub duration_ms: Option<i32>,
    pub movies_checked: i32,
    pub movies_skipped: i32,
    pub movies_ingested: i32,
    pub movies_failed: i32,
    pub movies_queued: i32,
    pub tmdb_calls: i32,
    pub ingested_titles: Vec<Option<String>>,
    pub failed_titles: Vec<Option<String>>,
    pub error: Option<String>,
}

const RUN_COLUMNS: &str = "l.id, l.run_id, l.function, l.source, l.trigger_type, l.status,
    l.started_at AT TIME ZONE 'UTC' AS started_at, l.finished_at AT TIME ZONE 'UTC' AS finished_at,
    l.deadline_at AT TIME ZONE 'UTC' AS deadline_at, l.duration_ms, l.movies_checked, l.movies_skipped,
    l.movies_ingested, l.movies_failed, l.movies_queued, l.tmdb_calls, l.ingested_titles, l.failed_titles, l.error";

fn run_row(r: &crate::ports::Row) -> Result<RunRow, DbError> {
    Ok(RunRow {
        id: r.get("id")?,
        run_id: r.get("run_id")?,
        function: r.get("function")?,
        source: r.get("source")?,
        trigger_type: r.get("trigger_type")?,
        status: r.get("status")?,
        started_at: r.get("started_at")?,
        finished_at: r.get("finished_at")?,
        deadline_at: r.get("deadline_at")?,
        duration_ms: r.get("duration_ms")?,
        movies_checked: r.get("movies_checked")?,
        movies_skipped: r.get("movies_skipped")?,
        movies_ingested: r.get("movies_ingested")?,
        movies_failed: r.get("movies_failed")?,
        movies_queued: r.get("movies_queued")?,
        tmdb_calls: r.get("tmdb_calls")?,
        ingested_titles: r.get("ingested_titles")?,
        failed_titles: r.get("failed_titles")?,
        error: r.get("error")?,
    })
}

/// The newest run of every kind (function and trigger), by function and trigger: a skip scan
/// over `idx_scheduled_ingestion_log_kind`, a few index probes per kind however long the log.
pub async fn latest_of_each_kind(conn: &impl Connection) -> Result<Vec<RunRow>, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH RECURSIVE kinds AS (
                (SELECT function, trigger_type FROM scheduled_ingestion_log ORDER BY function, trigger_type LIMIT 1)
                UNION ALL
                SELECT n.function, n.trigger_type FROM kinds k, LATERAL (
                    SELECT function, trigger_type FROM scheduled_ingestion_log s
                    WHERE (s.function, s.trigger_type) > (k.function, k.trigger_type)
                    ORDER BY function, trigger_type LIMIT 1
                ) n
             )
             SELECT {RUN_COLUMNS} FROM kinds k, LATERAL (
                SELECT * FROM scheduled_ingestion_log s
                WHERE s.function = k.function AND s.trigger_type = k.trigger_type
                ORDER BY s.started_at DESC LIMIT 1
             ) l
             ORDER BY l.function, l.trigger_type"
        )
    });
    conn.query(&SQL, &[]).await?.iter().map(run_row).collect()
}

/// The newest runs, newest first.
pub async fn recent(conn: &impl Connection, limit: i64) -> Result<Vec<RunRow>, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!("SELECT {RUN_COLUMNS} FROM scheduled_ingestion_log l ORDER BY l.started_at DESC, l.id DESC LIMIT $1")
    });
    conn.query(&SQL, &[limit.into()]).await?.iter().map(run_row).collect()
}

/// One run by its row id.
pub async fn by_id(conn: &impl Connection, id: i64) -> Result<Option<RunRow>, DbError> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {RUN_COLUMNS} FROM scheduled_ingestion_log l WHERE l.id = $1"));
    conn.query(&SQL, &[id.into()]).await?.first().map(run_row).transpose()
}

/// The runs of one UTC day: how many ended in each status, and their durations.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunDay {
    pub day: chrono::NaiveDate,
    /// Runs by status, in [`RunStatus::ALL`]'s order (every status present).
    pub by_status: Vec<(RunStatus, i64)>,
    /// Median and longest duration of the day's closed runs (ms).
    pub p50_duration_ms: Option<i64>,
    pub max_duration_ms: Option<i64>,
}

/// The last `days` UTC days of runs (today included), oldest first, days without runs included.
pub async fn daily(conn: &impl Connection, days: i32) -> Result<Vec<RunDay>, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let counts: String = RunStatus::ALL
            .iter()
            .map(|s| format!(", count(l.id) FILTER (WHERE l.status = '{s}') AS \"{s}\""))
            .collect();
        format!(
            "WITH days AS (SELECT (now() AT TIME ZONE 'UTC')::date - i AS day FROM generate_series(0, $1 - 1) AS i)
             SELECT days.day {counts},
                    (percentile_disc(0.5) WITHIN GROUP (ORDER BY l.duration_ms))::int8 AS p50,
                    max(l.duration_ms)::int8 AS max
             FROM days LEFT JOIN scheduled_ingestion_log l
               ON l.started_at >= days.day::timestamp AT TIME ZONE 'UTC'
              AND l.started_at < (days.day + 1)::timestamp AT TIME ZONE 'UTC'
             GROUP BY days.day ORDER BY days.day"
        )
    });
    let rows = conn.query(&SQL, &[days.into()]).await?;
    rows.iter()
        .map(|r| {
            Ok(RunDay {
                day: r.get("day")?,
                by_status: RunStatus::ALL
                    .iter()
                    .map(|s| Ok((*s, r.get(s.as_str())?)))
                    .collect::<Result<_, DbError>>()?,
                p50_duration_ms: r.get("p50")?,
                max_duration_ms: r.get("max")?,
            })
        })
        .collect()
}
