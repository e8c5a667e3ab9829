//! `tmdb_rate`: the TMDB request rate learned from 429s, shared by every invocation and
//! instance (see `tmdb::shared` for when it is read and written).

use std::time::Duration;

use futures::future::LocalBoxFuture;

use crate::log;
use crate::ports::{Connection, Database, DbError, Pool};
use crate::tmdb::{SharedLesson, SharedRate};

/// The stored lesson and its age by the database's clock; `None` when there is none.
pub async fn read(conn: &impl Connection) -> Result<Option<SharedLesson>, DbError> {
    let rows = conn
        .query(
            "SELECT rate_rps, greatest(EXTRACT(EPOCH FROM now() - lowered_at), 0)::float8 AS age_secs
             FROM tmdb_rate WHERE id = 1",
            &[],
        )
        .await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let age = Duration::try_from_secs_f64(row.get::<f64>("age_secs")?).unwrap_or_default();
    Ok(Some(SharedLesson { rps: row.get("rate_rps")?, age }))
}

/// Stores `lesson` (learned `lesson.age` ago by `function`) unless the stored one is newer:
/// one guarded statement, so concurrent writers end with the newest lesson whatever their
/// order. Returns whether it was stored.
pub async fn write(conn: &impl Connection, lesson: SharedLesson, function: &str) -> Result<bool, DbError> {
    let written = conn
        .execute(
            "INSERT INTO tmdb_rate (id, rate_rps, lowered_at, lowered_by)
             VALUES (1, $1, now() - make_interval(secs => $2), $3)
             ON CONFLICT (id) DO UPDATE
               SET rate_rps = EXCLUDED.rate_rps, lowered_at = EXCLUDED.lowered_at, lowered_by = EXCLUDED.lowered_by
               WHERE tmdb_rate.lowered_at <= EXCLUDED.lowered_at",
            &[lesson.rps.into(), lesson.age.as_secs_f64().into(), function.into()],
        )
        .await?;
    Ok(written == 1)
}

/// The shared rate of an invocation's pool, as the TMDB client uses it. A database that cannot
/// say (down, table not migrated yet) is logged and means "not shared": TMDB work goes on.
pub struct PooledRate<'a, D: Database> {
    pub pool: &'a Pool<D>,
    pub function: &'static str,
}

impl<D: Database> PooledRate<'_, D> {
    fn warn(&self, what: &str, error: &DbError) {
        log::event("warn", self.function, what, serde_json::json!({"error": error.to_string()}));
    }
}

impl<D: Database> SharedRate for PooledRate<'_, D> {
    fn read(&self) -> LocalBoxFuture<'_, Option<SharedLesson>> {
        Box::pin(async move {
            let read = async { read(&self.pool.connect().await?).await };
            read.await.unwrap_or_else(|e| {
                self.warn("could not read the shared TMDB rate; starting at tmdb_rate_limit_rps", &e);
                None
            })
        })
    }

    fn write(&self, lesson: SharedLesson) -> LocalBoxFuture<'_, bool> {
        Box::pin(async move {
            let written = async { write(&self.pool.connect().await?, lesson, self.function).await };
            match written.await {
                Ok(_) => true,
                Err(e) => {
                    self.warn("could not share the TMDB rate learned from a 429", &e);
                    false
                }
            }
        })
    }
}
