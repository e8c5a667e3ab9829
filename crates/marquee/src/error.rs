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
    /// A form that did not come from the dashboard (no or another session's CSRF token, or sent
    /// by another site).
    #[error("{0}")]
    Forbidden(String),
    /// The platform failed us (e.g. its random source).
    #[error("{0}")]
    Platform(String),
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

/// What a run does with a movie whose ingest ended in an error: one policy for the drain,
/// scheduled ingest and the changes feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Every further call would fail the same way (our TMDB credentials, our configuration):
    /// stop the run; the movie's work stays queued, its attempt not counted.
    StopRun,
    /// The movie will not get better: TMDB no longer has it, the catalog refuses it, or TMDB
    /// refuses the request as invalid (our bug: fail loudly).
    Permanent,
    /// The invocation's time ran out before the movie was done: queued again, attempt not
    /// counted.
    Unfinished,
    /// Worth another attempt later, after a backoff.
    Retry,
}

impl Error {
    pub fn disposition(&self) -> Disposition {
        match self {
            Error::Tmdb(TmdbError::Unauthorized { .. }) | Error::Config(_) => Disposition::StopRun,
            Error::Gone { .. }
            | Error::Rejected { .. }
            | Error::Tmdb(TmdbError::NotFound | TmdbError::Rejected { .. }) => Disposition::Permanent,
            Error::Tmdb(TmdbError::OutOfTime { .. }) => Disposition::Unfinished,
            _ => Disposition::Retry,
        }
    }

    /// Whether the run must stop (see [`Disposition::StopRun`]).
    pub fn stops_run(&self) -> bool {
        self.disposition() == Disposition::StopRun
    }
}
