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
    /// The catalog API (issue 16): no key sent.
    #[error("an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`")]
    MissingApiKey,
    /// Unknown, revoked or malformed: the answer does not say which.
    #[error("invalid or revoked API key")]
    InvalidApiKey,
    /// The key's customer used up this period's `quota` (`api_requests`, or `ingests` for an
    /// on-demand ingest); nothing more was counted against it.
    #[error("the monthly quota `{quota}` of {limit} is used up; it starts again in {retry_after_secs} s")]
    QuotaExceeded { quota: &'static str, limit: i64, retry_after_secs: i64 },
    /// A browse cursor that was not made by this catalog for this query, or is too old.
    #[error("invalid cursor: {0}")]
    InvalidCursor(&'static str),
    /// The invocation's time budget ran out before its work was done.
    #[error("the request did not finish within its time budget of {budget_ms} ms")]
    OutOfTime { budget_ms: u128 },
    /// The system could not provide randomness (making an API key or a dashboard session).
    #[error("no randomness available: {0}")]
    Randomness(String),
    /// A form that did not come from the dashboard (no or another session's CSRF token, or sent
    /// by another site).
    #[error("{0}")]
    Forbidden(String),
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
    /// The movie will not get better: TMDB no longer has it, the catalog refuses it, TMDB
    /// refuses the request as invalid (our bug: fail loudly), or TMDB's answer for it cannot be
    /// stored (TMDB would send the same again; its changes feed queues the movie once it
    /// changes).
    Permanent,
    /// The invocation's time ran out before the movie was done: queued again, attempt not
    /// counted.
    Unfinished,
    /// Worth another attempt later, after a backoff.
    Retry,
    /// Worth another attempt in a moment: the database lost the session or refused to connect
    /// (a restart, a terminated backend, a full connection table), which says nothing about the
    /// movie. The attempt counts all the same, so that a movie that kills its session every time
    /// still ends failed after its attempts.
    RetrySoon,
}

impl Error {
    pub fn disposition(&self) -> Disposition {
        match self {
            Error::Tmdb(TmdbError::Unauthorized { .. }) | Error::Config(_) => Disposition::StopRun,
            Error::Gone { .. }
            | Error::Rejected { .. }
            | Error::Tmdb(TmdbError::NotFound | TmdbError::Rejected { .. } | TmdbError::Unusable { .. }) => {
                Disposition::Permanent
            }
            Error::Tmdb(TmdbError::OutOfTime { .. }) => Disposition::Unfinished,
            Error::Db(e) if e.session_lost() => Disposition::RetrySoon,
            _ => Disposition::Retry,
        }
    }

    /// Whether the run must stop (see [`Disposition::StopRun`]).
    pub fn stops_run(&self) -> bool {
        self.disposition() == Disposition::StopRun
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(code: Option<&str>) -> Error {
        Error::Db(DbError::Query { code: code.map(str::to_owned), message: "m".into() })
    }

    #[test]
    fn the_database_going_away_is_retried_soon_and_its_refusals_after_a_backoff() {
        for lost in [
            db(None),
            db(Some("57P01")),
            db(Some("57P03")),
            db(Some("08006")),
            Error::Db(DbError::Connect("refused".into())),
        ] {
            assert_eq!(lost.disposition(), Disposition::RetrySoon, "{lost:?}");
        }
        for refused in [db(Some("57014")), db(Some("23505")), db(Some("22P05")), db(Some("53100"))] {
            assert_eq!(refused.disposition(), Disposition::Retry, "{refused:?}");
        }
    }
}
