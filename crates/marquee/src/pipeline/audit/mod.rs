//! `marquee audit`: proves that the catalog is whole. Every complete work's tables hold exactly
//! what the projection of its stored TMDB response gives ([`projection`]); nothing is orphaned;
//! the queue, the run log, the leases, the staleness tiers, the scores and the aggregates follow
//! their rules. Set-based: one statement per check, or per page of works, never per work.
//!
//! `--fix` repairs what needs no TMDB call — it reprojects works from their stored responses,
//! releases dead leases, closes abandoned runs, recovers stuck ingests, sets `next_refresh_at`
//! from the tier, deletes orphans and folds or recomputes aggregates — and says what it did.

pub mod projection;

use serde::Serialize;

use crate::app::App;
use crate::db::audit::{self as checks, Finding};
use crate::db::{aggregates, queue, works};
use crate::domain::{score, staleness};
use crate::error::Result;
use crate::pipeline::batch::{Reprojected, cached_images, reproject_work};
use crate::pipeline::ingest::lease_owner;
use crate::ports::{Clock, Connection, Database, HttpClient};

/// Refreshes the audit asks for go before the routine ones (as movies the changes feed names).
const REFETCH_PRIORITY: i32 = 10;

/// One check: what it looked at, how much of it passed, and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub checked: i64,
    pub passed: i64,
    pub findings: Vec<Finding>,
}

impl Check {
    fn new(name: &'static str, checked: i64, findings: Vec<Finding>) -> Check {
        let failed: i64 = findings.iter().map(|f| f.count).sum();
        Check {
            name,
            checked,
            passed: (checked - failed).max(0),
            findings: findings.into_iter().filter(|f| f.count > 0).collect(),
        }
    }
}

/// A repair `--fix` made.
#[derive(Debug, Clone, Serialize)]
pub struct Fixed {
    pub what: &'static str,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub checks: Vec<Check>,
    /// Aggregate marks not folded yet: their keys are pending, not drifted (not a finding).
    pub aggregate_marks_pending: i64,
    pub fixed: Vec<Fixed>,
    /// The works a reprojection from their stored response would mend (tmdb ids).
    #[serde(skip)]
    pub to_reproject: Vec<i64>,
    /// The works only a refresh from TMDB can mend (tmdb ids).
    #[serde(skip)]
    pub to_refetch: Vec<i64>,
}

impl AuditReport {
    /// Every finding, in all checks.
    pub fn findings(&self) -> i64 {
        self.checks.iter().flat_map(|c| &c.findings).map(|f| f.count).sum()
    }
}

/// How thorough, and whether to repair.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditOptions {
    /// Repair what needs no TMDB call, then check again (the report is the state after the
    /// repairs, with what was repaired).
    pub fix: bool,
    /// Also project every stored response again with the code as it is now (slower).
    pub deep: bool,
}

/// Runs every check.
pub async fn audit<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    options: AuditOptions,
) -> Result<AuditReport> {
    let before = run_checks(app, options.deep).await?;
    if !options.fix || before.findings() == 0 {
        return Ok(before);
    }
    let fixed = repair(app, &before).await?;
    let mut after = run_checks(app, options.deep).await?;
    after.fixed = fixed;
    Ok(after)
}

async fn run_checks<D: Database, H: HttpClient, C: Clock>(app: &App<D, H, C>, deep: bool) -> Result<AuditReport> {
    let conn = app.db.connect().await?;
    for setting in projection::SESSION {
        conn.execute(setting, &[]).await?;
    }
    // The full recompute of the aggregates is one long statement: it runs on its own session
    // while the projection's ranges run on theirs (both only read).
    let (projected, drift) = futures::try_join!(projection::check(app, deep), async {
        aggregates::drift(&conn).await.map_err(crate::error::Error::from)
    })?;
    let mut checks = Vec::new();
    checks.push(Check::new("projection", projected.checked, projected.findings()));
    let to_refetch = projected.to_refetch();
    let mut to_reproject = projected.to_reproject();
    to_reproject.extend(checks::works_where(&conn, &unjustified_score()).await?);
    to_reproject.retain(|id| !to_refetch.contains(id));
    to_reproject.sort_unstable();
    to_reproject.dedup();
    let (n, found) = checks::works(&conn, &staleness::tier_mismatch_sql(), &unjustified_score()).await?;
    checks.push(Check::new("works", n, found));
    let examples = drift.iter().take(checks::EXAMPLES as usize).map(|d| format!("{}:{}", d.kind, d.key_id)).collect();
    let n = aggregates::count(&conn).await?;
    let drifted =
        Finding { kind: "aggregate differs from a full recompute".into(), count: drift.len() as i64, examples };
    checks.push(Check::new("aggregates", n, vec![drifted]));
    let (n, found) = checks::queue(&conn).await?;
    checks.push(Check::new("queue", n, found));
    let (n, found) = checks::runs(&conn).await?;
    checks.push(Check::new("run log", n, found));
    let (n, found) = checks::orphans(&conn).await?;
    checks.push(Check::new("orphans", n, found));
    let aggregate_marks_pending = aggregates::pending(&conn).await?;
    Ok(AuditReport { checks, aggregate_marks_pending, fixed: Vec::new(), to_reproject, to_refetch })
}

/// The repairs that need no TMDB call, each only where its check found something.
async fn repair<D: Database, H: HttpClient, C: Clock>(app: &App<D, H, C>, found: &AuditReport) -> Result<Vec<Fixed>> {
    let conn = app.db.connect().await?;
    let has = |kind: &str| found.checks.iter().flat_map(|c| &c.findings).any(|f| f.kind == kind && f.count > 0);
    let mut fixed = Vec::new();
    if has("run running long past its deadline") {
        fixed.push(Fixed { what: "runs closed as abandoned", count: checks::close_abandoned_runs(&conn).await? });
    }
    if has("work stuck in ingesting") {
        fixed.push(Fixed {
            what: "stuck ingests released and queued again",
            count: checks::recover_stuck_ingests(&conn).await?,
        });
    }
    if has("lease expired long ago still held") || has("row processing without an owner") {
        fixed.push(Fixed { what: "dead queue leases released", count: checks::release_dead_leases(&conn).await? });
    }
    // Works whose tables or score disagree with their stored response are derived again from it.
    let stale = &found.to_reproject;
    if !stale.is_empty() {
        let images = cached_images(&conn).await?;
        let owner = lease_owner();
        let (mut written, mut refused) = (0, 0);
        for (tmdb_id, raw) in works::raw_of(&conn, stale).await? {
            match reproject_work(app, &conn, &images, &owner, tmdb_id, &raw).await? {
                Reprojected::Written => written += 1,
                Reprojected::Refused | Reprojected::Unreadable => refused += 1,
                Reprojected::Busy => {}
            }
        }
        fixed.push(Fixed { what: "works reprojected from their stored response", count: written });
        if refused > 0 {
            fixed.push(Fixed {
                what: "works the catalog refuses on reprojection (marked rejected or failed)",
                count: refused,
            });
        }
    }
    // Their stored response was altered, or is missing: derived from it, the tables would take
    // the damage in. A refresh from TMDB mends them; the fix only queues it.
    if !found.to_refetch.is_empty() {
        let queued = queue::enqueue(&conn, &found.to_refetch, queue::Reason::Manual, REFETCH_PRIORITY).await?;
        fixed.push(Fixed {
            what: "works queued for a refresh from TMDB (stored response altered or missing)",
            count: queued as i64,
        });
    }
    if has(checks::SEARCH_POSTINGS_DIFFER) {
        fixed.push(Fixed {
            what: "works' search postings written again from their sort keys",
            count: checks::rebuild_search_postings(&conn).await?,
        });
    }
    if has("next_refresh_at disagrees with its tier") {
        let count = checks::fix_tiers(&conn, &staleness::tier_mismatch_sql(), &staleness::interval_sql()).await?;
        fixed.push(Fixed { what: "next_refresh_at set from the tier", count });
    }
    // Last (reprojections and refusals above marked keys too): every aggregate from the facts,
    // and the shared rows no work names removed.
    let orphans: i64 =
        found.checks.iter().filter(|c| c.name == "orphans").flat_map(|c| &c.findings).map(|f| f.count).sum();
    let rows = aggregates::recompute_all(&conn).await?;
    fixed.push(Fixed { what: "aggregates recomputed from the facts", count: rows });
    if orphans > 0 {
        fixed.push(Fixed { what: "shared rows no work uses deleted", count: orphans });
    }
    Ok(fixed)
}

/// A score (of the current method) whose interval is narrower than its votes justify.
fn unjustified_score() -> String {
    format!("(a.method_version = '{}' AND {})", score::METHOD_VERSION, score::unjustified_interval_sql())
}
