//! The dashboard's figures: one set of queries behind the pages, `GET /api/admin/stats` (the
//! [`Overview`] as JSON) and `GET /metrics` (the [`Overview`] in Prometheus' text format). The
//! SQL is in the table groups' modules of `db`; here the panels are put together, and the TMDB
//! call summary is turned into what a person reads (calls per hour, error rates, percentiles).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use serde::Serialize;

use crate::app::App;
use crate::db::api_logs::{self, SummaryRow};
use crate::db::billing::{self, QuotaUse, StripeEvent};
use crate::db::change_log::{self, Change};
use crate::db::queue::{self, FailedRow, QueueHealth};
use crate::db::run_log::{self, RunDay, RunRow};
use crate::db::sync::{self, SyncState};
use crate::db::works::{self, Overdue, Refused};
use crate::domain::staleness;
use crate::domain::states::WorkStatus;
use crate::error::Result;
use crate::ports::{Clock, Connection, Database, HttpClient, Pooled, transaction};
use crate::tmdb::MOVIE_ENDPOINT;

/// The TMDB panel's window.
pub const TMDB_WINDOW_HOURS: i32 = 48;
/// The runs chart's window.
pub const RUN_DAYS: i32 = 30;
/// "Added this week".
pub const ADDED_DAYS: i32 = 7;
/// The changes panel counts the changes of this many hours.
pub const CHANGES_HOURS: i32 = 24;

/// How many rows a list shows: a few on the overview, more on a panel's own page.
#[derive(Debug, Clone, Copy)]
pub struct Rows(pub i64);

impl Rows {
    pub const OVERVIEW: Rows = Rows(5);
    pub const DETAIL: Rows = Rows(100);
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// When the figures were read (UTC).
    pub generated_at: NaiveDateTime,
    pub catalog: Catalog,
    pub freshness: Freshness,
    pub runs: Runs,
    pub queue: Queue,
    pub tmdb: Tmdb,
    pub changes: Changes,
    pub billing: Billing,
}

#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    /// Every status of a work, zero included.
    pub works_by_status: BTreeMap<String, i64>,
    pub works: i64,
    /// Customers can read these (complete, or complete and being refreshed).
    pub servable: i64,
    pub gone: i64,
    pub rejected: i64,
    /// The rejected works by the reason recorded for them.
    pub rejected_by_reason: Vec<Count>,
    /// Servable works whose row was created in the last [`ADDED_DAYS`] days.
    pub added_this_week: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Count {
    pub name: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    pub stale: i64,
    /// Every staleness tier, in the table's order, with its stale works.
    pub stale_by_tier: Vec<TierStale>,
    /// The changes feed's cursor and last error (absent before the first daily refresh).
    pub changes_feed: Option<SyncState>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TierStale {
    pub tier: usize,
    pub holds: String,
    pub every_days: i64,
    pub stale: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Runs {
    /// The newest run of every kind (function and trigger).
    pub latest: Vec<RunRow>,
    /// The last [`RUN_DAYS`] days, oldest first.
    pub days: Vec<RunDay>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Queue {
    pub counts: QueueHealth,
    /// The newest dead rows.
    pub failed: Vec<FailedRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tmdb {
    pub window_hours: i32,
    pub calls: i64,
    /// Calls without a 2xx answer (no answer included).
    pub errors: i64,
    /// Every hour of the window (UTC), oldest first, hours without calls included.
    pub hourly: Vec<HourCalls>,
    /// Calls by HTTP status (0: no answer: a timeout or a transport error), most first.
    pub by_status: Vec<StatusCalls>,
    /// The latency percentiles, as the upper bound (ms) of the histogram bucket they fall in;
    /// `i32::MAX`: above the last bound. Absent without calls.
    pub latency_p50_le_ms: Option<i32>,
    pub latency_p95_le_ms: Option<i32>,
    pub latency_mean_ms: Option<f64>,
    /// Calls of a movie's details (first attempts and retries) and fetches (first attempts):
    /// their ratio is what one movie costs, retries included.
    pub movie_calls: i64,
    pub movie_fetches: i64,
    pub calls_per_movie: Option<f64>,
    pub by_endpoint: Vec<EndpointCalls>,
    /// Calls by latency bucket: (upper bound ms, calls), by bound.
    pub latency_histogram: Vec<(i32, i64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HourCalls {
    pub hour: NaiveDateTime,
    pub calls: i64,
    pub errors: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusCalls {
    pub status: i32,
    pub calls: i64,
    /// Share of all calls in the window, in percent.
    pub percent: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointCalls {
    pub endpoint: String,
    pub calls: i64,
    pub errors: i64,
    pub latency_mean_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Changes {
    /// Refreshes that changed something in the last [`CHANGES_HOURS`] hours.
    pub last_24h: i64,
    pub recent: Vec<Change>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Billing {
    pub customers_by_tier: Vec<Count>,
    pub subscriptions_by_status: Vec<Count>,
    pub recent_events: Vec<StripeEvent>,
    /// Usage against quota per customer, nearest to the limit first.
    pub quota_usage: Vec<QuotaUse>,
}

fn counts(pairs: Vec<(String, i64)>) -> Vec<Count> {
    pairs.into_iter().map(|(name, count)| Count { name, count }).collect()
}

/// Runs a panel's reads on one connection, in one transaction: one snapshot for the panel's
/// figures, and no JIT compilation. PostgreSQL compiles the statements it estimates above
/// `jit_above_cost` (on by default), which these short reads cross on a large catalog, and the
/// compiling takes longer than the reading: the stale works by tier of `bench dashboard` took
/// about 250 ms with it and 40–130 ms without. `SET LOCAL` keeps the setting to this
/// transaction, so the session goes back to the pool (and, on Spin, to other components) as it
/// came.
async fn read<D: Database, H, C, T>(app: &App<D, H, C>, body: impl AsyncFnOnce(&Pooled<D>) -> Result<T>) -> Result<T> {
    let conn = app.db.connect().await?;
    transaction(&conn, async |c| {
        c.execute("SET LOCAL jit = off", &[]).await?;
        body(c).await
    })
    .await
}

pub async fn catalog<D: Database, H, C>(app: &App<D, H, C>) -> Result<Catalog> {
    read(app, async |conn| {
        let counted = works::summarised_counts(conn).await?;
        let mut works_by_status: BTreeMap<String, i64> =
            WorkStatus::ALL.iter().map(|s| (s.as_str().to_owned(), 0)).collect();
        works_by_status.extend(counted.by_status);
        let of = |s: WorkStatus| works_by_status.get(s.as_str()).copied().unwrap_or(0);
        Ok(Catalog {
            works: works_by_status.values().sum(),
            servable: counted.servable,
            gone: of(WorkStatus::Gone),
            rejected: of(WorkStatus::Rejected),
            rejected_by_reason: counts(works::rejected_by_reason(conn).await?),
            added_this_week: works::added_in_last_days(conn, ADDED_DAYS).await?,
            works_by_status,
        })
    })
    .await
}

/// The changes feed's row (absent before the first daily refresh).
async fn changes_feed(conn: &impl Connection) -> Result<Option<SyncState>> {
    Ok(sync::all(conn).await?.into_iter().find(|s| s.sync_type == sync::MOVIE_CHANGES))
}

pub async fn freshness<D: Database, H, C>(app: &App<D, H, C>) -> Result<Freshness> {
    read(app, async |conn| {
        let changes_feed = changes_feed(conn).await?;
        let stale_before = changes_feed.as_ref().and_then(|s| s.stale_before);
        let stale: BTreeMap<usize, i64> = sync::stale_by_tier(conn, stale_before).await?.into_iter().collect();
        let stale_by_tier = staleness::TIERS
            .iter()
            .enumerate()
            .map(|(i, t)| TierStale {
                tier: i,
                holds: staleness::describe(i),
                every_days: t.every_days,
                stale: stale.get(&i).copied().unwrap_or(0),
            })
            .collect();
        Ok(Freshness { stale: stale.values().sum(), stale_by_tier, changes_feed })
    })
    .await
}

pub async fn runs<D: Database, H, C>(app: &App<D, H, C>) -> Result<Runs> {
    read(app, async |conn| {
        Ok(Runs { latest: run_log::latest_of_each_kind(conn).await?, days: run_log::daily(conn, RUN_DAYS).await? })
    })
    .await
}

pub async fn queue<D: Database, H, C>(app: &App<D, H, C>, rows: Rows) -> Result<Queue> {
    read(app, async |conn| {
        Ok(Queue { counts: queue::health(conn).await?, failed: queue::failed_rows(conn, rows.0).await? })
    })
    .await
}

pub async fn tmdb<D: Database, H, C: Clock>(app: &App<D, H, C>) -> Result<Tmdb> {
    let rows = read(app, async |conn| Ok(api_logs::summary_window(conn, TMDB_WINDOW_HOURS).await?)).await?;
    Ok(summarise_calls(&rows, app.clock.now(), TMDB_WINDOW_HOURS))
}

pub async fn changes<D: Database, H, C>(app: &App<D, H, C>, rows: Rows) -> Result<Changes> {
    read(app, async |conn| {
        Ok(Changes {
            last_24h: change_log::count_in_last_hours(conn, CHANGES_HOURS).await?,
            recent: change_log::recent(conn, rows.0).await?,
        })
    })
    .await
}

pub async fn billing<D: Database, H, C>(app: &App<D, H, C>, rows: Rows) -> Result<Billing> {
    read(app, async |conn| {
        Ok(Billing {
            customers_by_tier: counts(billing::customers_by_tier(conn).await?),
            subscriptions_by_status: counts(billing::subscriptions_by_status(conn).await?),
            recent_events: billing::recent_events(conn, rows.0).await?,
            quota_usage: billing::quota_usage(conn, rows.0).await?,
        })
    })
    .await
}

/// Every panel, read concurrently (each on its own connection of the invocation's pool).
pub async fn overview<D: Database, H: HttpClient, C: Clock>(app: &App<D, H, C>) -> Result<Overview> {
    let generated_at = app.clock.now().naive_utc();
    let (catalog, freshness, runs, queue, tmdb, changes, billing) = futures::try_join!(
        catalog(app),
        freshness(app),
        runs(app),
        queue(app, Rows::OVERVIEW),
        tmdb(app),
        changes(app, Rows::OVERVIEW),
        billing(app, Rows::OVERVIEW),
    )?;
    Ok(Overview { generated_at, catalog, freshness, runs, queue, tmdb, changes, billing })
}

/// Extra lists of the catalog's page.
pub struct CatalogLists {
    pub refusals: Vec<Refused>,
}

pub async fn catalog_lists<D: Database, H, C>(app: &App<D, H, C>, rows: Rows) -> Result<CatalogLists> {
    read(app, async |conn| Ok(CatalogLists { refusals: works::recent_refusals(conn, rows.0).await? })).await
}

pub async fn most_overdue<D: Database, H, C>(app: &App<D, H, C>, rows: Rows) -> Result<Vec<Overdue>> {
    read(app, async |conn| {
        let stale_before = changes_feed(conn).await?.and_then(|s| s.stale_before);
        Ok(works::most_overdue(conn, stale_before, rows.0).await?)
    })
    .await
}

pub async fn recent_runs<D: Database, H, C>(app: &App<D, H, C>, rows: Rows) -> Result<Vec<RunRow>> {
    read(app, async |conn| Ok(run_log::recent(conn, rows.0).await?)).await
}

pub async fn run<D: Database, H, C>(app: &App<D, H, C>, id: i64) -> Result<Option<RunRow>> {
    read(app, async |conn| Ok(run_log::by_id(conn, id).await?)).await
}

fn is_error(status: i32) -> bool {
    !(200..300).contains(&status)
}

/// The upper bound of the bucket the `p`-quantile falls in: the first bucket whose cumulative
/// count reaches `p` of all calls.
fn percentile_bound(histogram: &[(i32, i64)], p: f64) -> Option<i32> {
    let total: i64 = histogram.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let rank = ((p * total as f64).ceil() as i64).max(1);
    let mut seen = 0;
    histogram
        .iter()
        .find(|(_, n)| {
            seen += n;
            seen >= rank
        })
        .map(|(le, _)| *le)
}

/// The TMDB panel from the call summary of the `hours` hours up to `now`'s hour.
pub fn summarise_calls(rows: &[SummaryRow], now: DateTime<Utc>, hours: i32) -> Tmdb {
    let this_hour = now.naive_utc().with_minute(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_nanosecond(0));
    let this_hour = this_hour.expect("the start of an hour exists");
    let first = this_hour - chrono::Duration::hours(i64::from(hours) - 1);
    let rows: Vec<&SummaryRow> = rows.iter().filter(|r| r.hour >= first && r.hour <= this_hour).collect();

    let mut hourly: BTreeMap<NaiveDateTime, (i64, i64)> =
        (0..hours).map(|i| (first + chrono::Duration::hours(i64::from(i)), (0, 0))).collect();
    let mut by_status: BTreeMap<i32, i64> = BTreeMap::new();
    let mut histogram: BTreeMap<i32, i64> = BTreeMap::new();
    let mut endpoints: BTreeMap<&str, (i64, i64, i64)> = BTreeMap::new();
    let (mut calls, mut errors, mut latency_sum, mut movie_calls, mut movie_fetches) = (0, 0, 0, 0, 0);
    for r in &rows {
        let failed = if is_error(r.status_code) { r.calls } else { 0 };
        let hour = hourly.entry(r.hour).or_default();
        hour.0 += r.calls;
        hour.1 += failed;
        *by_status.entry(r.status_code).or_default() += r.calls;
        *histogram.entry(r.latency_le_ms).or_default() += r.calls;
        let endpoint = endpoints.entry(r.endpoint.as_str()).or_default();
        endpoint.0 += r.calls;
        endpoint.1 += failed;
        endpoint.2 += r.latency_ms_sum;
        calls += r.calls;
        errors += failed;
        latency_sum += r.latency_ms_sum;
        if r.endpoint == MOVIE_ENDPOINT {
            movie_calls += r.calls;
            if r.first_attempt {
                movie_fetches += r.calls;
            }
        }
    }
    let latency_histogram: Vec<(i32, i64)> = histogram.into_iter().collect();
    let mut by_status: Vec<StatusCalls> = by_status
        .into_iter()
        .map(|(status, n)| StatusCalls { status, calls: n, percent: 100.0 * n as f64 / calls.max(1) as f64 })
        .collect();
    by_status.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.status.cmp(&b.status)));
    let mut by_endpoint: Vec<EndpointCalls> = endpoints
        .into_iter()
        .map(|(endpoint, (n, failed, sum))| EndpointCalls {
            endpoint: endpoint.to_owned(),
            calls: n,
            errors: failed,
            latency_mean_ms: sum as f64 / n.max(1) as f64,
        })
        .collect();
    by_endpoint.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.endpoint.cmp(&b.endpoint)));
    Tmdb {
        window_hours: hours,
        calls,
        errors,
        hourly: hourly.into_iter().map(|(hour, (calls, errors))| HourCalls { hour, calls, errors }).collect(),
        by_status,
        latency_p50_le_ms: percentile_bound(&latency_histogram, 0.5),
        latency_p95_le_ms: percentile_bound(&latency_histogram, 0.95),
        latency_mean_ms: (calls > 0).then(|| latency_sum as f64 / calls as f64),
        movie_calls,
        movie_fetches,
        calls_per_movie: (movie_fetches > 0).then(|| movie_calls as f64 / movie_fetches as f64),
        by_endpoint,
        latency_histogram,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(hour: &str, endpoint: &str, status: i32, first: bool, le: i32, calls: i64, sum: i64) -> SummaryRow {
        SummaryRow {
            hour: NaiveDateTime::parse_from_str(hour, "%Y-%m-%d %H:%M").unwrap(),
            endpoint: endpoint.into(),
            status_code: status,
            first_attempt: first,
            latency_le_ms: le,
            calls,
            latency_ms_sum: sum,
        }
    }

    #[test]
    fn calls_are_summed_per_hour_status_and_bucket_and_percentiles_read_the_buckets() {
        let now = DateTime::parse_from_rfc3339("2026-05-02T10:42:00Z").unwrap().to_utc();
        let rows = [
            row("2026-05-02 10:00", "/movie/{id}", 200, true, 100, 90, 7_000),
            row("2026-05-02 10:00", "/movie/{id}", 429, false, 50, 6, 180),
            row("2026-05-01 11:00", "/movie/{id}", 200, false, 300, 4, 1_000),
            row("2026-05-01 11:00", "/movie/popular", 0, true, 2_147_483_647, 2, 20_000),
            // Outside the window: the hour before its first.
            row("2026-04-30 10:00", "/movie/{id}", 200, true, 100, 1_000, 1),
        ];
        let t = summarise_calls(&rows, now, 24);
        assert_eq!((t.calls, t.errors), (102, 8));
        assert_eq!(t.hourly.len(), 24);
        assert_eq!(t.hourly[0].hour.to_string(), "2026-05-01 11:00:00");
        assert_eq!((t.hourly[0].calls, t.hourly[0].errors), (6, 2));
        assert_eq!((t.hourly[23].calls, t.hourly[23].errors), (96, 6));
        assert_eq!(t.hourly[1..23].iter().map(|h| h.calls).sum::<i64>(), 0);
        assert_eq!(t.by_status.iter().map(|s| (s.status, s.calls)).collect::<Vec<_>>(), [(200, 94), (429, 6), (0, 2)]);
        // 102 calls: 6 ≤ 50 ms, 90 ≤ 100, 4 ≤ 300, 2 above. p50 is the 51st call, p95 the 97th.
        assert_eq!(t.latency_histogram, [(50, 6), (100, 90), (300, 4), (2_147_483_647, 2)]);
        assert_eq!((t.latency_p50_le_ms, t.latency_p95_le_ms), (Some(100), Some(300)));
        assert_eq!((t.movie_calls, t.movie_fetches), (100, 90));
        assert_eq!(t.by_endpoint[0].endpoint, "/movie/{id}");
        assert_eq!(percentile_bound(&t.latency_histogram, 0.99), Some(2_147_483_647));
        assert_eq!(percentile_bound(&[], 0.5), None);
        assert_eq!(summarise_calls(&[], now, 48).calls_per_movie, None);
    }
}
