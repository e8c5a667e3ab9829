//! Every complete work's tables against the projection of its stored TMDB response.
//!
//! The write records the projection's fingerprint with the response (`db::fingerprint`). Here
//! PostgreSQL digests the rows each table holds now, for a range of works at a time, and compares
//! them with that fingerprint in the same statement: only the ids of works that differ come back,
//! never a row. Two ranges run at once, one per core. The stored response is checked against the
//! hash recorded with it, so a fingerprint always belongs to the response it came from.
//!
//! The deep mode also projects every stored response again, in Rust, with the code as it is now,
//! and compares that with the recorded fingerprint: it finds what a change to the normaliser made
//! of the catalog (which a schema version bump would otherwise only mark stale).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use futures::StreamExt;
use serde_json::Value as Json;

use crate::app::App;
use crate::db::audit::{EXAMPLES, Finding};
use crate::db::fingerprint::{self, TABLES, Table};
use crate::db::{catalog, pg_text};
use crate::domain::movie;
use crate::error::{Error, Result};
use crate::pipeline::batch::cached_images;
use crate::pipeline::ingest;
use crate::ports::{Clock, Connection, Database, HttpClient, Value};
use crate::tmdb::types::{ImageConfiguration, MovieDetails};

/// Works per range: each statement digests this many works' rows of one table.
const RANGE: i64 = 10_000;
/// Ranges checked at once (the machines have two cores; PostgreSQL does the work).
const AT_ONCE: usize = 2;
/// Works per page in the deep mode.
const PAGE: i64 = 500;

const NO_RESPONSE: &str = "complete work without its stored response";
const NO_FINGERPRINT: &str = "work written before fingerprints were recorded";
const ALTERED: &str = "stored response differs from the hash recorded with it";

/// The session settings the texts of `db::pg_text` assume, memory for the digests' sorts and the
/// aggregates' recompute to stay off disk, and no JIT: compiling each range's statement cost
/// more than it saved.
pub(crate) const SESSION: &[&str] = &[
    "SET extra_float_digits = 1",
    "SET DateStyle = 'ISO, MDY'",
    "SET TimeZone = 'UTC'",
    "SET work_mem = '64MB'",
    "SET jit = off",
];

/// What the check found, by kind: the tmdb ids.
#[derive(Debug, Default)]
pub struct Projected {
    pub checked: i64,
    pub mismatches: BTreeMap<String, Vec<i64>>,
}

impl Projected {
    pub fn findings(&self) -> Vec<Finding> {
        self.mismatches
            .iter()
            .map(|(kind, ids)| Finding {
                kind: kind.clone(),
                count: ids.len() as i64,
                examples: ids.iter().take(EXAMPLES as usize).map(i64::to_string).collect(),
            })
            .collect()
    }

    /// The works whose stored response was altered or is missing: only a refresh from TMDB
    /// mends them (derived from an altered response, the tables would take the damage in).
    pub fn to_refetch(&self) -> Vec<i64> {
        self.ids(|kind| kind == ALTERED || kind == NO_RESPONSE)
    }

    /// The works to derive again from their stored response: every other mismatch.
    pub fn to_reproject(&self) -> Vec<i64> {
        let refetch = self.to_refetch();
        let mut ids = self.ids(|_| true);
        ids.retain(|id| !refetch.contains(id));
        ids
    }

    fn ids(&self, kinds: impl Fn(&str) -> bool) -> Vec<i64> {
        let mut ids: Vec<i64> =
            self.mismatches.iter().filter(|(kind, _)| kinds(kind)).flat_map(|(_, ids)| ids.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn found(&mut self, kind: impl Into<String>, tmdb_ids: impl IntoIterator<Item = i64>) {
        let ids = self.mismatches.entry(kind.into()).or_default();
        ids.extend(tmdb_ids);
        ids.sort_unstable();
    }
}

fn differs(table: &str) -> String {
    format!("{table} differ from the stored response")
}

/// Per table, the complete works of a range whose rows do not digest to their fingerprint.
///
/// The range is written on each table, `works_raw` included: PostgreSQL does not carry a range
/// across a join, and without it every statement read all of `works_raw`. A table of one row per
/// movie is hashed row by row; the others' rows are printed once (`OFFSET 0` keeps the subquery
/// whole, else the row text is computed again as the aggregate's sort key) and aggregated.
static TABLE_SQL: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    TABLES
        .iter()
        .map(|t: &Table| {
            let (table, row, filter, empty) = (t.name, t.row_sql(), t.filter_sql(), fingerprint::EMPTY.as_str());
            let (join, digest) = if t.one_row {
                (
                    format!("LEFT JOIN {table} t ON t.work_id = w.work_id AND {filter}"),
                    format!("CASE WHEN t.work_id IS NULL THEN '{empty}' ELSE {} END", pg_text::digest_one_sql(&row)),
                )
            } else {
                (
                    format!(
                        "LEFT JOIN (SELECT x.work_id, {digest} AS d
                                    FROM (SELECT t.work_id, {row} AS r FROM {table} t
                                          WHERE t.work_id BETWEEN $1 AND $2 AND {filter} OFFSET 0) x
                                    GROUP BY x.work_id) a ON a.work_id = w.work_id",
                        digest = pg_text::digest_sql("x.r"),
                    ),
                    format!("coalesce(a.d, '{empty}')"),
                )
            };
            let sql = format!(
                "SELECT w.tmdb_id FROM works w
                 JOIN works_raw r ON r.work_id = w.work_id AND r.projection IS NOT NULL AND r.work_id BETWEEN $1 AND $2
                 {join}
                 WHERE w.work_id BETWEEN $1 AND $2 AND w.ingestion_status = 'complete'
                   AND (r.projection ->> '{table}') IS DISTINCT FROM {digest}
                 ORDER BY w.tmdb_id"
            );
            (t.name, sql)
        })
        .collect()
});

/// The complete works of a range whose stored response is missing, has no fingerprint, or is
/// not the response its hash was recorded from.
const RESPONSE_SQL: &str = "SELECT w.tmdb_id,
        CASE WHEN r.work_id IS NULL THEN 'missing' WHEN r.projection IS NULL THEN 'unfingerprinted' ELSE 'altered' END AS problem
     FROM works w LEFT JOIN works_raw r ON r.work_id = w.work_id AND r.work_id BETWEEN $1 AND $2
     WHERE w.work_id BETWEEN $1 AND $2 AND w.ingestion_status = 'complete'
       AND (r.work_id IS NULL OR r.projection IS NULL OR jsonb_hash_extended(r.payload, 0) IS DISTINCT FROM r.payload_hash)
     ORDER BY w.tmdb_id";

/// Checks every complete work; `deep` also projects every stored response again.
pub async fn check<D: Database, H: HttpClient, C: Clock>(app: &App<D, H, C>, deep: bool) -> Result<Projected> {
    let conn = app.db.connect().await?;
    let bounds = conn
        .query(
            "SELECT coalesce(min(work_id), 0) AS lo, coalesce(max(work_id), -1) AS hi, count(*) AS n
             FROM works WHERE ingestion_status = 'complete'",
            &[],
        )
        .await?;
    let (lo, hi): (i64, i64) = (bounds[0].get("lo")?, bounds[0].get("hi")?);
    let mut projected = Projected { checked: bounds[0].get("n")?, ..Default::default() };
    drop(conn);
    let ranges = (lo..=hi).step_by(RANGE as usize).map(|start| (start, (start + RANGE - 1).min(hi)));
    let mut checked = futures::stream::iter(ranges).map(|range| check_range(app, range)).buffer_unordered(AT_ONCE);
    while let Some(found) = checked.next().await {
        for (kind, ids) in found? {
            projected.found(kind, ids);
        }
    }
    if deep {
        reproject_each(app, &mut projected).await?;
    }
    Ok(projected)
}

async fn check_range<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    (lo, hi): (i64, i64),
) -> Result<Vec<(String, Vec<i64>)>> {
    let conn = app.db.connect().await?;
    for setting in SESSION {
        conn.execute(setting, &[]).await?;
    }
    let ids = |rows: &[crate::ports::Row]| {
        rows.iter().map(|r| r.get::<i64>("tmdb_id")).collect::<std::result::Result<Vec<_>, _>>()
    };
    let mut found = Vec::new();
    let response = conn.query(RESPONSE_SQL, &[lo.into(), hi.into()]).await?;
    for (problem, kind) in [("missing", NO_RESPONSE), ("unfingerprinted", NO_FINGERPRINT), ("altered", ALTERED)] {
        let rows: Vec<_> =
            response.iter().filter(|r| r.get::<String>("problem").is_ok_and(|p| p == problem)).cloned().collect();
        if !rows.is_empty() {
            found.push((kind.to_owned(), ids(&rows)?));
        }
    }
    for (table, sql) in TABLE_SQL.iter() {
        let rows = conn.query(sql, &[lo.into(), hi.into()]).await?;
        if !rows.is_empty() {
            found.push((differs(table), ids(&rows)?));
        }
    }
    Ok(found)
}

/// The deep mode: each stored response projected again now, against its recorded fingerprint.
async fn reproject_each<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    projected: &mut Projected,
) -> Result<()> {
    let conn = app.db.connect().await?;
    let Some(images) = images(&conn).await? else { return Ok(()) };
    let mut cursor: i64 = 0;
    loop {
        let rows = conn
            .query(
                "SELECT w.work_id, w.tmdb_id, r.payload, r.projection FROM works w JOIN works_raw r ON r.work_id = w.work_id
                 WHERE w.work_id > $1 AND w.ingestion_status = 'complete' AND r.projection IS NOT NULL
                 ORDER BY w.work_id LIMIT $2",
                &[cursor.into(), Value::Int64(PAGE)],
            )
            .await?;
        let Some(last) = rows.last() else { break };
        cursor = last.get("work_id")?;
        for row in &rows {
            let (work_id, tmdb_id): (i64, i64) = (row.get("work_id")?, row.get("tmdb_id")?);
            let recorded: Json = row.get("projection")?;
            match fingerprint_now(work_id, &row.get("payload")?, &images) {
                Ok(now) => {
                    for t in TABLES.iter().filter(|t| recorded.get(t.name) != now.get(t.name)) {
                        projected.found(
                            format!("{} as recorded differ from what the response projects to now", t.name),
                            [tmdb_id],
                        );
                    }
                }
                Err(why) => projected.found(why, [tmdb_id]),
            }
        }
    }
    Ok(())
}

/// TMDB's image configuration as cached (a projection depends on it); `None` when no movie was
/// ever ingested (then there is nothing to project).
async fn images(conn: &impl Connection) -> Result<Option<ImageConfiguration>> {
    match cached_images(conn).await {
        Ok(images) => Ok(Some(images)),
        Err(Error::BadRequest(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The fingerprint an ingest of the stored response would record now.
fn fingerprint_now(work_id: i64, raw: &Json, images: &ImageConfiguration) -> std::result::Result<Json, String> {
    let details = MovieDetails::from_response(raw).map_err(|_| "stored response is not a movie".to_owned())?;
    let record = movie::normalize(&details, images)
        .map_err(|r| format!("complete work the catalog refuses ({})", r.reason()))?;
    let (score, card) = ingest::derive(work_id, &record);
    let now = crate::ports::system_now();
    Ok(catalog::fingerprint_of(&catalog::WriteMovie {
        work_id,
        lease_owner: "",
        record: &record,
        raw,
        score: &score,
        card: &card,
        changes: &serde_json::Map::new(),
        refreshed_at: now,
        next_refresh_at: now,
        function: "audit",
    }))
}
