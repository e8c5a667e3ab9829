//! Talking to TMDB (see `tmdb-contract.md`).

mod client;
mod ratelimit;
pub mod types;

pub use client::{ApiCall, Call, TmdbClient, TmdbError};
pub use ratelimit::RateLimiter;
