//! Reading stored cards.

use serde_json::Value as Json;

use crate::domain::staleness::SCHEMA_VERSION;
use crate::ports::{Connection, DbError};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredCard {
    pub work_id: i64,
    pub status: String,
    pub payload: Json,
    pub etag: String,
}

pub async fn by_tmdb_id(conn: &impl Connection, tmdb_id: i64) -> Result<Option<StoredCard>, DbError> {
    let rows = conn
        .query(
            "SELECT w.work_id, w.ingestion_status, c.payload, c.etag
             FROM works w JOIN work_cards_cache c ON c.work_id = w.work_id
             WHERE w.tmdb_id = $1",
            &[tmdb_id.into()],
        )
        .await?;
    rows.first()
        .map(|r| {
            Ok(StoredCard {
                work_id: r.get("work_id")?,
                status: r.get("ingestion_status")?,
                payload: r.get("payload")?,
                etag: r.get("etag")?,
            })
        })
        .transpose()
}

/// The card of a movie that needs no ingest now (complete, fresh, current schema, nobody
/// ingesting it), counting the request (the seed's `request_count`): one round trip.
/// `(work_id, payload, etag)`.
pub async fn serve_if_fresh(conn: &impl Connection, tmdb_id: i64) -> Result<Option<(i64, Json, String)>, DbError> {
    let rows = conn
        .query(
            "UPDATE works w SET request_count = w.request_count + 1
             FROM work_cards_cache c
             WHERE w.tmdb_id = $1 AND c.work_id = w.work_id AND w.ingestion_status = 'complete'
               AND w.next_refresh_at > now() AND w.schema_version >= $2
               AND (w.lease_until IS NULL OR w.lease_until <= now())
             RETURNING w.work_id, c.payload, c.etag",
            &[tmdb_id.into(), SCHEMA_VERSION.into()],
        )
        .await?;
    rows.first().map(|r| Ok((r.get("work_id")?, r.get("payload")?, r.get("etag")?))).transpose()
}
