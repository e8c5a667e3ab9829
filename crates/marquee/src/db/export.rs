//! `tmdb_exports` and `tmdb_export_ids`: TMDB's daily id export as it is imported — its
//! checkpoint and counts, the ids seen so far, one batch's write (ids seen, movies queued through
//! `db::queue`, checkpoint) in one statement, and the end of an export (gone detection).

use std::sync::LazyLock;

use chrono::NaiveDateTime;

use super::predicates::{KNOWN, TRACKED};
use super::queue::{Reason, insert_rows};
use crate::ports::{Connection, DbError, Row, Value};

/// An export's counts, over its lines `1..=lines_done`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportCounts {
    /// The checkpoint: lines read and written, bad ones included.
    pub lines_done: i64,
    /// Valid lines.
    pub entries: i64,
    /// Skipped: adult.
    pub adult: i64,
    /// `video: true` entries (imported like the others).
    pub video: i64,
    /// Skipped: the same id earlier in the same batch.
    pub duplicates: i64,
    /// Skipped: the catalog has the movie already (see `predicates::KNOWN`).
    pub in_catalog: i64,
    /// Skipped: live in the queue already (the row is kept, its priority raised if lower).
    pub already_queued: i64,
    /// Newly queued, reason `import`.
    pub queued: i64,
    pub bad_lines: i64,
    /// Once complete: tracked movies absent from the export…
    pub absent: Option<i64>,
    /// …and how many of them were newly queued (reason `absent`).
    pub absent_queued: Option<i64>,
}

/// An export's row.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportState {
    pub id: i64,
    pub counts: ExportCounts,
    pub completed_at: Option<NaiveDateTime>,
}

/// The columns [`state`] reads, of `tmdb_exports` as `t`.
fn columns(t: &str) -> String {
    format!(
        "{t}.id, {t}.lines_done, {t}.entries, {t}.adult, {t}.video, {t}.duplicates, {t}.in_catalog, {t}.already_queued,
         {t}.queued, {t}.bad_lines, {t}.absent, {t}.absent_queued, {t}.completed_at AT TIME ZONE 'UTC' AS completed_at"
    )
}

fn state(row: &Row) -> Result<ExportState, DbError> {
    Ok(ExportState {
        id: row.get("id")?,
        completed_at: row.get("completed_at")?,
        counts: ExportCounts {
            lines_done: row.get("lines_done")?,
            entries: row.get("entries")?,
            adult: row.get("adult")?,
            video: row.get("video")?,
            duplicates: row.get("duplicates")?,
            in_catalog: row.get("in_catalog")?,
            already_queued: row.get("already_queued")?,
            queued: row.get("queued")?,
            bad_lines: row.get("bad_lines")?,
            absent: row.get("absent")?,
            absent_queued: row.get("absent_queued")?,
        },
    })
}

fn one(rows: Vec<Row>, what: &str) -> Result<ExportState, DbError> {
    rows.first().map(state).unwrap_or_else(|| Err(DbError::MissingColumn(format!("{what}: no tmdb_exports row"))))
}

/// The export's row, created when new (at line 0).
pub async fn begin(conn: &impl Connection, identity: &str, name: &str) -> Result<ExportState, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH new AS (
                INSERT INTO tmdb_exports (identity, name) VALUES ($1, $2) ON CONFLICT (identity) DO NOTHING RETURNING *
             )
             SELECT {} FROM new n UNION ALL SELECT {} FROM tmdb_exports t WHERE identity = $1",
            columns("n"),
            columns("t")
        )
    });
    let params = [identity.into(), name.into()];
    let rows = conn.query(&SQL, &params).await?;
    // Empty only when a concurrent `begin` of the same export committed its row after this
    // statement's snapshot was taken: the row is there now.
    let rows = if rows.is_empty() { conn.query(&SQL, &params).await? } else { rows };
    one(rows, "begin")
}

/// The export's row, locked until the end of the caller's transaction: batches of one export
/// are written one at a time, each after checking the checkpoint it continues.
pub async fn lock(conn: &impl Connection, id: i64) -> Result<ExportState, DbError> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {} FROM tmdb_exports t WHERE t.id = $1 FOR UPDATE", columns("t")));
    one(conn.query(&SQL, &[id.into()]).await?, "lock")
}

/// One batch of lines, as the import decided it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    /// Every valid id of the batch, adult ones included, each once.
    pub seen: Vec<i64>,
    /// The ids to queue unless the catalog has them or they are queued, with their priority.
    pub candidates: Vec<i64>,
    pub priorities: Vec<i32>,
    /// The checkpoint after this batch.
    pub lines_done: i64,
    pub entries: i64,
    pub adult: i64,
    pub video: i64,
    pub duplicates: i64,
    pub bad_lines: i64,
}

/// Writes one batch in one statement: its ids into `tmdb_export_ids`, its candidates into the
/// queue (reason `import`), the checkpoint and counts. Returns the export's counts after it.
pub async fn write_batch(conn: &impl Connection, id: i64, batch: &Batch) -> Result<ExportCounts, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH seen AS (
                INSERT INTO tmdb_export_ids (export_id, tmdb_id) SELECT $1, s.tmdb_id FROM unnest($2::int8[]) AS s(tmdb_id)
             ), candidates AS (
                SELECT c.tmdb_id, c.priority, c.ord FROM unnest($3::int8[], $4::int4[]) WITH ORDINALITY AS c(tmdb_id, priority, ord)
             ), rows AS (
                SELECT c.tmdb_id, NULL::int8 AS work_id, c.priority, c.ord FROM candidates c
                WHERE NOT EXISTS (SELECT 1 FROM works w WHERE w.tmdb_id = c.tmdb_id AND {KNOWN})
             ), queued AS ({insert}),
             counts AS (
                SELECT (SELECT count(*) FROM candidates) - (SELECT count(*) FROM rows) AS in_catalog,
                       (SELECT count(*) FROM rows) AS eligible,
                       (SELECT count(*) FROM queued WHERE inserted) AS queued
             )
             UPDATE tmdb_exports x SET lines_done = $5, entries = x.entries + $6, adult = x.adult + $7,
                    video = x.video + $8, duplicates = x.duplicates + $9, bad_lines = x.bad_lines + $10,
                    in_catalog = x.in_catalog + c.in_catalog, queued = x.queued + c.queued,
                    already_queued = x.already_queued + c.eligible - c.queued, updated_at = now()
             FROM counts c WHERE x.id = $1
             RETURNING {returning}",
            insert = insert_rows(&format!("'{}'", Reason::Import.as_str()), "rows.priority"),
            returning = columns("x"),
        )
    });
    let params = [
        id.into(),
        ids(&batch.seen),
        ids(&batch.candidates),
        Value::ArrayInt32(batch.priorities.iter().map(|p| Some(*p)).collect()),
        batch.lines_done.into(),
        batch.entries.into(),
        batch.adult.into(),
        batch.video.into(),
        batch.duplicates.into(),
        batch.bad_lines.into(),
    ];
    Ok(one(conn.query(&SQL, &params).await?, "write_batch")?.counts)
}

/// Ends an export read to its end, in one statement: every tracked movie absent from it is
/// queued (reason `absent`, at `absent_priority`) for the refresh whose 404 marks it gone, the
/// export is marked complete, and its ids are dropped, with those of every other export still
/// being read, whose checkpoints go back to line 0: once a newer export is complete, an older
/// one's ids no longer say what TMDB has. Returns the export's final counts.
pub async fn complete(conn: &impl Connection, id: i64, absent_priority: i32) -> Result<ExportCounts, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH rows AS (
                SELECT w.tmdb_id, w.work_id, w.tmdb_id AS ord FROM works w
                WHERE {TRACKED} AND NOT EXISTS (SELECT 1 FROM tmdb_export_ids e WHERE e.export_id = $1 AND e.tmdb_id = w.tmdb_id)
             ), queued AS ({insert}),
             dropped AS (DELETE FROM tmdb_export_ids WHERE export_id = $1 OR export_id IN (
                SELECT o.id FROM tmdb_exports o WHERE o.id <> $1 AND o.completed_at IS NULL)),
             restarted AS (
                UPDATE tmdb_exports o SET lines_done = 0, entries = 0, adult = 0, video = 0, duplicates = 0, in_catalog = 0,
                       already_queued = 0, queued = 0, bad_lines = 0, updated_at = now()
                WHERE o.id <> $1 AND o.completed_at IS NULL
             )
             UPDATE tmdb_exports x SET completed_at = now(), updated_at = now(),
                    absent = (SELECT count(*) FROM rows), absent_queued = (SELECT count(*) FROM queued WHERE inserted)
             WHERE x.id = $1
             RETURNING {returning}",
            insert = insert_rows(&format!("'{}'", Reason::Absent.as_str()), "$2"),
            returning = columns("x"),
        )
    });
    Ok(one(conn.query(&SQL, &[id.into(), absent_priority.into()]).await?, "complete")?.counts)
}

fn ids(tmdb_ids: &[i64]) -> Value {
    Value::ArrayInt64(tmdb_ids.iter().map(|id| Some(*id)).collect())
}
