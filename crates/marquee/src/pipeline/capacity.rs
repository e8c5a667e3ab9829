//! `marquee sync status`'s verdict on the schedule: the catalog's daily refresh need against the
//! capacity of the scheduled refresh runs.

use super::runner::start_margin;
use crate::app::App;
use crate::db::{queue, sync, works};
use crate::domain::capacity::{self, Capacity, RefreshRun};
use crate::error::{Error, Result};
use crate::ports::{Clock, Database, HttpClient};

/// `refresh_runs`: the scheduled calls of the refresh route, as (component, six-field cron).
pub async fn assess<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    refresh_runs: &[(String, String)],
) -> Result<Capacity> {
    let budget = app.config.time_budget;
    let per_run = capacity::movies_per_run(budget, start_margin(budget), app.config.tmdb.rate_limit_rps);
    let runs = refresh_runs
        .iter()
        .map(|(component, cron)| {
            let runs_per_day =
                capacity::runs_per_day(cron).map_err(|e| Error::BadRequest(format!("{component}: {e}")))?;
            Ok(RefreshRun { component: component.clone(), cron: cron.clone(), runs_per_day, movies_per_run: per_run })
        })
        .collect::<Result<Vec<_>>>()?;
    let conn = app.db.connect().await?;
    let tiers = works::refresh_need(&conn).await?;
    let stale = sync::count_stale(&conn).await?;
    let queued = queue::status(&conn).await?.queued;
    Ok(capacity::assess(tiers, runs, stale, queued))
}
