//! The judge of `marquee chaos`: after a fault, what became of every movie, and whether
//! anything was lost, written twice, half-written or leaked. The orchestration (processes, a
//! PostgreSQL of its own, the fake TMDB's faults) is the native tool's; the rules it checks are
//! here, next to the audit they build on.
//!
//! A movie ends one of four ways — in the catalog (`complete`), refused for good (`gone`,
//! `rejected`), failed with its error (the work or its newest queue row says why), or still in
//! flight (a live queue row, an ingest lease, `ingesting`). Anything else is **lost**: no trace
//! of a movie that was asked for, a queue row completed for a movie the catalog does not have, a
//! failure without its error. The system has **recovered** when nothing is in flight (no queue
//! row waiting or held, no ingest, no run open) and the audit passes.

use crate::app::App;
use crate::db::chaos::{self as sql, InFlight, MovieState};
use crate::domain::states::{QueueStatus, WorkStatus};
use crate::error::Result;
use crate::pipeline::audit::{self, AuditOptions};
use crate::ports::{Clock, Database, HttpClient};

/// How a movie ended (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Complete,
    Refused,
    Failed,
    InFlight,
    Lost(&'static str),
}

pub fn ending(m: &MovieState) -> Ending {
    if m.live_rows > 0 || m.lease_live || m.work == Some(WorkStatus::Ingesting) {
        return Ending::InFlight;
    }
    let row_failed = m.last_row == Some(QueueStatus::Failed) && m.last_row_error.is_some();
    match m.work {
        Some(WorkStatus::Complete) => Ending::Complete,
        Some(WorkStatus::Gone | WorkStatus::Rejected) => Ending::Refused,
        Some(WorkStatus::Failed) if m.work_error.is_some() || row_failed => Ending::Failed,
        Some(WorkStatus::Failed) => Ending::Lost("failed without its error"),
        Some(WorkStatus::Pending) | None if row_failed => Ending::Failed,
        _ if m.last_row == Some(QueueStatus::Completed) => {
            Ending::Lost("its queue row is completed, the movie is not in the catalog")
        }
        None if m.queue_rows == 0 => Ending::Lost("no trace of it: neither a work nor a queue row"),
        _ => Ending::Lost("neither in the catalog, nor refused, nor failed with its error, nor queued"),
    }
}

/// What a scenario expects of the catalog after its fault.
#[derive(Debug, Clone, Default)]
pub struct Expectation {
    /// Movies the scenario asked for (queued, or requested from a route that accepted them):
    /// each must end somewhere (see [`Ending`]).
    pub movies: Vec<i64>,
    /// Queue rows that existed before the fault: every one must still exist.
    pub queue_rows: Vec<i64>,
    /// Most writes a movie may have had (1: each asked for once, and never refreshed).
    pub max_writes: i32,
    /// Movies that may have been written more often (refreshed by the changes feed, say).
    pub max_writes_of: std::collections::BTreeMap<i64, i32>,
    /// Texts that must appear nowhere in the database (tokens, passwords).
    pub secrets: Vec<String>,
}

/// The judgement after a fault.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Verdict {
    pub movies: i64,
    pub complete: i64,
    pub refused: i64,
    /// Ended failed, each with its error.
    pub failed: i64,
    pub in_flight_movies: i64,
    /// Movies the fault touched: more than one attempt, a TMDB call that failed, an error.
    pub affected: i64,
    pub lost: i64,
    /// Movies written more often than asked, or live twice in the queue.
    pub duplicated: i64,
    /// Complete works whose tables are not exactly the projection of their stored response.
    pub half_written: i64,
    pub queue_rows_lost: i64,
    /// Places in the database holding a secret.
    pub secrets_in_db: i64,
    /// Every other finding of the audit (queue, run log, works, aggregates, orphans).
    pub audit_findings: i64,
    pub abandoned_runs: i64,
    pub in_flight: InFlight,
    /// A few examples of what went wrong, for the report.
    pub problems: Vec<String>,
}

impl Verdict {
    /// Nothing in flight, nothing waiting, and the audit passes.
    pub fn recovered(&self) -> bool {
        self.in_flight.nothing() && self.in_flight_movies == 0 && self.half_written == 0 && self.audit_findings == 0
    }

    /// Nothing lost, duplicated, half-written or leaked.
    pub fn clean(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.half_written == 0
            && self.queue_rows_lost == 0
            && self.secrets_in_db == 0
            && self.audit_findings == 0
    }
}

/// Whether nothing is in flight any more (cheap: one statement), before the whole judgement.
pub async fn quiet<D: Database, H: HttpClient, C: Clock>(app: &App<D, H, C>) -> Result<bool> {
    Ok(sql::in_flight(&app.db.connect().await?).await?.nothing())
}

/// Judges the catalog against `expected`: every movie's ending, the queue rows, the audit, and
/// the secrets.
pub async fn judge<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    expected: &Expectation,
) -> Result<Verdict> {
    let conn = app.db.connect().await?;
    let states = sql::movies(&conn, &expected.movies).await?;
    let mut v = Verdict { movies: states.len() as i64, in_flight: sql::in_flight(&conn).await?, ..Verdict::default() };
    let max_writes = expected.max_writes.max(1);
    for m in &states {
        match ending(m) {
            Ending::Complete => v.complete += 1,
            Ending::Refused => v.refused += 1,
            Ending::Failed => v.failed += 1,
            Ending::InFlight => v.in_flight_movies += 1,
            Ending::Lost(why) => {
                v.lost += 1;
                note(&mut v.problems, format!("movie {} lost: {why}", m.tmdb_id));
            }
        }
        let allowed = expected.max_writes_of.get(&m.tmdb_id).copied().unwrap_or(max_writes);
        if m.writes > allowed || m.live_rows > 1 {
            v.duplicated += 1;
            note(
                &mut v.problems,
                format!("movie {} written {} times, live {} times in the queue", m.tmdb_id, m.writes, m.live_rows),
            );
        }
        if m.attempts > 1 || m.tmdb_errors > 0 || m.work_error.is_some() || !matches!(ending(m), Ending::Complete) {
            v.affected += 1;
        }
    }
    let missing = sql::queue_rows_missing(&conn, &expected.queue_rows).await?;
    v.queue_rows_lost = missing.len() as i64;
    if let Some(id) = missing.first() {
        note(&mut v.problems, format!("{} queue row(s) vanished, e.g. row {id}", missing.len()));
    }
    for secret in expected.secrets.iter().filter(|s| !s.is_empty()) {
        for (table, n) in sql::tables_containing(&conn, secret).await? {
            v.secrets_in_db += n;
            note(&mut v.problems, format!("a secret is stored in {n} row(s) of {table}"));
        }
    }
    v.abandoned_runs = sql::abandoned_runs(&conn).await?;
    drop(conn);
    let report = audit::audit(app, AuditOptions::default()).await?;
    for check in &report.checks {
        for finding in &check.findings {
            if check.name == "projection" {
                v.half_written += finding.count;
            } else {
                v.audit_findings += finding.count;
            }
            note(
                &mut v.problems,
                format!("audit, {}: {} × {} (e.g. {:?})", check.name, finding.count, finding.kind, finding.examples),
            );
        }
    }
    Ok(v)
}

/// How many times any of `secrets` appears in `texts` (logs, error messages, response bodies).
pub fn secrets_in<'a>(texts: impl IntoIterator<Item = &'a str>, secrets: &[String]) -> i64 {
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
    texts.into_iter().map(|t| secrets.iter().filter(|s| t.contains(**s)).count() as i64).sum()
}

fn note(problems: &mut Vec<String>, problem: String) {
    const KEPT: usize = 8;
    if problems.len() < KEPT {
        problems.push(problem);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movie() -> MovieState {
        MovieState {
            tmdb_id: 1,
            work: None,
            work_error: None,
            lease_live: false,
            writes: 0,
            queue_rows: 0,
            live_rows: 0,
            last_row: None,
            last_row_error: None,
            attempts: 0,
            tmdb_errors: 0,
        }
    }

    #[test]
    fn every_movie_ends_somewhere_or_is_lost() {
        let complete = MovieState {
            work: Some(WorkStatus::Complete),
            writes: 1,
            queue_rows: 1,
            last_row: Some(QueueStatus::Completed),
            ..movie()
        };
        assert_eq!(ending(&complete), Ending::Complete);
        let gone = MovieState { work: Some(WorkStatus::Gone), ..complete.clone() };
        assert_eq!(ending(&gone), Ending::Refused);
        let waiting = MovieState { live_rows: 1, last_row: Some(QueueStatus::Queued), ..movie() };
        assert_eq!(ending(&waiting), Ending::InFlight);
        let leased = MovieState { work: Some(WorkStatus::Ingesting), ..movie() };
        assert_eq!(ending(&leased), Ending::InFlight);
        let failed = MovieState { work: Some(WorkStatus::Failed), work_error: Some("e".into()), ..movie() };
        assert_eq!(ending(&failed), Ending::Failed);
        let dead_row = MovieState {
            queue_rows: 1,
            last_row: Some(QueueStatus::Failed),
            last_row_error: Some("runner died".into()),
            ..movie()
        };
        assert_eq!(ending(&dead_row), Ending::Failed);

        assert!(matches!(ending(&movie()), Ending::Lost(why) if why.contains("no trace")));
        let completed_not_there = MovieState { queue_rows: 1, last_row: Some(QueueStatus::Completed), ..movie() };
        assert!(matches!(ending(&completed_not_there), Ending::Lost(why) if why.contains("completed")));
        let silent = MovieState { work: Some(WorkStatus::Failed), ..movie() };
        assert!(matches!(ending(&silent), Ending::Lost(why) if why.contains("without its error")));
        let forgotten = MovieState { work: Some(WorkStatus::Pending), ..movie() };
        assert!(matches!(ending(&forgotten), Ending::Lost(_)));
    }

    #[test]
    fn secrets_are_counted_wherever_they_appear() {
        let secrets = vec!["tok-1".to_owned(), String::new()];
        assert_eq!(secrets_in(["a tok-1 b", "nothing", "tok-1tok-1"], &secrets), 2);
        assert_eq!(secrets_in(["", "x"], &secrets), 0);
    }
}
