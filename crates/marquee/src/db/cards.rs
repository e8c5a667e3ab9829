//! Reading stored cards. Only servable works (`predicates::SERVABLE`) have a card to read.

use std::sync::LazyLock;

use serde_json::Value as Json;

use super::predicates::{FRESH, LEASE_LIVE, SERVABLE};
use crate::domain::states::WorkStatus;
use crate::ports::{Connection, DbError};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredCard {
    pub work_id: i64,
    pub payload: Json,
    pub etag: String,
}

/// What the catalog can say about a movie for a reader.
#[derive(Debug, Clone, PartialEq)]
pub enum CardLookup {
    Servable(StoredCard),
    /// Known, but not servable: gone, refused, or not (yet) ingested.
    NotServable(WorkStatus),
    Unknown,
}

/// A movie's card by its TMDB id (an SQL expression), or why there is none: `work_id`,
/// `ingestion_status`, `servable`, `payload` and `etag`; no row for a movie the catalog does
/// not know. The catalog API reads it inside its request's statement.
pub fn lookup_sql(tmdb_id: &str) -> String {
    format!(
        "SELECT w.work_id, w.ingestion_status, {SERVABLE} AS servable, c.payload, c.etag
         FROM works w LEFT JOIN work_cards_cache c ON c.work_id = w.work_id
         WHERE w.tmdb_id = {tmdb_id}"
    )
}

/// The card of a servable work, or why there is none: one round trip.
pub async fn by_tmdb_id(conn: &impl Connection, tmdb_id: i64) -> Result<CardLookup, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| lookup_sql("$1"));
    let rows = conn.query(&SQL, &[tmdb_id.into()]).await?;
    let Some(r) = rows.first() else { return Ok(CardLookup::Unknown) };
    let status: WorkStatus = r.get("ingestion_status")?;
    match (r.get::<bool>("servable")?, r.get::<Option<Json>>("payload")?, r.get::<Option<String>>("etag")?) {
        (true, Some(payload), Some(etag)) => {
            Ok(CardLookup::Servable(StoredCard { work_id: r.get("work_id")?, payload, etag }))
        }
        _ => Ok(CardLookup::NotServable(status)),
    }
}

/// The card of a movie that needs no ingest now (fresh, nobody ingesting it), counting the
/// request (the seed's `request_count`): one round trip.
pub async fn serve_if_fresh(conn: &impl Connection, tmdb_id: i64) -> Result<Option<StoredCard>, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE works w SET request_count = w.request_count + 1
             FROM work_cards_cache c
             WHERE w.tmdb_id = $1 AND c.work_id = w.work_id AND {fresh} AND NOT {LEASE_LIVE}
             RETURNING w.work_id, c.payload, c.etag",
            fresh = *FRESH
        )
    });
    let rows = conn.query(&SQL, &[tmdb_id.into()]).await?;
    rows.first()
        .map(|r| Ok(StoredCard { work_id: r.get("work_id")?, payload: r.get("payload")?, etag: r.get("etag")? }))
        .transpose()
}
