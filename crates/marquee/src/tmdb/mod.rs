//! Talking to TMDB (see `docs/tmdb-contract.md`).

mod client;
mod ratelimit;
#[cfg(test)]
mod timing_tests;
pub mod types;

pub use client::{ApiCall, Call, TmdbClient, TmdbError};
pub use ratelimit::RateLimiter;
