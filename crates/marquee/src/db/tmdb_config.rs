//! TMDB's `/configuration`, cached in the database for days (TMDB asks clients to).

use crate::ports::{Connection, DbError};
use crate::tmdb::types::TmdbConfiguration;

/// How long a cached configuration is used before it is fetched again.
pub const MAX_AGE_DAYS: i32 = 3;

pub async fn cached(conn: &impl Connection) -> Result<Option<TmdbConfiguration>, DbError> {
    let rows = conn
        .query("SELECT payload FROM tmdb_configuration_cache WHERE id = 1 AND fetched_at > now() - make_interval(days => $1)", &[MAX_AGE_DAYS.into()])
        .await?;
    Ok(rows.first().and_then(|r| r.get::<serde_json::Value>("payload").ok()).and_then(|p| serde_json::from_value(p).ok()))
}

pub async fn store(conn: &impl Connection, config: &TmdbConfiguration) -> Result<(), DbError> {
    let payload = serde_json::to_value(config).expect("configuration serialises");
    conn.execute(
        "INSERT INTO tmdb_configuration_cache (id, payload, fetched_at) VALUES (1, $1, now())
         ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload, fetched_at = now()",
        &[payload.into()],
    )
    .await?;
    Ok(())
}

/// The cached configuration whatever its age (for work that must not call TMDB).
pub async fn cached_any_age(conn: &impl Connection) -> Result<Option<TmdbConfiguration>, DbError> {
    let rows = conn.query("SELECT payload FROM tmdb_configuration_cache WHERE id = 1", &[]).await?;
    Ok(rows.first().and_then(|r| r.get::<serde_json::Value>("payload").ok()).and_then(|p| serde_json::from_value(p).ok()))
}
