//! `works` status and leases: who is ingesting a movie, and what became of it.

use std::time::Duration;

use super::predicates::{FRESH, INGEST_INTERRUPTED, LEASE_LIVE, SETTLED, STALE};
use crate::domain::states::WorkStatus;
use crate::ports::{Connection, DbError, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct WorkState {
    pub work_id: i64,
    pub status: WorkStatus,
    /// Another invocation holds an unexpired lease.
    pub lease_live: bool,
}

pub async fn lookup(conn: &impl Connection, tmdb_id: i64) -> Result<Option<WorkState>, DbError> {
    let rows = conn
        .query(
            &format!("SELECT work_id, ingestion_status, {LEASE_LIVE} AS lease_live FROM works w WHERE tmdb_id = $1"),
            &[tmdb_id.into()],
        )
        .await?;
    rows.first()
        .map(|r| {
            Ok(WorkState {
                work_id: r.get("work_id")?,
                status: r.get("ingestion_status")?,
                lease_live: r.get("lease_live")?,
            })
        })
        .transpose()
}

/// A lease on one movie's ingest.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub work_id: i64,
    /// The row did not exist before this claim.
    pub created: bool,
    /// Status before the claim (to restore it if the ingest is abandoned).
    pub previous_status: Option<WorkStatus>,
    /// The TMDB response stored by the last write, to tell what a refresh changed. Read with the
    /// claim (no round trip of its own): while the lease is ours nobody else writes the movie.
    pub previous_raw: Option<serde_json::Value>,
}

/// Takes the ingest lease unless another invocation holds a live one, or (when not `force`d) the
/// movie is already complete and fresh; `None` then. Atomic: of two concurrent claims exactly one
/// succeeds, and one that waited on the winner's row lock sees its result; an expired lease is
/// taken over.
pub async fn claim(
    conn: &impl Connection,
    tmdb_id: i64,
    owner: &str,
    lease: Duration,
    force: bool,
) -> Result<Option<Claim>, DbError> {
    let rows = conn
        .query(
            &format!(
                "WITH previous AS (SELECT ingestion_status FROM works WHERE tmdb_id = $1 FOR UPDATE)
                 INSERT INTO works AS w (tmdb_id, ingestion_status, lease_owner, lease_until)
                 VALUES ($1, 'ingesting', $2, now() + make_interval(secs => $3))
                 ON CONFLICT (tmdb_id) DO UPDATE
                    SET ingestion_status = 'ingesting', lease_owner = EXCLUDED.lease_owner,
                        lease_until = EXCLUDED.lease_until, updated_at = now()
                    WHERE (w.ingestion_status <> 'ingesting' OR NOT {LEASE_LIVE}) AND ($4 OR NOT {fresh})
                 RETURNING work_id, (xmax = 0) AS created, (SELECT ingestion_status FROM previous) AS previous_status,
                           (SELECT r.payload FROM works_raw r WHERE r.work_id = w.work_id) AS previous_raw",
                fresh = *FRESH
            ),
            &[tmdb_id.into(), owner.into(), lease.as_secs_f64().into(), force.into()],
        )
        .await?;
    rows.first()
        .map(|r| {
            Ok(Claim {
                work_id: r.get("work_id")?,
                created: r.get("created")?,
                previous_status: r.get("previous_status")?,
                previous_raw: r.get("previous_raw")?,
            })
        })
        .transpose()
}

/// Gives up a claim without having written anything (e.g. TMDB said 401): a row this claim
/// created disappears, an existing row gets its previous status back.
pub async fn abandon(conn: &impl Connection, claim: &Claim, owner: &str) -> Result<(), DbError> {
    if claim.created {
        conn.execute(
            "DELETE FROM works WHERE work_id = $1 AND lease_owner = $2",
            &[claim.work_id.into(), owner.into()],
        )
        .await?;
    } else {
        conn.execute(
            "UPDATE works SET ingestion_status = $3, lease_owner = NULL, lease_until = NULL, updated_at = now()
             WHERE work_id = $1 AND lease_owner = $2",
            &[claim.work_id.into(), owner.into(), claim.previous_status.unwrap_or(WorkStatus::Pending).into()],
        )
        .await?;
    }
    Ok(())
}

/// What a failed ingest leaves: a movie that was ingested before keeps its data and stays
/// `complete`; a first ingest becomes `failed`. (Used by [`mark_failed`] and by the sweep of
/// interrupted ingests.)
pub(crate) const STATUS_AFTER_FAILURE: &str =
    "CASE WHEN EXISTS (SELECT 1 FROM works_raw r WHERE r.work_id = w.work_id) THEN 'complete' ELSE 'failed' END";

/// Records a failed ingest (the error is kept in `last_error`).
pub async fn mark_failed(conn: &impl Connection, work_id: i64, owner: &str, error: &str) -> Result<(), DbError> {
    conn.execute(
        &format!(
            "UPDATE works w SET ingestion_status = {STATUS_AFTER_FAILURE},
                last_error = $3, lease_owner = NULL, lease_until = NULL, updated_at = now()
             WHERE work_id = $1 AND lease_owner = $2"
        ),
        &[work_id.into(), owner.into(), error.into()],
    )
    .await?;
    Ok(())
}

/// Why a movie is refused: the status it gets and what `rejected_works` records.
pub struct Refusal<'a> {
    /// `Gone` (TMDB 404) or `Rejected` (adult, untitled).
    pub status: WorkStatus,
    pub tmdb_id: i64,
    pub reason: &'a str,
    pub detail: &'a str,
    pub function: &'a str,
}

/// Marks the movie `gone` or `rejected`, withdraws its card, and records why in
/// `rejected_works`, in one transaction. `false`: the lease was lost (another invocation took
/// the movie over), and nothing was written.
pub async fn refuse(conn: &impl Connection, work_id: i64, owner: &str, refusal: &Refusal<'_>) -> Result<bool, DbError> {
    debug_assert!(refusal.status.is_refused());
    crate::ports::transaction(conn, async |c| {
        let marked = c
            .execute(
                "UPDATE works SET ingestion_status = $3, gone_at = CASE WHEN $3 = 'gone' THEN now() ELSE gone_at END,
                        last_error = NULL, lease_owner = NULL, lease_until = NULL, updated_at = now()
                 WHERE work_id = $1 AND lease_owner = $2",
                &[work_id.into(), owner.into(), refusal.status.into()],
            )
            .await?;
        if marked == 0 {
            return Ok(false);
        }
        // The work leaves the catalog: the aggregates it counted towards must forget it.
        c.execute(
            "INSERT INTO aggregate_dirty (kind, key_id) SELECT kind, key_id FROM marquee_work_keys($1)",
            &[work_id.into()],
        )
        .await?;
        c.execute("DELETE FROM work_cards_cache WHERE work_id = $1", &[work_id.into()]).await?;
        c.execute(
            "INSERT INTO rejected_works (tmdb_id, reason, detail, function) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tmdb_id, reason) DO UPDATE
                SET detail = EXCLUDED.detail, function = EXCLUDED.function,
                    occurrences = rejected_works.occurrences + 1, last_seen_at = now()",
            &[refusal.tmdb_id.into(), refusal.reason.into(), refusal.detail.into(), refusal.function.into()],
        )
        .await?;
        Ok(true)
    })
    .await
}

/// Of `tmdb_ids`, those that need no ingest now (see [`SETTLED`]). One query for the whole
/// candidate list.
pub async fn settled_among(
    conn: &impl Connection,
    tmdb_ids: &[i64],
) -> Result<std::collections::HashSet<i64>, DbError> {
    let rows = conn
        .query(
            &format!("SELECT tmdb_id FROM works w WHERE tmdb_id = ANY($1) AND {}", *SETTLED),
            &[Value::ArrayInt64(tmdb_ids.iter().map(|i| Some(*i)).collect())],
        )
        .await?;
    rows.iter().map(|r| r.get::<i64>("tmdb_id")).collect()
}

crate::domain::states::sql_text_enum! {
    /// Which catalog rows `batch-ingest`'s reingest mode pages through.
    Filter {
        /// Every tracked work (complete or failed).
        All => "all",
        Stale => "stale",
        Failed => "failed",
        SchemaOutdated => "schema_outdated",
    }
}

impl Filter {
    /// The filter as a condition on `works w`.
    fn condition(self) -> String {
        use crate::domain::staleness::SCHEMA_VERSION;
        match self {
            Filter::All => super::predicates::TRACKED.to_owned(),
            Filter::Stale => STALE.clone(),
            Filter::Failed => "(w.ingestion_status = 'failed')".to_owned(),
            Filter::SchemaOutdated => {
                format!("(w.ingestion_status = 'complete' AND w.schema_version < {SCHEMA_VERSION})")
            }
        }
    }
}

/// One page of `(work_id, tmdb_id)` after `cursor` (a `work_id`: stable while rows are added).
pub async fn page(conn: &impl Connection, filter: Filter, cursor: i64, limit: i64) -> Result<Vec<(i64, i64)>, DbError> {
    let sql = format!(
        "SELECT work_id, tmdb_id FROM works w WHERE work_id > $1 AND {} ORDER BY work_id LIMIT $2",
        filter.condition()
    );
    let rows = conn.query(&sql, &[cursor.into(), limit.into()]).await?;
    rows.iter().map(|r| Ok((r.get("work_id")?, r.get("tmdb_id")?))).collect()
}

/// Ingests whose invocation died (still `ingesting`, lease run out): back to what a failed
/// ingest leaves ([`STATUS_AFTER_FAILURE`]), due for a refresh, and returned as `(tmdb_id,
/// work_id)` so the caller queues them in the same statement (see `queue::recover_interrupted_ctes`).
pub(crate) fn release_interrupted_sql() -> String {
    format!(
        "UPDATE works w SET ingestion_status = {STATUS_AFTER_FAILURE}, lease_owner = NULL, lease_until = NULL,
                last_error = 'the ingest was interrupted (its invocation stopped before finishing)',
                next_refresh_at = now(), updated_at = now()
         WHERE {INGEST_INTERRUPTED}
         RETURNING w.tmdb_id, w.work_id"
    )
}

/// One page of stored raw responses after `cursor`, for re-deriving without TMDB.
pub async fn raw_page(
    conn: &impl Connection,
    cursor: i64,
    limit: i64,
) -> Result<Vec<(i64, i64, serde_json::Value)>, DbError> {
    let rows = conn
        .query(
            "SELECT w.work_id, w.tmdb_id, r.payload FROM works w JOIN works_raw r ON r.work_id = w.work_id
             WHERE w.work_id > $1 AND w.ingestion_status = 'complete' ORDER BY w.work_id LIMIT $2",
            &[cursor.into(), limit.into()],
        )
        .await?;
    rows.iter().map(|r| Ok((r.get("work_id")?, r.get("tmdb_id")?, r.get("payload")?))).collect()
}

/// The stored responses of these movies (by tmdb id), for reprojecting them.
pub async fn raw_of(conn: &impl Connection, tmdb_ids: &[i64]) -> Result<Vec<(i64, serde_json::Value)>, DbError> {
    let rows = conn
        .query(
            "SELECT w.tmdb_id, r.payload FROM works w JOIN works_raw r ON r.work_id = w.work_id
             WHERE w.tmdb_id = ANY($1) ORDER BY w.work_id",
            &[Value::ArrayInt64(tmdb_ids.iter().map(|id| Some(*id)).collect())],
        )
        .await?;
    rows.iter().map(|r| Ok((r.get("tmdb_id")?, r.get("payload")?))).collect()
}

/// The catalog's refresh need: complete works by the interval their tier gave them at their last
/// write (`next_refresh_at - last_refreshed_at`, so it is exactly what the code assigned).
pub async fn refresh_need(conn: &impl Connection) -> Result<Vec<crate::domain::capacity::TierNeed>, DbError> {
    let rows = conn
        .query(
            "SELECT greatest(round(extract(epoch FROM w.next_refresh_at - w.last_refreshed_at) / 86400), 1)::int8 AS every_days,
                    count(*) AS works
             FROM works w
             WHERE w.ingestion_status = 'complete' AND w.next_refresh_at IS NOT NULL AND w.last_refreshed_at IS NOT NULL
             GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let (every_days, works): (i64, i64) = (r.get("every_days")?, r.get("works")?);
            Ok(crate::domain::capacity::TierNeed {
                every_days,
                works,
                refreshes_per_day: works as f64 / every_days as f64,
            })
        })
        .collect()
}

/// Movies written more than once (`ingest_count` > 1): after one pass over a queue of distinct
/// movies, each should have been written exactly once, however many runners drained it.
pub async fn written_more_than_once(conn: &impl Connection) -> Result<i64, DbError> {
    let rows = conn.query("SELECT count(*) AS n FROM works WHERE ingest_count > 1", &[]).await?;
    rows.first().map_or(Ok(0), |r| r.get("n"))
}

/// How many works the catalog has in each status, and how many of them customers can read.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CatalogCounts {
    pub by_status: std::collections::BTreeMap<String, i64>,
    pub servable: i64,
}

pub async fn catalog_counts(conn: &impl Connection) -> Result<CatalogCounts, DbError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT w.ingestion_status AS status, count(*) AS works, count(*) FILTER (WHERE {}) AS servable
             FROM works w GROUP BY 1 ORDER BY 1",
            super::predicates::SERVABLE
        )
    });
    let mut counts = CatalogCounts::default();
    for r in conn.query(&SQL, &[]).await? {
        counts.by_status.insert(r.get("status")?, r.get("works")?);
        counts.servable += r.get::<i64>("servable")?;
    }
    Ok(counts)
}

/// Works the catalog took in during the last `days` days (rows created since, servable now).
pub async fn added_in_last_days(conn: &impl Connection, days: i32) -> Result<i64, DbError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT count(*) AS n FROM works w WHERE w.created_at >= now() - make_interval(days => $1) AND {}",
            super::predicates::SERVABLE
        )
    });
    conn.query(&SQL, &[days.into()]).await?[0].get("n")
}

/// Works refused by the catalog now (`rejected`), by the reason `rejected_works` recorded.
pub async fn rejected_by_reason(conn: &impl Connection) -> Result<Vec<(String, i64)>, DbError> {
    let rows = conn
        .query(
            "SELECT r.reason, count(*) AS works FROM works w
             JOIN rejected_works r ON r.tmdb_id = w.tmdb_id
             WHERE w.ingestion_status = 'rejected'
             GROUP BY r.reason ORDER BY works DESC, r.reason",
            &[],
        )
        .await?;
    rows.iter().map(|r| Ok((r.get("reason")?, r.get("works")?))).collect()
}

/// A refusal as `rejected_works` records it (404s included: reason `not_found`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Refused {
    pub tmdb_id: i64,
    pub reason: String,
    pub detail: Option<String>,
    pub function: String,
    pub occurrences: i32,
    pub last_seen_at: chrono::NaiveDateTime,
}

/// The newest refusals, newest first.
pub async fn recent_refusals(conn: &impl Connection, limit: i64) -> Result<Vec<Refused>, DbError> {
    let rows = conn
        .query(
            // The table's column, not the output's (a converted copy): the index's order.
            "SELECT r.tmdb_id, r.reason, r.detail, r.function, r.occurrences, r.last_seen_at AT TIME ZONE 'UTC' AS last_seen_at
             FROM rejected_works r ORDER BY r.last_seen_at DESC LIMIT $1",
            &[limit.into()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Refused {
                tmdb_id: r.get("tmdb_id")?,
                reason: r.get("reason")?,
                detail: r.get("detail")?,
                function: r.get("function")?,
                occurrences: r.get("occurrences")?,
                last_seen_at: r.get("last_seen_at")?,
            })
        })
        .collect()
}

/// A stale work, for the list of the most overdue.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Overdue {
    pub tmdb_id: i64,
    pub title: Option<String>,
    pub release_date: Option<chrono::NaiveDate>,
    pub last_refreshed_at: Option<chrono::NaiveDateTime>,
    pub next_refresh_at: Option<chrono::NaiveDateTime>,
}

/// The stale works that have waited longest (never scheduled ones first). `stale_before` is
/// the changes feed's gap mark as just read (see `predicates::needs_refresh`).
pub async fn most_overdue(
    conn: &impl Connection,
    stale_before: Option<chrono::NaiveDateTime>,
    limit: i64,
) -> Result<Vec<Overdue>, DbError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT w.tmdb_id, w.title, w.release_date, w.last_refreshed_at AT TIME ZONE 'UTC' AS last_refreshed_at,
                    w.next_refresh_at AT TIME ZONE 'UTC' AS next_refresh_at
             FROM works w WHERE {} ORDER BY w.next_refresh_at NULLS FIRST, w.work_id LIMIT $2",
            super::predicates::stale("($1::timestamp AT TIME ZONE 'UTC')")
        )
    });
    let rows = conn.query(&SQL, &[stale_before.into(), limit.into()]).await?;
    rows.iter()
        .map(|r| {
            Ok(Overdue {
                tmdb_id: r.get("tmdb_id")?,
                title: r.get("title")?,
                release_date: r.get("release_date")?,
                last_refreshed_at: r.get("last_refreshed_at")?,
                next_refresh_at: r.get("next_refresh_at")?,
            })
        })
        .collect()
}

/// The catalog's works by status, and how many customers can read, from the summary that
/// migration 20's triggers keep (`works_counts`, and the deltas not folded yet): a few rows,
/// however large the catalog. The same figures as [`catalog_counts`], which counts the rows.
pub async fn summarised_counts(conn: &impl Connection) -> Result<CatalogCounts, DbError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        // `refreshed`: `last_refreshed_at` is set, which is what tells a refresh in flight
        // (servable) from a first ingest (not servable): predicates::SERVABLE.
        "SELECT ingestion_status AS status, sum(works)::int8 AS works,
                sum(works) FILTER (WHERE ingestion_status = 'complete' OR (ingestion_status = 'ingesting' AND refreshed))::int8 AS servable
         FROM (SELECT ingestion_status, refreshed, works FROM works_counts
               UNION ALL SELECT ingestion_status, refreshed, works FROM works_count_deltas) c
         GROUP BY 1 HAVING sum(works) <> 0 ORDER BY 1"
            .to_owned()
    });
    let mut counts = CatalogCounts::default();
    for r in conn.query(&SQL, &[]).await? {
        counts.by_status.insert(r.get("status")?, r.get("works")?);
        counts.servable += r.get::<Option<i64>>("servable")?.unwrap_or(0);
    }
    Ok(counts)
}

/// The count deltas one fold moves at most.
pub const FOLD_COUNT_DELTAS_AT_MOST: i64 = 50_000;

/// Moves the works count deltas (appended by migration 20's triggers) into `works_counts`, at
/// most `limit` of them, in one statement (each delta deleted and added once, as
/// `api_logs::fold_summary` does). Returns how many were folded.
pub async fn fold_counts(conn: &impl Connection, limit: i64) -> Result<i64, DbError> {
    let rows = conn
        .query(
            "WITH moved AS (
                DELETE FROM works_count_deltas WHERE ctid IN (SELECT ctid FROM works_count_deltas LIMIT $1)
                RETURNING ingestion_status, refreshed, works
             ), summed AS (
                SELECT ingestion_status, refreshed, sum(works)::int8 AS works, count(*) AS deltas FROM moved GROUP BY 1, 2
             ), added AS (
                INSERT INTO works_counts AS c (ingestion_status, refreshed, works)
                SELECT ingestion_status, refreshed, works FROM summed ORDER BY 1, 2
                ON CONFLICT (ingestion_status, refreshed) DO UPDATE SET works = c.works + EXCLUDED.works
             )
             SELECT coalesce(sum(deltas), 0)::int8 AS folded FROM summed",
            &[limit.into()],
        )
        .await?;
    rows.first().map_or(Ok(0), |r| r.get("folded"))
}
