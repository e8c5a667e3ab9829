//! The catalog's and the queue's rules as SQL, each written once. Every query that asks "is
//! this work fresh, stale, tracked, servable; is this lease live; is this queue row due" uses
//! these fragments, so the staleness tiers and the lease rules cannot disagree between routes.
//!
//! Work fragments refer to `works` as `w`; queue fragments to `refresh_queue` as `q`. They hold
//! no parameters (the schema version is a code constant, not input), so they compose into any
//! statement without renumbering its `$n`.

use std::sync::LazyLock;

use crate::domain::staleness::SCHEMA_VERSION;

/// Why a complete work needs a refresh now: its tier's time has come (or was never set), it was
/// written by an older schema, or it was last refreshed before a gap in the changes feed.
/// Never NULL, so its negation is exact. Every half is indexed (`idx_works_next_refresh`,
/// `idx_works_schema_version`, `idx_works_last_refreshed`), so PostgreSQL can combine them.
pub static NEEDS_REFRESH: LazyLock<String> = LazyLock::new(|| needs_refresh(&STALE_BEFORE));

/// The changes feed's gap mark (`sync_state.stale_before`), read where the predicate is used.
static STALE_BEFORE: LazyLock<String> = LazyLock::new(|| {
    format!("(SELECT s.stale_before FROM sync_state s WHERE s.sync_type = '{}')", super::sync::MOVIE_CHANGES)
});

/// [`NEEDS_REFRESH`] with the feed's gap mark given as an SQL expression (a `timestamptz`, NULL
/// without a gap). A statement that read the mark first can bind it: the planner then knows
/// how few works it holds back, where a subquery's value is unknown when the plan is made (and
/// a third of the catalog is assumed), which turns a count of a few thousand stale works among
/// a million into a scan of them all.
pub fn needs_refresh(stale_before: &str) -> String {
    format!(
        "(w.next_refresh_at IS NULL OR w.next_refresh_at <= now() OR w.schema_version < {SCHEMA_VERSION}
          OR w.last_refreshed_at IS NULL
          OR w.last_refreshed_at < coalesce({stale_before}, '-infinity'))"
    )
}

/// Complete and due for a refresh.
pub static STALE: LazyLock<String> = LazyLock::new(|| stale(&STALE_BEFORE));

/// [`STALE`] with the feed's gap mark given (see [`needs_refresh`]).
pub fn stale(stale_before: &str) -> String {
    format!("(w.ingestion_status = 'complete' AND {})", needs_refresh(stale_before))
}

/// Complete and not due: nothing to fetch.
pub static FRESH: LazyLock<String> =
    LazyLock::new(|| format!("(w.ingestion_status = 'complete' AND NOT {})", *NEEDS_REFRESH));

/// Needs no ingest now: fresh, or refused for good (gone, rejected).
pub static SETTLED: LazyLock<String> =
    LazyLock::new(|| format!("({} OR w.ingestion_status IN ('gone', 'rejected'))", *FRESH));

/// Movies the catalog keeps in sync: ingested, or whose first ingest failed.
pub const TRACKED: &str = "(w.ingestion_status IN ('complete', 'failed'))";

/// The catalog has the movie in hand, whatever became of it: tracked (complete, failed), refused
/// for good (gone, rejected) or being ingested; only `pending` (a row that never got an ingest)
/// is not. A bulk import of TMDB's ids queues none of these: the refresh schedule, the changes
/// feed and gone detection own them, and a gone or rejected movie must not come back.
pub const KNOWN: &str = "(w.ingestion_status <> 'pending')";

/// What customers may read, and what the aggregates count: works with data that the catalog
/// does not refuse — complete ones, and complete ones being refreshed right now (their lease
/// says `ingesting`, their data is still there); never gone, refused or half-ingested works.
/// The rule is the SQL function `marquee_servable` (migration 21), which search calls too;
/// PostgreSQL inlines it, so a statement is planned as if it were written out.
pub const SERVABLE: &str = "marquee_servable(w.ingestion_status, w.last_refreshed_at)";

/// Another invocation is ingesting the work right now.
pub const LEASE_LIVE: &str = "(w.lease_until IS NOT NULL AND w.lease_until > now())";

/// An ingest whose invocation died: still `ingesting`, but its lease ran out.
pub const INGEST_INTERRUPTED: &str =
    "(w.ingestion_status = 'ingesting' AND (w.lease_until IS NULL OR w.lease_until <= now()))";

/// The queue's live rows: at most one per movie (the partial unique index
/// `refresh_queue_one_live_row` has this predicate, and `ON CONFLICT` must name it).
pub const QUEUE_LIVE: &str = "status IN ('queued', 'processing')";

/// Queued and due.
pub const QUEUE_DUE: &str = "(q.status = 'queued' AND q.next_attempt_at <= now())";

/// Claimed by a runner whose lease ran out: the runner died (or overran) with the row.
pub const QUEUE_LEASE_EXPIRED: &str = "(q.status = 'processing' AND q.lease_until < now())";
