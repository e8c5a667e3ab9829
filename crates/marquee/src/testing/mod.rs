//! Test doubles for the ports that carry time: a virtual clock, a scripted TMDB, and a
//! database wrapper that stops virtual time while a real statement runs.
//!
//! They let the rules of time (rate limiting, backoff, `Retry-After`, deadlines) be tested
//! exactly and instantly: a "slow TMDB" or a 20 s budget costs no real time, and every
//! assertion is on virtual instants, never on the wall clock.
//!
//! Compiled for the library's own tests and, with the `testing` feature, for the integration
//! tests. Like the library, they are single-threaded (`Rc`, no `Send`) and executor-agnostic:
//! they only use wakers, so `futures::executor::block_on` and a current-thread tokio runtime
//! drive them alike.

mod clock;
mod db;
mod http;

pub use clock::{Hold, VirtualClock};
pub use db::{HeldConnection, HeldDb};
pub use http::{Reply, ScriptedHttp, Sent};
