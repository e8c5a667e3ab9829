//! A movie's fingerprint: per table it populates, a digest of the rows the projection of its TMDB
//! response gives that table, as PostgreSQL prints them (`ROW(...)::text`, `db::pg_text`).
//!
//! The write computes it in Rust from the write document — the projection, before any SQL has
//! touched it — and stores it with the response (`works_raw.projection`, migration 12). The audit
//! then has PostgreSQL digest the rows the tables hold now and compare, set-based, without
//! shipping a row: a table the write left empty, a row it mangled and a row changed since all
//! show. The recorded fingerprint is itself checked against the stored response
//! (`works_raw.payload_hash`, PostgreSQL's hash of the response as written) and, in the audit's
//! deep mode, against a projection of that response by the code as it is now.

use std::sync::LazyLock;

use serde_json::{Map, Value as Json};

use super::pg_text::{self, ColumnType};
use crate::domain::score::METHOD_VERSION;

/// A table a movie populates: the columns its projection decides (with their types, which a
/// test keeps equal to the schema's), which of the movie's rows are the projection's, and where
/// the rows are in the write document.
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, ColumnType)],
    /// SQL on `t` (e.g. a method version); `true` for all of the movie's rows.
    filter: &'static str,
    /// The document gives the movie at most one row here: its digest is its row's hash, which
    /// PostgreSQL computes without aggregating (`pg_text::digest_one_sql`). Any other row the
    /// table holds for the movie then differs from it on its own.
    pub one_row: bool,
    rows: fn(&Json) -> Vec<Json>,
}

/// The table's other columns, which the projection does not decide (keys, timestamps, counters,
/// leases, notes of other sources): the schema test lists every column as one or the other.
pub const NOT_PROJECTED: &[(&str, &[&str])] = &[
    (
        "works",
        &[
            "work_id",
            "tmdb_id",
            "ingestion_status",
            "lease_owner",
            "lease_until",
            "last_error",
            "request_count",
            "ingest_count",
            "last_refreshed_at",
            "next_refresh_at",
            "gone_at",
            "created_at",
            "updated_at",
        ],
    ),
    ("works_meta", &["work_id", "fetched_at", "updated_at"]),
    ("similar_movies", &["work_id", "source", "confidence", "notes", "created_at"]),
    ("rating_sources", &["rating_id", "work_id", "last_seen_at"]),
    ("aggregates", &["work_id", "computed_at"]),
    ("work_cards_cache", &["work_id", "computed_at"]),
];

fn list(doc: &Json, path: &[&str]) -> Vec<Json> {
    path.iter().fold(doc, |v, k| &v[*k]).as_array().cloned().unwrap_or_default()
}

use ColumnType::*;

pub const TABLES: &[Table] = &[
    Table {
        name: "works",
        columns: &[
            ("imdb_id", Text),
            ("title", Text),
            ("original_title", Text),
            ("year", Int4),
            ("release_date", Date),
            ("popularity", Float8),
            ("vote_average", Float8),
            ("vote_count", Int4),
            ("schema_version", Int4),
        ],
        filter: "true",
        one_row: true,
        rows: |doc| vec![doc["work"].clone()],
    },
    Table {
        name: "works_meta",
        columns: &[
            ("runtime_minutes", Int4),
            ("runtime_display", Text),
            ("tagline", Text),
            ("overview", Text),
            ("overview_short", Text),
            ("genres", TextArray),
            ("certification", Text),
            ("poster_url_small", Text),
            ("poster_url_medium", Text),
            ("poster_url_large", Text),
            ("poster_url_original", Text),
            ("backdrop_url", Text),
            ("backdrop_url_mobile", Text),
            ("cast_members", Jsonb),
            ("crew_members", Jsonb),
            ("trailers", Jsonb),
            ("still_images", Jsonb),
            ("streaming", Jsonb),
            ("keywords", TextArray),
            ("production_companies", Jsonb),
            ("production_countries", TextArray),
            ("spoken_languages", TextArray),
            ("budget", Int8),
            ("revenue_worldwide", Int8),
            ("original_language", Text),
            ("release_status", Text),
            ("homepage", Text),
            ("collection_id", Int8),
            ("schema_version", Int4),
        ],
        filter: "true",
        one_row: true,
        rows: |doc| {
            let mut meta = doc["meta"].clone();
            meta["schema_version"] = doc["work"]["schema_version"].clone();
            vec![meta]
        },
    },
    Table {
        name: "credits",
        columns: &[
            ("credit_id", Text),
            ("person_id", Int8),
            ("credit_type", Text),
            ("character", Text),
            ("job", Text),
            ("department", Text),
            ("ord", Int4),
        ],
        filter: "true",
        one_row: false,
        rows: |d| list(d, &["facts", "credits"]),
    },
    Table {
        name: "work_genres",
        columns: &[("genre_id", Int4)],
        filter: "true",
        one_row: false,
        rows: |d| list(d, &["facts", "genres"]),
    },
    Table {
        name: "work_keywords",
        columns: &[("keyword_id", Int8)],
        filter: "true",
        one_row: false,
        rows: |d| list(d, &["facts", "keywords"]),
    },
    Table {
        name: "work_companies",
        columns: &[("company_id", Int8), ("ord", Int4)],
        filter: "true",
        one_row: false,
        rows: |d| list(d, &["facts", "companies"]),
    },
    Table {
        name: "release_dates",
        columns: &[
            ("country", Text),
            ("release_type", Int4),
            ("release_date", Date),
            ("certification", Text),
            ("note", Text),
        ],
        filter: "true",
        one_row: false,
        rows: |d| list(d, &["facts", "release_dates"]),
    },
    Table {
        name: "videos",
        columns: &[
            ("site", Text),
            ("video_key", Text),
            ("video_type", Text),
            ("name", Text),
            ("official", Bool),
            ("published_at", Timestamp),
            ("size", Int4),
            ("language", Text),
            ("country", Text),
        ],
        filter: "true",
        one_row: false,
        rows: |d| list(d, &["facts", "videos"]),
    },
    Table {
        name: "images",
        columns: &[
            ("kind", Text),
            ("file_path", Text),
            ("width", Int4),
            ("height", Int4),
            ("aspect_ratio", Float8),
            ("language", Text),
            ("vote_average", Float8),
            ("vote_count", Int4),
        ],
        filter: "true",
        one_row: false,
        rows: |d| list(d, &["facts", "images"]),
    },
    Table {
        name: "work_watch_providers",
        columns: &[
            ("country", Text),
            ("offer_type", Text),
            ("provider_id", Int8),
            ("display_priority", Int4),
            ("link", Text),
        ],
        filter: "true",
        one_row: false,
        rows: |d| list(d, &["facts", "provider_offers"]),
    },
    Table {
        name: "similar_movies",
        columns: &[("similar_tmdb_id", Int8), ("rank_order", Int4)],
        filter: "t.source = 'tmdb'",
        one_row: false,
        rows: |d| list(d, &["facts", "similar"]),
    },
    Table {
        name: "rating_sources",
        columns: &[
            ("source_name", Text),
            ("scale_type", Text),
            ("value_raw", Float8),
            ("value_0_100", Float8),
            ("votes_count", Int4),
        ],
        filter: "true",
        one_row: true,
        rows: |d| vec![d["rating"].clone()],
    },
    Table {
        name: "aggregates",
        columns: &[
            ("method_version", Text),
            ("ai_score", Float8),
            ("ai_score_low", Float8),
            ("ai_score_high", Float8),
            ("votes_count", Int4),
            ("source_scores", Jsonb),
        ],
        // The score of the current method: the write keeps no other.
        filter: "t.method_version = '{method_version}'",
        one_row: true,
        rows: |d| vec![d["score"].clone()],
    },
    Table {
        name: "work_cards_cache",
        columns: &[("payload", Jsonb), ("payload_short", Jsonb), ("etag", Text)],
        filter: "true",
        one_row: true,
        rows: |d| vec![d["card"].clone()],
    },
];

impl Table {
    /// The text PostgreSQL prints for one of the table's rows `t`: the digests' row expression.
    pub fn row_sql(&self) -> String {
        format!("ROW({})::text", self.columns.iter().map(|(c, _)| format!("t.{c}")).collect::<Vec<_>>().join(", "))
    }

    /// Which of a movie's rows `t` the fingerprint covers.
    pub fn filter_sql(&self) -> String {
        self.filter.replace("{method_version}", METHOD_VERSION)
    }

    /// The digest of the rows the document gives this table, as PostgreSQL would print them; a
    /// value PostgreSQL could not store makes a digest no stored rows can match.
    fn expected(&self, doc: &Json) -> String {
        let rows = (self.rows)(doc).into_iter().map(|row| {
            let fields = self.columns.iter().map(|(column, ty)| {
                let value = row.get(*column).unwrap_or(&Json::Null);
                pg_text::column_out(value, *ty).unwrap_or_else(|why| Some(format!("\u{0}unstorable: {why}")))
            });
            pg_text::record_text(fields)
        });
        pg_text::digest(rows)
    }
}

/// The fingerprint of a write document: table name → digest.
pub fn of_document(doc: &Json) -> Json {
    Json::Object(TABLES.iter().map(|t| (t.name.to_owned(), Json::String(t.expected(doc)))).collect::<Map<_, _>>())
}

/// The digest of no rows (what a table the movie leaves empty digests to).
pub static EMPTY: LazyLock<String> = LazyLock::new(|| pg_text::digest(Vec::<String>::new()));
