//! An API request's one statement: its key checked, its quota charged and its read done in a
//! single round trip, with data-modifying CTEs.
//!
//! ```sql
//! WITH caller AS (the unrevoked key with this hash), entitled AS (its customer's tier, limit, period),
//!      charged AS (the conditional increment), admitted AS (SELECT 1 FROM charged)
//! SELECT <who and the quota>, r.*
//!   FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT <the read> WHERE EXISTS (SELECT 1 FROM admitted)) r ON true
//! ```
//!
//! The statement always returns one row: whether the key is known, the quota before and after
//! the charge, and the read's columns (NULL when the key is unknown, the quota is used up, or
//! the read found nothing). The read runs only when admitted: an uncorrelated `EXISTS` is a
//! one-time filter, evaluated before anything under it. A route that costs nothing (`Metering::
//! Free`: the usage route) checks the key and reads the entitlement without charging. Without a
//! key (`catalog_public`) nothing is checked or charged.

use chrono::NaiveDateTime;

use super::billing::{charge_columns, charged_cte, entitled_cte};
use crate::ports::{Connection, DbError, Row, Value};

/// The quota every API request is charged to.
pub const API_REQUESTS: &str = "api_requests";

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No key, and the catalog is open (`catalog_public`): nothing to check or charge.
    Public,
    /// The SHA-256 of the key presented (`domain::api_key::hash`).
    Key(String),
}

/// Whether the request is charged to the `api_requests` quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metering {
    Charge,
    /// Checked (the key must be valid) but not counted, and answered over the limit too.
    Free,
}

/// Parameters bound while the statement is written: [`Params::bind`] returns the placeholder,
/// so fragments of SQL never count `$n` themselves.
#[derive(Debug, Default)]
pub struct Params(Vec<Value>);

impl Params {
    pub fn bind(&mut self, value: impl Into<Value>) -> String {
        self.0.push(value.into());
        format!("${}", self.0.len())
    }

    pub fn values(&self) -> &[Value] {
        &self.0
    }
}

/// A customer's quota as a request left it: what the rate-limit headers say.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaState {
    pub tier: String,
    pub limit: i64,
    pub used: i64,
    /// When the period ends (UTC): the usage starts again from 0.
    pub period_end: NaiveDateTime,
}

impl QuotaState {
    pub fn remaining(&self) -> i64 {
        (self.limit - self.used).max(0)
    }
}

/// What the statement decided about the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    Public,
    /// No unrevoked key has this hash.
    UnknownKey,
    /// Read (and charged, when metered).
    Admitted(QuotaState),
    /// The charge would pass the limit: nothing was counted or read.
    OverQuota(QuotaState),
}

/// One request's statement, executed.
#[derive(Debug)]
pub struct Outcome {
    pub admission: Admission,
    /// The read's row, when admitted and the read found one.
    pub read: Option<Row>,
}

/// The statement for `read`, a query (it may start with `WITH`) of at most one row, written
/// with `params` after the access parameters are bound.
pub fn statement(
    caller: &Caller,
    metering: Metering,
    now: NaiveDateTime,
    read: impl FnOnce(&mut Params) -> String,
) -> (String, Params) {
    let mut params = Params::default();
    let (access, status) = match caller {
        Caller::Public => (
            "admitted AS (SELECT 1)".to_owned(),
            "true AS known_key, true AS admitted, NULL::text AS tier, NULL::int8 AS monthly_limit, NULL::timestamp AS period_start,
             NULL::timestamp AS period_end, NULL::int8 AS used_before, NULL::int8 AS used_after"
                .to_owned(),
        ),
        Caller::Key(hash) => {
            let hash = params.bind(hash.as_str());
            let quota = format!("{}::text", params.bind(API_REQUESTS));
            let at = format!("({}::timestamp AT TIME ZONE 'UTC')", params.bind(now));
            let caller = format!(
                "caller AS (SELECT k.key_id, k.customer_id FROM api_keys k WHERE k.key_sha256 = {hash} AND k.revoked_at IS NULL)"
            );
            let charged = metering == Metering::Charge;
            let ctes = if charged {
                format!(
                    "{caller}, {}, {}, admitted AS (SELECT 1 FROM charged)",
                    entitled_cte("caller", &quota, &at),
                    charged_cte(&quota, "1::int8")
                )
            } else {
                format!("{caller}, {}, admitted AS (SELECT 1 FROM caller)", entitled_cte("caller", &quota, &at))
            };
            let status = format!(
                "EXISTS (SELECT 1 FROM caller) AS known_key, EXISTS (SELECT 1 FROM admitted) AS admitted, {}",
                charge_columns(&quota, charged)
            );
            (ctes, status)
        }
    };
    let read = read(&mut params);
    let sql = format!(
        "WITH {access}
         SELECT {status}, r.*
           FROM (SELECT 1) AS one
           LEFT JOIN LATERAL (SELECT true AS read_found, x.* FROM ({read}) AS x WHERE EXISTS (SELECT 1 FROM admitted)) AS r
             ON true"
    );
    (sql, params)
}

/// How a statement is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planning {
    /// Its text is fixed for a route (and a shape of its query) and its plan does not depend on
    /// the values: an adapter that can keeps it prepared ([`Connection::query_prepared`]).
    Prepared,
    /// Planned for its values every time: the best plan depends on them (a browse filtered by a
    /// person with three works wants another plan than one filtered by a common genre).
    EachTime,
}

/// Runs a [`statement`].
pub async fn run(conn: &impl Connection, sql: &str, params: &Params, planning: Planning) -> Result<Outcome, DbError> {
    let rows = match planning {
        Planning::Prepared => conn.query_prepared(sql, params.values()).await?,
        Planning::EachTime => conn.query(sql, params.values()).await?,
    };
    let row = rows.into_iter().next().ok_or_else(|| DbError::MissingColumn("known_key".into()))?;
    let admission = admission(&row)?;
    let read = match (&admission, row.get::<Option<bool>>("read_found")?) {
        (Admission::Public | Admission::Admitted(_), Some(true)) => Some(row),
        _ => None,
    };
    Ok(Outcome { admission, read })
}

fn admission(row: &Row) -> Result<Admission, DbError> {
    if !row.get::<bool>("known_key")? {
        return Ok(Admission::UnknownKey);
    }
    let Some(tier) = row.get::<Option<String>>("tier")? else { return Ok(Admission::Public) };
    let after: Option<i64> = row.get("used_after")?;
    let state = QuotaState {
        tier,
        limit: row.get("monthly_limit")?,
        used: after.map_or_else(|| row.get("used_before"), Ok)?,
        period_end: row.get("period_end")?,
    };
    Ok(if row.get::<bool>("admitted")? { Admission::Admitted(state) } else { Admission::OverQuota(state) })
}
