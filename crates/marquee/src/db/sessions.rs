//! The dashboard's sign-in tables: `dashboard_sessions` (what sign-out revokes) and
//! `dashboard_sign_in_throttle` (the spacing of sign-in attempts, shared by every invocation).
//! The rules (lifetimes, spacing) are the library's `dashboard` module's; this module only
//! stores them.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ports::{Connection, DbError, Value};

/// Records a new session; also forgets sessions that expired more than a day ago (a bounded
/// clean-up, so the table stays the size of a day's sign-ins).
pub async fn create(conn: &impl Connection, session_id: &str, expires_at: DateTime<Utc>) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM dashboard_sessions
         WHERE session_id IN (SELECT session_id FROM dashboard_sessions WHERE expires_at < now() - interval '1 day' LIMIT 1000)",
        &[],
    )
    .await?;
    conn.execute(
        "INSERT INTO dashboard_sessions (session_id, expires_at) VALUES ($1, ($2::timestamp AT TIME ZONE 'UTC'))",
        &[session_id.into(), expires_at.into()],
    )
    .await?;
    Ok(())
}

/// Whether the session exists, is not signed out and has not expired.
pub async fn is_live(conn: &impl Connection, session_id: &str) -> Result<bool, DbError> {
    let rows = conn
        .query(
            "SELECT 1 AS live FROM dashboard_sessions WHERE session_id = $1 AND signed_out_at IS NULL AND expires_at > now()",
            &[session_id.into()],
        )
        .await?;
    Ok(!rows.is_empty())
}

/// Ends a session (idempotent).
pub async fn sign_out(conn: &impl Connection, session_id: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE dashboard_sessions SET signed_out_at = coalesce(signed_out_at, now()) WHERE session_id = $1",
        &[session_id.into()],
    )
    .await?;
    Ok(())
}

/// What the throttle answered to a sign-in attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slot {
    /// The attempt may be checked after waiting this long (the slot is taken).
    After(Duration),
    /// The next free slot is further away than the attempt may wait: refused, nothing taken.
    Refused { retry_in: Duration },
}

/// Takes the next sign-in slot of `scope` unless it is more than `max_wait` away. Slots are
/// spaced by `spacing_ms[failures]` (the last entry for more failures), where `failures` counts
/// consecutive failures no older than `forget_after`. One statement under the row lock, so
/// concurrent attempts, from any invocation, take consecutive slots.
pub async fn take_slot(
    conn: &impl Connection,
    scope: &str,
    spacing_ms: &[i64],
    forget_after: Duration,
    max_wait: Duration,
) -> Result<Slot, DbError> {
    conn.execute(
        "INSERT INTO dashboard_sign_in_throttle (scope) VALUES ($1) ON CONFLICT (scope) DO NOTHING",
        &[scope.into()],
    )
    .await?;
    let spacing = Value::ArrayInt64(spacing_ms.iter().map(|ms| Some(*ms)).collect());
    let rows = conn
        .query(
            "WITH current AS (
                SELECT scope, greatest(next_attempt_at, now()) AS slot,
                       CASE WHEN last_failure_at > now() - make_interval(secs => $2) THEN failures ELSE 0 END AS failures
                FROM dashboard_sign_in_throttle WHERE scope = $1 FOR UPDATE
             ), taken AS (
                UPDATE dashboard_sign_in_throttle t
                   SET next_attempt_at = c.slot
                       + ($4::int8[])[least(c.failures, cardinality($4::int8[]) - 1) + 1] * interval '1 millisecond'
                FROM current c
                WHERE t.scope = c.scope AND c.slot <= now() + make_interval(secs => $3)
                RETURNING c.slot
             )
             SELECT (SELECT extract(epoch FROM slot - now())::float8 FROM taken) AS wait_secs,
                    (SELECT extract(epoch FROM slot - now())::float8 FROM current) AS next_in_secs",
            &[scope.into(), forget_after.as_secs_f64().into(), max_wait.as_secs_f64().into(), spacing],
        )
        .await?;
    let row = rows.first().ok_or_else(|| DbError::MissingColumn("wait_secs".into()))?;
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
    Ok(match row.get::<Option<f64>>("wait_secs")? {
        Some(wait) => Slot::After(secs(wait)),
        None => Slot::Refused { retry_in: secs(row.get::<Option<f64>>("next_in_secs")?.unwrap_or(0.0)) },
    })
}

/// Records the outcome of a checked attempt. A failure adds to the consecutive failures (after
/// `forget_after` without one they start again from 1) and keeps the next slot at least their
/// spacing away; a success clears them and frees the next slot.
pub async fn record_attempt(
    conn: &impl Connection,
    scope: &str,
    succeeded: bool,
    spacing_ms: &[i64],
    forget_after: Duration,
) -> Result<(), DbError> {
    let spacing = Value::ArrayInt64(spacing_ms.iter().map(|ms| Some(*ms)).collect());
    conn.execute(
        "WITH counted AS (
            SELECT scope, CASE WHEN $2 THEN 0
                               WHEN last_failure_at > now() - make_interval(secs => $3) THEN failures + 1 ELSE 1 END AS failures
            FROM dashboard_sign_in_throttle WHERE scope = $1 FOR UPDATE
         )
         UPDATE dashboard_sign_in_throttle t SET
            failures = c.failures,
            last_failure_at = CASE WHEN $2 THEN t.last_failure_at ELSE now() END,
            next_attempt_at = CASE WHEN $2 THEN least(t.next_attempt_at, now())
                                   ELSE greatest(t.next_attempt_at, now()
                                        + ($4::int8[])[least(c.failures, cardinality($4::int8[]) - 1) + 1] * interval '1 millisecond')
                              END
         FROM counted c WHERE t.scope = c.scope",
        &[scope.into(), succeeded.into(), forget_after.as_secs_f64().into(), spacing],
    )
    .await?;
    Ok(())
}
