//! One invocation's world: the ports plus typed configuration.

use crate::config::Config;
use crate::ports::{Clock, Database, HttpClient};
use crate::tmdb::TmdbClient;

pub struct App<D, H, C> {
    pub db: D,
    pub http: H,
    pub clock: C,
    pub config: Config,
    /// The function (component) serving this invocation, for logs and `tmdb_api_logs`.
    pub function: &'static str,
}

impl<D: Database, H: HttpClient, C: Clock> App<D, H, C> {
    /// The instant this invocation must be done by.
    pub fn deadline(&self, started: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        started + self.config.time_budget
    }

    /// The invocation's TMDB client: one rate limiter and call log for all its requests; no
    /// retry wait ends after `deadline`.
    pub fn tmdb(&self, deadline: chrono::DateTime<chrono::Utc>) -> TmdbClient<'_, H, C> {
        TmdbClient::new(&self.http, &self.clock, &self.config.tmdb).with_deadline(deadline)
    }
}
