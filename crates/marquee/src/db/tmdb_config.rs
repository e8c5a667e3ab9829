//! TMDB's `/configuration`, cached in the database for days (TMDB asks clients to).

use crate::ports::{Connection, DbError};
use crate::tmdb::types::TmdbConfiguration;

/// How long a cached configuration is used before it is fetched again.
pub const MAX_AGE_DAYS: i32 = 3;

/// The cached configuration, if one younger than `max_age_days` is stored (`None`: any age, for
/// work that must not call TMDB).
pub async fn cached(conn: &impl Connection, max_age_days: Option<i32>) -> Result<Option<TmdbConfiguration>, DbError> {
    let rows = conn
        .query(
            "SELECT payload FROM tmdb_configuration_cache
             WHERE id = 1 AND ($1::int4 IS NULL OR fetched_at > now() - make_interval(days => $1::int4))",
            &[max_age_days.into()],
        )
        .await?;
    Ok(rows
        .first()
        .and_then(|r| r.get::<serde_json::Value>("payload").ok())
        .and_then(|p| serde_json::from_value(p).ok()))
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
