//! Monthly quotas per customer: `check_quota` (read), `increment_quota` (atomic) and
//! `refund_quota` (for work charged up front and then not done).
//!
//! The limit comes from the customer's tier (`subscription_tier_quota`); the period is the
//! billing period of the subscription that grants the tier when the clock is inside it,
//! otherwise the calendar month in UTC (both decided by `marquee_entitlement`, migration 13,
//! which the API's requests use too). `increment_quota` never lets usage pass the limit, however
//! many invocations increment at once: one conditional upsert (`db::billing::charged_cte`),
//! no check-then-act.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::BillingError;
use crate::db::billing::{self as sql, Entitlement};
use crate::ports::Connection;

/// The quota a movie fetched on a customer's request is charged to (`subscription_tier_quota`);
/// reads are charged to `db::api_access::API_REQUESTS`.
pub const INGESTS: &str = "ingests";

#[derive(Debug, Clone, PartialEq)]
pub struct QuotaStatus {
    pub customer_id: String,
    pub quota: String,
    pub tier: String,
    pub limit: i64,
    pub used: i64,
    pub period_start: NaiveDateTime,
    pub period_end: NaiveDateTime,
}

impl QuotaStatus {
    pub fn remaining(&self) -> i64 {
        (self.limit - self.used).max(0)
    }

    fn of(customer_id: &str, quota: &str, e: Entitlement, used: i64) -> Result<QuotaStatus, BillingError> {
        let (Some(period_start), Some(period_end)) = (e.period_start, e.period_end) else {
            return Err(BillingError::Db(crate::ports::DbError::Decode {
                column: "period_start".into(),
                expected: "a period",
                found: "NULL".into(),
            }));
        };
        Ok(QuotaStatus {
            customer_id: customer_id.to_owned(),
            quota: quota.to_owned(),
            tier: e.tier,
            limit: e.monthly_limit,
            used,
            period_start,
            period_end,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Increment {
    Granted(QuotaStatus),
    /// Granting would pass the limit; nothing was counted.
    Exceeded(QuotaStatus),
}

/// The customer's current usage of `quota`.
pub async fn check_quota(
    conn: &impl Connection,
    customer_id: &str,
    quota: &str,
    now: DateTime<Utc>,
) -> Result<QuotaStatus, BillingError> {
    let (e, used) = sql::usage(conn, customer_id, quota, now.naive_utc())
        .await?
        .ok_or_else(|| BillingError::UnknownQuota(quota.to_owned()))?;
    QuotaStatus::of(customer_id, quota, e, used)
}

/// Counts `amount` (> 0) against the quota, or refuses without counting when that would pass
/// the limit. Safe under any concurrency; one round trip.
pub async fn increment_quota(
    conn: &impl Connection,
    customer_id: &str,
    quota: &str,
    amount: i64,
    now: DateTime<Utc>,
) -> Result<Increment, BillingError> {
    if amount <= 0 {
        return Err(BillingError::InvalidAmount(amount));
    }
    let charge = sql::charge(conn, customer_id, quota, amount, now.naive_utc())
        .await?
        .ok_or_else(|| BillingError::UnknownQuota(quota.to_owned()))?;
    match charge.used_after {
        Some(used) => Ok(Increment::Granted(QuotaStatus::of(customer_id, quota, charge.entitlement, used)?)),
        None => Ok(Increment::Exceeded(QuotaStatus::of(customer_id, quota, charge.entitlement, charge.used_before)?)),
    }
}

/// Gives back `amount` (> 0) of `charged`, a granted [`increment_quota`], in that charge's own
/// period: for work that was charged up front and then not done. Never takes usage below zero;
/// `false` when there was nothing to give back.
pub async fn refund_quota(conn: &impl Connection, charged: &QuotaStatus, amount: i64) -> Result<bool, BillingError> {
    if amount <= 0 {
        return Err(BillingError::InvalidAmount(amount));
    }
    Ok(sql::refund(conn, &charged.customer_id, &charged.quota, amount, charged.period_start).await?)
}
