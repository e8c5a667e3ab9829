//! The Spin adapter: Marquee's ports on spin-sdk 6 (`pg`, `http`, `variables`, `time`), and
//! the one function every component calls. No decisions here: only translation.

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use http_body_util::Full;
use marquee::api::{self, RouteId};
use marquee::ports::{
    Clock, Connection, Database, DbError, HttpClient, HttpRequest, HttpResponse, Row, Settings, TransportError, Value,
    system_now,
};
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::pg::{self, DbValue, ParameterValue};

/// Serves one request with `handler`: the whole body of a component.
pub async fn serve(handler: RouteId, request: spin_sdk::http::Request) -> http::Response<Full<Bytes>> {
    let response = api::read_body_then(request, async |request| {
        let open_db = |url: &str| SpinDb { url: url.to_owned() };
        api::serve(&SpinSettings, open_db, SpinHttp, SpinClock, Some(handler), request).await
    })
    .await;
    response.map(|body| Full::new(Bytes::from(body)))
}

/// Spin variables (`[component.x.variables]` in `spin.toml`, `SPIN_VARIABLE_*` at `spin up`).
pub struct SpinSettings;

impl Settings for SpinSettings {
    async fn get(&self, name: &str) -> Option<String> {
        spin_sdk::variables::get(name).await.ok()
    }
}

pub struct SpinClock;

impl Clock for SpinClock {
    fn now(&self) -> DateTime<Utc> {
        system_now()
    }
    async fn sleep(&self, duration: Duration) {
        spin_sdk::time::sleep(duration).await
    }
}

pub struct SpinHttp;

impl HttpClient for SpinHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let request = request.map(|body| Full::new(Bytes::from(body)));
        let response = spin_sdk::http::send(request).await.map_err(|e| TransportError(format!("{e:?}")))?;
        let (parts, body) = response.into_parts();
        let bytes = body.bytes().await.map_err(|e| TransportError(format!("{e:?}")))?;
        Ok(http::Response::from_parts(parts, bytes.to_vec()))
    }
}

pub struct SpinDb {
    url: String,
}

pub struct SpinConnection(pg::Connection);

impl Database for SpinDb {
    type Conn = SpinConnection;

    async fn connect(&self) -> Result<SpinConnection, DbError> {
        pg::Connection::open(self.url.clone())
            .await
            .map(SpinConnection)
            .map_err(|e| DbError::Connect(redact_url(&error_text(&e), &self.url)))
    }
}

/// Keeps the database URL (and its password) out of error texts.
fn redact_url(text: &str, url: &str) -> String {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(auth, _)| auth.split_once(':'))
        .map(|(_, p)| p);
    let text = if url.is_empty() { text.to_owned() } else { text.replace(url, "<database_url>") };
    match password {
        Some(p) if !p.is_empty() => text.replace(p, "***"),
        _ => text,
    }
}

fn error_text(e: &pg::Error) -> String {
    match e {
        pg::Error::PgError(pg::PgError::QueryFailed(pg::QueryError::DbError(db))) => db.message.clone(),
        other => other.to_string(),
    }
}

fn db_error(e: pg::Error) -> DbError {
    let code = match &e {
        pg::Error::PgError(pg::PgError::QueryFailed(pg::QueryError::DbError(db))) => Some(db.code.clone()),
        _ => None,
    };
    DbError::Query { code, message: error_text(&e) }
}

fn param(value: &Value) -> Result<ParameterValue, DbError> {
    Ok(match value {
        Value::Null => ParameterValue::DbNull,
        Value::Bool(v) => ParameterValue::Boolean(*v),
        Value::Int16(v) => ParameterValue::Int16(*v),
        Value::Int32(v) => ParameterValue::Int32(*v),
        Value::Int64(v) => ParameterValue::Int64(*v),
        Value::Float64(v) => ParameterValue::Floating64(*v),
        Value::Text(v) => ParameterValue::Str(v.clone()),
        Value::Date(d) => ParameterValue::Date((d.year(), d.month() as u8, d.day() as u8)),
        Value::DateTime(t) => ParameterValue::Datetime((
            t.year(),
            t.month() as u8,
            t.day() as u8,
            t.hour() as u8,
            t.minute() as u8,
            t.second() as u8,
            t.nanosecond(),
        )),
        Value::Jsonb(j) => ParameterValue::Jsonb(serde_json::to_vec(j).expect("JSON values serialise")),
        Value::Decimal(d) => ParameterValue::Decimal(d.clone()),
        Value::ArrayInt32(v) => ParameterValue::ArrayInt32(v.clone()),
        Value::ArrayInt64(v) => ParameterValue::ArrayInt64(v.clone()),
        Value::ArrayText(v) => ParameterValue::ArrayStr(v.clone()),
        Value::Unsupported(ty) => {
            return Err(DbError::Query { code: None, message: format!("cannot bind a value of type {ty}") });
        }
    })
}

fn column(value: &DbValue) -> Value {
    match value {
        DbValue::DbNull => Value::Null,
        DbValue::Boolean(v) => Value::Bool(*v),
        DbValue::Int16(v) => Value::Int16(*v),
        DbValue::Int32(v) => Value::Int32(*v),
        DbValue::Int64(v) => Value::Int64(*v),
        DbValue::Floating64(v) => Value::Float64(*v),
        DbValue::Str(v) => Value::Text(v.clone()),
        DbValue::Date((y, m, d)) => NaiveDate::from_ymd_opt(*y, (*m).into(), (*d).into())
            .map_or(Value::Unsupported("invalid date".into()), Value::Date),
        DbValue::Datetime((y, mo, d, h, mi, s, ns)) => NaiveDate::from_ymd_opt(*y, (*mo).into(), (*d).into())
            .zip(NaiveTime::from_hms_nano_opt((*h).into(), (*mi).into(), (*s).into(), *ns))
            .map_or(Value::Unsupported("invalid timestamp".into()), |(d, t)| Value::DateTime(NaiveDateTime::new(d, t))),
        DbValue::Jsonb(bytes) => {
            serde_json::from_slice(bytes).map_or(Value::Unsupported("invalid jsonb".into()), Value::Jsonb)
        }
        DbValue::Decimal(v) => Value::Decimal(v.clone()),
        DbValue::ArrayInt32(v) => Value::ArrayInt32(v.clone()),
        DbValue::ArrayInt64(v) => Value::ArrayInt64(v.clone()),
        DbValue::ArrayStr(v) => Value::ArrayText(v.clone()),
        other => Value::Unsupported(format!("{other:?}").split('(').next().unwrap_or("unknown").to_owned()),
    }
}

impl Connection for SpinConnection {
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let params = params.iter().map(param).collect::<Result<Vec<_>, _>>()?;
        let result = self.0.query(sql, params).await.map_err(db_error)?;
        let names: Rc<[String]> = result.columns().iter().map(|c| c.name.clone()).collect();
        let width = names.len();
        let rows = result.collect().await.map_err(db_error)?;
        Ok(rows.iter().map(|r| Row::new(names.clone(), (0..width).map(|i| column(&r[i])).collect())).collect())
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let params = params.iter().map(param).collect::<Result<Vec<_>, _>>()?;
        self.0.execute(sql, params).await.map_err(db_error)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_are_redacted() {
        let url = "postgres://marquee:s3cret@db:5432/marquee";
        assert_eq!(
            super::redact_url("cannot reach postgres://marquee:s3cret@db:5432/marquee", url),
            "cannot reach <database_url>"
        );
        assert_eq!(super::redact_url("auth failed for s3cret", url), "auth failed for ***");
    }
}
