//! Marquee: keeps a PostgreSQL movie catalog in sync with TMDB and serves it.
//!
//! The library owns every decision and talks to the world only through [`ports`]; the Spin
//! adapter (`marquee-spin`) and the native adapter (`marquee-cli`) implement them.

pub mod api;
pub mod app;
pub mod billing;
pub mod chaos;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod domain;
pub mod error;
pub mod keys;
pub mod log;
pub mod pipeline;
pub mod ports;
pub mod schedule;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tmdb;

pub use app::App;
pub use error::{Error, Result};
