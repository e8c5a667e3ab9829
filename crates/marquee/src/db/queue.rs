//! `refresh_queue`: enqueue, claim with `FOR UPDATE SKIP LOCKED` and a lease, finish or fail
//! under that lease, dead rows after `max_attempts`, retry on demand.

use std::time::Duration;

use crate::ports::{Connection, DbError, Value};

/// Why a movie is queued (the `reason` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Scheduled,
    Batch,
    Changed,
    Stale,
    Manual,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Scheduled => "scheduled",
            Reason::Batch => "batch",
            Reason::Changed => "changed",
            Reason::Stale => "stale",
            Reason::Manual => "manual",
        }
    }

    /// Whether processing must refetch even a movie that looks fresh.
    pub fn forces_refresh(self) -> bool {
        matches!(self, Reason::Changed | Reason::Stale | Reason::Manual)
    }

    pub fn parse(s: &str) -> Option<Reason> {
        [Reason::Scheduled, Reason::Batch, Reason::Changed, Reason::Stale, Reason::Manual]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Default attempts before a row is dead.
pub const MAX_ATTEMPTS: i32 = 5;

/// Queues movies (in the given order); a movie already live in the queue keeps its row, with
/// the higher of the two priorities. Returns how many rows are new.
pub async fn enqueue(conn: &impl Connection, tmdb_ids: &[i64], reason: Reason, priority: i32) -> Result<u64, DbError> {
    if tmdb_ids.is_empty() {
        return Ok(0);
    }
    let rows = conn
        .query(
            "INSERT INTO refresh_queue (tmdb_id, work_id, reason, priority, max_attempts)
             SELECT q.tmdb_id, w.work_id, $2, $3, $4
             FROM unnest($1::int8[]) WITH ORDINALITY AS q(tmdb_id, ord)
             LEFT JOIN works w ON w.tmdb_id = q.tmdb_id
             ORDER BY q.ord
             ON CONFLICT (tmdb_id) WHERE status IN ('queued', 'processing')
             DO UPDATE SET priority = greatest(refresh_queue.priority, EXCLUDED.priority)
             RETURNING (xmax = 0) AS inserted",
            &[
                Value::ArrayInt64(tmdb_ids.iter().map(|id| Some(*id)).collect()),
                reason.as_str().into(),
                priority.into(),
                MAX_ATTEMPTS.into(),
            ],
        )
        .await?;
    Ok(rows.iter().filter(|r| r.get::<bool>("inserted").unwrap_or(false)).count() as u64)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: i64,
    pub tmdb_id: i64,
    pub reason: Reason,
    /// Counting this one.
    pub attempts: i32,
    pub max_attempts: i32,
}

/// Claims up to `limit` due rows — queued and due, or processing with an expired lease (a
/// crashed runner) — by priority, due time and id, skipping rows other runners hold.
pub async fn claim(conn: &impl Connection, owner: &str, limit: i64, lease: Duration) -> Result<Vec<Claimed>, DbError> {
    let rows = conn
        .query(
            "UPDATE refresh_queue q SET status = 'processing', locked_by = $1,
                    lease_until = now() + make_interval(secs => $3), attempts = q.attempts + 1
             FROM (SELECT id FROM refresh_queue
                   WHERE (status = 'queued' AND next_attempt_at <= now())
                      OR (status = 'processing' AND lease_until < now())
                   ORDER BY priority DESC, next_attempt_at, id
                   LIMIT $2
                   FOR UPDATE SKIP LOCKED) due
             WHERE q.id = due.id
             RETURNING q.id, q.tmdb_id, q.reason, q.attempts, q.max_attempts",
            &[owner.into(), limit.into(), lease.as_secs_f64().into()],
        )
        .await?;
    let mut claimed = rows
        .iter()
        .map(|r| {
            Ok(Claimed {
                id: r.get("id")?,
                tmdb_id: r.get("tmdb_id")?,
                reason: Reason::parse(&r.get::<String>("reason")?).unwrap_or(Reason::Manual),
                attempts: r.get("attempts")?,
                max_attempts: r.get("max_attempts")?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    // UPDATE … RETURNING does not keep the subquery's order.
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// Marks a claimed row done. `false`: the lease was taken over, nothing was written.
pub async fn complete(conn: &impl Connection, id: i64, owner: &str) -> Result<bool, DbError> {
    let n = conn
        .execute(
            "UPDATE refresh_queue SET status = 'completed', processed_at = now(), locked_by = NULL, lease_until = NULL,
                    last_error = NULL, work_id = coalesce(work_id, (SELECT w.work_id FROM works w WHERE w.tmdb_id = refresh_queue.tmdb_id))
             WHERE id = $1 AND locked_by = $2 AND status = 'processing'",
            &[id.into(), owner.into()],
        )
        .await?;
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
    let ids = tmdb_ids.map(|ids| Value::ArrayInt64(ids.iter().map(|i| Some(*i)).collect())).unwrap_or(Value::Null);
    conn.execute(
        "UPDATE refresh_queue q SET status = 'queued', attempts = 0, next_attempt_at = now(), processed_at = NULL
         WHERE q.status = 'failed' AND ($1::int8[] IS NULL OR q.tmdb_id = ANY($1))
           AND NOT EXISTS (SELECT 1 FROM refresh_queue live WHERE live.tmdb_id = q.tmdb_id AND live.status IN ('queued', 'processing'))
           AND q.id = (SELECT max(id) FROM refresh_queue d WHERE d.tmdb_id = q.tmdb_id AND d.status = 'failed')",
        &[ids],
    )
    .await
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct QueueStatus {
    pub queued: i64,
    pub due: i64,
    pub processing: i64,
    pub expired_leases: i64,
    pub completed: i64,
    pub failed: i64,
}

pub async fn status(conn: &impl Connection) -> Result<QueueStatus, DbError> {
    let rows = conn
        .query(
            "SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
                    count(*) FILTER (WHERE status = 'queued' AND next_attempt_at <= now()) AS due,
                    count(*) FILTER (WHERE status = 'processing') AS processing,
                    count(*) FILTER (WHERE status = 'processing' AND lease_until < now()) AS expired_leases,
                    count(*) FILTER (WHERE status = 'completed') AS completed,
                    count(*) FILTER (WHERE status = 'failed') AS failed
             FROM refresh_queue",
            &[],
        )
        .await?;
    let r = &rows[0];
    Ok(QueueStatus {
        queued: r.get("queued")?,
        due: r.get("due")?,
        processing: r.get("processing")?,
        expired_leases: r.get("expired_leases")?,
        completed: r.get("completed")?,
        failed: r.get("failed")?,
    })
}
