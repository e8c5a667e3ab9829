//! The database port on tokio-postgres, with the Spin host's type rules: every [`Value`] is
//! bound as the Rust type the Spin host would hand to tokio-postgres (so `LIMIT $1` with an
//! int4 fails here too), and columns decode by the host's rules (`timestamptz` and `json`
//! come back unsupported). Sessions are secured as the URL's `sslmode` says ([`super::pg_tls`]).

use std::error::Error as StdError;
use std::rc::Rc;

use bytes::BytesMut;
use marquee::ports::{Connection, Database, DbError, Row, Value};
use tokio_postgres::Client;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::pg_tls::PgTarget;

/// Holds no URL: the parsed target keeps the password only inside tokio-postgres's
/// configuration, whose `Debug` redacts it.
#[derive(Clone)]
pub struct NativeDb {
    /// The URL parsed once (with its TLS settings and root certificates); a bad URL is reported
    /// by every `connect`, as an unreachable server would be.
    target: Result<PgTarget, String>,
}

impl NativeDb {
    pub fn new(url: impl AsRef<str>) -> Self {
        Self { target: PgTarget::parse(url.as_ref()).map_err(|e| e.to_string()) }
    }

    /// The parsed URL, or why it is not one.
    pub(super) fn target(&self) -> Result<&PgTarget, &str> {
        self.target.as_ref().map_err(String::as_str)
    }
}

pub struct NativeConnection {
    client: Client,
}

impl NativeConnection {
    pub(super) fn client(&self) -> &Client {
        &self.client
    }
}

impl Database for NativeDb {
    type Conn = NativeConnection;

    async fn connect(&self) -> Result<NativeConnection, DbError> {
        let target = self.target().map_err(|e| DbError::Connect(e.to_owned()))?;
        let (client, connection) =
            target.config.connect(target.tls.clone()).await.map_err(|e| DbError::Connect(target.connect_error(&e)))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(NativeConnection { client })
    }
}

/// SQL NULL for a parameter of any type (the Spin host's `db-null`).
#[derive(Debug)]
struct AnyNull;

impl ToSql for AnyNull {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        Ok(IsNull::Yes)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

fn param(value: &Value) -> Result<Box<dyn ToSql + Sync + Send>, DbError> {
    Ok(match value {
        Value::Null => Box::new(AnyNull),
        Value::Bool(v) => Box::new(*v),
        Value::Int16(v) => Box::new(*v),
        Value::Int32(v) => Box::new(*v),
        Value::Int64(v) => Box::new(*v),
        Value::Float64(v) => Box::new(*v),
        Value::Text(v) => Box::new(v.clone()),
        Value::Date(v) => Box::new(*v),
        Value::DateTime(v) => Box::new(*v),
        Value::Jsonb(v) => Box::new(v.clone()),
        Value::ArrayInt32(v) => Box::new(v.clone()),
        Value::ArrayInt64(v) => Box::new(v.clone()),
        Value::ArrayText(v) => Box::new(v.clone()),
        Value::Decimal(_) | Value::Unsupported(_) => {
            return Err(DbError::Query {
                code: None,
                message: format!("parameter type not supported by the adapter: {value:?}"),
            });
        }
    })
}

pub(super) fn db_error(e: tokio_postgres::Error) -> DbError {
    match e.as_db_error() {
        Some(db) => DbError::Query { code: Some(db.code().code().to_owned()), message: db.message().to_owned() },
        None => DbError::Query { code: None, message: e.to_string() },
    }
}

fn column(row: &tokio_postgres::Row, i: usize) -> Result<Value, DbError> {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        row: &'a tokio_postgres::Row,
        i: usize,
        wrap: impl FnOnce(T) -> Value,
    ) -> Result<Value, DbError> {
        row.try_get::<_, Option<T>>(i).map(|v| v.map_or(Value::Null, wrap)).map_err(db_error)
    }
    let ty = row.columns()[i].type_();
    match *ty {
        Type::BOOL => get(row, i, Value::Bool),
        Type::INT2 => get(row, i, Value::Int16),
        Type::INT4 => get(row, i, Value::Int32),
        Type::INT8 => get(row, i, Value::Int64),
        Type::FLOAT8 => get(row, i, Value::Float64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => get(row, i, Value::Text),
        Type::DATE => get(row, i, Value::Date),
        Type::TIMESTAMP => get(row, i, Value::DateTime),
        Type::JSONB => get(row, i, Value::Jsonb),
        Type::INT4_ARRAY => get(row, i, Value::ArrayInt32),
        Type::INT8_ARRAY => get(row, i, Value::ArrayInt64),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => get(row, i, Value::ArrayText),
        // What the Spin host cannot decode (timestamptz, json, …) or this adapter does not map.
        _ => Ok(Value::Unsupported(ty.name().to_owned())),
    }
}

/// Runs a statement (its text, or one prepared before) on `client` with the Spin host's type
/// rules: the one implementation of the port's `query` for every native connection.
pub(super) async fn query_on<T>(client: &Client, statement: &T, params: &[Value]) -> Result<Vec<Row>, DbError>
where
    T: ?Sized + tokio_postgres::ToStatement,
{
    let boxed = params.iter().map(param).collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)).collect();
    let rows = client.query(statement, &refs).await.map_err(db_error)?;
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    let names: Rc<[String]> = first.columns().iter().map(|c| c.name().to_owned()).collect();
    rows.iter()
        .map(|r| Ok(Row::new(names.clone(), (0..r.len()).map(|i| column(r, i)).collect::<Result<_, _>>()?)))
        .collect()
}

/// The port's `execute` on `client`.
pub(super) async fn execute_on(client: &Client, sql: &str, params: &[Value]) -> Result<u64, DbError> {
    let boxed = params.iter().map(param).collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)).collect();
    client.execute(sql, &refs).await.map_err(db_error)
}

impl Connection for NativeConnection {
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        query_on(&self.client, sql, params).await
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        execute_on(&self.client, sql, params).await
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}
