//! `catalog_aggregates`: per person, genre, keyword, company and collection, how many servable
//! works it has (people: as cast and as crew), their first and latest release, their mean score
//! and their votes.
//!
//! Kept by deferred recompute of touched keys (migration 11): a movie's write appends the keys
//! it touches to `aggregate_dirty` (appends never wait on each other, so concurrent writers of
//! movies sharing a genre do not queue on one row), and [`fold`] takes a batch of those marks and
//! recomputes exactly their keys from the facts with [`compute_sql`], the one definition of every
//! aggregate, also used by [`recompute_all`] and by the audit's [`drift`].

use std::sync::LazyLock;

use crate::domain::score::METHOD_VERSION;
use crate::domain::states::sql_text_enum;
use crate::ports::{Connection, DbError, transaction};

use super::predicates::SERVABLE;

sql_text_enum! {
    /// What an aggregate row is about (`catalog_aggregates.kind`, `aggregate_dirty.kind`).
    AggregateKind {
        Person => "person",
        Genre => "genre",
        Keyword => "keyword",
        Company => "company",
        Collection => "collection",
    }
}

/// The shared rows each kind is about, and the table that links works to them: a shared row no
/// link names any more belongs to nothing (an orphan). Folds remove the orphans among the keys
/// they recompute, so the catalog never keeps them; the audit looks for any left.
pub struct Shared {
    pub kind: AggregateKind,
    pub table: &'static str,
    pub key: &'static str,
    pub links: &'static str,
}

pub const SHARED: &[Shared] = &[
    Shared { kind: AggregateKind::Person, table: "people", key: "person_id", links: "credits" },
    Shared { kind: AggregateKind::Genre, table: "genres", key: "genre_id", links: "work_genres" },
    Shared { kind: AggregateKind::Keyword, table: "keywords", key: "keyword_id", links: "work_keywords" },
    Shared { kind: AggregateKind::Company, table: "companies", key: "company_id", links: "work_companies" },
    Shared { kind: AggregateKind::Collection, table: "collections", key: "collection_id", links: "works_meta" },
];

impl Shared {
    /// True for a row `t` of the shared table that no link names.
    pub fn unused(&self) -> String {
        format!("NOT EXISTS (SELECT 1 FROM {links} u WHERE u.{key} = t.{key})", links = self.links, key = self.key)
    }
}

/// Serialises folds and recomputes: each one reads the facts after the previous one committed,
/// so an older view never overwrites a newer one.
pub const FOLD_LOCK: i64 = 0x6167_6772_6567; // "aggreg"

/// The columns of `catalog_aggregates` that [`compute_sql`] produces, in order.
const COLUMNS: &str = "kind, key_id, works, cast_works, crew_works, first_release, latest_release, scored_works, \
                       mean_score, total_votes";

/// Every aggregate, computed from the facts, for the keys `keys` selects: an SQL condition on a
/// key column (given its kind and name), e.g. `true`, or membership in a CTE of dirty keys. A
/// work counts once per key however often it names it (a person credited twice). The mean is
/// computed in `numeric` and rounded, so it does not depend on the order rows are summed in: a
/// fold and a full recompute agree to the bit.
pub fn compute_sql(keys: impl Fn(AggregateKind, &str) -> String) -> String {
    let per_key = format!(
        "min(w.release_date), max(w.release_date), count(a.ai_score)::int4,
         round(avg(a.ai_score::numeric), 4)::float8, coalesce(sum(w.vote_count), 0)::int8
         FROM {{links}} JOIN works w ON w.work_id = x.work_id AND {SERVABLE}
         LEFT JOIN aggregates a ON a.work_id = w.work_id AND a.method_version = '{METHOD_VERSION}'
         GROUP BY x.key_id"
    );
    let links = |key: &str, source: &str, kind: AggregateKind| {
        format!(
            "(SELECT DISTINCT {key} AS key_id, work_id FROM {source} WHERE {key} IS NOT NULL AND {}) x",
            keys(kind, key)
        )
    };
    let per_work = |kind: AggregateKind, key: &str, source: &str| {
        format!(
            "SELECT '{kind}'::text, x.key_id, count(*)::int4, NULL::int4, NULL::int4, {}",
            per_key.replace("{links}", &links(key, source, kind))
        )
    };
    let people = format!(
        "SELECT 'person'::text, x.key_id, count(*)::int4, count(*) FILTER (WHERE x.as_cast)::int4,
                count(*) FILTER (WHERE x.as_crew)::int4, {}",
        per_key.replace(
            "{links}",
            &format!(
                "(SELECT person_id AS key_id, work_id, bool_or(credit_type = 'cast') AS as_cast,
                         bool_or(credit_type = 'crew') AS as_crew
                  FROM credits WHERE {} GROUP BY person_id, work_id) x",
                keys(AggregateKind::Person, "person_id")
            )
        )
    );
    [
        people,
        per_work(AggregateKind::Genre, "genre_id", "work_genres"),
        per_work(AggregateKind::Keyword, "keyword_id", "work_keywords"),
        per_work(AggregateKind::Company, "company_id", "work_companies"),
        per_work(AggregateKind::Collection, "collection_id", "works_meta"),
    ]
    .join("\n UNION ALL ")
}

/// What one fold did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Folded {
    /// Marks taken from `aggregate_dirty`.
    pub marks: i64,
    /// Distinct keys recomputed (rows written or, for keys left without works, removed).
    pub keys: i64,
}

/// Takes up to `limit` marks and recomputes their keys; `None` when another fold or recompute
/// holds the lock (its marks are its own; ours wait for the next fold).
pub async fn fold(conn: &impl Connection, limit: i64) -> Result<Option<Folded>, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH taken AS (
                DELETE FROM aggregate_dirty WHERE ctid = ANY (ARRAY(SELECT ctid FROM aggregate_dirty LIMIT $1))
                RETURNING kind, key_id
             ), dirty AS (SELECT DISTINCT kind, key_id FROM taken),
             fresh ({COLUMNS}) AS ({compute}),
             written AS (
                INSERT INTO catalog_aggregates ({COLUMNS}) SELECT {COLUMNS} FROM fresh
                ON CONFLICT (kind, key_id) DO UPDATE SET works = EXCLUDED.works, cast_works = EXCLUDED.cast_works,
                   crew_works = EXCLUDED.crew_works, first_release = EXCLUDED.first_release,
                   latest_release = EXCLUDED.latest_release, scored_works = EXCLUDED.scored_works,
                   mean_score = EXCLUDED.mean_score, total_votes = EXCLUDED.total_votes, computed_at = now()
             ),
             emptied AS (
                DELETE FROM catalog_aggregates g USING dirty d
                WHERE g.kind = d.kind AND g.key_id = d.key_id
                  AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.kind = d.kind AND f.key_id = d.key_id)
             ), {orphans}
             SELECT (SELECT count(*) FROM taken) AS marks, (SELECT count(*) FROM dirty) AS keys",
            compute =
                compute_sql(|kind, key| format!("{key} IN (SELECT d.key_id FROM dirty d WHERE d.kind = '{kind}')")),
            // A movie written at this moment that names one of them again fails its foreign-key
            // check and is written again (`ingest::store_record`); a fold that loses such a race
            // fails whole, and its marks wait for the next one.
            orphans = SHARED
                .iter()
                .map(|s| format!(
                    "orphaned_{kind} AS (DELETE FROM {table} t USING dirty d WHERE d.kind = '{kind}' AND t.{key} = d.key_id AND {unused})",
                    kind = s.kind,
                    table = s.table,
                    key = s.key,
                    unused = s.unused()
                ))
                .collect::<Vec<_>>()
                .join(", "),
        )
    });
    transaction(conn, async |c| {
        let locked = c.query("SELECT pg_try_advisory_xact_lock($1) AS locked", &[FOLD_LOCK.into()]).await?;
        if !locked[0].get::<bool>("locked")? {
            return Ok(None);
        }
        let rows = c.query(&SQL, &[limit.into()]).await?;
        let row = rows.first().ok_or_else(|| DbError::MissingColumn("marks".into()))?;
        Ok(Some(Folded { marks: row.get("marks")?, keys: row.get("keys")? }))
    })
    .await
}

/// Rebuilds every aggregate from the facts, in one transaction (waiting for a running fold),
/// takes every mark made before it and removes every orphan. Returns the number of aggregate
/// rows.
pub async fn recompute_all(conn: &impl Connection) -> Result<i64, DbError> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("INSERT INTO catalog_aggregates ({COLUMNS}) {}", compute_sql(|_, _| "true".into())));
    transaction(conn, async |c| {
        // `execute`: the function returns void, which there is no need to read.
        c.execute("SELECT pg_advisory_xact_lock($1)", &[FOLD_LOCK.into()]).await?;
        c.execute("DELETE FROM aggregate_dirty", &[]).await?;
        c.execute("DELETE FROM catalog_aggregates", &[]).await?;
        for shared in SHARED {
            c.execute(&format!("DELETE FROM {} t WHERE {}", shared.table, shared.unused()), &[]).await?;
        }
        Ok(c.execute(&SQL, &[]).await? as i64)
    })
    .await
}

/// Aggregate rows stored.
pub async fn count(conn: &impl Connection) -> Result<i64, DbError> {
    conn.query("SELECT count(*) AS n FROM catalog_aggregates", &[]).await?[0].get("n")
}

/// Marks not folded yet.
pub async fn pending(conn: &impl Connection) -> Result<i64, DbError> {
    conn.query("SELECT count(*) AS n FROM aggregate_dirty", &[]).await?[0].get("n")
}

/// An aggregate that differs from a full recompute of the facts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
    pub kind: AggregateKind,
    pub key_id: i64,
}

/// The stored aggregates that differ from a full recompute (missing, extra or different),
/// leaving out keys with marks not folded yet: those are pending, not drifted.
pub async fn drift(conn: &impl Connection) -> Result<Vec<Drift>, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH expected ({COLUMNS}) AS ({}),
                  stored AS (SELECT {COLUMNS} FROM catalog_aggregates),
                  differ AS ((SELECT * FROM expected EXCEPT SELECT * FROM stored)
                             UNION (SELECT * FROM stored EXCEPT SELECT * FROM expected))
             SELECT DISTINCT d.kind, d.key_id FROM differ d
             WHERE NOT EXISTS (SELECT 1 FROM aggregate_dirty m WHERE m.kind = d.kind AND m.key_id = d.key_id)
             ORDER BY d.kind, d.key_id",
            compute_sql(|_, _| "true".into())
        )
    });
    let rows = conn.query(&SQL, &[]).await?;
    rows.iter().map(|r| Ok(Drift { kind: r.get("kind")?, key_id: r.get("key_id")? })).collect()
}

/// One aggregate with the name of what it is about.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Named {
    pub kind: AggregateKind,
    pub key_id: i64,
    pub name: Option<String>,
    pub works: i32,
    pub cast_works: Option<i32>,
    pub crew_works: Option<i32>,
    pub first_release: Option<chrono::NaiveDate>,
    pub latest_release: Option<chrono::NaiveDate>,
    pub scored_works: i32,
    pub mean_score: Option<f64>,
    pub total_votes: i64,
}

/// The `limit` largest aggregates of `kind` (most works first), with their names.
pub async fn top(conn: &impl Connection, kind: AggregateKind, limit: i64) -> Result<Vec<Named>, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT g.{COLUMNS_QUALIFIED}, coalesce(p.name, ge.name, k.name, c.name, co.name) AS name
             FROM catalog_aggregates g
             LEFT JOIN people p ON g.kind = 'person' AND p.person_id = g.key_id
             LEFT JOIN genres ge ON g.kind = 'genre' AND ge.genre_id = g.key_id
             LEFT JOIN keywords k ON g.kind = 'keyword' AND k.keyword_id = g.key_id
             LEFT JOIN companies c ON g.kind = 'company' AND c.company_id = g.key_id
             LEFT JOIN collections co ON g.kind = 'collection' AND co.collection_id = g.key_id
             WHERE g.kind = $1 ORDER BY g.works DESC, g.key_id LIMIT $2",
            COLUMNS_QUALIFIED = COLUMNS.replace(", ", ", g.")
        )
    });
    let rows = conn.query(&SQL, &[kind.into(), limit.into()]).await?;
    rows.iter()
        .map(|r| {
            Ok(Named {
                kind: r.get("kind")?,
                key_id: r.get("key_id")?,
                name: r.get("name")?,
                works: r.get("works")?,
                cast_works: r.get("cast_works")?,
                crew_works: r.get("crew_works")?,
                first_release: r.get("first_release")?,
                latest_release: r.get("latest_release")?,
                scored_works: r.get("scored_works")?,
                mean_score: r.get("mean_score")?,
                total_votes: r.get("total_votes")?,
            })
        })
        .collect()
}
