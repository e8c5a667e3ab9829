//! The catalog audit's set-based checks and repairs: one statement per check whatever the size
//! of the catalog, each finding counted with a few example ids. (The comparison of every movie's
//! tables with the projection of its stored response is `pipeline::audit::projection`.)

use std::sync::LazyLock;

use super::aggregates::SHARED;
use super::predicates::{INGEST_INTERRUPTED, QUEUE_LIVE};
use super::run_log;
use crate::ports::{Connection, DbError};

/// How many example ids a finding lists.
pub const EXAMPLES: i64 = 5;

/// A lease this long expired and still held means no drain took the row over for that long,
/// although drains run every few minutes.
pub const DEAD_LEASE_AFTER: &str = "1 hour";

/// One kind of finding: how many, and a few of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub kind: String,
    pub count: i64,
    pub examples: Vec<String>,
}

/// A kind of finding, as SQL: the rows of `from` for which `condition` holds are findings, each
/// named by the text of `id`.
struct Rule {
    kind: String,
    from: String,
    condition: String,
    id: String,
}

/// One statement counting every rule's findings, with examples. Each rule's findings are found
/// once (a materialised CTE) and then counted and sampled.
fn rules_sql(rules: &[Rule]) -> String {
    let found = rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!("f{i} AS MATERIALIZED (SELECT ({})::text AS id FROM {} WHERE {})", r.id, r.from, r.condition)
        })
        .collect::<Vec<_>>()
        .join(",\n ");
    let counted = rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                "SELECT '{kind}'::text AS kind, (SELECT count(*) FROM f{i}) AS n,
                        (SELECT array_agg(e.id) FROM (SELECT id FROM f{i} ORDER BY 1 LIMIT {EXAMPLES}) e) AS examples",
                kind = r.kind,
            )
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL ");
    format!("WITH {found}\n{counted}")
}

async fn findings(conn: &impl Connection, sql: &str) -> Result<Vec<Finding>, DbError> {
    conn.query(sql, &[])
        .await?
        .iter()
        .map(|r| {
            Ok(Finding {
                kind: r.get("kind")?,
                count: r.get("n")?,
                examples: r
                    .get::<Option<Vec<Option<String>>>>("examples")?
                    .unwrap_or_default()
                    .into_iter()
                    .flatten()
                    .collect(),
            })
        })
        .collect()
}

async fn count(conn: &impl Connection, sql: &str) -> Result<i64, DbError> {
    conn.query(sql, &[]).await?[0].get("n")
}

/// Rows that belong to nothing: facts of a work that does not exist, and shared rows (people,
/// genres, keywords, companies, collections) that no work names any more.
pub async fn orphans(conn: &impl Connection) -> Result<(i64, Vec<Finding>), DbError> {
    static SQL: LazyLock<(String, String)> = LazyLock::new(|| {
        let mut rules = vec![Rule {
            kind: "credit without a work".into(),
            from: "credits t".into(),
            condition: "NOT EXISTS (SELECT 1 FROM works w WHERE w.work_id = t.work_id)".into(),
            id: "t.work_id || '/' || t.credit_id".into(),
        }];
        rules.extend(SHARED.iter().map(|s| Rule {
            kind: format!("{} no work uses", s.kind),
            from: format!("{} t", s.table),
            condition: s.unused(),
            id: format!("t.{}", s.key),
        }));
        let checked = std::iter::once("(SELECT count(*) FROM credits)".to_owned())
            .chain(SHARED.iter().map(|s| format!("(SELECT count(*) FROM {})", s.table)))
            .collect::<Vec<_>>()
            .join(" + ");
        (format!("SELECT {checked} AS n"), rules_sql(&rules))
    });
    Ok((count(conn, &SQL.0).await?, findings(conn, &SQL.1).await?))
}

/// The queue: no movie live twice, no lease that expired long ago still held, no row being
/// processed without an owner.
pub async fn queue(conn: &impl Connection) -> Result<(i64, Vec<Finding>), DbError> {
    static SQL: LazyLock<(String, String)> = LazyLock::new(|| {
        let rules = [
            Rule {
                kind: "movie live in the queue twice".into(),
                from: "refresh_queue q".into(),
                condition: format!(
                    "q.{QUEUE_LIVE} AND EXISTS (SELECT 1 FROM refresh_queue o WHERE o.tmdb_id = q.tmdb_id AND o.id <> q.id AND o.{QUEUE_LIVE})"
                ),
                id: "q.tmdb_id".into(),
            },
            Rule {
                kind: "lease expired long ago still held".into(),
                from: "refresh_queue q".into(),
                condition: dead_lease(),
                id: "q.tmdb_id".into(),
            },
            Rule {
                kind: "row processing without an owner".into(),
                from: "refresh_queue q".into(),
                condition: "q.status = 'processing' AND (q.locked_by IS NULL OR q.lease_until IS NULL)".into(),
                id: "q.tmdb_id".into(),
            },
        ];
        (format!("SELECT count(*) AS n FROM refresh_queue WHERE {QUEUE_LIVE}"), rules_sql(&rules))
    });
    Ok((count(conn, &SQL.0).await?, findings(conn, &SQL.1).await?))
}

fn dead_lease() -> String {
    format!("q.status = 'processing' AND q.lease_until < now() - interval '{DEAD_LEASE_AFTER}'")
}

/// Gives back to the queue the rows whose runner died long ago, or that have no owner: queued,
/// due now, their attempts kept (so a movie that kills its runners still ends `failed`).
pub async fn release_dead_leases(conn: &impl Connection) -> Result<i64, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE refresh_queue q SET status = 'queued', locked_by = NULL, lease_until = NULL, next_attempt_at = now(),
                    last_error = coalesce(q.last_error || '; ', '') || 'its lease was released by marquee audit --fix'
             WHERE ({}) OR (q.status = 'processing' AND (q.locked_by IS NULL OR q.lease_until IS NULL))",
            dead_lease()
        )
    });
    Ok(conn.execute(&SQL, &[]).await? as i64)
}

/// The run log: no run still `running` long past any budget.
pub async fn runs(conn: &impl Connection) -> Result<(i64, Vec<Finding>), DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        rules_sql(&[Rule {
            kind: "run running long past its deadline".into(),
            from: "scheduled_ingestion_log".into(),
            condition: run_log::ABANDONED.clone(),
            id: "run_id".into(),
        }])
    });
    Ok((count(conn, "SELECT count(*) AS n FROM scheduled_ingestion_log").await?, findings(conn, &SQL).await?))
}

/// Closes the runs their invocation never closed, as every run does when it starts.
pub async fn close_abandoned_runs(conn: &impl Connection) -> Result<i64, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(run_log::close_abandoned_sql);
    Ok(conn.query(&SQL, &[]).await?.len() as i64)
}

pub const SEARCH_POSTINGS_DIFFER: &str = "search postings differ from the title words";

/// The works whose search postings (migration 21) are not what their sort keys give
/// (`search_postings_expected`): a posting missing, left over or stale.
const POSTINGS_DIFFER: &str = "SELECT DISTINCT coalesce(p.work_id, e.work_id) AS work_id
       FROM search_postings p FULL JOIN search_postings_expected e ON e.work_id = p.work_id AND e.word = p.word
      WHERE p.work_id IS NULL OR e.work_id IS NULL OR p.popularity <> e.popularity OR p.search_vector <> e.search_vector";

/// Writes the search postings of the works whose postings differ again from their sort keys.
pub async fn rebuild_search_postings(conn: &impl Connection) -> Result<i64, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH differ AS MATERIALIZED ({POSTINGS_DIFFER})
             SELECT count(*) AS n FROM differ d CROSS JOIN LATERAL marquee_write_search_postings(d.work_id)"
        )
    });
    count(conn, &SQL).await
}

/// Works: none stuck in `ingesting` after its lease ran out, and (given as SQL conditions on
/// `works w` joined to `works_meta m`, `aggregates a`) the per-work rules the domain owns.
pub async fn works(
    conn: &impl Connection,
    tier_mismatch: &str,
    unjustified_score: &str,
) -> Result<(i64, Vec<Finding>), DbError> {
    let rules = [
        Rule {
            kind: "work stuck in ingesting".into(),
            from: "works w".into(),
            condition: INGEST_INTERRUPTED.into(),
            id: "w.tmdb_id".into(),
        },
        Rule {
            kind: "next_refresh_at disagrees with its tier".into(),
            from: "works w JOIN works_meta m ON m.work_id = w.work_id".into(),
            condition: format!("w.ingestion_status = 'complete' AND ({tier_mismatch})"),
            id: "w.tmdb_id".into(),
        },
        Rule {
            kind: "score interval narrower than its votes justify".into(),
            from: "works w JOIN aggregates a ON a.work_id = w.work_id".into(),
            condition: format!("w.ingestion_status = 'complete' AND ({unjustified_score})"),
            id: "w.tmdb_id".into(),
        },
        Rule {
            kind: SEARCH_POSTINGS_DIFFER.into(),
            from: format!("works w JOIN ({POSTINGS_DIFFER}) d ON d.work_id = w.work_id"),
            condition: "true".into(),
            id: "w.tmdb_id".into(),
        },
    ];
    Ok((count(conn, "SELECT count(*) AS n FROM works").await?, findings(conn, &rules_sql(&rules)).await?))
}

/// The tmdb ids of the complete works for which `condition` (SQL on `works w` joined to
/// `works_meta m` and `aggregates a`) holds.
pub async fn works_where(conn: &impl Connection, condition: &str) -> Result<Vec<i64>, DbError> {
    let sql = format!(
        "SELECT DISTINCT w.tmdb_id FROM works w JOIN works_meta m ON m.work_id = w.work_id
         JOIN aggregates a ON a.work_id = w.work_id
         WHERE w.ingestion_status = 'complete' AND ({condition}) ORDER BY 1"
    );
    conn.query(&sql, &[]).await?.iter().map(|r| r.get("tmdb_id")).collect()
}

/// Sets `next_refresh_at` from the tier (`interval`: the SQL interval of a `works w` row joined
/// to `works_meta m`) where it disagrees.
pub async fn fix_tiers(conn: &impl Connection, tier_mismatch: &str, interval: &str) -> Result<i64, DbError> {
    let sql = format!(
        "UPDATE works w SET next_refresh_at = w.last_refreshed_at + {interval}, updated_at = now()
         FROM works_meta m WHERE m.work_id = w.work_id AND w.ingestion_status = 'complete' AND ({tier_mismatch})"
    );
    Ok(conn.execute(&sql, &[]).await? as i64)
}

/// Ingests whose invocation died: released and queued again, as every run does when it starts.
pub async fn recover_stuck_ingests(conn: &impl Connection) -> Result<i64, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!("WITH {} SELECT count(*) AS n FROM released", super::queue::recover_interrupted_ctes())
    });
    count(conn, &SQL).await
}
