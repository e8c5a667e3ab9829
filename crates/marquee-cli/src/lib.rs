//! The native side of Marquee: the adapter implementing the library's ports natively, the
//! native HTTP server, a local PostgreSQL for development and tests, and the command-line tool.

pub mod bench;
pub mod localpg;
pub mod native;
pub mod ops;
pub mod schedule;
pub mod server;
