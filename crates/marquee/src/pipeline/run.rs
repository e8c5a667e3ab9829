//! One run of a function, as the run log sees it: a `scheduled_ingestion_log` row opened when
//! the run starts and closed with its counts when it ends (also when it fails), the run's
//! deadline, and the TMDB call log flushed at the end. A dry run logs nothing.
//!
//! Every run starts by cleaning up after invocations that died: their runs are closed as
//! `abandoned`, and their interrupted ingests are queued again. Nothing else has to notice a
//! crash, and no operator has to.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ingest::lease_owner;
use super::persist::persist;
use crate::app::App;
use crate::db::aggregates;
use crate::db::run_log::{self, RunCounts};
use crate::domain::states::RunStatus;
use crate::error::Result;
use crate::log;
use crate::ports::{Clock, Database, HttpClient};
use crate::tmdb::TmdbClient;

/// How a run ended: the part every run report shares (flattened into its JSON).
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// Empty for a dry run.
    pub run_id: String,
    /// `running` until closed, then `succeeded`, `partial` or `failed`.
    pub status: RunStatus,
    pub duration_ms: i64,
    pub error: Option<String>,
}

pub struct Run {
    /// Empty for a dry run.
    pub id: String,
    pub started: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    logged: bool,
}

impl Run {
    /// Opens the run (after the clean-up above). Its deadline is the requested budget, never
    /// beyond the configured one (the platform's limit).
    pub async fn open<D: Database, H: HttpClient, C: Clock>(
        app: &App<D, H, C>,
        source: &str,
        trigger_type: &str,
        budget: Option<Duration>,
        dry_run: bool,
    ) -> Result<Run> {
        let started = app.clock.now();
        let deadline = started + budget.map_or(app.config.time_budget, |b| b.min(app.config.time_budget));
        let id = if dry_run { String::new() } else { format!("run-{}", lease_owner()) };
        if !dry_run {
            let conn = app.db.connect().await?;
            let opened = run_log::open(&conn, &id, app.function, source, trigger_type, deadline).await?;
            if opened.abandoned + opened.recovered > 0 {
                log::event(
                    "warn",
                    app.function,
                    "cleaned up after invocations that died",
                    serde_json::json!({
                        "runs_abandoned": opened.abandoned, "ingests_requeued": opened.recovered
                    }),
                );
            }
        }
        Ok(Run { id, started, deadline, logged: !dry_run })
    }

    /// The outcome before the run is closed.
    pub fn pending(&self) -> RunOutcome {
        RunOutcome { run_id: self.id.clone(), status: RunStatus::Running, duration_ms: 0, error: None }
    }

    /// Closes the run: `failed` with the error when `result` is one, else `partial` (with
    /// `note`) when the run left work undone, else `succeeded`. Sets `counts.tmdb_calls`, writes
    /// the TMDB call log and the run-log row.
    #[allow(clippy::too_many_arguments)]
    pub async fn close<D: Database, H: HttpClient, C: Clock>(
        &self,
        app: &App<D, H, C>,
        tmdb: &TmdbClient<'_, H, C>,
        result: &Result<()>,
        partial: bool,
        note: Option<String>,
        counts: &mut RunCounts,
    ) -> Result<RunOutcome> {
        counts.tmdb_calls = tmdb.requests_made() as i64;
        let duration_ms = (app.clock.now() - self.started).num_milliseconds();
        let (status, error) = match result {
            Err(e) => (RunStatus::Failed, Some(e.to_string())),
            Ok(()) if partial => (RunStatus::Partial, note),
            Ok(()) => (RunStatus::Succeeded, None),
        };
        // A rate lesson the deadline kept from being shared is shared now (dry runs too).
        tmdb.share_learned_rate().await;
        if self.logged {
            let calls = tmdb.take_calls();
            let finished = persist(&app.clock, async || {
                let conn = app.db.connect().await?;
                run_log::finish(&conn, &self.id, app.function, status, counts, duration_ms, error.as_deref(), &calls)
                    .await
            });
            if let Err(e) = finished.await {
                tmdb.restore_calls(calls);
                return Err(e.into());
            }
            if app.clock.now() < self.deadline {
                fold_aggregates(app).await;
                fold_dashboard_summaries(app).await;
            }
        }
        Ok(RunOutcome { run_id: self.id.clone(), status, duration_ms, error })
    }
}

/// Marks one run's closing fold takes at most: the aggregates of a few hundred movies, a
/// statement well under a second. What is left waits for the next run (or `marquee aggregates
/// fold`).
const FOLD_MARKS_PER_RUN: i64 = 10_000;

/// Brings the aggregates up to date with what this run (and others) wrote. A failure is logged,
/// never the run's: the marks stay for the next fold.
async fn fold_aggregates<D: Database, H: HttpClient, C: Clock>(app: &App<D, H, C>) {
    let folded = async { aggregates::fold(&app.db.connect().await?, FOLD_MARKS_PER_RUN).await }.await;
    if let Err(e) = folded {
        log::event("warn", app.function, "could not fold the aggregates", serde_json::json!({"error": e.to_string()}));
    }
}

/// Brings the dashboard's summaries up to date: the TMDB call summary and the works counts
/// (the deltas their triggers append). A failure is logged, never the run's: the deltas stay,
/// and readers count them.
async fn fold_dashboard_summaries<D: Database, H: HttpClient, C: Clock>(app: &App<D, H, C>) {
    use crate::db::{api_logs, works};
    let folded = async {
        let conn = app.db.connect().await?;
        api_logs::fold_summary(&conn, api_logs::FOLD_DELTAS_AT_MOST).await?;
        works::fold_counts(&conn, works::FOLD_COUNT_DELTAS_AT_MOST).await
    }
    .await;
    if let Err(e) = folded {
        let fields = serde_json::json!({"error": e.to_string()});
        log::event("warn", app.function, "could not fold the dashboard's summaries", fields);
    }
}
