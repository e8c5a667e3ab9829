//! The library's only doors to the world. Adapters (Spin, native) implement these traits.

mod clock;
mod config;
mod db;
mod http;
mod pool;

pub use self::http::{HttpClient, HttpRequest, HttpResponse, TransportError};
pub use clock::{Clock, system_now};
pub use config::Settings;
pub use db::{
    Connection, Database, DbError, DbMeter, FromValue, MeteredConnection, MeteredDatabase, Row, Value, transaction,
};
pub use pool::{Pool, Pooled, TransactionEffect, transaction_effect};
