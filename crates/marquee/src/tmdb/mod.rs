//! Talking to TMDB (see `docs/tmdb-contract.md`).

mod client;
mod ratelimit;
pub mod types;

pub use client::{ApiCall, Call, TmdbClient, TmdbError};
pub use ratelimit::RateLimiter;
