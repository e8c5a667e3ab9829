//! `api_keys`: issuing, listing and revoking the catalog API's keys, and customers' usage.
//! Only hashes are stored (`domain::api_key`); nothing here ever reads one back out.

use chrono::NaiveDateTime;

use crate::ports::{Connection, DbError, Row};

/// A key as it may be shown: never the key, never its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyRecord {
    pub key_id: i64,
    pub customer_id: String,
    pub name: Option<String>,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

const COLUMNS: &str = "key_id, customer_id, name, created_at AT TIME ZONE 'UTC' AS created_at, \
                       revoked_at AT TIME ZONE 'UTC' AS revoked_at";

fn record(r: &Row) -> Result<KeyRecord, DbError> {
    Ok(KeyRecord {
        key_id: r.get("key_id")?,
        customer_id: r.get("customer_id")?,
        name: r.get("name")?,
        created_at: r.get("created_at")?,
        revoked_at: r.get("revoked_at")?,
    })
}

/// Stores a new key's hash for `customer_id`.
pub async fn insert(
    conn: &impl Connection,
    customer_id: &str,
    name: Option<&str>,
    key_sha256: &str,
) -> Result<KeyRecord, DbError> {
    let rows = conn
        .query(
            &format!("INSERT INTO api_keys (customer_id, name, key_sha256) VALUES ($1, $2, $3) RETURNING {COLUMNS}"),
            &[customer_id.into(), name.map(str::to_owned).into(), key_sha256.into()],
        )
        .await?;
    record(rows.first().ok_or_else(|| DbError::MissingColumn("key_id".into()))?)
}

/// Every key (of one customer, when given), oldest first.
pub async fn list(conn: &impl Connection, customer_id: Option<&str>) -> Result<Vec<KeyRecord>, DbError> {
    let rows = conn
        .query(
            &format!("SELECT {COLUMNS} FROM api_keys WHERE $1::text IS NULL OR customer_id = $1::text ORDER BY key_id"),
            &[customer_id.map(str::to_owned).into()],
        )
        .await?;
    rows.iter().map(record).collect()
}

/// Revokes a key (a revoked key stays revoked, with its first revocation time); `None` when no
/// key has this id.
pub async fn revoke(conn: &impl Connection, key_id: i64) -> Result<Option<KeyRecord>, DbError> {
    let rows = conn
        .query(
            &format!(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = $1 RETURNING {COLUMNS}"
            ),
            &[key_id.into()],
        )
        .await?;
    rows.first().map(record).transpose()
}

/// One customer's use of one quota in the current period.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Usage {
    pub customer_id: String,
    pub tier: String,
    pub quota: String,
    pub limit: i64,
    pub used: i64,
    pub period_start: NaiveDateTime,
    pub period_end: NaiveDateTime,
}

/// The usage of every quota by every customer that has keys (or by one), at `at`.
pub async fn usage(
    conn: &impl Connection,
    customer_id: Option<&str>,
    at: NaiveDateTime,
) -> Result<Vec<Usage>, DbError> {
    let rows = conn
        .query(
            "SELECT c.customer_id, e.tier, q.quota, e.monthly_limit, coalesce(u.used, 0) AS used,
                    e.period_start AT TIME ZONE 'UTC' AS period_start, e.period_end AT TIME ZONE 'UTC' AS period_end
               FROM (SELECT DISTINCT customer_id FROM api_keys WHERE $1::text IS NULL OR customer_id = $1::text) c
               CROSS JOIN (SELECT DISTINCT quota FROM subscription_tier_quota) q
               CROSS JOIN LATERAL marquee_entitlement(c.customer_id, q.quota, $2::timestamp AT TIME ZONE 'UTC') e
               LEFT JOIN quota_usage u ON u.customer_id = c.customer_id AND u.quota = q.quota AND u.period_start = e.period_start
              ORDER BY c.customer_id, q.quota",
            &[customer_id.map(str::to_owned).into(), at.into()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Usage {
                customer_id: r.get("customer_id")?,
                tier: r.get("tier")?,
                quota: r.get("quota")?,
                limit: r.get("monthly_limit")?,
                used: r.get("used")?,
                period_start: r.get("period_start")?,
                period_end: r.get("period_end")?,
            })
        })
        .collect()
}
