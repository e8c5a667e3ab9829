//! Talking to TMDB (see `tmdb-contract.md`).

pub mod backoff;
mod client;
mod ratelimit;
pub mod types;

pub use client::{ApiCall, Call, TmdbClient, TmdbError};
pub use ratelimit::RateLimiter;
