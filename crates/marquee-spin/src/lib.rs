//! The Spin adapter: Marquee's ports on spin-sdk 6 (`pg`, `http`, `variables`, `time`), and
//! the one function every component calls. No decisions here: only translation.

mod errors;
mod values;

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use marquee::api::{self, RouteId};
use marquee::ports::{
    Clock, Connection, Database, DbError, HttpClient, HttpRequest, HttpResponse, Row, Settings, TransportError, Value,
    system_now,
};
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::pg;

use crate::errors::{connect_error, db_error};
use crate::values::{column, param};

/// Serves one request with `handler`: the whole body of a component.
pub async fn serve(handler: RouteId, request: spin_sdk::http::Request) -> http::Response<Full<Bytes>> {
    let response = api::read_body_then(request, async |request| {
        let open_db = |url: &str| SpinDb { url: url.to_owned() };
        api::serve(&SpinSettings, open_db, SpinHttp, SpinClock, Some(handler), request).await
    })
    .await;
    response.map(|body| Full::new(Bytes::from(body)))
}

/// Serves one request of a component that has several routes (the dashboard's pages, JSON and
/// metrics): the library's routing table says which of the component's routes it is for; a
/// path or method the component does not serve gets the library's 404 or 405.
pub async fn serve_component(component: &'static str, request: spin_sdk::http::Request) -> http::Response<Full<Bytes>> {
    match api::route(request.method(), request.uri().path()) {
        Ok((route, _)) if route.component == component => serve(route.id, request).await,
        Ok(_) => {
            let missing = marquee::Error::NotFound(format!("no route for {} in {component}", request.uri().path()));
            api::error_response(component, &missing).map(|body| Full::new(Bytes::from(body)))
        }
        Err(e) => api::error_response(component, &e).map(|body| Full::new(Bytes::from(body))),
    }
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
        pg::Connection::open(self.url.clone()).await.map(SpinConnection).map_err(|e| connect_error(&e, &self.url))
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
