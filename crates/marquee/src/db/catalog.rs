//! Writing one movie: every table, one transaction, a constant number of set-based statements
//! however many credits, images or providers the movie has. Rows shared between movies (people,
//! genres, keywords, companies, providers, collections) are inserted when new without locking
//! the existing ones, and updated only when their values changed, locked in ascending key order
//! so that concurrent writers cannot deadlock each other.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::domain::card::Card;
use crate::domain::movie::MovieRecord;
use crate::domain::score::{Aggregate, METHOD_VERSION};
use crate::domain::staleness::SCHEMA_VERSION;
use crate::ports::{Connection, DbError, Value};

/// `works_meta` columns filled from [`MovieRecord::meta`].
const META_COLUMNS: &[&str] = &[
    "runtime_minutes",
    "runtime_display",
    "tagline",
    "overview",
    "overview_short",
    "genres",
    "certification",
    "poster_url_small",
    "poster_url_medium",
    "poster_url_large",
    "poster_url_original",
    "backdrop_url",
    "backdrop_url_mobile",
    "cast_members",
    "crew_members",
    "trailers",
    "still_images",
    "streaming",
    "keywords",
    "production_companies",
    "production_countries",
    "spoken_languages",
    "budget",
    "revenue_worldwide",
    "original_language",
    "release_status",
    "homepage",
    "collection_id",
];

static UPSERT_META: LazyLock<String> = LazyLock::new(|| {
    let cols = META_COLUMNS.join(", ");
    let from_record = META_COLUMNS.iter().map(|c| format!("m.{c}")).collect::<Vec<_>>().join(", ");
    let updates = META_COLUMNS.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect::<Vec<_>>().join(", ");
    format!(
        "INSERT INTO works_meta (work_id, {cols}, schema_version, fetched_at, updated_at)
         SELECT $1, {from_record}, $3, now(), now() FROM jsonb_populate_record(NULL::works_meta, $2::jsonb) AS m
         ON CONFLICT (work_id) DO UPDATE SET {updates}, schema_version = EXCLUDED.schema_version,
            fetched_at = now(), updated_at = now()"
    )
});

/// What the write needs beyond the record itself.
pub struct WriteMovie<'a> {
    pub work_id: i64,
    pub lease_owner: &'a str,
    pub record: &'a MovieRecord,
    pub raw: &'a Json,
    pub score: &'a Aggregate,
    pub card: &'a Card,
    pub changes: &'a serde_json::Map<String, Json>,
    pub refreshed_at: DateTime<Utc>,
    pub next_refresh_at: DateTime<Utc>,
    pub function: &'a str,
}

/// The previously stored raw response (`Some(None)` on a first ingest), read under a row lock
/// that also proves the caller still holds the lease: `None` means the lease was lost.
pub async fn lock_for_write(
    conn: &impl Connection,
    work_id: i64,
    lease_owner: &str,
) -> Result<Option<Option<Json>>, DbError> {
    let rows = conn
        .query(
            "SELECT r.payload AS previous FROM works w LEFT JOIN works_raw r ON r.work_id = w.work_id
             WHERE w.work_id = $1 AND w.lease_owner = $2 FOR UPDATE OF w",
            &[work_id.into(), lease_owner.into()],
        )
        .await?;
    rows.first().map(|r| r.get::<Option<Json>>("previous")).transpose()
}

/// Writes everything about the movie. Call inside a transaction, after [`lock_for_write`].
pub async fn write_movie(conn: &impl Connection, w: &WriteMovie<'_>) -> Result<(), DbError> {
    let r = w.record;
    let id: Value = w.work_id.into();
    let facts = &r.facts;
    let arr = |j: &Json| Value::Jsonb(j.clone());

    conn.execute(
        "UPDATE works SET imdb_id = $3, title = $4, original_title = $5, year = $6, release_date = $7,
                popularity = $8, vote_average = $9, vote_count = $10, ingestion_status = 'complete',
                lease_owner = NULL, lease_until = NULL, last_error = NULL, gone_at = NULL,
                ingest_count = ingest_count + 1, schema_version = $11,
                last_refreshed_at = ($12::timestamp AT TIME ZONE 'UTC'),
                next_refresh_at = ($13::timestamp AT TIME ZONE 'UTC'), updated_at = now()
         WHERE work_id = $1 AND lease_owner = $2",
        &[
            id.clone(),
            w.lease_owner.into(),
            r.imdb_id.clone().into(),
            r.title.clone().into(),
            r.original_title.clone().into(),
            r.year.into(),
            r.release_date.into(),
            r.popularity.into(),
            r.vote_average.into(),
            Value::Int32(r.vote_count.clamp(0, i32::MAX as i64) as i32),
            SCHEMA_VERSION.into(),
            w.refreshed_at.into(),
            w.next_refresh_at.into(),
        ],
    )
    .await?;

    upsert_shared(conn, &COLLECTIONS, &facts.collection).await?;
    conn.execute(&UPSERT_META, &[id.clone(), arr(&r.meta), SCHEMA_VERSION.into()]).await?;
    conn.execute(
        "INSERT INTO works_raw (work_id, payload, payload_sha256, fetched_at)
         VALUES ($1, $2, $3, ($4::timestamp AT TIME ZONE 'UTC'))
         ON CONFLICT (work_id) DO UPDATE SET payload = EXCLUDED.payload, payload_sha256 = EXCLUDED.payload_sha256,
            fetched_at = EXCLUDED.fetched_at",
        &[id.clone(), arr(w.raw), hex::encode(Sha256::digest(w.raw.to_string())).into(), w.refreshed_at.into()],
    )
    .await?;

    upsert_shared(conn, &PEOPLE, &facts.people).await?;
    replace(
        conn,
        &id,
        "DELETE FROM credits WHERE work_id = $1",
        "INSERT INTO credits (work_id, credit_id, person_id, credit_type, character, job, department, ord)
         SELECT $1, credit_id, person_id, credit_type, character, job, department, ord
         FROM jsonb_to_recordset($2::jsonb) AS x(credit_id text, person_id bigint, credit_type text, character text,
                                                 job text, department text, ord int)
         ON CONFLICT DO NOTHING",
        &facts.credits,
    )
    .await?;

    upsert_shared(conn, &GENRES, &facts.genres).await?;
    replace(conn, &id, "DELETE FROM work_genres WHERE work_id = $1",
        "INSERT INTO work_genres (work_id, genre_id) SELECT $1, genre_id FROM jsonb_to_recordset($2::jsonb) AS x(genre_id int)
         ON CONFLICT DO NOTHING", &facts.genres).await?;
    upsert_shared(conn, &KEYWORDS, &facts.keywords).await?;
    replace(conn, &id, "DELETE FROM work_keywords WHERE work_id = $1",
        "INSERT INTO work_keywords (work_id, keyword_id) SELECT $1, keyword_id FROM jsonb_to_recordset($2::jsonb) AS x(keyword_id bigint)
         ON CONFLICT DO NOTHING", &facts.keywords).await?;

    upsert_shared(conn, &COMPANIES, &facts.companies).await?;
    replace(
        conn,
        &id,
        "DELETE FROM work_companies WHERE work_id = $1",
        "INSERT INTO work_companies (work_id, company_id, ord)
         SELECT $1, company_id, ord FROM jsonb_to_recordset($2::jsonb) AS x(company_id bigint, ord int)
         ON CONFLICT DO NOTHING",
        &facts.companies,
    )
    .await?;

    replace(conn, &id, "DELETE FROM release_dates WHERE work_id = $1",
        "INSERT INTO release_dates (work_id, country, release_type, release_date, certification, note)
         SELECT $1, country, release_type, release_date, certification, note
         FROM jsonb_to_recordset($2::jsonb) AS x(country text, release_type int, release_date date, certification text, note text)",
        &facts.release_dates).await?;
    replace(conn, &id, "DELETE FROM videos WHERE work_id = $1",
        "INSERT INTO videos (work_id, site, video_key, video_type, name, official, published_at, size, language, country)
         SELECT $1, site, video_key, video_type, name, official, published_at, size, language, country
         FROM jsonb_to_recordset($2::jsonb) AS x(site text, video_key text, video_type text, name text, official boolean,
                                                 published_at timestamp, size int, language text, country text)
         ON CONFLICT DO NOTHING", &facts.videos).await?;
    replace(conn, &id, "DELETE FROM images WHERE work_id = $1",
        "INSERT INTO images (work_id, kind, file_path, width, height, aspect_ratio, language, vote_average, vote_count)
         SELECT $1, kind, file_path, width, height, aspect_ratio, language, vote_average, vote_count
         FROM jsonb_to_recordset($2::jsonb) AS x(kind text, file_path text, width int, height int, aspect_ratio double precision,
                                                 language text, vote_average double precision, vote_count int)
         ON CONFLICT DO NOTHING", &facts.images).await?;

    upsert_shared(conn, &PROVIDERS, &facts.providers).await?;
    replace(conn, &id, "DELETE FROM work_watch_providers WHERE work_id = $1",
        "INSERT INTO work_watch_providers (work_id, country, offer_type, provider_id, display_priority, link)
         SELECT $1, country, offer_type, provider_id, display_priority, link
         FROM jsonb_to_recordset($2::jsonb) AS x(country text, offer_type text, provider_id bigint, display_priority int, link text)
         ON CONFLICT DO NOTHING", &facts.provider_offers).await?;
    replace(conn, &id, "DELETE FROM similar_movies WHERE work_id = $1 AND source = 'tmdb'",
        "INSERT INTO similar_movies (work_id, similar_tmdb_id, source, rank_order)
         SELECT $1, similar_tmdb_id, 'tmdb', rank_order FROM jsonb_to_recordset($2::jsonb) AS x(similar_tmdb_id bigint, rank_order int)
         ON CONFLICT DO NOTHING", &facts.similar).await?;

    let vote_average = r.vote_average.unwrap_or(0.0);
    conn.execute(
        "INSERT INTO rating_sources (work_id, source_name, scale_type, value_raw, value_0_100, votes_count, last_seen_at)
         VALUES ($1, 'TMDB', '0-10', $2, $3, $4, now())
         ON CONFLICT (work_id, source_name) DO UPDATE SET scale_type = EXCLUDED.scale_type, value_raw = EXCLUDED.value_raw,
            value_0_100 = EXCLUDED.value_0_100, votes_count = EXCLUDED.votes_count, last_seen_at = now()",
        &[id.clone(), vote_average.into(), (vote_average * 10.0).into(), Value::Int32(r.vote_count.clamp(0, i32::MAX as i64) as i32)],
    )
    .await?;
    let s = w.score;
    conn.execute(
        "INSERT INTO aggregates (work_id, method_version, ai_score, ai_score_low, ai_score_high, votes_count, source_scores, computed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now())
         ON CONFLICT (work_id, method_version) DO UPDATE SET ai_score = EXCLUDED.ai_score, ai_score_low = EXCLUDED.ai_score_low,
            ai_score_high = EXCLUDED.ai_score_high, votes_count = EXCLUDED.votes_count, source_scores = EXCLUDED.source_scores,
            computed_at = now()",
        &[id.clone(), METHOD_VERSION.into(), s.score.into(), s.low.into(), s.high.into(),
          Value::Int32(s.votes.clamp(0, i32::MAX as i64) as i32), s.source_scores.clone().into()],
    )
    .await?;
    conn.execute(
        "INSERT INTO work_cards_cache (work_id, payload, payload_short, etag, computed_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (work_id) DO UPDATE SET payload = EXCLUDED.payload, payload_short = EXCLUDED.payload_short,
            etag = EXCLUDED.etag, computed_at = now()",
        &[id.clone(), w.card.payload.clone().into(), w.card.short.clone().into(), w.card.etag.clone().into()],
    )
    .await?;
    conn.execute(
        "INSERT INTO work_metrics_history (work_id, captured_at, popularity, vote_average, vote_count)
         VALUES ($1, ($2::timestamp AT TIME ZONE 'UTC'), $3, $4, $5)",
        &[
            id.clone(),
            w.refreshed_at.into(),
            r.popularity.into(),
            r.vote_average.into(),
            Value::Int32(r.vote_count.clamp(0, i32::MAX as i64) as i32),
        ],
    )
    .await?;
    // Always one statement (constant count); it inserts nothing when nothing changed.
    conn.execute(
        "INSERT INTO work_change_log (work_id, changes, function) SELECT $1, $2, $3 WHERE $2::jsonb <> '{}'::jsonb",
        &[id, Json::Object(w.changes.clone()).into(), w.function.into()],
    )
    .await?;
    Ok(())
}

/// Replaces a movie's rows in one child table: delete, then one set-based insert.
async fn replace(
    conn: &impl Connection,
    work_id: &Value,
    delete: &str,
    insert: &str,
    rows: &Json,
) -> Result<(), DbError> {
    conn.execute(delete, std::slice::from_ref(work_id)).await?;
    conn.execute(insert, &[work_id.clone(), Value::Jsonb(rows.clone())]).await?;
    Ok(())
}

/// A table shared by many movies (people, genres, …): its key, the columns compared to decide
/// whether a stored row changed, and columns written along with them but not compared (values
/// that drift constantly, such as a person's popularity, must not force a write on every movie).
struct Shared {
    table: &'static str,
    key: (&'static str, &'static str),
    compared: &'static [(&'static str, &'static str)],
    also_set: &'static [(&'static str, &'static str)],
}

const PEOPLE: Shared = Shared {
    table: "people",
    key: ("person_id", "bigint"),
    compared: &[("name", "text"), ("profile_path", "text"), ("gender", "int"), ("known_for_department", "text")],
    also_set: &[("popularity", "double precision")],
};
const GENRES: Shared =
    Shared { table: "genres", key: ("genre_id", "int"), compared: &[("name", "text")], also_set: &[] };
const KEYWORDS: Shared =
    Shared { table: "keywords", key: ("keyword_id", "bigint"), compared: &[("name", "text")], also_set: &[] };
const COMPANIES: Shared = Shared {
    table: "companies",
    key: ("company_id", "bigint"),
    compared: &[("name", "text"), ("logo_path", "text"), ("origin_country", "text")],
    also_set: &[],
};
const PROVIDERS: Shared = Shared {
    table: "watch_providers",
    key: ("provider_id", "bigint"),
    compared: &[("name", "text"), ("logo_path", "text")],
    also_set: &[],
};
const COLLECTIONS: Shared = Shared {
    table: "collections",
    key: ("collection_id", "bigint"),
    compared: &[("name", "text"), ("poster_path", "text"), ("backdrop_path", "text")],
    also_set: &[],
};

fn record_type(t: &Shared) -> String {
    std::iter::once(&t.key)
        .chain(t.compared)
        .chain(t.also_set)
        .map(|(c, ty)| format!("{c} {ty}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// New rows only: `DO NOTHING` does not lock the rows that already exist.
fn shared_insert(t: &Shared) -> String {
    let (key, _) = t.key;
    let cols: Vec<&str> = std::iter::once(key).chain(t.compared.iter().chain(t.also_set).map(|(c, _)| *c)).collect();
    let cols = cols.join(", ");
    format!(
        "INSERT INTO {table} ({cols}) SELECT DISTINCT ON ({key}) {cols} FROM jsonb_to_recordset($1::jsonb) AS x({rec})
         ORDER BY {key} ON CONFLICT ({key}) DO NOTHING",
        table = t.table,
        rec = record_type(t)
    )
}

/// Stored rows whose compared values differ, locked in key order (so concurrent writers cannot
/// deadlock on them) and updated; unchanged rows are neither locked nor written. The lock is
/// `FOR NO KEY UPDATE`, what the UPDATE takes anyway: `FOR UPDATE` would also block other
/// movies' foreign-key checks on these rows (`KEY SHARE`) and deadlock with them.
fn shared_update(t: &Shared) -> String {
    let (key, _) = t.key;
    let compared =
        |prefix: &str| t.compared.iter().map(|(c, _)| format!("{prefix}.{c}")).collect::<Vec<_>>().join(", ");
    let sets = t.compared.iter().chain(t.also_set).map(|(c, _)| format!("{c} = x.{c}")).collect::<Vec<_>>().join(", ");
    format!(
        "UPDATE {table} t SET {sets}
         FROM (SELECT x.* FROM jsonb_to_recordset($1::jsonb) AS x({rec})
               JOIN {table} q ON q.{key} = x.{key}
               WHERE ({q}) IS DISTINCT FROM ({x})
               ORDER BY x.{key} FOR NO KEY UPDATE OF q) x
         WHERE t.{key} = x.{key}",
        table = t.table,
        rec = record_type(t),
        q = compared("q"),
        x = compared("x"),
    )
}

/// Writes a shared table: two statements whatever the number of rows.
async fn upsert_shared(conn: &impl Connection, table: &Shared, rows: &Json) -> Result<(), DbError> {
    // Table and column names are constants of this module, never input.
    conn.execute(&shared_insert(table), &[Value::Jsonb(rows.clone())]).await?;
    conn.execute(&shared_update(table), &[Value::Jsonb(rows.clone())]).await?;
    Ok(())
}
