//! `scheduled-ingest`: read TMDB's lists, dedupe, skip what is fresh, ingest the rest up to
//! `max_movies` within the time budget, and queue whatever did not fit — never drop it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;

use super::drain::drain;
use super::run::{Run, RunOutcome};
use crate::app::App;
use crate::db::{queue, run_log, works};
use crate::domain::card::title_year;
use crate::error::{Error, Result};
use crate::ports::{Clock, Database, HttpClient};
use crate::tmdb::types::{MovieList, MovieSummary};

/// Which lists to read (`source` in the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Popular,
    NowPlaying,
    Trending,
    All,
}

impl Source {
    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "popular" => Some(Source::Popular),
            "now_playing" => Some(Source::NowPlaying),
            "trending" => Some(Source::Trending),
            "all" => Some(Source::All),
            _ => None,
        }
    }

    pub fn lists(self) -> Vec<MovieList> {
        match self {
            Source::Popular => vec![MovieList::Popular],
            Source::NowPlaying => vec![MovieList::NowPlaying],
            Source::Trending => vec![MovieList::TrendingWeek],
            Source::All => vec![MovieList::Popular, MovieList::NowPlaying, MovieList::TrendingWeek],
        }
    }

    /// The run log's `source` (the old code wrote "mixed" for all lists).
    pub fn label(self) -> &'static str {
        match self {
            Source::All => "mixed",
            other => other.lists()[0].name(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledRequest {
    pub source: Source,
    pub max_movies: usize,
    pub trigger_type: String,
    pub pages_per_source: u32,
    pub language: Option<String>,
    pub region: Option<String>,
    pub dry_run: bool,
    pub budget: Option<Duration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub tmdb_id: i64,
    pub title: String,
}

#[derive(Debug, Serialize)]
pub struct ScheduledReport {
    #[serde(flatten)]
    pub run: RunOutcome,
    pub source: &'static str,
    pub trigger_type: String,
    pub dry_run: bool,
    #[serde(flatten)]
    pub counts: run_log::RunCounts,
    /// Dry run: what a real run would ingest, in order (before the budget is applied).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_ingest: Vec<Candidate>,
    /// List pages that could not be read (the run goes on with the others).
    pub list_errors: Vec<String>,
}

/// Interleaves the lists by rank (1st of each list, then 2nd, …) and keeps each movie's first
/// appearance, so `max_movies` takes the top of every list.
pub fn dedupe_by_rank(pages: Vec<(usize, u32, Vec<MovieSummary>)>) -> Vec<MovieSummary> {
    let mut ranked: Vec<(u64, usize, MovieSummary)> = pages
        .into_iter()
        .flat_map(|(list, page, results)| {
            results.into_iter().enumerate().map(move |(pos, m)| ((page as u64 - 1) * 20 + pos as u64, list, m))
        })
        .collect();
    ranked.sort_by_key(|(rank, list, _)| (*rank, *list));
    let mut seen = HashSet::new();
    ranked.into_iter().filter(|(_, _, m)| seen.insert(m.id)).map(|(_, _, m)| m).collect()
}

/// Queue priority of the movies a scheduled run picked: above the stale backlog (0–3), below
/// what TMDB reports changed (10).
const SCHEDULED_PRIORITY: i32 = 5;

fn label(m: &MovieSummary) -> String {
    let year = m.release_date.as_deref().and_then(|d| d.get(..4)).and_then(|y| y.parse().ok());
    title_year(m.title.as_deref(), year)
}

pub async fn scheduled_ingest<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    request: &ScheduledRequest,
) -> Result<ScheduledReport> {
    let run = Run::open(app, request.source.label(), &request.trigger_type, request.budget, request.dry_run).await?;
    let deadline = run.deadline;
    let tmdb = app.tmdb(deadline);
    let mut report = ScheduledReport {
        run: run.pending(),
        source: request.source.label(),
        trigger_type: request.trigger_type.clone(),
        dry_run: request.dry_run,
        counts: run_log::RunCounts::default(),
        would_ingest: Vec::new(),
        list_errors: Vec::new(),
    };
    let result = ingest_lists(app, &tmdb, request, deadline, &mut report).await;
    let c = &report.counts;
    let partial = c.movies_failed > 0 || c.movies_queued > 0 || !report.list_errors.is_empty();
    report.run = run.close(app, &tmdb, &result, partial, None, &mut report.counts).await?;
    result.map(|()| report)
}

async fn ingest_lists<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    tmdb: &crate::tmdb::TmdbClient<'_, H, C>,
    request: &ScheduledRequest,
    deadline: chrono::DateTime<chrono::Utc>,
    report: &mut ScheduledReport,
) -> Result<()> {
    let language = request.language.as_deref().unwrap_or(&app.config.tmdb.language);
    let lists = request.source.lists();
    let pages: Vec<(usize, u32)> =
        (0..lists.len()).flat_map(|l| (1..=request.pages_per_source).map(move |p| (l, p))).collect();
    // All pages at once: the client's rate limiter paces them.
    let fetched = futures::future::join_all(
        pages.iter().map(|&(l, p)| tmdb.list(lists[l], p, language, request.region.as_deref())),
    )
    .await;
    let mut read = Vec::new();
    for (&(l, p), page) in pages.iter().zip(fetched) {
        match page {
            Ok(page) => read.push((l, p, page.results)),
            Err(e) => {
                let e = Error::from(e);
                if e.stops_run() {
                    return Err(e);
                }
                report.list_errors.push(format!("{} page {p}: {e}", lists[l].name()));
            }
        }
    }
    let unique = dedupe_by_rank(read);
    report.counts.movies_checked = unique.len() as i64;
    let ids: Vec<i64> = unique.iter().map(|m| m.id).collect();
    let settled = works::settled_among(&app.db.connect().await?, &ids).await?;
    report.counts.movies_skipped = settled.len() as i64;
    let candidates: Vec<&MovieSummary> =
        unique.iter().filter(|m| !settled.contains(&m.id)).take(request.max_movies).collect();
    if request.dry_run {
        report.would_ingest = candidates.iter().map(|m| Candidate { tmdb_id: m.id, title: label(m) }).collect();
        return Ok(());
    }

    // Queued before they are worked: a run killed at any point leaves them to the next drain.
    let candidate_ids: Vec<i64> = candidates.iter().map(|m| m.id).collect();
    queue::enqueue(&app.db.connect().await?, &candidate_ids, queue::Reason::Scheduled, SCHEDULED_PRIORITY).await?;
    let mut drained = drain(app, tmdb, deadline, queue::Scope::Only(&candidate_ids)).await?;
    let labels: HashMap<i64, String> = candidates.iter().map(|m| (m.id, label(m))).collect();
    let c = &mut report.counts;
    c.movies_skipped += drained.fresh as i64;
    c.movies_ingested = drained.ingested as i64;
    c.movies_failed = drained.failed as i64;
    c.ingested_titles = std::mem::take(&mut drained.ingested_titles);
    c.failed_titles = drained
        .failures
        .iter()
        .map(|(id, e)| format!("{}: {e}", labels.get(id).cloned().unwrap_or_else(|| format!("TMDB {id}"))))
        .collect();
    // Not started, failed and waiting for a retry, or held by another runner: still queued.
    c.movies_queued = queue::live_among(&app.db.connect().await?, &candidate_ids).await?;
    drained.take_fatal()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: i64) -> MovieSummary {
        MovieSummary { id, ..Default::default() }
    }

    #[test]
    fn lists_interleave_by_rank_and_keep_first_appearances() {
        let pages = vec![
            (0, 1, vec![m(1), m(2), m(3)]),
            (1, 1, vec![m(2), m(4)]),
            (2, 1, vec![m(5), m(1)]),
            (0, 2, vec![m(9)]),
        ];
        let ids: Vec<i64> = dedupe_by_rank(pages).iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![1, 2, 5, 4, 3, 9]);
    }
}
