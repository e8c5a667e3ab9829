//! Every complete work's tables against the projection of its stored TMDB response.
//!
//! For each page of works, one statement reads the stored responses and, per work and table, a
//! digest of the stored rows (`db::pg_text::digest_sql` over each row's `to_jsonb` text). Rust
//! projects each response again — the same normaliser, score, card and write document as an
//! ingest — and computes the digest of the rows that document makes, as PostgreSQL would print
//! them (`db::pg_text`). Equal digests mean equal rows, value for value; only digests cross the
//! network, never the rows.
//!
//! Shared rows (people, genres, keywords, companies, collections, providers) are checked through
//! the movie's links to them (credits, work_genres, …: their keys are in the digests, and foreign
//! keys make the rows exist); their own values are the latest any movie gave, not this movie's.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::db::audit::{EXAMPLES, Finding, complete_works_page};
use crate::db::catalog;
use crate::db::pg_text::{self, ColumnType};
use crate::domain::movie;
use crate::domain::score::METHOD_VERSION;
use crate::error::{Error, Result};
use crate::pipeline::batch::cached_images;
use crate::pipeline::ingest;
use crate::ports::{Clock, Connection, Database, HttpClient};
use crate::tmdb::types::{ImageConfiguration, MovieDetails};

/// Works per statement.
const PAGE: i64 = 500;

/// Which columns of a table the check compares.
enum Columns {
    /// Only these.
    Only(&'static [&'static str]),
    /// Every column but these.
    AllBut(&'static [&'static str]),
}

/// A table a work populates, and the rows the write document gives it.
struct Table {
    name: &'static str,
    columns: Columns,
    /// Which of the work's rows belong to the movie's projection (SQL on `t`).
    filter: &'static str,
    /// The rows, from the write document (objects keyed by column; other keys are ignored).
    rows: fn(&Json) -> Vec<Json>,
}

fn list(doc: &Json, path: &[&str]) -> Vec<Json> {
    path.iter().fold(doc, |v, k| &v[*k]).as_array().cloned().unwrap_or_default()
}

const TABLES: &[Table] = &[
    Table {
        name: "works",
        columns: Columns::Only(&[
            "imdb_id",
            "title",
            "original_title",
            "year",
            "release_date",
            "popularity",
            "vote_average",
            "vote_count",
            "schema_version",
        ]),
        filter: "true",
        rows: |doc| vec![doc["work"].clone()],
    },
    Table {
        name: "works_meta",
        columns: Columns::AllBut(&["work_id", "fetched_at", "updated_at"]),
        filter: "true",
        rows: |doc| {
            let mut meta = doc["meta"].clone();
            meta["schema_version"] = doc["work"]["schema_version"].clone();
            vec![meta]
        },
    },
    Table {
        name: "credits",
        columns: Columns::AllBut(&["work_id"]),
        filter: "true",
        rows: |d| list(d, &["facts", "credits"]),
    },
    Table {
        name: "work_genres",
        columns: Columns::AllBut(&["work_id"]),
        filter: "true",
        rows: |d| list(d, &["facts", "genres"]),
    },
    Table {
        name: "work_keywords",
        columns: Columns::AllBut(&["work_id"]),
        filter: "true",
        rows: |d| list(d, &["facts", "keywords"]),
    },
    Table {
        name: "work_companies",
        columns: Columns::AllBut(&["work_id"]),
        filter: "true",
        rows: |d| list(d, &["facts", "companies"]),
    },
    Table {
        name: "release_dates",
        columns: Columns::AllBut(&["work_id"]),
        filter: "true",
        rows: |d| list(d, &["facts", "release_dates"]),
    },
    Table {
        name: "videos",
        columns: Columns::AllBut(&["work_id"]),
        filter: "true",
        rows: |d| list(d, &["facts", "videos"]),
    },
    Table {
        name: "images",
        columns: Columns::AllBut(&["work_id"]),
        filter: "true",
        rows: |d| list(d, &["facts", "images"]),
    },
    Table {
        name: "work_watch_providers",
        columns: Columns::AllBut(&["work_id"]),
        filter: "true",
        rows: |d| list(d, &["facts", "provider_offers"]),
    },
    Table {
        name: "similar_movies",
        columns: Columns::Only(&["similar_tmdb_id", "rank_order"]),
        filter: "t.source = 'tmdb'",
        rows: |d| list(d, &["facts", "similar"]),
    },
    Table {
        name: "rating_sources",
        columns: Columns::Only(&["source_name", "scale_type", "value_raw", "value_0_100", "votes_count"]),
        filter: "true",
        rows: |d| vec![d["rating"].clone()],
    },
    Table {
        name: "aggregates",
        columns: Columns::Only(&[
            "method_version",
            "ai_score",
            "ai_score_low",
            "ai_score_high",
            "votes_count",
            "source_scores",
        ]),
        filter: "t.method_version = '{method_version}'",
        rows: |d| vec![d["score"].clone()],
    },
    Table {
        name: "work_cards_cache",
        columns: Columns::Only(&["payload", "payload_short", "etag"]),
        filter: "true",
        rows: |d| vec![d["card"].clone()],
    },
];

/// The page statement: per work, its stored response, the response's recorded hash and one
/// digest per table.
static PAGE_SQL: LazyLock<String> = LazyLock::new(|| {
    let digests: Vec<String> = TABLES
        .iter()
        .map(|t| {
            let row = match t.columns {
                Columns::Only(cols) => format!(
                    "jsonb_build_object({})",
                    cols.iter().map(|c| format!("'{c}', t.{c}")).collect::<Vec<_>>().join(", ")
                ),
                Columns::AllBut(cols) => format!(
                    "to_jsonb(t) - ARRAY[{}]::text[]",
                    cols.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ")
                ),
            };
            format!(
                "(SELECT {} FROM (SELECT ({row})::text AS r FROM {name} t WHERE t.work_id = w.work_id AND {filter}) x) AS {name}",
                pg_text::digest_sql("x.r"),
                name = t.name,
                // The aggregate of the current method (older methods' rows linger until a refresh).
                filter = t.filter.replace("{method_version}", METHOD_VERSION),
            )
        })
        .collect();
    format!(
        "SELECT w.work_id, w.tmdb_id, r.payload, r.payload_sha256, {}
         FROM works w LEFT JOIN works_raw r ON r.work_id = w.work_id
         WHERE w.work_id = ANY($1) ORDER BY w.work_id",
        digests.join(",\n")
    )
});

/// What the check found, by kind of mismatch: the tmdb ids.
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

    /// The works whose stored response cannot be trusted (altered since it was recorded) or is
    /// missing: only a refresh from TMDB mends them.
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

    fn found(&mut self, kind: impl Into<String>, tmdb_id: i64) {
        self.mismatches.entry(kind.into()).or_default().push(tmdb_id);
    }
}

const NO_RESPONSE: &str = "complete work without its stored response";
const ALTERED: &str = "stored response differs from its recorded hash";

/// Checks every complete work.
pub async fn check<D: Database, H: HttpClient, C: Clock>(app: &App<D, H, C>) -> Result<Projected> {
    let conn = app.db.connect().await?;
    let mut projected = Projected::default();
    let Some(images) = images(&conn).await? else { return Ok(projected) };
    let types = column_types(&conn).await?;
    let mut cursor = 0;
    loop {
        let page = complete_works_page(&conn, cursor, PAGE).await?;
        let Some(&(last, _)) = page.last() else { break };
        cursor = last;
        let ids: Vec<Option<i64>> = page.iter().map(|(w, _)| Some(*w)).collect();
        for row in conn.query(&PAGE_SQL, &[crate::ports::Value::ArrayInt64(ids)]).await? {
            projected.checked += 1;
            let work_id: i64 = row.get("work_id")?;
            let tmdb_id: i64 = row.get("tmdb_id")?;
            let Some(raw) = row.get::<Option<Json>>("payload")? else {
                projected.found(NO_RESPONSE, tmdb_id);
                continue;
            };
            if row.get::<Option<String>>("payload_sha256")? != Some(hex::encode(Sha256::digest(raw.to_string()))) {
                projected.found(ALTERED, tmdb_id);
            }
            let doc = match document(work_id, &raw, &images) {
                Ok(doc) => doc,
                Err(why) => {
                    projected.found(why, tmdb_id);
                    continue;
                }
            };
            for table in TABLES {
                let stored: Option<String> = row.get(table.name)?;
                if stored.as_deref() != Some(expected_digest(table, &doc, &types).as_str()) {
                    projected.found(format!("{} differ from the stored response", table.name), tmdb_id);
                }
            }
        }
    }
    Ok(projected)
}

/// TMDB's image configuration as cached (the projection of a response depends on it); `None`
/// when no movie was ever ingested (then there is nothing to check).
async fn images(conn: &impl Connection) -> Result<Option<ImageConfiguration>> {
    match cached_images(conn).await {
        Ok(images) => Ok(Some(images)),
        Err(Error::BadRequest(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The write document the stored response projects to, as an ingest of it now would build it.
fn document(work_id: i64, raw: &Json, images: &ImageConfiguration) -> std::result::Result<Json, String> {
    let details: MovieDetails =
        serde_json::from_value(raw.clone()).map_err(|_| "stored response is not a movie".to_owned())?;
    let record = movie::normalize(&details, images)
        .map_err(|r| format!("complete work the catalog refuses ({})", r.reason()))?;
    let (score, card) = ingest::derive(work_id, &record);
    let now = crate::ports::system_now();
    Ok(catalog::document(&catalog::WriteMovie {
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

/// Column types of the tables the check compares, from the database itself.
type Types = HashMap<(String, String), ColumnType>;

async fn column_types(conn: &impl Connection) -> Result<Types> {
    let names: Vec<Option<String>> = TABLES.iter().map(|t| Some(t.name.to_owned())).collect();
    let rows = conn
        .query(
            "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty, udt_name::text AS udt
             FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ANY($1)",
            &[crate::ports::Value::ArrayText(names)],
        )
        .await?;
    let mut types = Types::new();
    for r in rows {
        let (table, column, ty, udt): (String, String, String, String) =
            (r.get("t")?, r.get("c")?, r.get("ty")?, r.get("udt")?);
        if let Some(ty) = ColumnType::from_information_schema(&ty, &udt) {
            types.insert((table, column), ty);
        }
    }
    Ok(types)
}

/// The digest of the rows the document gives `table`, as PostgreSQL would print them.
fn expected_digest(table: &Table, doc: &Json, types: &Types) -> String {
    let columns: Vec<(&str, ColumnType)> = match table.columns {
        Columns::Only(cols) => {
            cols.iter().filter_map(|c| Some((*c, *types.get(&(table.name.into(), (*c).into()))?))).collect()
        }
        Columns::AllBut(skip) => types
            .iter()
            .filter(|((t, c), _)| t == table.name && !skip.contains(&c.as_str()))
            .map(|((_, c), ty)| (c.as_str(), *ty))
            .collect(),
    };
    let rows = (table.rows)(doc).into_iter().map(|row| {
        pg_text::row_jsonb_text(columns.iter().map(|(c, ty)| {
            let value = row.get(*c).unwrap_or(&Json::Null);
            // A value PostgreSQL would refuse cannot be stored: nothing stored can match it.
            (*c, pg_text::column_jsonb_text(value, *ty).unwrap_or_else(|| json!({"unstorable": value}).to_string()))
        }))
    });
    pg_text::digest(rows)
}
