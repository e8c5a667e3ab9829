//! Monthly quotas per customer: `check_quota` (read) and `increment_quota` (atomic).
//!
//! The limit comes from the customer's tier (`subscription_tier_quota`); the period is the
//! billing period of the subscription that grants the tier when the clock is inside it,
//! otherwise the calendar month in UTC. `increment_quota` never lets usage pass the limit, however
//! many invocations increment at once: it upserts the period's row, then adds with one
//! conditional `UPDATE … WHERE used + n <= limit RETURNING used` (no check-then-act).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};

use super::BillingError;
use crate::db::billing as sql;
use crate::ports::Connection;

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
}

#[derive(Debug, Clone, PartialEq)]
pub enum Increment {
    Granted(QuotaStatus),
    /// Granting would pass the limit; nothing was counted.
    Exceeded(QuotaStatus),
}

/// The calendar month (UTC) holding `now`.
pub fn calendar_month(now: DateTime<Utc>) -> (NaiveDateTime, NaiveDateTime) {
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).expect("the first of a month exists");
    let next = if now.month() == 12 {
        NaiveDate::from_ymd_opt(now.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(now.year(), now.month() + 1, 1)
    }
    .expect("valid");
    (first.and_hms_opt(0, 0, 0).expect("midnight"), next.and_hms_opt(0, 0, 0).expect("midnight"))
}

async fn entitlement(
    conn: &impl Connection,
    customer_id: &str,
    quota: &str,
    now: DateTime<Utc>,
) -> Result<(sql::Entitlement, NaiveDateTime, NaiveDateTime), BillingError> {
    let e = sql::entitlement(conn, customer_id, quota)
        .await?
        .ok_or_else(|| BillingError::UnknownQuota(quota.to_owned()))?;
    let now_naive = now.naive_utc();
    let (start, end) = match (e.period_start, e.period_end) {
        (Some(s), Some(end)) if s <= now_naive && now_naive < end => (s, end),
        _ => calendar_month(now),
    };
    Ok((e, start, end))
}

/// The customer's current usage of `quota`.
pub async fn check_quota(
    conn: &impl Connection,
    customer_id: &str,
    quota: &str,
    now: DateTime<Utc>,
) -> Result<QuotaStatus, BillingError> {
    let (e, period_start, period_end) = entitlement(conn, customer_id, quota, now).await?;
    let used = sql::usage(conn, customer_id, quota, period_start).await?;
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

/// Counts `amount` (> 0) against the quota, or refuses without counting when that would pass
/// the limit. Safe under any concurrency.
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
    let (e, period_start, period_end) = entitlement(conn, customer_id, quota, now).await?;
    sql::ensure_usage_row(conn, customer_id, quota, period_start, period_end).await?;
    let status = |used| QuotaStatus {
        customer_id: customer_id.to_owned(),
        quota: quota.to_owned(),
        tier: e.tier.clone(),
        limit: e.monthly_limit,
        used,
        period_start,
        period_end,
    };
    match sql::try_increment(conn, customer_id, quota, period_start, amount, e.monthly_limit).await? {
        Some(used) => Ok(Increment::Granted(status(used))),
        None => Ok(Increment::Exceeded(status(sql::usage(conn, customer_id, quota, period_start).await?))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_months_roll_over_the_year() {
        let (s, e) = calendar_month(DateTime::parse_from_rfc3339("2025-12-31T23:59:59Z").unwrap().to_utc());
        assert_eq!(
            (s.to_string(), e.to_string()),
            ("2025-12-01 00:00:00".to_owned(), "2026-01-01 00:00:00".to_owned())
        );
        let (s, e) = calendar_month(DateTime::parse_from_rfc3339("2024-02-29T12:00:00Z").unwrap().to_utc());
        assert_eq!(
            (s.to_string(), e.to_string()),
            ("2024-02-01 00:00:00".to_owned(), "2024-03-01 00:00:00".to_owned())
        );
    }
}
