//! Billing tables: `stripe_webhook_events`, `customers`, `subscriptions`, `invoices`,
//! `stripe_prices`, `subscription_tier(_quota)` and `quota_usage`.
//!
//! Every state write is one conditional upsert: it applies only when the event's version
//! `(created, rank, event id)` is greater than the row's (ids compare bytewise, `COLLATE "C"`),
//! and never to a deleted row; concurrent writers serialise on the row lock and the condition
//! is re-checked against the row they waited for. Returns whether the row changed.

use chrono::NaiveDateTime;
use serde_json::Value as Json;

use crate::billing::events::{CheckoutCompleted, CustomerChange, Event, InvoiceChange, SubscriptionChange};
use crate::ports::{Connection, DbError, Value};

/// Records a delivery unless its event id is already stored; `Some(row id)` when it is new.
/// `ON CONFLICT DO NOTHING`: of concurrent deliveries of one event exactly one inserts (the
/// others wait for it on the unique index and then see the conflict).
pub async fn insert_event(
    conn: &impl Connection,
    event: &Event,
    status: &str,
    error: Option<&str>,
) -> Result<Option<i64>, DbError> {
    let object_id = event.object.get("id").and_then(Json::as_str).map(str::to_owned);
    let rows = conn
        .query(
            "INSERT INTO stripe_webhook_events (event_id, type, created, livemode, object_id, payload, status, error, processed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $7 = 'failed' THEN NULL ELSE now() END)
             ON CONFLICT (event_id) DO NOTHING
             RETURNING id",
            &[event.id.as_str().into(), event.kind.as_str().into(), event.created.into(), event.livemode.into(), object_id.into(),
              Value::Jsonb(event.payload.clone()), status.into(), error.map(str::to_owned).into()],
        )
        .await?;
    rows.first().map(|r| r.get("id")).transpose()
}

pub async fn mark_applied(conn: &impl Connection, row_id: i64, applied: bool) -> Result<(), DbError> {
    conn.execute("UPDATE stripe_webhook_events SET applied = $2 WHERE id = $1", &[row_id.into(), applied.into()])
        .await?;
    Ok(())
}

/// A stored event's payload, locked for a replay.
pub async fn stored_payload(conn: &impl Connection, event_id: &str) -> Result<Option<Json>, DbError> {
    let rows = conn
        .query("SELECT payload FROM stripe_webhook_events WHERE event_id = $1 FOR UPDATE", &[event_id.into()])
        .await?;
    rows.first().map(|r| r.get("payload")).transpose()
}

pub async fn record_replay(
    conn: &impl Connection,
    event_id: &str,
    status: &str,
    applied: bool,
    error: Option<&str>,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE stripe_webhook_events
            SET status = $2, applied = applied OR $3, error = $4, replays = replays + 1,
                processed_at = CASE WHEN $2 = 'failed' THEN processed_at ELSE now() END
          WHERE event_id = $1",
        &[event_id.into(), status.into(), applied.into(), error.map(str::to_owned).into()],
    )
    .await?;
    Ok(())
}

pub async fn apply_customer(
    conn: &impl Connection,
    c: &CustomerChange,
    created: i64,
    rank: i32,
    event_id: &str,
) -> Result<bool, DbError> {
    let n = conn
        .execute(
            "INSERT INTO customers AS cur (customer_id, email, name, deleted, deleted_at, last_event_created, last_event_rank, last_event_id)
             VALUES ($1, $2, $3, $4, CASE WHEN $4 THEN to_timestamp($5::bigint) END, $5::bigint, $6, $7)
             ON CONFLICT (customer_id) DO UPDATE
                SET email = EXCLUDED.email, name = EXCLUDED.name, deleted = EXCLUDED.deleted, deleted_at = EXCLUDED.deleted_at,
                    last_event_created = EXCLUDED.last_event_created, last_event_rank = EXCLUDED.last_event_rank,
                    last_event_id = EXCLUDED.last_event_id, updated_at = now()
                WHERE NOT cur.deleted
                  AND (cur.last_event_created, cur.last_event_rank, cur.last_event_id COLLATE \"C\")
                    < (EXCLUDED.last_event_created, EXCLUDED.last_event_rank, EXCLUDED.last_event_id COLLATE \"C\")",
            &[c.customer_id.as_str().into(), c.email.clone().into(), c.name.clone().into(), c.deleted.into(), created.into(), rank.into(), event_id.into()],
        )
        .await?;
    Ok(n > 0)
}

pub async fn apply_subscription(
    conn: &impl Connection,
    s: &SubscriptionChange,
    created: i64,
    rank: i32,
    event_id: &str,
) -> Result<bool, DbError> {
    let n = conn
        .execute(
            "INSERT INTO subscriptions AS cur (subscription_id, customer_id, status, price_id, tier, current_period_start, current_period_end,
                                               cancel_at_period_end, deleted, deleted_at, last_event_created, last_event_rank, last_event_id)
             VALUES ($1, $2, $3, $4, COALESCE((SELECT p.tier FROM stripe_prices p WHERE p.price_id = $4), 'free'),
                     to_timestamp($5::float8), to_timestamp($6::float8), $7, $8, CASE WHEN $8 THEN to_timestamp($9::bigint) END,
                     $9::bigint, $10, $11)
             ON CONFLICT (subscription_id) DO UPDATE
                SET customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, price_id = EXCLUDED.price_id, tier = EXCLUDED.tier,
                    current_period_start = EXCLUDED.current_period_start, current_period_end = EXCLUDED.current_period_end,
                    cancel_at_period_end = EXCLUDED.cancel_at_period_end, deleted = EXCLUDED.deleted, deleted_at = EXCLUDED.deleted_at,
                    last_event_created = EXCLUDED.last_event_created, last_event_rank = EXCLUDED.last_event_rank,
                    last_event_id = EXCLUDED.last_event_id, updated_at = now()
                WHERE NOT cur.deleted
                  AND (cur.last_event_created, cur.last_event_rank, cur.last_event_id COLLATE \"C\")
                    < (EXCLUDED.last_event_created, EXCLUDED.last_event_rank, EXCLUDED.last_event_id COLLATE \"C\")",
            &[s.subscription_id.as_str().into(), s.customer_id.as_str().into(), s.status.as_str().into(), s.price_id.clone().into(),
              s.current_period_start.map(|t| t as f64).into(), s.current_period_end.map(|t| t as f64).into(), s.cancel_at_period_end.into(),
              s.deleted.into(), created.into(), rank.into(), event_id.into()],
        )
        .await?;
    Ok(n > 0)
}

/// Links a Stripe customer to the caller's own reference (set once) and fills in a missing
/// email; the customer's other fields stay with the customer events.
pub async fn apply_checkout(conn: &impl Connection, c: &CheckoutCompleted) -> Result<bool, DbError> {
    let n = conn
        .execute(
            "INSERT INTO customers AS cur (customer_id, email, client_reference_id) VALUES ($1, $2, $3)
             ON CONFLICT (customer_id) DO UPDATE
                SET email = COALESCE(cur.email, EXCLUDED.email),
                    client_reference_id = COALESCE(cur.client_reference_id, EXCLUDED.client_reference_id), updated_at = now()
                WHERE NOT cur.deleted
                  AND (cur.email IS DISTINCT FROM COALESCE(cur.email, EXCLUDED.email)
                       OR cur.client_reference_id IS DISTINCT FROM COALESCE(cur.client_reference_id, EXCLUDED.client_reference_id))",
            &[c.customer_id.as_str().into(), c.email.clone().into(), c.client_reference_id.clone().into()],
        )
        .await?;
    Ok(n > 0)
}

/// The latest outcome of an invoice; inside one second `paid` wins over `payment_failed`.
pub async fn apply_invoice(
    conn: &impl Connection,
    i: &InvoiceChange,
    created: i64,
    event_id: &str,
) -> Result<bool, DbError> {
    let n = conn
        .execute(
            "INSERT INTO invoices AS cur (invoice_id, customer_id, subscription_id, status, amount_paid, amount_due, currency, last_event_created, last_event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (invoice_id) DO UPDATE
                SET customer_id = EXCLUDED.customer_id, subscription_id = EXCLUDED.subscription_id, status = EXCLUDED.status,
                    amount_paid = EXCLUDED.amount_paid, amount_due = EXCLUDED.amount_due, currency = EXCLUDED.currency,
                    last_event_created = EXCLUDED.last_event_created, last_event_id = EXCLUDED.last_event_id, updated_at = now()
                WHERE (cur.last_event_created, cur.status = 'paid', cur.last_event_id COLLATE \"C\")
                    < (EXCLUDED.last_event_created, EXCLUDED.status = 'paid', EXCLUDED.last_event_id COLLATE \"C\")",
            &[i.invoice_id.as_str().into(), i.customer_id.as_str().into(), i.subscription_id.clone().into(), i.outcome.into(),
              i.amount_paid.into(), i.amount_due.into(), i.currency.clone().into(), created.into(), event_id.into()],
        )
        .await?;
    Ok(n > 0)
}

/// What a customer is entitled to for one quota: its tier, the tier's monthly limit and the
/// period usage is counted in (`marquee_entitlement`, migration 13: the best live subscription's
/// tier and billing period, else `free` and the calendar month in UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct Entitlement {
    pub tier: String,
    pub monthly_limit: i64,
    pub period_start: Option<NaiveDateTime>,
    pub period_end: Option<NaiveDateTime>,
}

/// The entitlement at `at`; `None` for a quota no tier defines.
pub async fn entitlement(
    conn: &impl Connection,
    customer_id: &str,
    quota: &str,
    at: NaiveDateTime,
) -> Result<Option<Entitlement>, DbError> {
    let rows = conn
        .query(
            "SELECT e.tier, e.monthly_limit, e.period_start AT TIME ZONE 'UTC' AS period_start,
                    e.period_end AT TIME ZONE 'UTC' AS period_end
               FROM marquee_entitlement($1, $2, $3::timestamp AT TIME ZONE 'UTC') e",
            &[customer_id.into(), quota.into(), at.into()],
        )
        .await?;
    rows.first()
        .map(|r| {
            Ok(Entitlement {
                tier: r.get("tier")?,
                monthly_limit: r.get("monthly_limit")?,
                period_start: r.get("period_start")?,
                period_end: r.get("period_end")?,
            })
        })
        .transpose()
}

/// A customer's usage of a quota in the period holding `at`, with its entitlement: one round
/// trip. `None` for a quota no tier defines.
pub async fn usage(
    conn: &impl Connection,
    customer_id: &str,
    quota: &str,
    at: NaiveDateTime,
) -> Result<Option<(Entitlement, i64)>, DbError> {
    let rows = conn
        .query(
            "SELECT e.tier, e.monthly_limit, e.period_start AT TIME ZONE 'UTC' AS period_start,
                    e.period_end AT TIME ZONE 'UTC' AS period_end, coalesce(u.used, 0) AS used
               FROM marquee_entitlement($1, $2, $3::timestamp AT TIME ZONE 'UTC') e
               LEFT JOIN quota_usage u ON u.customer_id = $1 AND u.quota = $2 AND u.period_start = e.period_start",
            &[customer_id.into(), quota.into(), at.into()],
        )
        .await?;
    rows.first()
        .map(|r| {
            let e = Entitlement {
                tier: r.get("tier")?,
                monthly_limit: r.get("monthly_limit")?,
                period_start: r.get("period_start")?,
                period_end: r.get("period_end")?,
            };
            Ok((e, r.get("used")?))
        })
        .transpose()
}

/// The entitlement as a CTE, `entitled`, for a statement that does more in the same round trip
/// (an API request checks its key, charges and reads in one): the entitlement of the customer
/// of each row of `who` (a CTE or subquery with a `customer_id` column) to `quota` at `at`,
/// both SQL expressions (bound parameters).
pub fn entitled_cte(who: &str, quota: &str, at: &str) -> String {
    format!(
        "entitled AS (
            SELECT c.customer_id, e.tier, e.monthly_limit, e.period_start, e.period_end
              FROM {who} c CROSS JOIN LATERAL marquee_entitlement(c.customer_id, {quota}, {at}) e
         )"
    )
}

/// The quota charge as a CTE, `charged`, after [`entitled_cte`]: the usage after adding
/// `amount` (an SQL expression), when granted.
///
/// The charge is one conditional upsert: the period's row is inserted with `amount` when the
/// limit allows it, or incremented `WHERE used + amount <= limit`. `ON CONFLICT DO UPDATE`
/// evaluates that condition on the newest committed row, locked, so concurrent charges
/// serialise on the row and usage never passes the limit, however many run at once; a charge
/// that does not fit changes nothing and returns no row. The statement's other parts read the
/// usage before the charge (one snapshot); `charged` is the usage after it.
pub fn charged_cte(quota: &str, amount: &str) -> String {
    format!(
        "charged AS (
            INSERT INTO quota_usage AS u (customer_id, quota, period_start, period_end, used)
            SELECT e.customer_id, {quota}, e.period_start, e.period_end, {amount}
              FROM entitled e WHERE {amount} <= e.monthly_limit
            ON CONFLICT (customer_id, quota, period_start) DO UPDATE SET used = u.used + EXCLUDED.used, updated_at = now()
               WHERE u.used + EXCLUDED.used <= (SELECT e.monthly_limit FROM entitled e)
            RETURNING u.used
         )"
    )
}

/// What [`entitled_cte`] (and [`charged_cte`], when `charged`) say, as columns of a one-row
/// select: `tier`, `monthly_limit`, `period_start`, `period_end` (UTC), `used_before` (the usage
/// the statement saw) and `used_after` (NULL when not granted, or not charged). All NULL when
/// `who` had no row.
pub fn charge_columns(quota: &str, charged: bool) -> String {
    let after = if charged { "(SELECT c.used FROM charged c)" } else { "NULL::int8" };
    format!(
        "(SELECT e.tier FROM entitled e) AS tier,
         (SELECT e.monthly_limit FROM entitled e) AS monthly_limit,
         (SELECT e.period_start AT TIME ZONE 'UTC' FROM entitled e) AS period_start,
         (SELECT e.period_end AT TIME ZONE 'UTC' FROM entitled e) AS period_end,
         (SELECT coalesce(max(u.used), 0) FROM entitled e JOIN quota_usage u
             ON u.customer_id = e.customer_id AND u.quota = {quota} AND u.period_start = e.period_start) AS used_before,
         {after} AS used_after"
    )
}

/// Charges `amount` to the customer's quota in the period holding `at`: one round trip.
pub async fn charge(
    conn: &impl Connection,
    customer_id: &str,
    quota: &str,
    amount: i64,
    at: NaiveDateTime,
) -> Result<Option<Charge>, DbError> {
    let sql = format!(
        "WITH who AS (SELECT $1::text AS customer_id), {}, {}
         SELECT {}",
        entitled_cte("who", "$2::text", "($3::timestamp AT TIME ZONE 'UTC')"),
        charged_cte("$2::text", "$4::int8"),
        charge_columns("$2::text", true)
    );
    let rows = conn.query(&sql, &[customer_id.into(), quota.into(), at.into(), amount.into()]).await?;
    rows.first().map(Charge::from_row).transpose().map(Option::flatten)
}

/// Gives back `amount` of a charge counted in the period starting at `period_start` (UTC): an
/// on-demand ingest that fetched nothing is not counted. The period is the charge's own, not
/// the one the clock is in now (a Stripe event in between may have moved it). Never below zero;
/// `false` when there was nothing to give back. One round trip.
pub async fn refund(
    conn: &impl Connection,
    customer_id: &str,
    quota: &str,
    amount: i64,
    period_start: NaiveDateTime,
) -> Result<bool, DbError> {
    let changed = conn
        .execute(
            "UPDATE quota_usage SET used = used - $4, updated_at = now()
              WHERE customer_id = $1 AND quota = $2 AND period_start = $3::timestamp AT TIME ZONE 'UTC' AND used >= $4",
            &[customer_id.into(), quota.into(), period_start.into(), amount.into()],
        )
        .await?;
    Ok(changed > 0)
}

/// A charge's outcome (see [`charge_columns`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    pub entitlement: Entitlement,
    /// Usage before the charge, as the statement saw it.
    pub used_before: i64,
    /// Usage after the charge; `None`: refused (it would pass the limit), nothing counted.
    pub used_after: Option<i64>,
}

impl Charge {
    /// The charge described by a row of [`charge_columns`]; `None` when nobody was charged.
    pub fn from_row(r: &crate::ports::Row) -> Result<Option<Charge>, DbError> {
        let Some(tier) = r.get::<Option<String>>("tier")? else { return Ok(None) };
        Ok(Some(Charge {
            entitlement: Entitlement {
                tier,
                monthly_limit: r.get("monthly_limit")?,
                period_start: r.get("period_start")?,
                period_end: r.get("period_end")?,
            },
            used_before: r.get("used_before")?,
            used_after: r.get("used_after")?,
        }))
    }
}

/// Customers by the tier they are entitled to, every tier listed, by rank: Stripe's customers
/// (not deleted) and the holders of a live API key that Stripe does not know (free tier).
pub async fn customers_by_tier(conn: &impl Connection) -> Result<Vec<(String, i64)>, DbError> {
    // `marquee_best_subscription` (migration 13) is the rule; it is inlined per customer.
    const SQL: &str = "WITH known AS (
            SELECT c.customer_id FROM customers c WHERE NOT c.deleted
            UNION
            SELECT k.customer_id FROM api_keys k
             WHERE k.revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = k.customer_id)),
         entitled AS (
            SELECT coalesce(b.tier, 'free') AS tier
            FROM known c LEFT JOIN LATERAL marquee_best_subscription(c.customer_id) b ON true)
         SELECT t.slug AS tier, count(e.tier) AS customers
         FROM subscription_tier t LEFT JOIN entitled e ON e.tier = t.slug
         GROUP BY t.slug, t.rank ORDER BY t.rank";
    let rows = conn.query(SQL, &[]).await?;
    rows.iter().map(|r| Ok((r.get("tier")?, r.get("customers")?))).collect()
}

/// Subscriptions by Stripe status (deleted ones counted as `deleted`).
pub async fn subscriptions_by_status(conn: &impl Connection) -> Result<Vec<(String, i64)>, DbError> {
    let rows = conn
        .query(
            "SELECT CASE WHEN deleted THEN 'deleted' ELSE status END AS status, count(*) AS subscriptions
             FROM subscriptions GROUP BY 1 ORDER BY 2 DESC, 1",
            &[],
        )
        .await?;
    rows.iter().map(|r| Ok((r.get("status")?, r.get("subscriptions")?))).collect()
}

/// A Stripe delivery and what became of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StripeEvent {
    pub event_id: String,
    pub kind: String,
    pub received_at: NaiveDateTime,
    /// `processed`, `ignored` or `failed`.
    pub status: String,
    pub applied: bool,
    pub error: Option<String>,
    pub replays: i32,
}

/// The newest deliveries, newest first.
pub async fn recent_events(conn: &impl Connection, limit: i64) -> Result<Vec<StripeEvent>, DbError> {
    let rows = conn
        .query(
            // The table's column, not the output's (a converted copy): the index's order.
            "SELECT e.event_id, e.type, e.received_at AT TIME ZONE 'UTC' AS received_at, e.status, e.applied, e.error, e.replays
             FROM stripe_webhook_events e ORDER BY e.received_at DESC, e.id DESC LIMIT $1",
            &[limit.into()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(StripeEvent {
                event_id: r.get("event_id")?,
                kind: r.get("type")?,
                received_at: r.get("received_at")?,
                status: r.get("status")?,
                applied: r.get("applied")?,
                error: r.get("error")?,
                replays: r.get("replays")?,
            })
        })
        .collect()
}

/// A customer's use of one quota in its current period, against the limit of its tier.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QuotaUse {
    pub customer_id: String,
    pub email: Option<String>,
    pub tier: String,
    pub quota: String,
    pub used: i64,
    pub limit: i64,
    pub period_end: NaiveDateTime,
}

/// Usage against quota per customer, for the current periods, the nearest to their limit first.
///
/// The one query of the dashboard's "API usage" panel: today it reads `quota_usage` (what
/// `billing::quota` counts); the API keys work (issue 16) counts its requests there too, and may
/// extend this query (e.g. with the key's name) without touching the panel's callers.
pub async fn quota_usage(conn: &impl Connection, limit: i64) -> Result<Vec<QuotaUse>, DbError> {
    const SQL: &str = "WITH nearest AS (
            SELECT u.customer_id, coalesce(b.tier, 'free') AS tier, u.quota, u.used, q.monthly_limit, u.period_end,
                   u.used::float8 / greatest(q.monthly_limit, 1) AS share
            FROM quota_usage u
            LEFT JOIN LATERAL marquee_best_subscription(u.customer_id) b ON true
            JOIN subscription_tier_quota q ON q.tier = coalesce(b.tier, 'free') AND q.quota = u.quota
            WHERE u.period_start <= now() AND now() < u.period_end
            ORDER BY share DESC, u.customer_id, u.quota
            LIMIT $1
         )
         SELECT n.customer_id, c.email, n.tier, n.quota, n.used, n.monthly_limit, n.period_end AT TIME ZONE 'UTC' AS period_end
         FROM nearest n LEFT JOIN customers c ON c.customer_id = n.customer_id
         ORDER BY n.share DESC, n.customer_id, n.quota";
    let rows = conn.query(SQL, &[limit.into()]).await?;
    rows.iter()
        .map(|r| {
            Ok(QuotaUse {
                customer_id: r.get("customer_id")?,
                email: r.get("email")?,
                tier: r.get("tier")?,
                quota: r.get("quota")?,
                used: r.get("used")?,
                limit: r.get("monthly_limit")?,
                period_end: r.get("period_end")?,
            })
        })
        .collect()
}
