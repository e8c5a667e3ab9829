//! What the chaos suite (`crate::chaos`) asks the catalog after a fault: each movie's state
//! across `works`, the queue and the TMDB call log; what is still in flight; queue rows that
//! vanished; and where a secret was written.

use std::sync::LazyLock;

use super::predicates::{INGEST_INTERRUPTED, LEASE_LIVE, QUEUE_LIVE};
use crate::domain::states::{QueueStatus, WorkStatus};
use crate::ports::{Connection, DbError, Value};

/// One movie, as the catalog and the queue hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct MovieState {
    pub tmdb_id: i64,
    /// `None`: no `works` row.
    pub work: Option<WorkStatus>,
    pub work_error: Option<String>,
    /// An ingest lease is held and has not run out.
    pub lease_live: bool,
    /// Writes of the movie so far.
    pub writes: i32,
    /// Queue rows of the movie, and how many are live (queued or processing).
    pub queue_rows: i64,
    pub live_rows: i64,
    /// The newest queue row's status and error.
    pub last_row: Option<QueueStatus>,
    pub last_row_error: Option<String>,
    /// The most attempts any of its queue rows used.
    pub attempts: i32,
    /// TMDB calls for it that did not end in a 200.
    pub tmdb_errors: i64,
}

/// Every movie the catalog or the queue knows, with those of `also` (which may know nothing of).
pub async fn movies(conn: &impl Connection, also: &[i64]) -> Result<Vec<MovieState>, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH ids AS (SELECT tmdb_id FROM works UNION SELECT tmdb_id FROM refresh_queue
                          UNION SELECT unnest($1::int8[]))
             SELECT m.tmdb_id, w.ingestion_status, w.last_error, coalesce({LEASE_LIVE}, false) AS lease_live,
                    coalesce(w.ingest_count, 0) AS writes,
                    (SELECT count(*) FROM refresh_queue q WHERE q.tmdb_id = m.tmdb_id) AS queue_rows,
                    (SELECT count(*) FROM refresh_queue q WHERE q.tmdb_id = m.tmdb_id AND q.{QUEUE_LIVE}) AS live_rows,
                    l.status AS last_row, l.last_error AS last_row_error,
                    (SELECT coalesce(max(q.attempts), 0) FROM refresh_queue q WHERE q.tmdb_id = m.tmdb_id) AS attempts,
                    (SELECT count(*) FROM tmdb_api_logs a
                     WHERE a.tmdb_id = m.tmdb_id AND (a.error IS NOT NULL OR a.status_code IS DISTINCT FROM 200)) AS tmdb_errors
             FROM ids m
             LEFT JOIN works w ON w.tmdb_id = m.tmdb_id
             LEFT JOIN LATERAL (SELECT q.status, q.last_error FROM refresh_queue q WHERE q.tmdb_id = m.tmdb_id
                                ORDER BY q.id DESC LIMIT 1) l ON true
             ORDER BY m.tmdb_id"
        )
    });
    let ids = Value::ArrayInt64(also.iter().map(|id| Some(*id)).collect());
    conn.query(&SQL, &[ids])
        .await?
        .iter()
        .map(|r| {
            Ok(MovieState {
                tmdb_id: r.get("tmdb_id")?,
                work: r.get("ingestion_status")?,
                work_error: r.get("last_error")?,
                lease_live: r.get("lease_live")?,
                writes: r.get("writes")?,
                queue_rows: r.get("queue_rows")?,
                live_rows: r.get("live_rows")?,
                last_row: r.get("last_row")?,
                last_row_error: r.get("last_row_error")?,
                attempts: r.get("attempts")?,
                tmdb_errors: r.get("tmdb_errors")?,
            })
        })
        .collect()
}

/// What is still being worked on, or waiting to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct InFlight {
    /// Queue rows waiting (due or backing off).
    pub queued: i64,
    /// Queue rows held by a runner (its lease live or not).
    pub processing: i64,
    /// Works being ingested (lease live or not).
    pub ingesting: i64,
    /// Of those, the ones whose invocation died (lease run out).
    pub interrupted: i64,
    /// Runs not closed yet.
    pub running: i64,
}

impl InFlight {
    pub fn nothing(&self) -> bool {
        *self == InFlight::default()
    }
}

pub async fn in_flight(conn: &impl Connection) -> Result<InFlight, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT (SELECT count(*) FROM refresh_queue WHERE status = 'queued') AS queued,
                    (SELECT count(*) FROM refresh_queue WHERE status = 'processing') AS processing,
                    (SELECT count(*) FROM works WHERE ingestion_status = 'ingesting') AS ingesting,
                    (SELECT count(*) FROM works w WHERE {INGEST_INTERRUPTED}) AS interrupted,
                    (SELECT count(*) FROM scheduled_ingestion_log WHERE status = 'running') AS running"
        )
    });
    let rows = conn.query(&SQL, &[]).await?;
    let r = rows.first().ok_or_else(|| DbError::MissingColumn("queued".into()))?;
    Ok(InFlight {
        queued: r.get("queued")?,
        processing: r.get("processing")?,
        ingesting: r.get("ingesting")?,
        interrupted: r.get("interrupted")?,
        running: r.get("running")?,
    })
}

/// What only time releases: queue leases and ingest leases that have not run out, and open runs
/// not yet past the point where the next run closes them as abandoned. Once it is 0, one
/// normal run can clean up after any number of dead invocations.
pub async fn held_by_time(conn: &impl Connection) -> Result<i64, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT (SELECT count(*) FROM refresh_queue q WHERE q.status = 'processing' AND q.lease_until >= now())
                  + (SELECT count(*) FROM works w WHERE w.ingestion_status = 'ingesting' AND {LEASE_LIVE})
                  + (SELECT count(*) FROM scheduled_ingestion_log WHERE status = 'running' AND NOT {abandoned}) AS n",
            abandoned = *super::run_log::ABANDONED
        )
    });
    conn.query(&SQL, &[]).await?[0].get("n")
}

/// The queue rows of `ids` that no longer exist.
pub async fn queue_rows_missing(conn: &impl Connection, ids: &[i64]) -> Result<Vec<i64>, DbError> {
    let rows = conn
        .query(
            "SELECT id FROM unnest($1::int8[]) AS x(id) WHERE NOT EXISTS (SELECT 1 FROM refresh_queue q WHERE q.id = x.id)",
            &[Value::ArrayInt64(ids.iter().map(|id| Some(*id)).collect())],
        )
        .await?;
    rows.iter().map(|r| r.get("id")).collect()
}

/// Every queue row id now.
pub async fn queue_row_ids(conn: &impl Connection) -> Result<Vec<i64>, DbError> {
    conn.query("SELECT id FROM refresh_queue ORDER BY id", &[]).await?.iter().map(|r| r.get("id")).collect()
}

/// The runs closed as `abandoned` (their invocation died).
pub async fn abandoned_runs(conn: &impl Connection) -> Result<i64, DbError> {
    conn.query("SELECT count(*) AS n FROM scheduled_ingestion_log WHERE status = 'abandoned'", &[]).await?[0].get("n")
}

/// The tables of this database with a row whose text holds `needle`, with how many: every
/// column of every table, as PostgreSQL prints the row.
pub async fn tables_containing(conn: &impl Connection, needle: &str) -> Result<Vec<(String, i64)>, DbError> {
    let tables: Vec<String> = conn
        .query(
            "SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.tables
             WHERE table_type = 'BASE TABLE' AND table_schema = current_schema() ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get("name"))
        .collect::<Result<_, _>>()?;
    let mut found = Vec::new();
    for table in tables {
        // The name comes from the catalog, quoted by `format('%I')`; the needle is bound.
        let sql = format!("SELECT count(*) AS n FROM {table} t WHERE strpos(t::text, $1) > 0");
        let n: i64 = conn.query(&sql, &[needle.into()]).await?[0].get("n")?;
        if n > 0 {
            found.push((table, n));
        }
    }
    Ok(found)
}
