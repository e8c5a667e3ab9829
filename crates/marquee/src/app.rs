//! One invocation's world: the ports plus typed configuration.

use crate::config::Config;
use crate::db::tmdb_rate::PooledRate;
use crate::ports::{Clock, Database, HttpClient, Pool};
use crate::tmdb::TmdbClient;

pub struct App<D: Database, H, C> {
    /// The invocation's connections: at most `config.db_max_connections` sessions, shared by
    /// every task of the invocation.
    pub db: Pool<D>,
    pub http: H,
    pub clock: C,
    pub config: Config,
    /// The function (component) serving this invocation, for logs and `tmdb_api_logs`.
    pub function: &'static str,
}

impl<D: Database, H: HttpClient, C: Clock> App<D, H, C> {
    pub fn new(db: D, http: H, clock: C, config: Config, function: &'static str) -> Self {
        let db = Pool::new(db, config.db_max_connections);
        App { db, http, clock, config, function }
    }

    /// The instant this invocation must be done by.
    pub fn deadline(&self, started: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        started + self.config.time_budget
    }

    /// The invocation's TMDB client: one rate limiter and call log for all its requests;
    /// `deadline` is hard (nothing starts, waits or runs past it). Its rate is shared with
    /// every other invocation through the database (`tmdb::shared`): read once before its
    /// first request, written when a 429 lowers it.
    pub fn tmdb(&self, deadline: chrono::DateTime<chrono::Utc>) -> TmdbClient<'_, H, C> {
        let shared = PooledRate { pool: &self.db, function: self.function };
        TmdbClient::new(&self.http, &self.clock, &self.config.tmdb)
            .with_deadline(deadline)
            .with_shared_rate(Box::new(shared))
    }
}
