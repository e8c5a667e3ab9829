//! Reading stored cards.

use serde_json::Value as Json;

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
        .map(|r| Ok(StoredCard { work_id: r.get("work_id")?, status: r.get("ingestion_status")?, payload: r.get("payload")?, etag: r.get("etag")? }))
        .transpose()
}
