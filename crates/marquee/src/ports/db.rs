//! The database port: `query`/`execute` over a small closed set of value types.
//!
//! The set is the intersection of what `spin_sdk::pg` (host: tokio-postgres 0.7) can bind and
//! decode and what the native adapter supports. Both adapters map every [`Value`] to the same
//! Rust type on the wire, so a statement the Spin host would reject fails natively too.

use std::rc::Rc;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value as Json;

/// A parameter or column value. Timestamps are UTC and timezone-less on purpose: the Spin host
/// cannot read or bind `timestamptz`, so SQL converts with `AT TIME ZONE 'UTC'`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float64(f64),
    Text(String),
    Date(NaiveDate),
    /// A `timestamp` (without time zone) holding a UTC instant.
    DateTime(NaiveDateTime),
    Jsonb(Json),
    /// A `numeric`, as its decimal text.
    Decimal(String),
    ArrayInt32(Vec<Option<i32>>),
    ArrayInt64(Vec<Option<i64>>),
    ArrayText(Vec<Option<String>>),
    /// A column type the Spin host cannot hand over (e.g. `timestamptz`, `json`): reading it fails.
    Unsupported(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database connection failed: {0}")]
    Connect(String),
    /// The server rejected the statement; `code` is the SQLSTATE when known.
    #[error("database error{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Query { code: Option<String>, message: String },
    #[error("column `{0}` not found in result")]
    MissingColumn(String),
    #[error("column `{column}`: expected {expected}, found {found}")]
    Decode { column: String, expected: &'static str, found: String },
}

impl DbError {
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DbError::Query { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The session is gone: no answer came (a closed socket, an I/O error, or no session at
    /// all), or the server ended it, saying so (SQLSTATE class 08, connection exception; 57P01
    /// `admin_shutdown`, sent by `pg_terminate_backend` and by a fast or immediate shutdown;
    /// 57P02 `crash_shutdown`; 57P03 `cannot_connect_now`). Nothing more can be asked of it.
    pub fn session_lost(&self) -> bool {
        match self {
            DbError::Connect(_) => true,
            DbError::Query { code: None, .. } => true,
            DbError::Query { code: Some(code), .. } => {
                code.starts_with("08") || matches!(code.as_str(), "57P01" | "57P02" | "57P03")
            }
            DbError::MissingColumn(_) | DbError::Decode { .. } => false,
        }
    }
}

/// One result row: values by column position, looked up by name.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Rc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub fn new(columns: Rc<[String]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    pub fn value(&self, column: &str) -> Result<&Value, DbError> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| DbError::MissingColumn(column.to_owned()))
    }

    pub fn get<T: FromValue>(&self, column: &str) -> Result<T, DbError> {
        T::from_value(self.value(column)?).map_err(|found| DbError::Decode {
            column: column.to_owned(),
            expected: T::EXPECTED,
            found,
        })
    }
}

/// Decoding a column value into a Rust type; strict like the Spin SDK's `Decode`.
pub trait FromValue: Sized {
    const EXPECTED: &'static str;
    /// On mismatch, returns a description of what was found.
    fn from_value(value: &Value) -> Result<Self, String>;
}

fn found(value: &Value) -> String {
    match value {
        Value::Unsupported(ty) => format!("unsupported type {ty}"),
        other => format!("{other:?}").chars().take(60).collect(),
    }
}

macro_rules! from_value {
    ($ty:ty, $expected:literal, $variant:ident) => {
        impl FromValue for $ty {
            const EXPECTED: &'static str = $expected;
            fn from_value(value: &Value) -> Result<Self, String> {
                match value {
                    Value::$variant(v) => Ok(v.clone()),
                    other => Err(found(other)),
                }
            }
        }
    };
}

from_value!(bool, "bool", Bool);
from_value!(i16, "int2", Int16);
from_value!(i32, "int4", Int32);
from_value!(i64, "int8", Int64);
from_value!(f64, "float8", Float64);
from_value!(String, "text", Text);
from_value!(NaiveDate, "date", Date);
from_value!(NaiveDateTime, "timestamp", DateTime);
from_value!(Json, "jsonb", Jsonb);
from_value!(Vec<Option<i64>>, "int8[]", ArrayInt64);
from_value!(Vec<Option<String>>, "text[]", ArrayText);

impl<T: FromValue> FromValue for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

macro_rules! into_value {
    ($ty:ty, $variant:ident) => {
        impl From<$ty> for Value {
            fn from(v: $ty) -> Self {
                Value::$variant(v)
            }
        }
    };
}
into_value!(bool, Bool);
into_value!(i32, Int32);
into_value!(i64, Int64);
into_value!(f64, Float64);
into_value!(String, Text);
into_value!(NaiveDate, Date);
into_value!(NaiveDateTime, DateTime);
into_value!(Json, Jsonb);
into_value!(Vec<Option<i64>>, ArrayInt64);
into_value!(Vec<Option<String>>, ArrayText);

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<chrono::DateTime<chrono::Utc>> for Value {
    fn from(v: chrono::DateTime<chrono::Utc>) -> Self {
        Value::DateTime(v.naive_utc())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One physical connection. Statements on it run in order, so `BEGIN … COMMIT` is a real
/// transaction. One statement per call (the Spin host prepares each).
#[allow(async_fn_in_trait)]
pub trait Connection {
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError>;
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError>;

    /// Whether the session is known to be over (the server closed it, e.g. in a restart),
    /// without asking the server. `false` when the adapter cannot tell.
    fn is_closed(&self) -> bool {
        false
    }

    /// [`Connection::query`] for a statement whose text is fixed and which runs on every request
    /// of a route: an adapter that can keeps it prepared for the session (one round trip instead
    /// of two, parsed once); the others run it as a `query`. Same types, same results.
    async fn query_prepared(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        self.query(sql, params).await
    }
}

/// Where connections come from. Concurrent work in one invocation takes one connection each.
#[allow(async_fn_in_trait)]
pub trait Database {
    type Conn: Connection;
    async fn connect(&self) -> Result<Self::Conn, DbError>;
}

/// Runs `body` inside `BEGIN … COMMIT`; any error rolls back before it is returned, so a
/// connection is never left (or pooled) inside an open transaction.
pub async fn transaction<C, T, E>(conn: &C, body: impl AsyncFnOnce(&C) -> Result<T, E>) -> Result<T, E>
where
    C: Connection,
    E: From<DbError>,
{
    conn.execute("BEGIN", &[]).await?;
    match body(conn).await {
        Ok(value) => match conn.execute("COMMIT", &[]).await {
            Ok(_) => Ok(value),
            Err(e) => {
                let _ = conn.execute("ROLLBACK", &[]).await;
                Err(e.into())
            }
        },
        Err(e) => {
            // The rollback's own failure is secondary to the error being reported.
            let _ = conn.execute("ROLLBACK", &[]).await;
            Err(e)
        }
    }
}

/// Statement count and time spent waiting on the database, shared by every connection of a
/// [`MeteredDatabase`]: the figures of benchmarks and of the constant-statements test.
#[derive(Debug, Default)]
pub struct DbMeter {
    statements: std::cell::Cell<u64>,
    busy: std::cell::Cell<std::time::Duration>,
    open: std::cell::Cell<u64>,
    peak_open: std::cell::Cell<u64>,
}

impl DbMeter {
    pub fn statements(&self) -> u64 {
        self.statements.get()
    }
    /// Summed over connections: concurrent statements each count their own wait.
    pub fn busy(&self) -> std::time::Duration {
        self.busy.get()
    }
    /// The most sessions that were open at once.
    pub fn peak_connections(&self) -> u64 {
        self.peak_open.get()
    }
    pub fn reset(&self) {
        self.statements.set(0);
        self.busy.set(std::time::Duration::ZERO);
        self.peak_open.set(self.open.get());
    }
    fn record(&self, started: std::time::Instant) {
        self.statements.set(self.statements.get() + 1);
        self.busy.set(self.busy.get() + started.elapsed());
    }
}

/// A connection that reports to a [`DbMeter`].
pub struct MeteredConnection<C> {
    inner: C,
    meter: Rc<DbMeter>,
}

impl<C> MeteredConnection<C> {
    pub fn new(inner: C) -> Self {
        let meter = Rc::new(DbMeter::default());
        meter.open.set(1);
        meter.peak_open.set(1);
        Self { inner, meter }
    }
    pub fn meter(&self) -> &DbMeter {
        &self.meter
    }
}

impl<C> Drop for MeteredConnection<C> {
    fn drop(&mut self) {
        self.meter.open.set(self.meter.open.get().saturating_sub(1));
    }
}

impl<C: Connection> Connection for MeteredConnection<C> {
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let started = std::time::Instant::now();
        let result = self.inner.query(sql, params).await;
        self.meter.record(started);
        result
    }
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let started = std::time::Instant::now();
        let result = self.inner.execute(sql, params).await;
        self.meter.record(started);
        result
    }
    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    async fn query_prepared(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let started = std::time::Instant::now();
        let result = self.inner.query_prepared(sql, params).await;
        self.meter.record(started);
        result
    }
}

/// A database whose connections all report to one [`DbMeter`].
pub struct MeteredDatabase<D> {
    inner: D,
    meter: Rc<DbMeter>,
}

impl<D> MeteredDatabase<D> {
    pub fn new(inner: D) -> Self {
        Self { inner, meter: Rc::default() }
    }
    pub fn meter(&self) -> &DbMeter {
        &self.meter
    }
}

impl<D: Database> Database for MeteredDatabase<D> {
    type Conn = MeteredConnection<D::Conn>;
    async fn connect(&self) -> Result<Self::Conn, DbError> {
        let inner = self.inner.connect().await?;
        let open = self.meter.open.get() + 1;
        self.meter.open.set(open);
        self.meter.peak_open.set(self.meter.peak_open.get().max(open));
        Ok(MeteredConnection { inner, meter: self.meter.clone() })
    }
}
