//! The library's error type. Mapped to HTTP once, in [`crate::api::error`].

use crate::billing::BillingError;
use crate::config::ConfigError;
use crate::ports::DbError;
use crate::tmdb::TmdbError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid admin token")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("TMDB no longer has movie {tmdb_id}")]
    Gone { tmdb_id: i64 },
    #[error("movie {tmdb_id} is not admitted to the catalog: {reason}")]
    Rejected { tmdb_id: i64, reason: &'static str },
    #[error(
        "movie {tmdb_id} is being ingested by another invocation; still in progress after {waited_ms} ms, try again shortly"
    )]
    Busy { tmdb_id: i64, waited_ms: u128 },
    #[error("another invocation took over the ingest of movie {tmdb_id}")]
    LeaseLost { tmdb_id: i64 },
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error(transparent)]
    Tmdb(#[from] TmdbError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Stripe signatures and events, quotas. Its database errors become [`Error::Db`].
    #[error(transparent)]
    Billing(BillingError),
}

impl From<BillingError> for Error {
    fn from(e: BillingError) -> Self {
        match e {
            BillingError::Db(db) => Error::Db(db),
            other => Error::Billing(other),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
