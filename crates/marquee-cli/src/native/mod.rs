//! The native adapter: Marquee's ports on tokio-postgres (TLS by rustls), reqwest, tokio's
//! timer and the process environment.

mod db;
mod http;
pub mod pg_tls;
mod pool;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use marquee::config::SETTINGS;
use marquee::ports::{Clock, Settings, system_now};

pub use db::{NativeConnection, NativeDb};
pub use http::NativeHttp;
pub use pool::{NativePool, PooledSession};

#[derive(Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        system_now()
    }
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }
}

/// Settings by name; natively read from upper-cased environment variables
/// (`tmdb_token` ← `TMDB_TOKEN`), as `spin up` reads `SPIN_VARIABLE_TMDB_TOKEN`.
///
/// Holds secrets (the database URL, tokens): deliberately not `Debug`, so it cannot be printed.
#[derive(Clone, Default)]
pub struct NativeSettings {
    values: HashMap<String, String>,
}

impl NativeSettings {
    pub fn from_env() -> Self {
        let values = SETTINGS
            .iter()
            .filter_map(|(name, ..)| std::env::var(name.to_uppercase()).ok().map(|v| (name.to_string(), v)))
            .collect();
        Self { values }
    }

    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.values.insert(name.to_owned(), value.into());
        self
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}

impl Settings for NativeSettings {
    async fn get(&self, name: &str) -> Option<String> {
        self.value(name).map(str::to_owned)
    }
}
