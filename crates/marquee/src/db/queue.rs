//! `refresh_queue`, the one module that writes it: enqueue (from ids, changed ids, the stale
//! selection and interrupted ingests), claim with `FOR UPDATE SKIP LOCKED` and a lease, finish
//! or fail under that lease, dead rows after `max_attempts` — also when the runner itself keeps
//! dying with the row — and retry on demand.

use std::sync::LazyLock;
use std::time::Duration;

use super::predicates::{QUEUE_DUE, QUEUE_LEASE_EXPIRED, QUEUE_LIVE, STALE, TRACKED};
use crate::domain::states::sql_text_enum;
use crate::ports::{Connection, DbError, Value};

sql_text_enum! {
    /// Why a movie is queued (the `reason` column).
    Reason {
        Scheduled => "scheduled",
        Batch => "batch",
        Changed => "changed",
        Stale => "stale",
        Manual => "manual",
        /// Its ingest was interrupted (the invocation died holding the lease).
        Recover => "recover",
        /// From TMDB's daily id export: a movie the catalog does not have yet.
        Import => "import",
        /// Tracked, but absent from a complete TMDB id export: refetched, so that TMDB's 404
        /// marks it gone through the usual path (and a glitched export costs a refresh, never a
        /// wrong `gone`).
        Absent => "absent",
    }
}

impl Reason {
    /// Whether processing must refetch even a movie that looks fresh.
    pub fn forces_refresh(self) -> bool {
        matches!(self, Reason::Changed | Reason::Stale | Reason::Manual | Reason::Recover | Reason::Absent)
    }
}

/// Attempts before a row is dead.
pub const MAX_ATTEMPTS: i32 = 5;

/// How every enqueue ends: `rows(tmdb_id, work_id, ord)` are inserted with `$reason` and
/// `$priority` (given as `{reason}`/`{priority}` placeholders' parameter numbers); a movie already
/// live in the queue keeps its row, with the higher of the two priorities. A row whose priority
/// does not rise is left alone (not rewritten, not returned): re-importing TMDB's export over a
/// backlog still queued must not rewrite a million rows. Callers count `inserted` rows.
pub(crate) fn insert_rows(reason: &str, priority: &str) -> String {
    format!(
        "INSERT INTO refresh_queue (tmdb_id, work_id, reason, priority, max_attempts)
         SELECT tmdb_id, work_id, {reason}, {priority}, {MAX_ATTEMPTS} FROM rows ORDER BY ord
         ON CONFLICT (tmdb_id) WHERE {QUEUE_LIVE}
         DO UPDATE SET priority = EXCLUDED.priority WHERE EXCLUDED.priority > refresh_queue.priority
         RETURNING (xmax = 0) AS inserted"
    )
}

fn ids(tmdb_ids: &[i64]) -> Value {
    Value::ArrayInt64(tmdb_ids.iter().map(|id| Some(*id)).collect())
}

fn inserted(rows: &[crate::ports::Row]) -> u64 {
    rows.iter().filter(|r| r.get::<bool>("inserted").unwrap_or(false)).count() as u64
}

/// Queues movies (in the given order, each once). Returns how many rows are new.
pub async fn enqueue(conn: &impl Connection, tmdb_ids: &[i64], reason: Reason, priority: i32) -> Result<u64, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH rows AS (
                SELECT q.tmdb_id, w.work_id, min(q.ord) AS ord
                FROM unnest($1::int8[]) WITH ORDINALITY AS q(tmdb_id, ord)
                LEFT JOIN works w ON w.tmdb_id = q.tmdb_id
                GROUP BY q.tmdb_id, w.work_id
             ) {}",
            insert_rows("$2", "$3")
        )
    });
    if tmdb_ids.is_empty() {
        return Ok(0);
    }
    Ok(inserted(&conn.query(&SQL, &[ids(tmdb_ids), reason.into(), priority.into()]).await?))
}

/// Of the changed ids, those the catalog tracks, queued at `priority` (reason `changed`).
/// Returns (tracked, newly queued).
pub async fn enqueue_changed(conn: &impl Connection, changed: &[i64], priority: i32) -> Result<(u64, u64), DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH rows AS (
                SELECT w.tmdb_id, w.work_id, w.tmdb_id AS ord FROM works w WHERE w.tmdb_id = ANY($1) AND {TRACKED}
             ), queued AS ({})
             SELECT (SELECT count(*) FROM rows) AS tracked, (SELECT count(*) FROM queued WHERE inserted) AS inserted",
            insert_rows("'changed'", "$2")
        )
    });
    let rows = conn.query(&SQL, &[ids(changed), priority.into()]).await?;
    Ok((rows[0].get::<i64>("tracked")? as u64, rows[0].get::<i64>("inserted")? as u64))
}

/// Queues up to `limit` stale works (see `predicates::STALE`), newest releases first and at a
/// higher priority. Works already live in the queue are skipped, so repeated selections move on
/// through the backlog. Returns how many rows are new.
pub async fn enqueue_stale(conn: &impl Connection, limit: i64) -> Result<u64, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH rows AS (
                SELECT w.tmdb_id, w.work_id, {priority} AS priority,
                       row_number() OVER (ORDER BY w.release_date DESC NULLS LAST, w.work_id) AS ord
                FROM works w
                WHERE {stale} AND NOT EXISTS (SELECT 1 FROM refresh_queue l WHERE l.tmdb_id = w.tmdb_id AND l.{QUEUE_LIVE})
                ORDER BY w.release_date DESC NULLS LAST, w.work_id
                LIMIT $1
             ) {}",
            insert_rows("'stale'", "rows.priority"),
            stale = *STALE,
            priority = crate::domain::staleness::priority_sql()
        )
    });
    Ok(inserted(&conn.query(&SQL, &[limit.into()]).await?))
}

/// Ingests whose invocation died holding the lease (`works` still `ingesting`, lease run out):
/// released to what a failed ingest leaves and queued again (reason `recover`) by the same
/// statement, so that none is released without being queued. The CTEs `released`, `rows` and
/// `queued`, for the statement that opens every run (`run_log::open`); `released` has a row per
/// recovered movie.
pub(crate) fn recover_interrupted_ctes() -> String {
    format!(
        "released AS ({}), rows AS (SELECT tmdb_id, work_id, tmdb_id AS ord FROM released), queued AS ({})",
        super::works::release_interrupted_sql(),
        insert_rows("'recover'", "5")
    )
}

/// Of `tmdb_ids`, how many are live in the queue (waiting, or held by a runner).
pub async fn live_among(conn: &impl Connection, tmdb_ids: &[i64]) -> Result<i64, DbError> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT count(*) AS n FROM refresh_queue WHERE tmdb_id = ANY($1) AND {QUEUE_LIVE}"));
    conn.query(&SQL, &[ids(tmdb_ids)]).await?[0].get("n")
}

#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: i64,
    pub tmdb_id: i64,
    pub reason: Reason,
    /// Counting this one.
    pub attempts: i32,
    pub max_attempts: i32,
    /// Its previous runner died with it (lease expired): it runs alone, so that a movie that
    /// kills its runner cannot take other rows down with it.
    pub suspect: bool,
}

/// Which rows a drain may claim.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    All,
    /// Only these movies (a scheduled run works the candidates it queued).
    Only(&'a [i64]),
}

/// Claims work for one runner, by priority, due time and id, skipping rows other runners hold:
/// - rows whose runner died with them (lease expired) after `max_attempts` claims become
///   `failed`, with an error saying so;
/// - otherwise, a row whose runner died (a suspect) is claimed alone;
/// - otherwise, up to `limit` due rows.
pub async fn claim(
    conn: &impl Connection,
    owner: &str,
    limit: i64,
    lease: Duration,
    scope: Scope<'_>,
) -> Result<Vec<Claimed>, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let in_scope = "($4::int8[] IS NULL OR q.tmdb_id = ANY($4))";
        format!(
            "WITH buried AS (
                UPDATE refresh_queue q SET status = 'failed', processed_at = now(), locked_by = NULL, lease_until = NULL,
                       last_error = 'its runner stopped without a result ' || q.attempts || ' times (lease expired): '
                                    || 'the movie may crash the runner or outlast its time limit'
                                    || coalesce('; last error: ' || q.last_error, '')
                WHERE {QUEUE_LEASE_EXPIRED} AND q.attempts >= q.max_attempts
                RETURNING q.id
             ), suspect AS (
                SELECT q.id FROM refresh_queue q
                WHERE {QUEUE_LEASE_EXPIRED} AND q.attempts < q.max_attempts AND {in_scope}
                ORDER BY q.priority DESC, q.id LIMIT 1
                FOR UPDATE SKIP LOCKED
             ), due AS (
                SELECT q.id FROM refresh_queue q
                WHERE {QUEUE_DUE} AND {in_scope} AND NOT EXISTS (SELECT 1 FROM suspect)
                ORDER BY q.priority DESC, q.next_attempt_at, q.id LIMIT $2
                FOR UPDATE SKIP LOCKED
             ), claimed AS (SELECT id, true AS suspect FROM suspect UNION ALL SELECT id, false FROM due)
             UPDATE refresh_queue q SET status = 'processing', locked_by = $1,
                    lease_until = now() + make_interval(secs => $3), attempts = q.attempts + 1
             FROM claimed c WHERE q.id = c.id
             RETURNING q.id, q.tmdb_id, q.reason, q.attempts, q.max_attempts, c.suspect"
        )
    });
    let scope = match scope {
        Scope::All => Value::Null,
        Scope::Only(only) => ids(only),
    };
    let rows = conn.query(&SQL, &[owner.into(), limit.into(), lease.as_secs_f64().into(), scope]).await?;
    let mut claimed = rows
        .iter()
        .map(|r| {
            Ok(Claimed {
                id: r.get("id")?,
                tmdb_id: r.get("tmdb_id")?,
                reason: r.get("reason")?,
                attempts: r.get("attempts")?,
                max_attempts: r.get("max_attempts")?,
                suspect: r.get("suspect")?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    // UPDATE … RETURNING does not keep the subquery's order.
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// Completes the claimed row whose id is parameter `id`, under the lease of parameter `owner`;
/// a statement may add conditions (`AND …`) and a `RETURNING`. Also used by a movie's own write
/// (`catalog::write_movie`), so that a queued movie is completed in the statement that writes it.
pub(crate) fn complete_sql(id: &str, owner: &str) -> String {
    format!(
        "UPDATE refresh_queue SET status = 'completed', processed_at = now(), locked_by = NULL, lease_until = NULL,
                last_error = NULL, work_id = coalesce(work_id, (SELECT w.work_id FROM works w WHERE w.tmdb_id = refresh_queue.tmdb_id))
         WHERE id = {id} AND locked_by = {owner} AND status = 'processing'"
    )
}

/// Marks a claimed row done. `false`: the lease was taken over, nothing was written.
pub async fn complete(conn: &impl Connection, id: i64, owner: &str) -> Result<bool, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| complete_sql("$1", "$2"));
    let n = conn.execute(&SQL, &[id.into(), owner.into()]).await?;
    Ok(n == 1)
}

/// Records a failed attempt: back to `queued` after `retry_in`, or `failed` (dead) once the
/// attempts are used up or when `permanent`. `false`: the lease was taken over.
pub async fn fail(
    conn: &impl Connection,
    id: i64,
    owner: &str,
    error: &str,
    retry_in: Duration,
    permanent: bool,
) -> Result<bool, DbError> {
    let n = conn
        .execute(
            "UPDATE refresh_queue SET
                status = CASE WHEN $5 OR attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
                next_attempt_at = now() + make_interval(secs => $4),
                processed_at = CASE WHEN $5 OR attempts >= max_attempts THEN now() END,
                last_error = $3, locked_by = NULL, lease_until = NULL
             WHERE id = $1 AND locked_by = $2 AND status = 'processing'",
            &[id.into(), owner.into(), error.into(), retry_in.as_secs_f64().into(), permanent.into()],
        )
        .await?;
    Ok(n == 1)
}

/// Gives claimed rows back untouched (the budget ran out before they started): queued again,
/// due now, and the attempt not counted.
pub async fn release(conn: &impl Connection, ids: &[i64], owner: &str) -> Result<u64, DbError> {
    if ids.is_empty() {
        return Ok(0);
    }
    conn.execute(
        "UPDATE refresh_queue SET status = 'queued', attempts = greatest(attempts - 1, 0), locked_by = NULL, lease_until = NULL
         WHERE id = ANY($1) AND locked_by = $2 AND status = 'processing'",
        &[Value::ArrayInt64(ids.iter().map(|i| Some(*i)).collect()), owner.into()],
    )
    .await
}

/// Requeues dead rows (all, or those of `tmdb_ids`) whose movie is not live in the queue again.
pub async fn retry_failed(conn: &impl Connection, tmdb_ids: Option<&[i64]>) -> Result<u64, DbError> {
    let only = tmdb_ids.map(ids).unwrap_or(Value::Null);
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE refresh_queue q SET status = 'queued', attempts = 0, next_attempt_at = now(), processed_at = NULL
             WHERE q.status = 'failed' AND ($1::int8[] IS NULL OR q.tmdb_id = ANY($1))
               AND NOT EXISTS (SELECT 1 FROM refresh_queue live WHERE live.tmdb_id = q.tmdb_id AND live.{QUEUE_LIVE})
               AND q.id = (SELECT max(id) FROM refresh_queue d WHERE d.tmdb_id = q.tmdb_id AND d.status = 'failed')"
        )
    });
    conn.execute(&SQL, &[only]).await
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct QueueCounts {
    pub queued: i64,
    pub due: i64,
    pub processing: i64,
    pub expired_leases: i64,
    pub completed: i64,
    pub failed: i64,
}

pub async fn status(conn: &impl Connection) -> Result<QueueCounts, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT count(*) FILTER (WHERE q.status = 'queued') AS queued,
                    count(*) FILTER (WHERE {QUEUE_DUE}) AS due,
                    count(*) FILTER (WHERE q.status = 'processing') AS processing,
                    count(*) FILTER (WHERE {QUEUE_LEASE_EXPIRED}) AS expired_leases,
                    count(*) FILTER (WHERE q.status = 'completed') AS completed,
                    count(*) FILTER (WHERE q.status = 'failed') AS failed
             FROM refresh_queue q"
        )
    });
    let rows = conn.query(&SQL, &[]).await?;
    let r = &rows[0];
    Ok(QueueCounts {
        queued: r.get("queued")?,
        due: r.get("due")?,
        processing: r.get("processing")?,
        expired_leases: r.get("expired_leases")?,
        completed: r.get("completed")?,
        failed: r.get("failed")?,
    })
}

/// The queue's state without its history: every count reads an index of live or dead rows, so
/// it stays quick however many completed rows the queue has kept (the dashboard's panel).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct QueueHealth {
    pub queued: i64,
    pub due: i64,
    pub processing: i64,
    pub expired_leases: i64,
    pub failed: i64,
}

pub async fn health(conn: &impl Connection) -> Result<QueueHealth, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT (SELECT count(*) FROM refresh_queue q WHERE q.status = 'queued') AS queued,
                    (SELECT count(*) FROM refresh_queue q WHERE {QUEUE_DUE}) AS due,
                    (SELECT count(*) FROM refresh_queue q WHERE q.status = 'processing') AS processing,
                    (SELECT count(*) FROM refresh_queue q WHERE {QUEUE_LEASE_EXPIRED}) AS expired_leases,
                    (SELECT count(*) FROM refresh_queue q WHERE q.status = 'failed') AS failed"
        )
    });
    let rows = conn.query(&SQL, &[]).await?;
    let r = &rows[0];
    Ok(QueueHealth {
        queued: r.get("queued")?,
        due: r.get("due")?,
        processing: r.get("processing")?,
        expired_leases: r.get("expired_leases")?,
        failed: r.get("failed")?,
    })
}

/// A dead queue row, with what the operator needs to decide on a retry.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FailedRow {
    pub id: i64,
    pub tmdb_id: i64,
    /// The movie's title when the catalog has one.
    pub title: Option<String>,
    pub reason: Reason,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub failed_at: Option<chrono::NaiveDateTime>,
}

/// The newest dead rows, newest first.
pub async fn failed_rows(conn: &impl Connection, limit: i64) -> Result<Vec<FailedRow>, DbError> {
    let rows = conn
        .query(
            "SELECT q.id, q.tmdb_id, w.title, q.reason, q.attempts, q.last_error, q.processed_at AT TIME ZONE 'UTC' AS failed_at
             FROM refresh_queue q LEFT JOIN works w ON w.tmdb_id = q.tmdb_id
             WHERE q.status = 'failed'
             ORDER BY q.processed_at DESC, q.id DESC LIMIT $1",
            &[limit.into()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(FailedRow {
                id: r.get("id")?,
                tmdb_id: r.get("tmdb_id")?,
                title: r.get("title")?,
                reason: r.get("reason")?,
                attempts: r.get("attempts")?,
                last_error: r.get("last_error")?,
                failed_at: r.get("failed_at")?,
            })
        })
        .collect()
}
