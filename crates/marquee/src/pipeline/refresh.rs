//! `daily-refresh`: queue what TMDB says changed (for movies the catalog tracks), queue what is
//! stale by age or schema, then drain the queue within the budget.
//!
//! The changes feed is read in 1-day windows from the cursor (`sync_state`) up to today; the
//! cursor moves past a day only when every page of that day was read and its movies queued (in
//! one transaction). A gap longer than TMDB's 14-day limit is clamped to the last 14 days; the
//! run is then `partial`, and every tracked movie is treated as stale, since changes were missed.

use std::time::Duration;

use chrono::NaiveDate;
use serde::Serialize;

use super::drain::{DrainReport, backlog, drain};
use super::run::{Run, RunOutcome};
use crate::app::App;
use crate::db::{queue, run_log, sync};
use crate::error::{Error, Result};
use crate::log;
use crate::ports::{Clock, Database, HttpClient, transaction};
use crate::tmdb::TmdbClient;

/// TMDB refuses change windows longer than this.
pub const MAX_WINDOW_DAYS: i64 = 14;
/// Queue priority of changed movies (stale ones get 0–3 by release age).
pub const CHANGED_PRIORITY: i32 = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct RefreshRequest {
    pub budget: Option<Duration>,
    /// Most stale movies queued by one run.
    pub batch_size: i64,
    pub dry_run: bool,
    pub trigger_type: String,
    /// Read TMDB's changes feed first (the daily run). `false`: only queue what is stale and
    /// drain (the frequent run that gives the schedule its capacity).
    pub read_changes: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct ChangesReport {
    pub cursor_before: Option<NaiveDate>,
    pub cursor_after: Option<NaiveDate>,
    /// Days read completely.
    pub days_read: u32,
    pub pages_read: u32,
    /// Ids TMDB reported changed (all of them, tracked or not).
    pub changed: u64,
    /// Of those, the ones the catalog tracks.
    pub tracked: u64,
    pub queued: u64,
    /// The gap since the cursor exceeded 14 days and was cut to the last 14.
    pub clamped: bool,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RefreshReport {
    #[serde(flatten)]
    pub run: RunOutcome,
    pub dry_run: bool,
    pub changes: ChangesReport,
    /// Stale movies queued now (dry run: stale movies found).
    pub stale_queued: u64,
    pub drain: Option<DrainReport>,
    /// Rows still queued or processing after this run.
    pub remaining: i64,
    pub tmdb_calls: u64,
}

pub async fn daily_refresh<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    request: &RefreshRequest,
) -> Result<RefreshReport> {
    let source = if request.read_changes { "changes+stale" } else { "stale" };
    let run = Run::open(app, source, &request.trigger_type, request.budget, request.dry_run).await?;
    let deadline = run.deadline;
    let tmdb = app.tmdb(deadline);
    let mut report = RefreshReport {
        run: run.pending(),
        dry_run: request.dry_run,
        changes: ChangesReport::default(),
        stale_queued: 0,
        drain: None,
        remaining: 0,
        tmdb_calls: 0,
    };

    let result: Result<()> = async {
        if request.read_changes {
            let today = app.clock.now().date_naive();
            read_changes(app, &tmdb, today, request.dry_run, &mut report.changes).await?;
        }
        if request.dry_run {
            report.stale_queued = sync::count_stale(&app.db.connect().await?).await?.max(0) as u64;
            return Ok(());
        }
        report.stale_queued = queue::enqueue_stale(&app.db.connect().await?, request.batch_size).await?;
        let drained = report.drain.insert(drain(app, &tmdb, deadline, queue::Scope::All).await?);
        drained.take_fatal()
    }
    .await;

    if !request.dry_run {
        report.remaining = backlog(app).await;
    }
    let mut counts = run_log::RunCounts {
        movies_checked: (report.changes.tracked + report.stale_queued) as i64,
        movies_queued: (report.changes.queued + report.stale_queued) as i64,
        ..report.drain.as_ref().map(DrainReport::counts).unwrap_or_default()
    };
    let partial =
        report.changes.clamped || report.changes.error.is_some() || counts.movies_failed > 0 || report.remaining > 0;
    report.run = run.close(app, &tmdb, &result, partial, report.changes.error.clone(), &mut counts).await?;
    report.tmdb_calls = counts.tmdb_calls as u64;
    result.map(|()| report)
}

/// The days to read: from the day after the cursor (yesterday when there is none) to today,
/// clamped to the last [`MAX_WINDOW_DAYS`]. Returns (first day, clamped).
pub fn window(cursor: Option<NaiveDate>, today: NaiveDate) -> (NaiveDate, bool) {
    let first = cursor.map_or(today - chrono::Duration::days(1), |c| c + chrono::Duration::days(1));
    let earliest = today - chrono::Duration::days(MAX_WINDOW_DAYS - 1);
    if first < earliest { (earliest, true) } else { (first, false) }
}

async fn read_changes<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    tmdb: &TmdbClient<'_, H, C>,
    today: NaiveDate,
    dry_run: bool,
    report: &mut ChangesReport,
) -> Result<()> {
    report.cursor_before = sync::cursor(&app.db.connect().await?, sync::MOVIE_CHANGES).await?;
    let (first, clamped) = window(report.cursor_before, today);
    report.clamped = clamped;
    if clamped {
        log::event(
            "warn",
            app.function,
            "changes-feed gap longer than 14 days: reading the last 14 and treating every tracked movie as stale",
            serde_json::json!({"cursor": report.cursor_before, "from": first}),
        );
        if !dry_run {
            sync::mark_all_stale(&app.db.connect().await?, sync::MOVIE_CHANGES).await?;
        }
    }
    report.cursor_after = report.cursor_before;
    let mut day = first;
    while day <= today {
        let ids = match day_changes(tmdb, day, &mut report.pages_read).await {
            Ok(ids) => ids,
            Err(e) => {
                // The cursor stays before this day; the next run reads it again.
                let message = format!("changes of {day}: {e}");
                if !dry_run {
                    sync::record_error(&app.db.connect().await?, sync::MOVIE_CHANGES, &message).await?;
                }
                report.error = Some(message);
                if e.stops_run() {
                    return Err(e);
                }
                break;
            }
        };
        report.changed += ids.len() as u64;
        if dry_run {
            report.tracked += sync::count_tracked(&app.db.connect().await?, &ids).await?.max(0) as u64;
        } else {
            // Today is not over: its changes are queued but the cursor stops at yesterday.
            let advance_to = (day < today).then_some(day);
            let (tracked, queued) = transaction(&app.db.connect().await?, async |c| {
                let counts = queue::enqueue_changed(c, &ids, CHANGED_PRIORITY).await?;
                if let Some(d) = advance_to {
                    sync::advance(c, sync::MOVIE_CHANGES, d).await?;
                }
                Ok::<_, Error>(counts)
            })
            .await?;
            report.tracked += tracked;
            report.queued += queued;
            if advance_to.is_some() {
                report.cursor_after = advance_to;
            }
        }
        report.days_read += 1;
        day += chrono::Duration::days(1);
    }
    Ok(())
}

/// Every page of one day's changes; an error on any page fails the day.
async fn day_changes<H: HttpClient, C: Clock>(
    tmdb: &TmdbClient<'_, H, C>,
    day: NaiveDate,
    pages_read: &mut u32,
) -> Result<Vec<i64>> {
    let first = tmdb.changes(day, day, 1).await?;
    *pages_read += 1;
    let rest = futures::future::join_all((2..=first.total_pages.min(500)).map(|p| tmdb.changes(day, day, p))).await;
    let mut ids: Vec<i64> = first.results.iter().map(|c| c.id).collect();
    for page in rest {
        ids.extend(page?.results.iter().map(|c| c.id));
        *pages_read += 1;
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_window_starts_after_the_cursor_and_is_clamped_to_14_days() {
        let today = d("2026-11-22");
        assert_eq!(window(None, today), (d("2026-11-21"), false));
        assert_eq!(window(Some(d("2026-11-20")), today), (d("2026-11-21"), false));
        assert_eq!(window(Some(d("2026-11-08")), today), (d("2026-11-09"), false), "exactly 14 days");
        assert_eq!(window(Some(d("2026-11-02")), today), (d("2026-11-09"), true), "a 20-day gap");
        assert_eq!(window(Some(d("2026-11-22")), today), (d("2026-11-23"), false), "nothing to read");
    }
}
