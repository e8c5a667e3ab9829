//! The native side of Marquee: the adapter implementing the library's ports natively, the
//! native HTTP server, a local PostgreSQL for development and tests, and the command-line tool
//! (its arguments in [`cli`], what each subcommand does in [`commands`]).

pub mod bench;
pub mod bench_dashboard;
pub mod bench_read;
pub mod chaos;
pub mod cli;
pub mod commands;
pub mod export_file;
pub mod latency_proxy;
pub mod localpg;
pub mod native;
pub mod schedule;
pub mod server;
