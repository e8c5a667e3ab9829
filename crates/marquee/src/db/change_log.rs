//! `work_change_log`: the field-level changes refreshes found (`{"field": [old, new]}`),
//! written by the movie's own statement (`marquee_write_movie`); read here.

use serde_json::Value as Json;

use crate::ports::{Connection, DbError};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    pub id: i64,
    pub changed_at: chrono::NaiveDateTime,
    pub tmdb_id: i64,
    pub title: Option<String>,
    pub function: String,
    /// `{"field": [old, new]}`.
    pub changes: Json,
}

/// The newest changes, newest first.
pub async fn recent(conn: &impl Connection, limit: i64) -> Result<Vec<Change>, DbError> {
    let rows = conn
        .query(
            "SELECT c.id, c.changed_at AT TIME ZONE 'UTC' AS changed_at, w.tmdb_id, w.title, c.function, c.changes
             FROM work_change_log c JOIN works w ON w.work_id = c.work_id
             ORDER BY c.changed_at DESC, c.id DESC LIMIT $1",
            &[limit.into()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Change {
                id: r.get("id")?,
                changed_at: r.get("changed_at")?,
                tmdb_id: r.get("tmdb_id")?,
                title: r.get("title")?,
                function: r.get("function")?,
                changes: r.get("changes")?,
            })
        })
        .collect()
}

/// How many refreshes changed something in the last `hours` hours.
pub async fn count_in_last_hours(conn: &impl Connection, hours: i32) -> Result<i64, DbError> {
    conn.query(
        "SELECT count(*) AS n FROM work_change_log WHERE changed_at >= now() - make_interval(hours => $1)",
        &[hours.into()],
    )
    .await?[0]
        .get("n")
}
