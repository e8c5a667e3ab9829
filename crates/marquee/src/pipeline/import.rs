//! Importing TMDB's daily id export (`movie_ids_MM_DD_YYYY.json.gz`: one JSON object a line,
//! `{"adult":false,"id":3924,"original_title":"Blondie","popularity":2.9,"video":false}`): every
//! movie the catalog does not have yet is queued (reason `import`), most popular first and below
//! everything that keeps the catalog fresh; once an export has been read to its end, tracked
//! movies absent from it are queued for the refresh whose 404 marks them gone.
//!
//! The adapter opens the file (and un-gzips it) and hands over its lines as a `BufRead`; this
//! module reads them one at a time into batches of `batch_size` lines, so memory stays constant
//! whatever the export's size, and writes each batch with its checkpoint in one transaction
//! (`db::export`). An import killed at any line therefore resumes after the last batch written,
//! and queues nothing twice; the same export imported again is a no-op. The export is identified
//! by its content (the adapter's `identity`, e.g. the file's SHA-256), not its file name.
//!
//! What is skipped, and why:
//! - adult entries: the catalog refuses adult movies anyway (`domain::movie`); their ids still
//!   count as present on TMDB for gone detection;
//! - movies the catalog has in hand (`predicates::KNOWN`: tracked, gone, rejected, being
//!   ingested): the refresh schedule and the changes feed own them, and gone or rejected movies
//!   must not come back through a bulk import;
//! - movies live in the queue already: their row is kept (its priority raised if the import's is
//!   higher, as for every enqueue);
//! - an id seen earlier in the same batch (a later batch's duplicate counts as already queued).
//!
//! `video: true` entries (concerts, compilations, direct-to-video releases) are imported like the
//! others: they are movies on TMDB, the catalog's admission rules (`domain::movie`) do not refuse
//! them, and their popularity already ranks them low. They are counted, so an operator can see
//! how many there are.
//!
//! Bad lines (not JSON, not an entry, no id, an id that is not a positive integer, longer than
//! [`MAX_LINE_BYTES`]) are reported with their line number, counted, and skipped: one damaged
//! line must not hold back a million good ones, and the caller exits non-zero when there were
//! any.

use std::collections::HashSet;
use std::io::{self, BufRead};

use serde::{Deserialize, Serialize};

use crate::db::export::{self, Batch, ExportCounts};
use crate::ports::{Connection, DbError, transaction};

/// Lines per batch (one statement each). Large enough that the per-statement cost vanishes over a
/// million lines, small enough that a batch's arrays stay a few hundred kilobytes.
pub const DEFAULT_BATCH_LINES: usize = 20_000;
/// A line longer than this is bad (a real entry is under 200 bytes); its bytes are not kept, so
/// a damaged file cannot make the import hold a huge line in memory.
pub const MAX_LINE_BYTES: usize = 4096;
/// Bad lines kept in the report (all of them are reported to the caller as they are found, and
/// counted).
pub const REPORTED_BAD_LINES: usize = 100;

/// Queue priority of imported movies: the most popular bucket. Everything that keeps the catalog
/// fresh is queued at 0 or above (stale 0–3 by tier, scheduled/batch/recover 5, changed 10), and
/// rows are claimed by priority first, so a backlog of a million imported movies never delays a
/// refresh: the import drains only with what the refresh runs leave over.
pub const IMPORT_TOP_PRIORITY: i32 = -1;
/// The least popular bucket.
pub const IMPORT_BOTTOM_PRIORITY: i32 = -12;
/// The popularity of the top bucket; each bucket below it halves the popularity.
const TOP_BUCKET_POPULARITY: f64 = 512.0;
/// Queue priority of tracked movies absent from a complete export: a deletion on TMDB is a
/// change the changes feed does not report, so it ranks with the changed movies.
pub const ABSENT_PRIORITY: i32 = crate::pipeline::refresh::CHANGED_PRIORITY;

// Checked when compiling: imported movies rank below the lowest refresh (a stale old movie), and
// absent ones above the imported backlog.
const _: () =
    assert!(IMPORT_TOP_PRIORITY < crate::domain::staleness::LOWEST_PRIORITY && ABSENT_PRIORITY > IMPORT_TOP_PRIORITY);

/// The queue priority of an imported movie by its TMDB popularity: one bucket per halving of
/// popularity, from [`IMPORT_TOP_PRIORITY`] (popularity 512 and above) down to
/// [`IMPORT_BOTTOM_PRIORITY`] (below 0.5, or unknown), so more popular movies are ingested
/// first. Buckets rather than the raw popularity keep ties in file order (the claim order is
/// priority, then due time, then id) and fit the queue's integer priority.
pub fn import_priority(popularity: f64) -> i32 {
    if popularity.is_nan() || popularity <= 0.0 {
        return IMPORT_BOTTOM_PRIORITY;
    }
    let halvings = (TOP_BUCKET_POPULARITY / popularity).log2().ceil().max(0.0);
    let lowest = f64::from(IMPORT_TOP_PRIORITY - IMPORT_BOTTOM_PRIORITY);
    IMPORT_TOP_PRIORITY - halvings.min(lowest) as i32
}

/// One valid line of the export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportEntry {
    pub tmdb_id: i64,
    /// 0 when absent.
    pub popularity: f64,
    /// `false` when absent.
    pub adult: bool,
    pub video: bool,
}

/// Why a line is bad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("empty line")]
    Empty,
    #[error("longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
    #[error("not JSON ({0})")]
    NotJson(String),
    #[error("not an export entry ({0})")]
    NotAnEntry(String),
    #[error("no `id`")]
    MissingId,
    #[error("`id` must be a positive integer, got {0}")]
    InvalidId(String),
}

/// A bad line and its number (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("line {line}: {problem}")]
pub struct BadLine {
    pub line: u64,
    #[serde(serialize_with = "display")]
    pub problem: LineProblem,
}

fn display<S: serde::Serializer>(problem: &LineProblem, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(problem)
}

/// The fields read from a line; the others (`original_title`) are skipped unread.
#[derive(Deserialize)]
struct RawEntry {
    id: Option<serde_json::Number>,
    popularity: Option<f64>,
    adult: Option<bool>,
    video: Option<bool>,
}

/// Parses one line (without its line break).
pub fn parse_line(line: &[u8]) -> Result<ExportEntry, LineProblem> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(LineProblem::Empty);
    }
    let raw: RawEntry = serde_json::from_slice(line).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => LineProblem::NotAnEntry(e.to_string()),
        _ => LineProblem::NotJson(e.to_string()),
    })?;
    let id = raw.id.ok_or(LineProblem::MissingId)?;
    let tmdb_id = id.as_i64().filter(|id| *id > 0).ok_or_else(|| LineProblem::InvalidId(id.to_string()))?;
    Ok(ExportEntry {
        tmdb_id,
        popularity: raw.popularity.unwrap_or(0.0),
        adult: raw.adult.unwrap_or(false),
        video: raw.video.unwrap_or(false),
    })
}

/// Which export is read: `identity` says which content it is (a re-run of the same content
/// resumes it, or is a no-op once complete), `name` is for people.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSource {
    pub identity: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub batch_lines: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { batch_lines: DEFAULT_BATCH_LINES }
    }
}

/// What happened, as it happens (for progress and for reporting every bad line).
#[derive(Debug)]
pub enum ImportEvent<'a> {
    /// An earlier run imported this export up to this line; reading continues after it.
    Resumed {
        lines_done: u64,
    },
    BadLine(&'a BadLine),
    /// A batch was written: the checkpoint and the export's counts now.
    BatchWritten(&'a ExportCounts),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Read to its end by this run; gone detection ran.
    Completed,
    /// A run before this one completed it: nothing was read or written.
    AlreadyImported,
    /// Reading failed (a truncated or corrupt file): what was read before is written, and a
    /// re-run continues from there; no gone detection.
    Interrupted,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub export: String,
    pub identity: String,
    pub status: ImportStatus,
    /// Lines an earlier run had imported (skipped unread by this one).
    pub resumed_from_line: u64,
    /// Lines this run read (bad ones included).
    pub lines_read: u64,
    /// The export's counts, over every run that imported it.
    pub totals: ExportCounts,
    /// Bad lines found by this run (the first [`REPORTED_BAD_LINES`]; `totals.bad_lines` has
    /// the count).
    pub bad_lines: Vec<BadLine>,
    /// Why reading stopped, when it did.
    pub read_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(
        "this export's checkpoint moved under this import (expected line {expected}, found {found}): another import of it is running, or a newer export was completed, which restarts older ones; nothing of this batch was written: run again to continue from the checkpoint"
    )]
    CheckpointMoved { expected: i64, found: i64 },
    #[error(
        "this export was imported up to line {checkpoint}, but the file has only {lines} lines: it is not the content that was imported under this identity"
    )]
    ShorterThanCheckpoint { checkpoint: u64, lines: u64 },
}

/// Imports one export read from `lines` (see the module's documentation).
pub async fn import_export(
    conn: &impl Connection,
    source: &ExportSource,
    mut lines: impl BufRead,
    options: &ImportOptions,
    on_event: &mut dyn FnMut(ImportEvent<'_>),
) -> Result<ImportReport, ImportError> {
    let start = export::begin(conn, &source.identity, &source.name).await?;
    let mut report = ImportReport {
        export: source.name.clone(),
        identity: source.identity.clone(),
        status: ImportStatus::AlreadyImported,
        resumed_from_line: start.counts.lines_done as u64,
        lines_read: 0,
        totals: start.counts.clone(),
        bad_lines: Vec::new(),
        read_error: None,
    };
    if start.completed_at.is_some() {
        return Ok(report);
    }

    let mut line = Vec::with_capacity(MAX_LINE_BYTES);
    let mut line_number = 0u64;
    while line_number < report.resumed_from_line {
        match read_line(&mut lines, &mut line) {
            Ok(Some(_)) => line_number += 1,
            Ok(None) => {
                return Err(ImportError::ShorterThanCheckpoint {
                    checkpoint: report.resumed_from_line,
                    lines: line_number,
                });
            }
            Err(e) => return Ok(interrupted(report, line_number + 1, &e)),
        }
    }
    if line_number > 0 {
        on_event(ImportEvent::Resumed { lines_done: line_number });
    }

    let batch_lines = options.batch_lines.max(1);
    let mut batch = BatchBuilder::default();
    loop {
        let read = read_line(&mut lines, &mut line);
        let too_long = match read {
            Ok(Some(too_long)) => too_long,
            Ok(None) => break,
            Err(e) => {
                // What was read before the failure is good: write it, so a re-run continues
                // after it.
                report.totals = write(conn, start.id, line_number, &mut batch, on_event).await?;
                return Ok(interrupted(report, line_number + 1, &e));
            }
        };
        line_number += 1;
        report.lines_read += 1;
        let parsed = if too_long { Err(LineProblem::TooLong) } else { parse_line(&line) };
        match parsed {
            Ok(entry) => batch.add(&entry),
            Err(problem) => {
                let bad = BadLine { line: line_number, problem };
                on_event(ImportEvent::BadLine(&bad));
                batch.batch.bad_lines += 1;
                if report.bad_lines.len() < REPORTED_BAD_LINES {
                    report.bad_lines.push(bad);
                }
            }
        }
        batch.lines += 1;
        if batch.lines >= batch_lines {
            report.totals = write(conn, start.id, line_number, &mut batch, on_event).await?;
        }
    }
    report.totals = write(conn, start.id, line_number, &mut batch, on_event).await?;

    let completed = transaction(conn, async |c| {
        let state = export::lock(c, start.id).await?;
        if state.completed_at.is_some() {
            // Another run of the same export finished it at the same time.
            return Ok(None);
        }
        check_checkpoint(&state.counts, line_number as i64)?;
        Ok::<_, ImportError>(Some(export::complete(c, start.id, ABSENT_PRIORITY).await?))
    })
    .await?;
    report.status = if completed.is_some() { ImportStatus::Completed } else { ImportStatus::AlreadyImported };
    if let Some(totals) = completed {
        report.totals = totals;
    }
    Ok(report)
}

fn interrupted(mut report: ImportReport, line: u64, error: &io::Error) -> ImportReport {
    report.status = ImportStatus::Interrupted;
    report.read_error = Some(format!("reading line {line}: {error}"));
    report
}

fn check_checkpoint(counts: &ExportCounts, expected: i64) -> Result<(), ImportError> {
    if counts.lines_done == expected {
        Ok(())
    } else {
        Err(ImportError::CheckpointMoved { expected, found: counts.lines_done })
    }
}

/// Writes the batch (if it holds any line) with the checkpoint `lines_done`, after checking that
/// the export's checkpoint is still where this batch starts: two imports of one export at once
/// never write the same lines twice (the second one stops). Returns the export's counts.
async fn write(
    conn: &impl Connection,
    export_id: i64,
    lines_done: u64,
    batch: &mut BatchBuilder,
    on_event: &mut dyn FnMut(ImportEvent<'_>),
) -> Result<ExportCounts, ImportError> {
    let starts_after = (lines_done - batch.lines as u64) as i64;
    let done = std::mem::take(batch).finish(lines_done as i64);
    let counts = transaction(conn, async |c| {
        let state = export::lock(c, export_id).await?;
        check_checkpoint(&state.counts, starts_after)?;
        if done.lines_done == starts_after {
            return Ok(state.counts);
        }
        Ok::<_, ImportError>(export::write_batch(c, export_id, &done).await?)
    })
    .await?;
    if done.lines_done != starts_after {
        on_event(ImportEvent::BatchWritten(&counts));
    }
    Ok(counts)
}

/// The batch being filled.
#[derive(Default)]
struct BatchBuilder {
    batch: Batch,
    lines: usize,
    ids: HashSet<i64>,
}

impl BatchBuilder {
    fn add(&mut self, entry: &ExportEntry) {
        let b = &mut self.batch;
        b.entries += 1;
        if !self.ids.insert(entry.tmdb_id) {
            b.duplicates += 1;
            return;
        }
        b.seen.push(entry.tmdb_id);
        if entry.adult {
            b.adult += 1;
            return;
        }
        if entry.video {
            b.video += 1;
        }
        b.candidates.push(entry.tmdb_id);
        b.priorities.push(import_priority(entry.popularity));
    }

    fn finish(self, lines_done: i64) -> Batch {
        Batch { lines_done, ..self.batch }
    }
}

/// Reads one line into `line` (without `\n` or `\r\n`). `Ok(None)` at the end of the input;
/// `Ok(Some(true))` when the line was longer than [`MAX_LINE_BYTES`] (its bytes are skipped,
/// not kept). A last line without a line break counts as a line.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<Option<bool>> {
    line.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = match input.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        any = true;
        let end = available.iter().position(|b| *b == b'\n');
        let chunk = &available[..end.unwrap_or(available.len())];
        if !too_long {
            if line.len() + chunk.len() > MAX_LINE_BYTES {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = end.map_or(available.len(), |i| i + 1);
        input.consume(used);
        if end.is_some() {
            break;
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(any.then_some(too_long))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_popular_movies_get_higher_priorities_all_below_the_refreshes() {
        assert_eq!(import_priority(10_000.0), -1);
        assert_eq!(import_priority(512.0), -1);
        assert_eq!(import_priority(511.9), -2);
        assert_eq!(import_priority(256.0), -2);
        assert_eq!(import_priority(2.9), -9);
        assert_eq!(import_priority(1.0), -10);
        assert_eq!(import_priority(0.5), -11);
        assert_eq!(import_priority(0.49), -12);
        assert_eq!(import_priority(0.0), -12);
        assert_eq!(import_priority(-3.0), -12);
        assert_eq!(import_priority(f64::NAN), -12);
        assert_eq!(import_priority(f64::INFINITY), -1);
        let mut last = IMPORT_BOTTOM_PRIORITY;
        for p in (0..2000).map(|i| f64::from(i) * 0.5) {
            let priority = import_priority(p);
            assert!(priority >= last, "popularity {p}: {priority} < {last}");
            assert!((IMPORT_BOTTOM_PRIORITY..=IMPORT_TOP_PRIORITY).contains(&priority));
            last = priority;
        }
    }

    #[test]
    fn lines_parse_into_entries() {
        let e = parse_line(br#"{"adult":false,"id":3924,"original_title":"Blondie","popularity":2.9,"video":false}"#);
        assert_eq!(e, Ok(ExportEntry { tmdb_id: 3924, popularity: 2.9, adult: false, video: false }));
        let e = parse_line(br#"{"id":7,"adult":true,"video":true}"#).unwrap();
        assert_eq!((e.tmdb_id, e.adult, e.video, e.popularity), (7, true, true, 0.0));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let problem = |line: &str| parse_line(line.as_bytes()).unwrap_err();
        assert_eq!(problem(""), LineProblem::Empty);
        assert_eq!(problem("  "), LineProblem::Empty);
        assert!(matches!(problem("{\"id\": 3"), LineProblem::NotJson(_)));
        assert!(matches!(problem("hello"), LineProblem::NotJson(_)));
        assert!(matches!(problem("[1, 2]"), LineProblem::NotAnEntry(_)));
        assert!(matches!(problem(r#"{"id": 3, "adult": "no"}"#), LineProblem::NotAnEntry(_)));
        assert!(matches!(problem(r#"{"id": "3"}"#), LineProblem::NotAnEntry(_)));
        assert_eq!(problem(r#"{"adult": false}"#), LineProblem::MissingId);
        assert_eq!(problem(r#"{"id": null}"#), LineProblem::MissingId);
        assert_eq!(problem(r#"{"id": 0}"#), LineProblem::InvalidId("0".into()));
        assert_eq!(problem(r#"{"id": -4}"#), LineProblem::InvalidId("-4".into()));
        assert_eq!(problem(r#"{"id": 1.5}"#), LineProblem::InvalidId("1.5".into()));
        assert_eq!(problem(r#"{"id": 18446744073709551615}"#), LineProblem::InvalidId(u64::MAX.to_string()));
        assert_eq!(problem(r#"{"id": 99999999999999999999}"#), LineProblem::InvalidId("1e+20".into()));
        let bad = BadLine { line: 17, problem: LineProblem::MissingId };
        assert_eq!(bad.to_string(), "line 17: no `id`");
    }

    #[test]
    fn lines_are_read_one_at_a_time_and_long_ones_are_not_kept() {
        let long = "x".repeat(MAX_LINE_BYTES + 1);
        let text = format!("a\r\n\nb\n{long}\nc");
        // A tiny buffer: lines span many reads.
        let mut input = io::BufReader::with_capacity(3, text.as_bytes());
        let mut line = Vec::new();
        let mut got = Vec::new();
        while let Some(too_long) = read_line(&mut input, &mut line).unwrap() {
            got.push((String::from_utf8(line.clone()).unwrap(), too_long));
            assert!(line.capacity() <= 2 * MAX_LINE_BYTES + 8);
        }
        let want = [("a", false), ("", false), ("b", false), ("", true), ("c", false)];
        assert_eq!(got, want.map(|(l, t)| (l.to_owned(), t)));
    }
}
