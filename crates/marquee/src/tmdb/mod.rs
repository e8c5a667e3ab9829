//! Talking to TMDB (see `docs/tmdb-contract.md`).

mod client;
mod ratelimit;
pub mod response;
mod shared;
#[cfg(test)]
mod timing_tests;
pub mod types;

pub use client::{ApiCall, Call, MOVIE_ENDPOINT, TmdbClient, TmdbError};
pub use ratelimit::{FLOOR_RPS, LearnedRate, RateLimiter};
pub use shared::{SharedLesson, SharedRate};
